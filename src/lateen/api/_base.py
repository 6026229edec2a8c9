"""Shared building blocks for the typed Istio API models and their validation.

Conventions every kind follows:

* A model is a frozen pydantic model derived from :class:`IstioModel`. Python attribute
  names are the snake_case form of the Istio (proto JSON) field name; the camelCase name is
  the alias used for input and output. Unknown fields are rejected.
* Validation beyond types lives in plain functions ``validate_<kind>(spec, ctx)`` that append
  :class:`Diagnostic` entries with a dotted field path (``spec.http[0].route[1].weight``).
  They never raise; every error in an object is reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = [
    "Diagnostic",
    "IstioModel",
    "Severity",
    "ValidationContext",
    "parse_duration",
]


class IstioModel(BaseModel):
    """Base for every Istio API message: camelCase aliases, unknown fields rejected, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
        use_enum_values=True,
        protected_namespaces=(),
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as Istio YAML/JSON would write it (camelCase, unset fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_unset=True)


class Severity(StrEnum):
    ERROR = "Error"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about one field of one object."""

    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(slots=True)
class ValidationContext:
    """Collects diagnostics while a validator walks an object.

    ``namespace`` is the object's namespace (some rules depend on it, e.g. AuthorizationPolicy
    in the root namespace); ``root_namespace`` comes from MeshConfig.
    """

    namespace: str = "default"
    root_namespace: str = "istio-system"
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(path, message, Severity.ERROR))

    def warn(self, path: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(path, message, Severity.WARNING))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Parse a duration as Istio accepts it (Go/protobuf form: ``1s``, ``0.5s``, ``1m30s``,
    ``100ms``) into seconds. Raises ``ValueError`` with a readable message otherwise."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total
