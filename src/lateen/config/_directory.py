"""A store backed by a directory of YAML files, watched for changes.

Every ``*.yaml``/``*.yml``/``*.json`` file under the directory (hidden files and folders
excepted) is parsed and validated. A broken file or object is reported and skipped: the last
good version of each object it held stays in the store until the file is fixed or deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lateen.api._load import LoadError, load_yaml
from lateen.api._object import ConfigKey, ConfigObject
from lateen.api.kinds import ALL_KINDS
from lateen.config._store import ConfigEvent, _SnapshotStore

__all__ = ["KUSTOMIZATION_FILES", "MAX_FILE_BYTES", "DirectoryStore", "is_config_file"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
_SUFFIXES = (".yaml", ".yml", ".json")


def _known_kind(kind: str) -> bool:
    return any(info.kind == kind for info in ALL_KINDS)


# kustomize's file lists resources; it is not an object to load
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # kustomize's lookup order


def is_config_file(path: Path, root: Path) -> bool:
    if path.name in KUSTOMIZATION_FILES:
        return False
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if any(part.startswith(".") for part in rel.parts):
        return False
    return path.suffix.lower() in _SUFFIXES


class DirectoryStore(_SnapshotStore):
    """Config objects from the files under ``root`` (a directory or a single file, or a
    list of them); :meth:`run` watches for changes."""

    def __init__(
        self,
        root: Path | Sequence[Path],
        *,
        default_namespace: str = "default",
        root_namespace: str = "istio-system",
        on_error: Callable[[LoadError], None] | None = None,
    ) -> None:
        super().__init__()
        self.roots: tuple[Path, ...] = (root,) if isinstance(root, Path) else tuple(root)
        self._default_namespace = default_namespace
        self._root_namespace = root_namespace
        self._by_file: dict[Path, dict[ConfigKey, ConfigObject]] = {}
        self.errors: dict[Path, list[LoadError]] = {}
        self.warnings: dict[Path, list[LoadError]] = {}
        self._on_error = on_error

    # -- loading ---------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.roots[0]

    def _files(self) -> list[Path]:
        files: set[Path] = set()
        for root in self.roots:
            if root.is_file():
                files.add(root)
            elif root.is_dir():
                files.update(p for p in root.rglob("*") if p.is_file() and is_config_file(p, root))
        return sorted(files)

    def _is_ours(self, path: Path) -> bool:
        return any(path == root or is_config_file(path, root) for root in self.roots)

    def _display(self, path: Path) -> str:
        return str(path)

    def _load_file(self, path: Path) -> None:
        source = self._display(path)
        previous = self._by_file.get(path, {})
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ValueError(f"file is larger than {MAX_FILE_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._by_file.pop(path, None)
            self.errors.pop(path, None)
            self.warnings.pop(path, None)
            return
        except (OSError, ValueError) as e:
            # unreadable (or not UTF-8): keep the last good objects of this file
            self._record(path, [LoadError(source, "", "", "", f"cannot read file: {e}")], [])
            return
        result = load_yaml(
            text,
            source,
            default_namespace=self._default_namespace,
            root_namespace=self._root_namespace,
        )
        new: dict[ConfigKey, ConfigObject] = {o.key: o for o in result.objects}
        rejected = set(result.rejected)
        # a document whose kind itself is mistyped still names the object it was meant to be
        unknown_kind = {(ns, name) for kind, ns, name in rejected if not _known_kind(kind)}
        for key, old in previous.items():
            if key in new:
                continue
            if (
                result.incomplete
                or (key.kind, key.namespace, key.name) in rejected
                or (key.namespace, key.name) in unknown_kind
            ):
                # the object is now broken, or the YAML broke off before it: keep the last
                # good version until the file is fixed
                new[key] = old
        self._by_file[path] = new
        self._record(path, result.errors, result.warnings)

    def _record(self, path: Path, errors: list[LoadError], warnings: list[LoadError]) -> None:
        if errors:
            self.errors[path] = errors
            for e in errors:
                log.error("%s", e)
                if self._on_error is not None:
                    self._on_error(e)
        else:
            self.errors.pop(path, None)
        if warnings:
            self.warnings[path] = warnings
            for w in warnings:
                log.warning("%s", w)
        else:
            self.warnings.pop(path, None)

    def _merged(self) -> dict[ConfigKey, ConfigObject]:
        out: dict[ConfigKey, ConfigObject] = {}
        for path in sorted(self._by_file):
            for key, obj in self._by_file[path].items():
                if key in out:
                    log.warning("%s: %s is also defined in %s; the later file wins", path, key, out[key].source)
                out[key] = obj
        return out

    def load(self) -> list[ConfigEvent]:
        """(Re)load every file now. Returns the changes against the previous state."""
        files = self._files()
        for gone in set(self._by_file) - set(files):
            self._by_file.pop(gone, None)
            self.errors.pop(gone, None)
            self.warnings.pop(gone, None)
        for path in files:
            self._load_file(path)
        return self._replace(self._merged())

    def reload(self, paths: Iterable[Path]) -> list[ConfigEvent]:
        """Reload only the given files (changed, added or deleted)."""
        for path in sorted(set(paths)):
            if path.exists() and path.is_file() and self._is_ours(path):
                self._load_file(path)
            elif not path.exists():
                self._by_file.pop(path, None)
                self.errors.pop(path, None)
                self.warnings.pop(path, None)
                # a deleted folder takes its files with it
                for f in [f for f in self._by_file if path in f.parents]:
                    self._by_file.pop(f, None)
                    self.errors.pop(f, None)
        return self._replace(self._merged())

    # -- watching --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch the directory and reload changed files until ``stop`` is set."""
        from watchfiles import awatch

        # a file root is watched through its folder: editors and tools replace files by
        # renaming, which a watch on the file itself would not follow
        watched = sorted({r.parent if r.is_file() else r for r in self.roots})
        async for changes in awatch(*watched, stop_event=stop, debounce=50, step=20, recursive=True):
            changed = [Path(c) for _, c in changes]
            # files written into a directory that was just created may come before the
            # watch on it: read everything under a new directory
            for d in [p for p in changed if p.is_dir()]:
                changed.extend(f for f in d.rglob("*") if f.is_file())
            paths = [p for p in dict.fromkeys(changed) if self._is_ours(p) or not p.exists()]
            if not paths:
                continue
            try:
                self.reload(paths)
            except Exception:  # never let a bad file stop the watcher
                log.exception("reloading %s failed", [str(p) for p in paths])
