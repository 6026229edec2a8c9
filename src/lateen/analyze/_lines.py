"""Line numbers for messages about objects read from files: the line where the object's
document starts, and the line of the field at fault (``spec.http[0].route[0].destination.host``)
when the message names one, as istioctl prints them (``file.yaml:12``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

import yaml

from lateen.analyze._messages import Message
from lateen.api import lookup

__all__ = ["attach_lines", "field_line"]

_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")

try:  # the C loader is several times faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_Key = tuple[str, str, str]  # kind, namespace, name


def _scalar(node: yaml.Node | None) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """``(key node, value node)`` of ``key`` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if _scalar(k) == key:
                return k, v
    return None


def _objects(node: yaml.Node, default_namespace: str) -> Iterator[tuple[_Key, yaml.Node]]:
    kind = _scalar(kv[1]) if (kv := _get(node, "kind")) else ""
    if kind == "List" and (items := _get(node, "items")) and isinstance(items[1], yaml.SequenceNode):
        for item in items[1].value:
            yield from _objects(item, default_namespace)
        return
    meta = _get(node, "metadata")
    if not kind or meta is None:
        return
    name = _scalar(kv[1]) if (kv := _get(meta[1], "name")) else ""
    ns = _scalar(kv[1]) if (kv := _get(meta[1], "namespace")) else default_namespace
    info = lookup(kind)
    if info is not None and not info.namespaced:
        ns = ""
    yield (kind, ns, name), node


def _index(text: str, default_namespace: str) -> dict[_Key, yaml.Node]:
    out: dict[_Key, yaml.Node] = {}
    try:
        for doc in yaml.compose_all(text, Loader=_Loader):
            if doc is not None:
                for key, node in _objects(doc, default_namespace):
                    out.setdefault(key, node)
    except yaml.YAMLError:
        pass  # the documents before the error keep their lines
    return out


def field_line(node: yaml.Node, path: str) -> int:
    """1-based line of the field ``path`` under ``node``, or 0 when it is not there."""
    line = 0
    for index, key in _TOKEN.findall(path):
        if key:
            kv = _get(node, key)
            if kv is None:
                return 0
            line, node = kv[0].start_mark.line + 1, kv[1]
        else:
            if not isinstance(node, yaml.SequenceNode) or int(index) >= len(node.value):
                return 0
            node = node.value[int(index)]
            line = node.start_mark.line + 1
    return line


def attach_lines(
    messages: Iterable[Message], texts: Mapping[str, str], default_namespace: str = "default"
) -> list[Message]:
    """The messages with the line of their object's document and of their field, for the
    objects read from one of ``texts`` (file name -> content)."""
    indexes: dict[str, dict[_Key, yaml.Node]] = {}
    out: list[Message] = []
    for m in messages:
        r = m.resource
        if r is None or r.source not in texts:
            out.append(m)
            continue
        if r.source not in indexes:
            indexes[r.source] = _index(texts[r.source], default_namespace)
        node = indexes[r.source].get((r.kind, r.namespace, r.name))
        if node is None:
            out.append(m)
            continue
        resource = replace(r, line=node.start_mark.line + 1)
        line = field_line(node, m.field) if m.field else 0
        out.append(replace(m, resource=resource, line=line))
    return out
