"""EnvoyFilter config patches prepared once per push (Istio's ``EnvoyFilterWrapper``): the
value parsed into its Envoy message, the proxy-version regex compiled, INSERT_* turned into
ADD where only ADD makes sense."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from google.protobuf.message import Message

from lateen.api._net_ef_value import PatchValueError, patch_value_message
from lateen.api._object import ConfigObject

__all__ = ["EnvoyFilterPatch", "compile_envoy_filter", "proxy_matches"]

log = logging.getLogger(__name__)

# INSERT_BEFORE/AFTER/FIRST need an ordered list of siblings: other targets get ADD
_ORDERED_TARGETS = frozenset({"HTTP_FILTER", "NETWORK_FILTER", "HTTP_ROUTE", "LISTENER_FILTER"})
_INSERTS = frozenset({"INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST"})


@dataclass(frozen=True, slots=True, eq=False)
class EnvoyFilterPatch:
    """One config patch of an EnvoyFilter, ready to apply. ``value`` is None only for
    REMOVE; ``match`` is the API's ``EnvoyConfigObjectMatch`` (None: match everything)."""

    namespace: str
    name: str
    index: int
    apply_to: str
    operation: str
    context: str
    match: Any
    value: Message | None
    proxy_version: re.Pattern[str] | None = None
    proxy_metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.namespace, self.name, self.index)

    def describe(self) -> str:
        return f"EnvoyFilter {self.namespace}/{self.name} configPatches[{self.index}]"


def compile_envoy_filter(ef: ConfigObject) -> tuple[EnvoyFilterPatch, ...]:
    """The applicable patches of ``ef`` in order. A patch whose value does not parse is
    dropped and logged (validation rejects it; the rest of the filter still applies)."""
    out: list[EnvoyFilterPatch] = []
    for i, cp in enumerate(ef.spec.config_patches):
        if cp.patch is None or cp.apply_to == "INVALID" or cp.patch.operation == "INVALID":
            continue
        op = cp.patch.operation
        value: Message | None = None
        if cp.patch.value is not None and op != "REMOVE":
            try:
                value = patch_value_message(cp.apply_to, cp.patch.value)
            except PatchValueError as e:
                log.warning(
                    "EnvoyFilter %s/%s configPatches[%d] skipped: %s", ef.namespace, ef.name, i, e
                )
                continue
        elif op != "REMOVE":
            continue
        if op in _INSERTS and cp.apply_to not in _ORDERED_TARGETS:
            op = "ADD"
        m = cp.match
        regex: re.Pattern[str] | None = None
        metadata: Mapping[str, str] = MappingProxyType({})
        if m is not None and m.proxy is not None:
            if m.proxy.proxy_version:
                try:
                    regex = re.compile(m.proxy.proxy_version)
                except re.error:
                    log.warning(
                        "EnvoyFilter %s/%s configPatches[%d] skipped: bad proxyVersion",
                        ef.namespace,
                        ef.name,
                        i,
                    )
                    continue
            metadata = MappingProxyType(dict(m.proxy.metadata))
        out.append(
            EnvoyFilterPatch(
                namespace=ef.namespace,
                name=ef.name,
                index=i,
                apply_to=cp.apply_to,
                operation=op,
                context=m.context if m is not None else "ANY",
                match=m,
                value=value,
                proxy_version=regex,
                proxy_metadata=metadata,
            )
        )
    return tuple(out)


def proxy_matches(patch: EnvoyFilterPatch, metadata: Mapping[str, Any]) -> bool:
    """``match.proxy``: the version regex against ``ISTIO_VERSION`` (a proxy without one
    never matches a regex), and every metadata entry equal."""
    if patch.proxy_version is not None:
        version = str(metadata.get("ISTIO_VERSION") or "")
        if not version or patch.proxy_version.search(version) is None:
            return False
    return all(
        str(metadata.get(k, "")) == v and k in metadata for k, v in patch.proxy_metadata.items()
    )
