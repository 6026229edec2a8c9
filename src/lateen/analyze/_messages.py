"""Analysis messages as istioctl prints them: a level, an ``ISTnnnn`` code, the resource it is
about (``VirtualService default/reviews``, with ``file:line`` when it came from a file) and a
text made from the message type's template.

The codes, levels and wording are Istio's (``pkg/config/analysis/msg/messages.yaml``), so
that documentation, suppressions and scripts written for ``istioctl analyze`` carry over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from fnmatch import fnmatchcase
from typing import Any

__all__ = [
    "DOC_URL",
    "Level",
    "Message",
    "MessageType",
    "Resource",
    "go_list",
    "go_quote",
    "sorted_unique",
]

DOC_URL = "https://istio.io/latest/docs/reference/config/analysis"
DOC_REF = "istioctl-analyze"
SUPPRESS_ANNOTATION = "galley.istio.io/analyze-suppress"


class Level(IntEnum):
    """Istio's ``diag.Level``; a higher value is worse."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"invalid level {text!r} (one of {names})") from None


@dataclass(frozen=True, slots=True)
class MessageType:
    code: str
    name: str
    level: Level
    template: str  # str.format template; the parameters are rendered strings

    def render(self, params: Sequence[str]) -> str:
        return self.template.format(*params)


@dataclass(frozen=True, slots=True, order=True)
class Resource:
    """The object a message is about, and where it came from (a file, or the running mesh)."""

    kind: str
    namespace: str
    name: str
    source: str = ""  # file path; empty for objects of the running mesh or built in
    line: int = 0  # first line of the object's document in ``source``
    suppress: tuple[str, ...] = field(default=(), compare=False)  # codes from the annotation

    @property
    def full_name(self) -> str:
        """Istio's ``resource.FullName.String()``: ``namespace/name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def friendly_name(self) -> str:
        """``VirtualService default/reviews`` (the origin istioctl prints)."""
        return f"{self.kind} {self.full_name}"

    @property
    def scope(self) -> str:
        """The namespace a message about this resource belongs to: a Namespace is in itself;
        other cluster-scoped objects are in none (``""``, shown for every namespace)."""
        return self.name if self.kind == "Namespace" else self.namespace


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    resource: Resource | None
    params: tuple[str, ...] = ()
    field: str = ""  # dotted path of the field at fault (``spec.gateways[0]``), for its line
    line: int = 0  # line of ``field`` in the resource's file, once known

    @property
    def text(self) -> str:
        return self.type.render(self.params)

    @property
    def origin(self) -> str:
        return self.resource.friendly_name if self.resource else ""

    @property
    def reference(self) -> str:
        """``file:line`` when the resource was read from a file."""
        r = self.resource
        if r is None or not r.source:
            return ""
        line = self.line or r.line
        return f"{r.source}:{line}" if line else r.source

    def __str__(self) -> str:
        return self.render()

    def render(self, color: bool = False) -> str:
        """``Error [IST0101] (VirtualService default/reviews file.yaml:12) Referenced ...``."""
        level = self.type.level.label
        if color:
            level = f"{_COLORS[self.type.level]}{level}\033[0m" if _COLORS[self.type.level] else level
        where = ""
        if self.resource is not None:
            ref = self.reference
            where = f" ({self.origin}{' ' + ref if ref else ''})"
        return f"{level} [{self.type.code}]{where} {self.text}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON/YAML form (istioctl's ``Message.Unstructured``)."""
        out: dict[str, Any] = {
            "code": self.type.code,
            "documentationUrl": f"{DOC_URL}/{self.type.code.lower()}/?ref={DOC_REF}",
            "level": self.type.level.label,
            "message": self.text,
        }
        if self.resource is not None:
            out["origin"] = self.origin
            if self.reference:
                out["reference"] = self.reference
        return out

    def with_line(self, line: int) -> Message:
        return replace(self, line=line)

    def suppressed(self, rules: Sequence[tuple[str, str]]) -> bool:
        """By the resource's ``galley.istio.io/analyze-suppress`` annotation, or by a
        ``CODE=RESOURCE`` rule (``RESOURCE`` as the origin, ``*`` wildcards allowed)."""
        r = self.resource
        if r is not None and any(c in ("*", self.type.code) for c in r.suppress):
            return True
        for code, pattern in rules:
            if code != self.type.code:
                continue
            if r is None or fnmatchcase(r.friendly_name, pattern):
                return True
        return False


_COLORS = {Level.INFO: "", Level.WARNING: "\033[33m", Level.ERROR: "\033[1;31m"}


def _sort_key(m: Message) -> tuple[int, str, int, tuple[str, str, str], str]:
    r = m.resource
    where = (r.kind, r.namespace, r.name) if r is not None else ("", "", "")
    return (-m.type.level, m.type.code, 0 if r is None else 1, where, str(m))


def sorted_unique(messages: Iterable[Message]) -> list[Message]:
    """istioctl's order (level, worst first; code; resource; text), without duplicates
    (two messages are the same when they print the same)."""
    out: list[Message] = []
    seen: set[str] = set()
    for m in sorted(messages, key=_sort_key):
        s = str(m)
        if s not in seen:
            seen.add(s)
            out.append(m)
    return out


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (a double-quoted literal)."""
    return json.dumps(text, ensure_ascii=False)


def go_list(items: Iterable[object]) -> str:
    """Go's ``%v`` of a slice: ``[a b c]``."""
    return "[" + " ".join(str(i) for i in items) + "]"
