"""The envelope every config object travels in: kind, metadata, typed spec, source file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["EMPTY", "ConfigKey", "ConfigObject", "GroupKind", "ObjectMeta"]

EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, order=True)
class GroupKind:
    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True, slots=True, order=True)
class ConfigKey:
    """Identity of an object in a store: (group, kind, namespace, name)."""

    group: str
    kind: str
    namespace: str
    name: str

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str = ""


@dataclass(frozen=True, slots=True)
class ConfigObject:
    """A validated object.

    ``spec`` is the typed pydantic model for Istio kinds. For Kubernetes kinds (Service,
    Endpoints, EndpointSlice, Namespace...) it is the raw body of the object without
    ``apiVersion``/``kind``/``metadata`` (a plain mapping), which ``registry/`` interprets.
    ``api_version`` is the version the object was written in; stores keep the stored version.
    """

    group: str
    kind: str
    api_version: str
    meta: ObjectMeta
    spec: Any
    source: str = ""

    @property
    def key(self) -> ConfigKey:
        return ConfigKey(self.group, self.kind, self.meta.namespace, self.meta.name)

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def namespace(self) -> str:
        return self.meta.namespace
