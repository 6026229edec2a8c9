"""LISTENER, LISTENER_FILTER, FILTER_CHAIN, NETWORK_FILTER and HTTP_FILTER patches (Istio's
listener_patch.go), applied to the LDS output in Istio's groups: a gateway's listeners
(GATEWAY); a sidecar's virtualOutbound and HTTP proxy listener (SIDECAR_OUTBOUND, no adds),
virtualInbound (SIDECAR_INBOUND, no adds), its other inbound listeners (SIDECAR_INBOUND) and
outbound listeners (SIDECAR_OUTBOUND). The inline route configuration of inbound HTTP chains
gets the route patches first (SIDECAR_INBOUND), as Istio patches it when it builds it."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from lateen.model._envoy_filter import EnvoyFilterPatch
from lateen.xds import names
from lateen.xds.envoyfilter._common import (
    ANY,
    GATEWAY,
    MERGES,
    SIDECAR_INBOUND,
    SIDECAR_OUTBOUND,
    Patches,
    clone,
    context_matches,
    guarded,
    list_operation,
    named,
)
from lateen.xds.envoyfilter._merge import merge, merge_any
from lateen.xds.envoyfilter._route import ROUTE_TARGETS, patch_route_configuration

__all__ = ["LISTENER_TARGETS", "ListenerGroup", "patch_inline_routes", "patch_listener_group"]

LISTENER_TARGETS = ("LISTENER", "LISTENER_FILTER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER")
HCM_FILTER = "envoy.filters.network.http_connection_manager"
_VIRTUAL = (names.VIRTUAL_INBOUND, names.VIRTUAL_OUTBOUND)

ListenerGroup = tuple[str, list[listener_pb2.Listener], bool]  # context, listeners, adds


def _lm(patch: EnvoyFilterPatch) -> Any:
    return patch.match.listener if patch.match is not None else None


def _listener_matches(lis: listener_pb2.Listener, patch: EnvoyFilterPatch) -> bool:
    m = _lm(patch)
    if m is None:
        return True
    if m.name and m.name != lis.name:
        return False
    if patch.apply_to != "LISTENER" and lis.name in _VIRTUAL:
        return True  # the port is matched on the filter chain's destination port
    return not m.port_number or lis.address.socket_address.port_value == m.port_number


def _chain_matches(lis: listener_pb2.Listener, fc: lc.FilterChain, patch: EnvoyFilterPatch) -> bool:
    m = _lm(patch)
    if m is None:
        return True
    fcm = fc.filter_chain_match
    has_fcm = fc.HasField("filter_chain_match")
    if lis.name in _VIRTUAL and m.port_number and fcm.destination_port.value != m.port_number:
        return False
    c = m.filter_chain
    if c is None:
        return True
    if c.name and c.name != fc.name:
        return False
    if c.sni and c.sni not in fcm.server_names:
        return False
    if c.transport_protocol and (not has_fcm or fcm.transport_protocol != c.transport_protocol):
        return False
    if c.application_protocols:
        if not has_fcm:
            return False
        if any(p not in fcm.application_protocols for p in c.application_protocols.split(",")):
            return False
    return not c.destination_port or (
        fcm.HasField("destination_port") and fcm.destination_port.value == c.destination_port
    )


def _filter_name_match(patch: EnvoyFilterPatch) -> str:
    m = _lm(patch)
    if m is None or m.filter_chain is None or m.filter_chain.filter is None:
        return ""
    return str(m.filter_chain.filter.name)


def _sub_filter_name_match(patch: EnvoyFilterPatch) -> str:
    m = _lm(patch)
    if m is None or m.filter_chain is None or m.filter_chain.filter is None:
        return ""
    sub = m.filter_chain.filter.sub_filter
    return str(sub.name) if sub is not None else ""


def _network_filter_matches(f: lc.Filter, patch: EnvoyFilterPatch) -> bool:
    name = _filter_name_match(patch)
    return not name or name == f.name


def _merge(dst: Any, patch: EnvoyFilterPatch) -> None:
    assert patch.value is not None
    merge(dst, patch.value, replace_lists=patch.operation == "MERGE_AND_REPLACE_LIST")


def _merge_filter(f: Any, patch: EnvoyFilterPatch) -> None:
    """A filter MERGE: the patch's name (if any) renames it, its ``typed_config`` merges into
    the filter's (read as the filter's type)."""
    value: Any = patch.value
    if value.HasField("typed_config"):
        f.typed_config.CopyFrom(merge_any(f.typed_config, value.typed_config))
    if value.name:
        f.name = value.name


def patch_listener_group(
    context: str, patches: Patches, group: list[listener_pb2.Listener], adds: bool
) -> list[listener_pb2.Listener]:
    out = [lis for lis in group if _patch_listener(context, patches, lis)]
    if adds:
        for p in patches.get("LISTENER", ()):
            if p.operation != "ADD" or p.value is None:
                continue
            if p.context == ANY and context not in (SIDECAR_OUTBOUND, GATEWAY):
                continue
            if context_matches(p, context):
                out.append(clone(p.value))
    return out


def _patch_listener(context: str, patches: Patches, lis: listener_pb2.Listener) -> bool:
    """Patch ``lis`` in place; False when a patch removes it."""
    for p in patches.get("LISTENER", ()):
        if not context_matches(p, context) or not _listener_matches(lis, p):
            continue
        if p.operation == "REMOVE":
            return False
        if p.operation in MERGES:
            guarded(p, "LISTENER", _merge, lis)
    _patch_listener_filters(context, patches, lis)
    _patch_filter_chains(context, patches, lis)
    return True


def _patch_listener_filters(context: str, patches: Patches, lis: listener_pb2.Listener) -> None:
    lps = [
        p
        for p in patches.get("LISTENER_FILTER", ())
        if context_matches(p, context) and _listener_matches(lis, p)
    ]
    if not lps:
        return
    filters = [clone(f) for f in lis.listener_filters]
    for p in lps:
        name = _lm(p).listener_filter if _lm(p) is not None else ""
        filters = list_operation(filters, p, named(name))
    del lis.listener_filters[:]
    lis.listener_filters.extend(filters)


def _patch_filter_chains(context: str, patches: Patches, lis: listener_pb2.Listener) -> None:
    for i in reversed(range(len(lis.filter_chains))):
        fc = lis.filter_chains[i]
        if not fc.filters or not _patch_filter_chain(context, patches, lis, fc):
            del lis.filter_chains[i]
    default = lis.default_filter_chain
    if (
        lis.HasField("default_filter_chain")
        and default.filters
        and not _patch_filter_chain(context, patches, lis, default)
    ):
        lis.ClearField("default_filter_chain")
    for p in patches.get("FILTER_CHAIN", ()):
        if (
            p.operation == "ADD"
            and p.value is not None
            and context_matches(p, context)
            and _listener_matches(lis, p)
        ):
            lis.filter_chains.append(p.value)


def _patch_filter_chain(
    context: str, patches: Patches, lis: listener_pb2.Listener, fc: lc.FilterChain
) -> bool:
    for p in patches.get("FILTER_CHAIN", ()):
        if not (
            context_matches(p, context) and _listener_matches(lis, p) and _chain_matches(lis, fc, p)
        ):
            continue
        if p.operation == "REMOVE":
            return False
        if p.operation in MERGES:
            guarded(p, "FILTER_CHAIN", _merge_chain, fc)
    _patch_network_filters(context, patches, lis, fc)
    return True


def _merge_chain(fc: lc.FilterChain, patch: EnvoyFilterPatch) -> None:
    """A transport socket of the same name merges its typed config; otherwise plain merge."""
    value: Any = patch.value
    if (
        value.HasField("transport_socket")
        and fc.HasField("transport_socket")
        and value.transport_socket.name == fc.transport_socket.name
    ):
        ts = fc.transport_socket
        if ts.HasField("typed_config") and value.transport_socket.HasField("typed_config"):
            ts.typed_config.CopyFrom(
                merge_any(ts.typed_config, value.transport_socket.typed_config)
            )
        return
    _merge(fc, patch)


def _patch_network_filters(
    context: str, patches: Patches, lis: listener_pb2.Listener, fc: lc.FilterChain
) -> None:
    nps = [
        p
        for p in patches.get("NETWORK_FILTER", ())
        if context_matches(p, context) and _listener_matches(lis, p) and _chain_matches(lis, fc, p)
    ]
    hps = [
        p
        for p in patches.get("HTTP_FILTER", ())
        if context_matches(p, context) and _listener_matches(lis, p) and _chain_matches(lis, fc, p)
    ]
    if not nps and not hps:
        return
    filters = [clone(f) for f in fc.filters]
    for p in nps:
        name = _filter_name_match(p)
        filters = list_operation(filters, p, named(name))
    for f in filters:
        for p in nps:
            if (
                p.operation in MERGES
                and f.HasField("typed_config")
                and _network_filter_matches(f, p)
            ):
                guarded(p, "NETWORK_FILTER", _merge_filter, f)
        if f.name == HCM_FILTER:
            _patch_http_filters([p for p in hps if _network_filter_matches(f, p)], f)
    del fc.filters[:]
    fc.filters.extend(filters)


def _patch_http_filters(patches: list[EnvoyFilterPatch], f: lc.Filter) -> None:
    if not patches or not f.HasField("typed_config"):
        return
    hcm = hcm_pb2.HttpConnectionManager()
    if not f.typed_config.Unpack(hcm):
        return
    filters = [clone(h) for h in hcm.http_filters]
    for p in patches:
        name = _sub_filter_name_match(p)
        filters = list_operation(filters, p, named(name))
    for h in filters:
        for p in patches:
            name = _sub_filter_name_match(p)
            if p.operation in MERGES and name == h.name and h.HasField("typed_config"):
                guarded(p, "HTTP_FILTER", _merge_filter, h)
    del hcm.http_filters[:]
    hcm.http_filters.extend(filters)
    f.typed_config.Pack(hcm)


def patch_inline_routes(patches: Patches, lis: listener_pb2.Listener) -> None:
    """The route patches on the inline route configurations of an inbound listener."""
    if not any(t in patches for t in ROUTE_TARGETS):
        return
    chains = list(lis.filter_chains)
    if lis.HasField("default_filter_chain"):
        chains.append(lis.default_filter_chain)
    for fc in chains:
        for f in fc.filters:
            if f.name != HCM_FILTER or not f.HasField("typed_config"):
                continue
            hcm = hcm_pb2.HttpConnectionManager()
            if not f.typed_config.Unpack(hcm) or not hcm.HasField("route_config"):
                continue
            patch_route_configuration(SIDECAR_INBOUND, patches, hcm.route_config)
            f.typed_config.Pack(hcm)


def listener_groups(
    is_router: bool, explicit: bool, listeners: list[listener_pb2.Listener]
) -> list[ListenerGroup]:
    if is_router:
        return [(GATEWAY, listeners, True)]
    single: list[ListenerGroup] = []
    inbound: list[listener_pb2.Listener] = []
    outbound: list[listener_pb2.Listener] = []
    proxy_suffix = f"_{names.EXPLICIT_PROXY_PORT}"
    for lis in listeners:
        if lis.name == names.VIRTUAL_OUTBOUND or (
            explicit
            and lis.traffic_direction != base_pb2.INBOUND
            and lis.name.endswith(proxy_suffix)
        ):
            single.append((SIDECAR_OUTBOUND, [lis], False))
        elif lis.name == names.VIRTUAL_INBOUND:
            single.append((SIDECAR_INBOUND, [lis], False))
        elif lis.traffic_direction == base_pb2.INBOUND:
            inbound.append(lis)
        else:
            outbound.append(lis)
    return [*single, (SIDECAR_INBOUND, inbound, True), (SIDECAR_OUTBOUND, outbound, True)]
