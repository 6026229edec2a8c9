"""``lateen validate -f FILE [-f FILE...]``: validate Istio and Kubernetes YAML offline."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lateen.api import LoadError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="validate config files (multi-document YAML; '-' reads stdin)",
        description="Validate Istio config offline. Exit 0 when every object is valid, "
        "1 listing every error as 'file: Kind ns/name: spec.path: message' otherwise.",
    )
    p.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                   help="file or directory to validate; repeatable; '-' for stdin")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return p


def _inputs(names: list[str]) -> list[tuple[str, str | None, str | None]]:
    from lateen.config import is_config_file

    """(display name, text, read error) for each file named or found under a directory."""
    out: list[tuple[str, str | None, str | None]] = []
    for name in names:
        if name == "-":
            out.append(("<stdin>", sys.stdin.read(), None))
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_config_file(p, path))
        else:
            files = [path]
        for f in files:
            try:
                out.append((str(f), f.read_text(encoding="utf-8"), None))
            except (OSError, UnicodeDecodeError) as e:
                out.append((str(f), None, f"cannot read file: {e}"))
    return out


def run(args: argparse.Namespace) -> int:
    from lateen.api import LoadError, load_yaml

    errors: list[LoadError] = []
    warnings: list[LoadError] = []
    kinds: Counter[str] = Counter()
    for source, text, read_error in _inputs(args.filename):
        if read_error is not None:
            errors.append(LoadError(source, "", "", "", read_error))
            continue
        assert text is not None
        result = load_yaml(text, source)
        errors.extend(result.errors)
        warnings.extend(result.warnings)
        kinds.update(o.kind for o in result.objects)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in errors:
        print(str(e), file=sys.stderr)
    total = sum(kinds.values())
    if errors:
        print(f"{len(errors)} error(s); {total} valid object(s)", file=sys.stderr)
        return 1
    if not args.quiet:
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no objects"
        print(f"OK: {total} object(s) valid ({summary})")
    return 0
