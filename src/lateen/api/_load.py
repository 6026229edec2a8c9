"""Turn YAML documents into validated :class:`ConfigObject`s, collecting every error."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic
import yaml

from lateen.api._base import Diagnostic, Severity, ValidationContext
from lateen.api._object import ConfigObject, ObjectMeta
from lateen.api.kinds import KindInfo, by_api_version, lookup

__all__ = [
    "LoadError",
    "LoadResult",
    "load_yaml",
    "parse_object",
    "pydantic_diagnostics",
]

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ISTIO_TOP_LEVEL = {"apiVersion", "kind", "metadata", "spec", "status"}

try:  # the C loader is several times faster; fall back when libyaml is missing
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass(frozen=True, slots=True)
class LoadError:
    """One problem with one object (or one document) of one file."""

    source: str
    kind: str
    name: str
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        parts = [self.source or "<input>"]
        if self.kind or self.name:
            parts.append(f"{self.kind} {self.name}".strip())
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass(slots=True)
class LoadResult:
    objects: list[ConfigObject] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)
    # names of objects that were present in the input but rejected: (kind, namespace, name)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    # the YAML stream broke off: documents after the error were not read
    incomplete: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _loc_to_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part.startswith(("function-", "json-or-python")):
            continue  # pydantic's internal union/validator markers
        else:
            out += f".{part}" if out else part
    return out


def pydantic_diagnostics(prefix: str, err: pydantic.ValidationError) -> list[Diagnostic]:
    """Convert a pydantic error into diagnostics whose paths use Istio's field names."""
    out: list[Diagnostic] = []
    for e in err.errors(include_url=False):
        typ = e["type"]
        loc = tuple(e["loc"])
        if typ == "extra_forbidden":
            msg = "unknown field"
        elif typ == "missing":
            msg = "required field is missing"
        else:
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
        out.append(Diagnostic(_loc_to_path(prefix, loc), msg))
    return out


def _yaml_error(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {problem}"


def _without_unknown_fields(raw: Mapping[str, Any], err: pydantic.ValidationError) -> Any:
    """A deep copy of ``raw`` without the fields ``err`` reports as unknown, or None when it
    reports any other kind of error."""
    errors = err.errors(include_url=False)
    if any(e["type"] != "extra_forbidden" for e in errors):
        return None
    out: Any = copy.deepcopy(dict(raw))
    for e in errors:
        node = out
        *parents, leaf = e["loc"]
        try:
            for part in parents:
                node = node[part]
            del node[leaf]
        except (KeyError, IndexError, TypeError):
            return None
    return out


def _iter_docs(text: str) -> Iterator[Any]:
    yield from yaml.load_all(text, Loader=_Loader)


def _str_map(value: Any, path: str, ctx: ValidationContext) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        ctx.error(path, "must be a map of strings")
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            ctx.error(f"{path}.{k}", "keys and values must be strings")
            continue
        out[k] = v
    return out


def parse_object(
    doc: Mapping[str, Any],
    *,
    source: str = "",
    default_namespace: str = "default",
    root_namespace: str = "istio-system",
) -> tuple[ConfigObject | None, KindInfo | None, list[Diagnostic]]:
    """Validate one decoded document. Returns (object or None, its kind, diagnostics)."""
    ctx = ValidationContext(root_namespace=root_namespace)
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if not isinstance(api_version, str) or not api_version:
        ctx.error("apiVersion", "required field is missing")
    if not isinstance(kind, str) or not kind:
        ctx.error("kind", "required field is missing")
    if ctx.errors:
        return None, None, ctx.diagnostics
    assert isinstance(api_version, str) and isinstance(kind, str)
    info = by_api_version(api_version, kind)
    if info is None:
        known = lookup(kind)
        if known is not None and known.kind == kind:
            versions = ", ".join(known.api_versions())
            ctx.error("apiVersion", f"unsupported version {api_version!r} for {kind} (accepts {versions})")
        else:
            ctx.error("kind", f"unknown kind {api_version}/{kind}")
        return None, None, ctx.diagnostics

    raw_meta = doc.get("metadata")
    if not isinstance(raw_meta, Mapping):
        ctx.error("metadata", "required field is missing")
        return None, info, ctx.diagnostics
    name = raw_meta.get("name")
    if not isinstance(name, str) or not name:
        ctx.error("metadata.name", "required field is missing")
        name = ""
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        ctx.error("metadata.name", f"invalid name {name!r}: must be a lowercase RFC 1123 subdomain")
    namespace = ""
    if info.namespaced:
        ns = raw_meta.get("namespace", default_namespace)
        if not isinstance(ns, str) or not _DNS1123_LABEL.match(ns) or len(ns) > 63:
            ctx.error("metadata.namespace", f"invalid namespace {ns!r}")
            ns = default_namespace
        namespace = ns
    labels = _str_map(raw_meta.get("labels"), "metadata.labels", ctx)
    annotations = _str_map(raw_meta.get("annotations"), "metadata.annotations", ctx)
    ctx.namespace = namespace
    generation = raw_meta.get("generation", 0)
    meta = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        resource_version=str(raw_meta.get("resourceVersion", "")),
        generation=generation if isinstance(generation, int) else 0,
        creation_timestamp=str(raw_meta.get("creationTimestamp", "")),
    )

    spec: Any
    if info.is_istio:
        for key in doc:
            if key not in _ISTIO_TOP_LEVEL:
                ctx.error(str(key), "unknown field")
        raw_spec = doc.get("spec")
        if raw_spec is None:
            raw_spec = {}
        if not isinstance(raw_spec, Mapping):
            ctx.error("spec", "must be an object")
            return None, info, ctx.diagnostics
        model = info.model()
        try:
            spec = model.model_validate(raw_spec)
        except pydantic.ValidationError as e:
            ctx.diagnostics.extend(pydantic_diagnostics("spec", e))
            # Unknown fields alone do not stop the semantic checks: validate the rest too, so
            # that every error of the object is reported at once.
            stripped = _without_unknown_fields(raw_spec, e)
            if stripped is None:
                return None, info, ctx.diagnostics
            try:
                spec = model.model_validate(stripped)
            except pydantic.ValidationError:
                return None, info, ctx.diagnostics
        validator = info.validator()
        if validator is not None:
            validator(spec, ctx)
    else:
        from lateen.api.kube import validate_kube

        spec = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        validate_kube(info.kind, spec, ctx, name=meta.name)
    if ctx.errors:
        return None, info, ctx.diagnostics
    obj = ConfigObject(info.group, info.kind, api_version, meta, spec, source)
    return obj, info, ctx.diagnostics


def _display_name(doc: Mapping[str, Any], default_namespace: str) -> str:
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping):
        return ""
    name = meta.get("name", "")
    ns = meta.get("namespace", default_namespace)
    return f"{ns}/{name}" if name else ""


def load_yaml(
    text: str,
    source: str = "",
    *,
    default_namespace: str = "default",
    root_namespace: str = "istio-system",
) -> LoadResult:
    """Parse a (multi-document) YAML text and validate every object in it.

    A bad document is reported and skipped; the valid objects of the same text are returned.
    ``List`` documents (``kind: List`` with ``items``) are flattened.
    """
    result = LoadResult()
    docs: list[Any] = []
    try:
        for doc in _iter_docs(text):
            docs.append(doc)
    except yaml.YAMLError as e:
        result.incomplete = True
        result.errors.append(LoadError(source, "", "", "", _yaml_error(e)))

    def handle(doc: Any) -> None:
        if doc is None:
            return
        if not isinstance(doc, Mapping):
            result.errors.append(LoadError(source, "", "", "", "document is not an object"))
            return
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                handle(item)
            return
        obj, _info, diags = parse_object(
            doc, source=source, default_namespace=default_namespace, root_namespace=root_namespace
        )
        kind = str(doc.get("kind", "")) if isinstance(doc.get("kind", ""), str) else ""
        disp = _display_name(doc, default_namespace)
        for d in diags:
            err = LoadError(source, kind, disp, d.path, d.message, d.severity)
            (result.errors if d.severity is Severity.ERROR else result.warnings).append(err)
        if obj is not None:
            result.objects.append(obj)
        else:
            ns, _, name = disp.partition("/")
            result.rejected.append((kind, ns, name))

    for doc in docs:
        handle(doc)
    return result
