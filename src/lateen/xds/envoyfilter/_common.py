"""What the patch appliers share: context matching, list operations, guarded application."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message

from lateen.model._envoy_filter import EnvoyFilterPatch

__all__ = [
    "ANY",
    "GATEWAY",
    "MERGES",
    "SIDECAR_INBOUND",
    "SIDECAR_OUTBOUND",
    "Patches",
    "clone",
    "context_matches",
    "guarded",
    "list_operation",
    "named",
]

log = logging.getLogger("lateen.xds.envoyfilter")

M = TypeVar("M", bound=Message)
Patches = Mapping[str, tuple[EnvoyFilterPatch, ...]]

ANY = "ANY"
SIDECAR_INBOUND = "SIDECAR_INBOUND"
SIDECAR_OUTBOUND = "SIDECAR_OUTBOUND"
GATEWAY = "GATEWAY"
MERGES = frozenset({"MERGE", "MERGE_AND_REPLACE_LIST"})


def context_matches(patch: EnvoyFilterPatch, context: str) -> bool:
    return patch.context == ANY or patch.context == context


def clone(msg: M) -> M:
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def guarded(
    patch: EnvoyFilterPatch,
    what: str,
    apply: Callable[[Any, EnvoyFilterPatch], None],
    target: Any,
) -> bool:
    """``apply(target, patch)``; a patch that fails is logged and skipped (its target keeps
    what it had: the patch is applied to a copy), never breaks the push."""
    work = clone(target)
    try:
        apply(work, patch)
    except Exception as e:  # any failure of a user's patch must not stop the push
        log.warning("%s: %s patch not applied: %s", patch.describe(), what, e)
        return False
    target.CopyFrom(work)
    return True


def named(name: str) -> Callable[[Any], bool] | None:
    """Match siblings by name; None (no sibling named) for an empty name."""
    if not name:
        return None
    return lambda item: bool(item.name == name)


def list_operation(
    items: list[M], patch: EnvoyFilterPatch, matches: Callable[[M], bool] | None
) -> list[M]:
    """ADD, INSERT_FIRST/BEFORE/AFTER, REPLACE, REMOVE on an ordered list of siblings
    (filters, listener filters). ``matches`` is None when the patch names no sibling:
    INSERT_BEFORE then inserts first, INSERT_AFTER last, REPLACE and REMOVE do nothing."""
    op = patch.operation
    if op not in ("ADD", "INSERT_FIRST", "INSERT_BEFORE", "INSERT_AFTER", "REPLACE", "REMOVE"):
        return items
    if op == "REMOVE":
        return items if matches is None else [x for x in items if not matches(x)]
    assert patch.value is not None
    value: M = clone(patch.value)  # type: ignore[assignment]
    if op == "ADD" or (op == "INSERT_AFTER" and matches is None):
        return [*items, value]
    if op == "INSERT_FIRST" or (op == "INSERT_BEFORE" and matches is None):
        return [value, *items]
    if matches is None:  # REPLACE without a sibling to replace
        return items
    at = next((i for i, x in enumerate(items) if matches(x)), None)
    if at is None:
        return items
    if op == "REPLACE":
        return [*items[:at], value, *items[at + 1 :]]
    if op == "INSERT_AFTER":
        at += 1
    return [*items[:at], value, *items[at:]]
