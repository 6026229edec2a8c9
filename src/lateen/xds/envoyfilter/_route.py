"""ROUTE_CONFIGURATION, VIRTUAL_HOST and HTTP_ROUTE patches (Istio's rc_patch.go): applied to
the RDS route configurations (SIDECAR_OUTBOUND, or GATEWAY on a gateway) and to the inline
route configuration of a sidecar's inbound HTTP chains (SIDECAR_INBOUND)."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from lateen.model._envoy_filter import EnvoyFilterPatch
from lateen.xds import names
from lateen.xds.envoyfilter._common import (
    GATEWAY,
    MERGES,
    Patches,
    clone,
    context_matches,
    guarded,
)
from lateen.xds.envoyfilter._merge import merge

__all__ = ["ROUTE_TARGETS", "patch_route_configuration"]

ROUTE_TARGETS = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
_ACTIONS = {"route": "ROUTE", "redirect": "REDIRECT", "direct_response": "DIRECT_RESPONSE"}


def _rc_match_spec(patch: EnvoyFilterPatch) -> Any:
    return patch.match.route_configuration if patch.match is not None else None


def _gateway_route_name(name: str) -> tuple[int, str, str]:
    """``http.<port>`` -> port; ``https.<port>.<portName>.<gateway>.<ns>`` -> port, port
    name and ``ns/gateway``."""
    parts = name.split(".")
    port = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    if parts[0] == "https" and len(parts) >= 5:
        return port, parts[2], f"{parts[4]}/{parts[3]}"
    return (port, "", "") if parts[0] == "http" else (0, "", "")


def route_configuration_matches(
    context: str, config: route_pb2.RouteConfiguration, patch: EnvoyFilterPatch
) -> bool:
    m = _rc_match_spec(patch)
    if m is None:
        return True
    if m.name and m.name != config.name:
        return False
    if context != GATEWAY:
        parsed = names.parse_cluster_name(config.name)
        digits = int(config.name) if config.name.isdigit() else 0
        port = parsed[1] if parsed is not None else digits
        return not m.port_number or m.port_number == port
    port, port_name, gateway = _gateway_route_name(config.name)
    if m.port_number and m.port_number != port:
        return False
    if m.port_name and m.port_name != port_name:
        return False
    return not (m.gateway and m.gateway != gateway)


def _vhost_matches(vhost: rc.VirtualHost, patch: EnvoyFilterPatch) -> bool:
    m = _rc_match_spec(patch)
    if m is None or m.vhost is None:
        return True
    if m.vhost.name and m.vhost.name != vhost.name:
        return False
    return not m.vhost.domain_name or m.vhost.domain_name in vhost.domains


def _has_route_match(patch: EnvoyFilterPatch) -> bool:
    m = _rc_match_spec(patch)
    return m is not None and m.vhost is not None and m.vhost.route is not None


def _route_matches(route: rc.Route | None, patch: EnvoyFilterPatch) -> bool:
    if not _has_route_match(patch):
        return True
    if route is None:
        return False
    m = _rc_match_spec(patch).vhost.route
    if m.name and m.name != route.name:
        return False
    if m.action != "ANY":
        action = _ACTIONS.get(route.WhichOneof("action") or "")
        if action is not None:
            return bool(action == m.action)
    return True


def patch_route_configuration(
    context: str, patches: Patches, config: route_pb2.RouteConfiguration
) -> None:
    """Apply the route patches for ``context`` to ``config`` in place."""
    for p in patches.get("ROUTE_CONFIGURATION", ()):
        if (
            p.operation in MERGES
            and context_matches(p, context)
            and route_configuration_matches(context, config, p)
        ):
            guarded(p, "ROUTE_CONFIGURATION", _merge, config)
    vh_patches = patches.get("VIRTUAL_HOST", ())
    route_patches = patches.get("HTTP_ROUTE", ())
    if not vh_patches and not route_patches:
        return
    applicable = [
        p
        for p in (*vh_patches, *route_patches)
        if context_matches(p, context) and route_configuration_matches(context, config, p)
    ]
    if not applicable:
        return
    out: list[rc.VirtualHost] = []
    for vhost in config.virtual_hosts:
        patched = _patch_vhost(applicable, clone(vhost))
        if patched is not None:
            out.append(patched)
    for p in applicable:
        if p.apply_to == "VIRTUAL_HOST" and p.operation == "ADD" and p.value is not None:
            out.append(clone(p.value))
    del config.virtual_hosts[:]
    config.virtual_hosts.extend(out)


def _merge(dst: Any, patch: EnvoyFilterPatch) -> None:
    assert patch.value is not None
    merge(dst, patch.value, replace_lists=patch.operation == "MERGE_AND_REPLACE_LIST")


def _patch_vhost(
    applicable: list[EnvoyFilterPatch], vhost: rc.VirtualHost
) -> rc.VirtualHost | None:
    for p in applicable:
        if p.apply_to != "VIRTUAL_HOST" or not _vhost_matches(vhost, p):
            continue
        if p.operation == "REMOVE":
            return None
        if p.operation in MERGES:
            guarded(p, "VIRTUAL_HOST", _merge, vhost)
        elif p.operation == "REPLACE" and p.value is not None:
            vhost = clone(p.value)
    route_patches = [
        p for p in applicable if p.apply_to == "HTTP_ROUTE" and _vhost_matches(vhost, p)
    ]
    if route_patches:
        _patch_routes(route_patches, vhost)
    return vhost


def _patch_routes(patches: list[EnvoyFilterPatch], vhost: rc.VirtualHost) -> None:
    routes: list[rc.Route | None] = [clone(r) for r in vhost.routes]
    for i, route in enumerate(routes):
        for p in patches:
            if route is None or not _route_matches(route, p):
                continue
            if p.operation == "REMOVE":
                routes[i] = route = None
            elif p.operation in MERGES:
                guarded(p, "HTTP_ROUTE", _merge, route)
    for p in patches:
        if p.value is None or p.operation not in (
            "ADD",
            "INSERT_FIRST",
            "INSERT_BEFORE",
            "INSERT_AFTER",
        ):
            continue
        value: rc.Route = clone(p.value)
        has_match = _has_route_match(p)
        if p.operation == "ADD" or (p.operation == "INSERT_AFTER" and not has_match):
            routes.append(value)
            continue
        if p.operation in ("INSERT_BEFORE", "INSERT_FIRST") and not has_match:
            routes.insert(0, value)
            continue
        at = next((i for i, r in enumerate(routes) if _route_matches(r, p)), None)
        if at is None:
            continue
        if p.operation == "INSERT_FIRST":
            routes.insert(0, value)
        elif p.operation == "INSERT_BEFORE":
            routes.insert(at, value)
        else:
            routes.insert(at + 1, value)
    del vhost.routes[:]
    vhost.routes.extend(r for r in routes if r is not None)
