"""Config stores: the protocol every source implements and an in-memory store."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from lateen.api._object import ConfigKey, ConfigObject, GroupKind

__all__ = [
    "ChangeHandler",
    "ConfigEvent",
    "ConfigStore",
    "EventType",
    "MemoryStore",
    "diff_snapshots",
]


class EventType(StrEnum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ConfigEvent:
    type: EventType
    key: ConfigKey
    old: ConfigObject | None
    new: ConfigObject | None


ChangeHandler = Callable[[list[ConfigEvent]], None]


class ConfigStore(Protocol):
    """A source of config objects. ``snapshot`` is a consistent, immutable view; handlers
    receive every batch of changes in order."""

    def snapshot(self) -> Mapping[ConfigKey, ConfigObject]: ...

    def list(self, kind: GroupKind | None = None, namespace: str | None = None) -> list[ConfigObject]: ...

    def get(self, key: ConfigKey) -> ConfigObject | None: ...

    def subscribe(self, handler: ChangeHandler) -> None: ...


def diff_snapshots(
    old: Mapping[ConfigKey, ConfigObject], new: Mapping[ConfigKey, ConfigObject]
) -> list[ConfigEvent]:
    """The events that turn ``old`` into ``new`` (objects compared by value), sorted by key."""
    events: list[ConfigEvent] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            events.append(ConfigEvent(EventType.ADD, key, None, b))
        elif a is not None and b is None:
            events.append(ConfigEvent(EventType.DELETE, key, a, None))
        elif a is not None and b is not None and (a.spec != b.spec or a.meta != b.meta):
            events.append(ConfigEvent(EventType.UPDATE, key, a, b))
    return events


class _SnapshotStore:
    """Shared read side: an immutable dict replaced wholesale on every change."""

    def __init__(self) -> None:
        self._objects: dict[ConfigKey, ConfigObject] = {}
        self._handlers: list[ChangeHandler] = []
        self._revision = itertools.count(1)

    def snapshot(self) -> Mapping[ConfigKey, ConfigObject]:
        return self._objects

    def list(
        self, kind: GroupKind | None = None, namespace: str | None = None
    ) -> builtins.list[ConfigObject]:
        return [
            o
            for k, o in sorted(self._objects.items())
            if (kind is None or k.group_kind == kind) and (namespace is None or k.namespace == namespace)
        ]

    def get(self, key: ConfigKey) -> ConfigObject | None:
        return self._objects.get(key)

    def subscribe(self, handler: ChangeHandler) -> None:
        self._handlers.append(handler)

    def _replace(self, new: dict[ConfigKey, ConfigObject]) -> builtins.list[ConfigEvent]:
        events = diff_snapshots(self._objects, new)
        if not events:
            return []
        self._objects = new
        for handler in self._handlers:
            handler(events)
        return events

    def next_revision(self) -> str:
        return str(next(self._revision))


class MemoryStore(_SnapshotStore):
    """A store that holds what is applied to it; used by tests and the local platform."""

    def __init__(self, objects: Iterable[ConfigObject] = ()) -> None:
        super().__init__()
        self._objects = {o.key: o for o in objects}

    def apply(self, *objects: ConfigObject) -> list[ConfigEvent]:
        new = dict(self._objects)
        for o in objects:
            new[o.key] = o
        return self._replace(new)

    def delete(self, *keys: ConfigKey) -> list[ConfigEvent]:
        new = dict(self._objects)
        for k in keys:
            new.pop(k, None)
        return self._replace(new)
