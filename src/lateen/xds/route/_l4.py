"""VirtualService ``tcp`` and ``tls`` routes as L4 routes: what one filter chain (or one
CONNECT route in explicit mode) forwards to, and the runtime match it needs (SNI names,
destination subnets). The listener builder turns them into filter chains with tcp_proxy;
Istio's ``pilot/pkg/networking/core/tls.go`` and the gateway's TCP/TLS server code."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lateen.api._object import ConfigObject
from lateen.model._host import host_matches, hosts_intersect
from lateen.model._proxy import Proxy
from lateen.model._push_context import MESH_GATEWAY, PushContext
from lateen.registry import Service, labels_match
from lateen.xds import names
from lateen.xds.route._context import resolve_gateway_name

__all__ = [
    "L4Route",
    "address_in_subnets",
    "explicit_l4_route",
    "gateway_tcp_route",
    "gateway_tls_routes",
    "l4_destinations",
    "sidecar_tcp_routes",
    "sidecar_tls_routes",
]


@dataclass(frozen=True, slots=True)
class L4Route:
    """Where a connection goes: one cluster (``weight`` 0) or weighted clusters, with the
    tcp_proxy stat prefix; ``sni_hosts``/``destination_cidrs`` restrict the filter chain."""

    stat_prefix: str
    clusters: tuple[tuple[str, int], ...]
    sni_hosts: tuple[str, ...] = ()
    destination_cidrs: tuple[str, ...] = ()
    virtual_service: ConfigObject | None = None

    @property
    def weighted(self) -> bool:
        return len(self.clusters) > 1


def _cluster(dest: Any, vs: ConfigObject, push: PushContext, proxy: Proxy, port: int) -> str:
    host = push.resolve_host(dest.host, vs.namespace)
    dport = dest.port.number if dest.port is not None and dest.port.number else 0
    if not dport:
        svc = push.service_for_host(host, proxy.namespace)
        dport = svc.ports[0].port if svc is not None and len(svc.ports) == 1 else port
    return names.outbound_cluster_name(dport, dest.subset, host)


def l4_destinations(
    route: Sequence[Any], vs: ConfigObject, push: PushContext, proxy: Proxy, port: int
) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """``(stat_prefix, clusters)`` of a tcp/tls route's destinations as Istio builds its
    tcp_proxy: one destination -> its cluster (the stat prefix too); several -> the weighted
    clusters with a weight above 0, stat prefix ``<vs name>.<vs namespace>``."""
    dests = [d for d in route if d.destination is not None]
    if not dests:
        return None
    if len(dests) == 1:
        cluster = _cluster(dests[0].destination, vs, push, proxy, port)
        return cluster, ((cluster, 0),)
    clusters = tuple(
        (_cluster(d.destination, vs, push, proxy, port), d.weight) for d in dests if d.weight > 0
    )
    if not clusters:
        return None
    return f"{vs.name}.{vs.namespace}", clusters


def _static_match(m: Any, proxy: Proxy, port: int, gateway: str, vs_ns: str) -> bool:
    """The predicates known when config is generated: gateway, source labels and namespace,
    port."""
    if m.gateways and gateway not in {resolve_gateway_name(g, vs_ns) for g in m.gateways}:
        return False
    if not labels_match(m.source_labels, proxy.labels):
        return False
    if m.port and m.port != port:
        return False
    return not m.source_namespace or m.source_namespace == proxy.namespace


def sidecar_tcp_routes(
    vs: ConfigObject, push: PushContext, proxy: Proxy, svc: Service, port: int, gateway: str
) -> list[L4Route]:
    """The filter chains a sidecar's outbound TCP listener for ``svc:port`` gets from the
    VirtualService's ``tcp`` routes: a route whose applicable match has no destination subnet
    (or that has no match) ends the list; matches with subnets add a chain restricted to
    them. Empty: no tcp route applies (the listener forwards to the service)."""
    out: list[L4Route] = []
    for tcp in vs.spec.tcp:
        dests = l4_destinations(tcp.route, vs, push, proxy, port)
        if not tcp.match:
            if dests is not None:
                out.append(L4Route(*dests, virtual_service=vs))
            return out
        subnets: list[str] = []
        for m in tcp.match:
            if not _static_match(m, proxy, port, gateway, vs.namespace):
                continue
            if not m.destination_subnets:
                if dests is not None:
                    out.append(L4Route(*dests, virtual_service=vs))
                return out
            subnets.extend(m.destination_subnets)
        if subnets and dests is not None:
            out.append(L4Route(*dests, destination_cidrs=tuple(subnets), virtual_service=vs))
    return out


def sidecar_tls_routes(
    vs: ConfigObject, push: PushContext, proxy: Proxy, svc: Service, port: int, gateway: str
) -> list[L4Route]:
    """The filter chains a sidecar's outbound TLS/HTTPS listener gets from the
    VirtualService's ``tls`` routes: one per applicable match, on its SNI names (and
    destination subnets); a repeated SNI/subnet combination is left out."""
    out: list[L4Route] = []
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    for tls in vs.spec.tls:
        dests = l4_destinations(tls.route, vs, push, proxy, port)
        if dests is None:
            continue
        for m in tls.match:
            if not _static_match(m, proxy, port, gateway, vs.namespace):
                continue
            key = (tuple(m.sni_hosts), tuple(m.destination_subnets))
            if key in seen:
                continue
            seen.add(key)
            out.append(
                L4Route(
                    *dests,
                    sni_hosts=tuple(m.sni_hosts),
                    destination_cidrs=tuple(m.destination_subnets),
                    virtual_service=vs,
                )
            )
    return out


def _gateway_hosts_match(
    push: PushContext, server_hosts: Sequence[tuple[str, str]], vs: ConfigObject
) -> bool:
    """Does one of the VirtualService's hosts overlap one of the server's ``(namespace,
    host)`` entries?"""
    for ns, host in server_hosts:
        if ns not in ("*", vs.namespace):
            continue
        if any(hosts_intersect(host, h) for h in push.vs_hosts(vs)):
            return True
    return False


def _gateway_l4_match(m: Any, port: int, gateway: str, vs_ns: str) -> bool:
    if m.port and m.port != port:
        return False
    return not m.gateways or gateway in {resolve_gateway_name(g, vs_ns) for g in m.gateways}


def gateway_tcp_route(
    push: PushContext,
    proxy: Proxy,
    port: int,
    gateway: str,
    server_hosts: Sequence[tuple[str, str]],
) -> L4Route | None:
    """A gateway's plain TCP server: the first ``tcp`` route (of the VirtualServices bound to
    the gateway whose hosts the server accepts) whose match names this port and gateway."""
    for vs in push.virtual_services_for_gateway(proxy.namespace, gateway):
        if not _gateway_hosts_match(push, server_hosts, vs):
            continue
        for tcp in vs.spec.tcp:
            if tcp.match and not any(
                _gateway_l4_match(m, port, gateway, vs.namespace) for m in tcp.match
            ):
                continue
            dests = l4_destinations(tcp.route, vs, push, proxy, port)
            if dests is not None:
                return L4Route(*dests, virtual_service=vs)
    return None


def gateway_tls_routes(
    push: PushContext,
    proxy: Proxy,
    port: int,
    gateway: str,
    server_hosts: Sequence[tuple[str, str]],
    seen_sni: set[str],
) -> list[L4Route]:
    """A gateway's TLS PASSTHROUGH server: a filter chain per applicable ``tls`` match, on its
    SNI names; a match repeating an SNI name already routed on the port is left out
    (``seen_sni`` is shared by the port's servers)."""
    out: list[L4Route] = []
    for vs in push.virtual_services_for_gateway(proxy.namespace, gateway):
        if not _gateway_hosts_match(push, server_hosts, vs):
            continue
        for tls in vs.spec.tls:
            dests = l4_destinations(tls.route, vs, push, proxy, port)
            if dests is None:
                continue
            for m in tls.match:
                if not _gateway_l4_match(m, port, gateway, vs.namespace):
                    continue
                if any(s in seen_sni for s in m.sni_hosts):
                    continue
                seen_sni.update(m.sni_hosts)
                out.append(
                    L4Route(
                        *dests,
                        sni_hosts=tuple(m.sni_hosts),
                        destination_cidrs=tuple(m.destination_subnets),
                        virtual_service=vs,
                    )
                )
    return out


def explicit_l4_route(
    vs: ConfigObject, push: PushContext, proxy: Proxy, svc: Service, port: int, *, tls: bool
) -> L4Route | None:
    """Explicit mode has no listener per service to put runtime matches on: a ``CONNECT`` to
    ``svc:port`` takes the tcp route (``tls``: the tls route whose SNI names cover the
    service's hostname) whose destination subnets, if any, contain the service's address."""
    if tls:
        for r in sidecar_tls_routes(vs, push, proxy, svc, port, MESH_GATEWAY):
            if any(host_matches(sni, svc.hostname) for sni in r.sni_hosts) and (
                not r.destination_cidrs
                or any(address_in_subnets(a, r.destination_cidrs) for a in svc.addresses)
            ):
                return r
        return None
    for r in sidecar_tcp_routes(vs, push, proxy, svc, port, MESH_GATEWAY):
        if not r.destination_cidrs or any(
            address_in_subnets(a, r.destination_cidrs) for a in svc.addresses
        ):
            return r
    return None


def address_in_subnets(address: str, subnets: Sequence[str]) -> bool:
    """Is ``address`` inside one of ``subnets`` (CIDRs or bare IPs)?"""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for s in subnets:
        try:
            if ip in ipaddress.ip_network(s, strict=False):
                return True
        except ValueError:
            continue
    return False
