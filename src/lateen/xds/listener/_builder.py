"""LDS: sidecar listeners (virtualOutbound 15001, per-port outbound, virtualInbound 15006) and
gateway listeners (``0.0.0.0_<port>`` per Gateway server port, built in ``_gateway``).

Explicit mode (``INTERCEPTION_MODE: NONE``, nothing captures traffic): a sidecar gets an HTTP
proxy listener ``<ip>_15001`` (route configuration ``15001``) and one listener ``<ip>_<port>``
per inbound port, bound on its own address; a gateway's listeners bind its address
(``<ip>_<port>``). ``LATEEN_PORT_BINDINGS`` moves any of these (and any gateway's listener) to
another ``host:port``; the listener is then named ``<host>_<port>`` after the logical port.
A capture-mode sidecar's listeners ignore bindings: capture redirects to 15001/15006."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import MESH_GATEWAY, PushContext
from lateen.registry import Service, ServicePort
from lateen.xds import names
from lateen.xds._scope import (
    InboundPort,
    OutboundListenerSpec,
    bound_egress_specs,
    explicit_bind_host,
    fallback_cluster,
    inbound_ports,
    is_explicit,
    listener_bind_address,
    outbound_listener_specs,
)
from lateen.xds._util import pack, socket_address
from lateen.xds.authz import tcp_authz_filters
from lateen.xds.listener._hcm import (
    DEFAULT_HCM_CONFIGURERS,
    HCM_FILTER,
    Direction,
    HcmConfigurer,
    HcmContext,
    build_hcm,
)
from lateen.xds.listener._mtls import strict_passthrough, tls_inspector, with_inbound_mtls
from lateen.xds.listener._sidecar_ingress import sidecar_ingress_listeners
from lateen.xds.route._builder import inbound_route_configuration
from lateen.xds.route._l4 import (
    L4Route,
    sidecar_tcp_routes,
    sidecar_tls_routes,
)

__all__ = [
    "bound_egress_listeners",
    "build_listeners",
    "explicit_inbound_listeners",
    "explicit_proxy_listener",
    "outbound_listeners",
    "tcp_proxy_filter",
    "virtual_inbound_listener",
    "virtual_outbound_listener",
]

TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
ORIGINAL_DST_FILTER = "envoy.filters.listener.original_dst"
HTTP_INSPECTOR_FILTER = "envoy.filters.listener.http_inspector"
TLS_INSPECTOR_FILTER = "envoy.filters.listener.tls_inspector"
_HTTP_ALPNS = ["http/1.1", "h2c"]


def tcp_proxy_filter(
    stat_prefix: str, cluster: str = "", weighted: Sequence[tuple[str, int]] = ()
) -> lc.Filter:
    tp = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix)
    if weighted:
        tp.weighted_clusters.CopyFrom(
            tcp_proxy_pb2.TcpProxy.WeightedCluster(
                clusters=[
                    tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(name=n, weight=w)
                    for n, w in weighted
                ]
            )
        )
    else:
        tp.cluster = cluster
    return lc.Filter(name=TCP_PROXY_FILTER, typed_config=pack(tp))


def authz_tcp_filters(proxy: Proxy, push: PushContext) -> list[lc.Filter]:
    """AuthorizationPolicy network filters for the proxy's inbound (gateway: every) TCP
    chains, to put in front of tcp_proxy."""
    return tcp_authz_filters(push, proxy.namespace, push.authorization_policies(proxy))


def _hcm_filter(ctx: HcmContext, configurers: Sequence[HcmConfigurer]) -> lc.Filter:
    return lc.Filter(name=HCM_FILTER, typed_config=pack(build_hcm(ctx, configurers)))


def _listener_filter(name: str, msg: Any) -> lc.ListenerFilter:
    return lc.ListenerFilter(name=name, typed_config=pack(msg))


def _fallback_cluster(push: PushContext, proxy: Proxy | None) -> str:
    if proxy is None:
        return names.BLACKHOLE_CLUSTER if push.mesh.registry_only else names.PASSTHROUGH_CLUSTER
    return fallback_cluster(proxy, push)


def virtual_outbound_listener(push: PushContext, proxy: Proxy | None = None) -> listener_pb2.Listener:
    """0.0.0.0:15001, hands connections to the listener of their original destination; the
    rest goes to PassthroughCluster (ALLOW_ANY), the Sidecar's egressProxy, or
    BlackHoleCluster (REGISTRY_ONLY; the proxy's Sidecar, else the mesh, decides)."""
    fallback = _fallback_cluster(push, proxy)
    chain_name = (
        "BlackHoleFilterChain"
        if fallback == names.BLACKHOLE_CLUSTER
        else "PassthroughFilterChain"
    )
    return listener_pb2.Listener(
        name=names.VIRTUAL_OUTBOUND,
        address=socket_address("0.0.0.0", names.VIRTUAL_OUTBOUND_PORT),
        use_original_dst=wrappers_pb2.BoolValue(value=True),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[
            lc.FilterChain(name=chain_name, filters=[tcp_proxy_filter(fallback, fallback)])
        ],
    )


def _cidr(value: str) -> address_pb2.CidrRange:
    net = ipaddress.ip_network(value, strict=False)
    return address_pb2.CidrRange(
        address_prefix=str(net.network_address),
        prefix_len=wrappers_pb2.UInt32Value(value=net.prefixlen),
    )


def _l4_filter(route: L4Route) -> lc.Filter:
    if route.weighted:
        return tcp_proxy_filter(route.stat_prefix, weighted=route.clusters)
    return tcp_proxy_filter(route.stat_prefix, route.clusters[0][0])


def _l4_chain(route: L4Route) -> lc.FilterChain:
    """A filter chain for a tcp/tls route: on its SNI names and destination subnets."""
    chain = lc.FilterChain(filters=[_l4_filter(route)])
    if route.sni_hosts:
        chain.filter_chain_match.server_names.extend(route.sni_hosts)
    if route.destination_cidrs:
        chain.filter_chain_match.prefix_ranges.extend(_cidr(c) for c in route.destination_cidrs)
    return chain


def _outbound_l4_chains(
    proxy: Proxy, push: PushContext, svc: Service, sp: ServicePort
) -> list[lc.FilterChain]:
    """The TCP filter chains of an outbound listener: from the VirtualService's ``tls`` routes
    (TLS/HTTPS ports) or ``tcp`` routes, else one chain to ``outbound|<port>||<host>``."""
    vs = push.virtual_service_for_host(proxy.namespace, svc.hostname, MESH_GATEWAY)
    routes: list[L4Route] = []
    if vs is not None:
        build = sidecar_tls_routes if sp.protocol.is_tls else sidecar_tcp_routes
        routes = build(vs, push, proxy, svc, sp.port, MESH_GATEWAY)
    chains = [_l4_chain(r) for r in routes]
    if sp.protocol.is_tls and routes:
        return chains
    if not any(not r.destination_cidrs for r in routes):
        default = names.outbound_cluster_name(sp.port, "", svc.hostname)
        chains.append(lc.FilterChain(filters=[tcp_proxy_filter(default, default)]))
    return chains


def _needs_tls_inspector(chains: Sequence[lc.FilterChain]) -> bool:
    """A chain matches on SNI or terminates TLS: the listener needs the TLS inspector."""
    return any(
        c.filter_chain_match.server_names or c.HasField("transport_socket") for c in chains
    )


def _outbound_listener(
    proxy: Proxy,
    push: PushContext,
    spec: OutboundListenerSpec,
    hcm_configurers: Sequence[HcmConfigurer],
) -> listener_pb2.Listener:
    lis = listener_pb2.Listener(
        name=spec.name,
        address=socket_address(spec.address, spec.port),
        traffic_direction=base_pb2.OUTBOUND,
    )
    if not spec.bound:
        lis.bind_to_port.CopyFrom(wrappers_pb2.BoolValue(value=False))
    tcp_chains: list[lc.FilterChain] = []
    if spec.tcp_service is not None and spec.tcp_port is not None:
        tcp_chains = _outbound_l4_chains(proxy, push, spec.tcp_service, spec.tcp_port)
    if spec.http:
        ctx = HcmContext(
            proxy, push, Direction.OUTBOUND, spec.port, f"outbound_{spec.name}", str(spec.port)
        )
        http_chain = lc.FilterChain(filters=[_hcm_filter(ctx, hcm_configurers)])
        if spec.sniff:
            http_chain.filter_chain_match.application_protocols.extend(_HTTP_ALPNS)
            lis.listener_filters.append(
                _listener_filter(HTTP_INSPECTOR_FILTER, http_inspector_pb2.HttpInspector())
            )
            lis.continue_on_listener_filters_timeout = True
            # the first chain that matches every destination handles what is not HTTP
            catch_all = [c for c in tcp_chains if not c.filter_chain_match.prefix_ranges]
            if catch_all:
                tcp_filters = list(catch_all[0].filters)
            else:
                fb = _fallback_cluster(push, proxy)
                tcp_filters = [tcp_proxy_filter(fb, fb)]
            lis.filter_chains.append(http_chain)
            lis.default_filter_chain.CopyFrom(lc.FilterChain(name="tcp", filters=tcp_filters))
        else:
            lis.filter_chains.append(http_chain)
    else:
        lis.filter_chains.extend(tcp_chains)
        if _needs_tls_inspector(tcp_chains):
            lis.listener_filters.append(tls_inspector())
    return lis


def outbound_listeners(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> list[listener_pb2.Listener]:
    return [
        _outbound_listener(proxy, push, s, hcm_configurers)
        for s in outbound_listener_specs(proxy, push)
    ]


def bound_egress_listeners(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> list[listener_pb2.Listener]:
    """Explicit mode: the Sidecar's egress listeners bound to an address (``bind`` or
    captureMode NONE); capture-mode proxies get them from :func:`outbound_listeners`."""
    return [
        _outbound_listener(proxy, push, s, hcm_configurers)
        for s in bound_egress_specs(proxy, push)
    ]


def _inbound_filter_chains(
    proxy: Proxy,
    push: PushContext,
    ip: InboundPort,
    stat_prefix: str,
    match: lc.FilterChainMatch | None,
    hcm_configurers: Sequence[HcmConfigurer],
) -> tuple[list[lc.FilterChain], bool]:
    """The filter chains of one inbound port, each with ``match`` (None: the listener is the
    port): HTTP -> HCM with an inline route to ``inbound|<port>||``; TCP -> tcp_proxy;
    auto-detected -> both, the HTTP one matching the ALPN http_inspector sets. Second value:
    the port needs http_inspector."""
    cluster = names.inbound_cluster_name(ip.port)
    tcp_chain = lc.FilterChain(
        name=cluster, filters=[*authz_tcp_filters(proxy, push), tcp_proxy_filter(cluster, cluster)]
    )
    if match is not None:
        tcp_chain.filter_chain_match.CopyFrom(match)
    if not (ip.protocol.is_http or ip.protocol.is_unsupported):
        return [tcp_chain], False
    ctx = HcmContext(
        proxy,
        push,
        Direction.INBOUND,
        ip.port,
        stat_prefix,
        inline_route=inbound_route_configuration(ip.port, cluster),
    )
    sniff = ip.protocol.is_unsupported
    http_chain = lc.FilterChain(
        name=f"{cluster}http" if sniff else cluster, filters=[_hcm_filter(ctx, hcm_configurers)]
    )
    if match is not None:
        http_chain.filter_chain_match.CopyFrom(match)
    if not sniff:
        return [http_chain], False
    http_chain.filter_chain_match.application_protocols.extend(_HTTP_ALPNS)
    tcp_chain.name = f"{cluster}tcp"
    return [http_chain, tcp_chain], True


def _enable_http_inspector(lis: listener_pb2.Listener) -> None:
    lis.listener_filters.append(
        _listener_filter(HTTP_INSPECTOR_FILTER, http_inspector_pb2.HttpInspector())
    )
    lis.continue_on_listener_filters_timeout = True


def virtual_inbound_listener(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> listener_pb2.Listener:
    """0.0.0.0:15006: a filter chain per inbound port (HTTP -> HCM with an inline route to
    ``inbound|<port>||``; TCP -> tcp_proxy), and a catch-all to InboundPassthroughCluster."""
    chains = []
    sniff = tls = False
    for ip in inbound_ports(proxy, push):
        if ip.bind:  # a Sidecar ingress listener of its own (see _sidecar_ingress)
            continue
        match = lc.FilterChainMatch(destination_port=wrappers_pb2.UInt32Value(value=ip.port))
        port_chains, port_sniff = _inbound_filter_chains(
            proxy, push, ip, f"inbound_0.0.0.0_{ip.port}", match, hcm_configurers
        )
        port_chains, port_tls = with_inbound_mtls(proxy, push, ip, port_chains)
        tls = tls or port_tls
        chains.extend(port_chains)
        sniff = sniff or port_sniff
    lis = listener_pb2.Listener(
        name=names.VIRTUAL_INBOUND,
        address=socket_address("0.0.0.0", names.VIRTUAL_INBOUND_PORT),
        traffic_direction=base_pb2.INBOUND,
        listener_filters=[_listener_filter(ORIGINAL_DST_FILTER, original_dst_pb2.OriginalDst())],
        filter_chains=chains,
        default_filter_chain=lc.FilterChain(
            name="virtualInbound-catchall",
            filters=[
                *authz_tcp_filters(proxy, push),
                tcp_proxy_filter(
                    names.INBOUND_PASSTHROUGH_CLUSTER, names.INBOUND_PASSTHROUGH_CLUSTER
                ),
            ],
        ),
    )
    strict_passthrough(proxy, push, lis.default_filter_chain)
    if tls or lis.default_filter_chain.HasField("transport_socket"):
        lis.listener_filters.append(tls_inspector())
    if sniff:
        _enable_http_inspector(lis)
    return lis


def explicit_inbound_listeners(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> list[listener_pb2.Listener]:
    """Explicit mode: one listener ``<ip>_<port>`` per inbound port, bound on the proxy's
    address (or its ``LATEEN_PORT_BINDINGS`` entry), with the filter chains the port has in
    virtualInbound (without the destination-port match: the listener is the port)."""
    out = []
    for ip in inbound_ports(proxy, push):
        host, bind_port = listener_bind_address(proxy, ip.port, ip.bind or explicit_bind_host(proxy))
        name = names.listener_name(host, ip.port)
        chains, sniff = _inbound_filter_chains(
            proxy, push, ip, f"inbound_{name}", None, hcm_configurers
        )
        chains, tls = with_inbound_mtls(proxy, push, ip, chains)
        lis = listener_pb2.Listener(
            name=name,
            address=socket_address(host, bind_port),
            traffic_direction=base_pb2.INBOUND,
            filter_chains=chains,
        )
        if tls:
            lis.listener_filters.append(tls_inspector())
        if sniff:
            _enable_http_inspector(lis)
        out.append(lis)
    return out


def explicit_proxy_listener(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> listener_pb2.Listener:
    """Explicit mode: the HTTP proxy the app names in ``HTTP_PROXY``, ``<ip>_15001`` bound on
    the proxy's address. Absolute-URL requests and ``CONNECT host:port`` are routed by the
    route configuration ``15001`` (a virtual host per visible service port)."""
    port = names.EXPLICIT_PROXY_PORT
    host, bind_port = listener_bind_address(proxy, port, explicit_bind_host(proxy))
    name = names.listener_name(host, port)
    ctx = HcmContext(
        proxy,
        push,
        Direction.OUTBOUND,
        port,
        f"outbound_{name}",
        names.EXPLICIT_PROXY_ROUTE,
        explicit_proxy=True,
    )
    return listener_pb2.Listener(
        name=name,
        address=socket_address(host, bind_port),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[lc.FilterChain(filters=[_hcm_filter(ctx, hcm_configurers)])],
    )


def build_listeners(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> list[listener_pb2.Listener]:
    """Every listener of the proxy, sorted by name. Two listeners never share a bound
    address: when ``LATEEN_PORT_BINDINGS`` (or an inbound port 15001) makes them collide, the
    first one built keeps it."""
    if proxy.type is ProxyType.ROUTER:
        # the gateway module builds on this one's filter helpers
        from lateen.xds.listener._gateway import gateway_listeners

        out = gateway_listeners(proxy, push, hcm_configurers)
    elif is_explicit(proxy):
        out = [
            explicit_proxy_listener(proxy, push, hcm_configurers),
            *explicit_inbound_listeners(proxy, push, hcm_configurers),
            *bound_egress_listeners(proxy, push, hcm_configurers),
        ]
    else:
        out = [
            virtual_outbound_listener(push, proxy),
            *outbound_listeners(proxy, push, hcm_configurers),
            virtual_inbound_listener(proxy, push, hcm_configurers),
            *sidecar_ingress_listeners(proxy, push, _inbound_filter_chains, hcm_configurers),
        ]
    out = _unique_bound_addresses(out)
    out.sort(key=lambda lis: lis.name)
    return out


def _unique_bound_addresses(listeners: list[listener_pb2.Listener]) -> list[listener_pb2.Listener]:
    seen: set[tuple[str, int]] = set()
    out = []
    for lis in listeners:
        sa = lis.address.socket_address
        bound = not lis.HasField("bind_to_port") or lis.bind_to_port.value
        key = (sa.address, sa.port_value)
        if bound and key in seen:
            continue
        if bound:
            seen.add(key)
        out.append(lis)
    return out
