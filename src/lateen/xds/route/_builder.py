"""RDS: route configurations for sidecars (``<port>``), gateways (``http.<port>``) and the
inline inbound route of a sidecar; in explicit mode (``INTERCEPTION_MODE: NONE``) a sidecar's
one route configuration ``15001`` for its HTTP proxy listener."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from google.protobuf import wrappers_pb2

from lateen.api._object import ConfigObject
from lateen.model._host import host_matches, hosts_intersect
from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import MESH_GATEWAY, PushContext
from lateen.registry import Protocol, Service, ServicePort, labels_match
from lateen.xds import names
from lateen.xds._scope import (
    GatewayServer,
    gateway_servers,
    is_explicit,
    outbound_services,
    sidecar_route_ports,
    tcp_route_destinations,
)
from lateen.xds._util import duration, filter_metadata
from lateen.xds.route._configurers import DEFAULT_ROUTE_CONFIGURERS, RouteConfigurer, RouteContext

__all__ = [
    "build_routes",
    "connect_route",
    "default_route",
    "explicit_proxy_domains",
    "explicit_proxy_route_configuration",
    "gateway_route_configuration",
    "inbound_route_configuration",
    "route_match",
    "service_domains",
    "sidecar_route_configuration",
    "string_matcher",
    "virtual_service_routes",
]


def string_matcher(sm: Any, *, ignore_case: bool = False) -> string_pb2.StringMatcher | None:
    """An Istio StringMatch as an Envoy StringMatcher; None when it sets nothing."""
    if sm is None:
        return None
    if sm.exact is not None:
        return string_pb2.StringMatcher(exact=sm.exact, ignore_case=ignore_case)
    if sm.prefix is not None:
        return string_pb2.StringMatcher(prefix=sm.prefix, ignore_case=ignore_case)
    if sm.regex is not None:
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=sm.regex))
    return None


def _header_matcher(name: str, sm: Any, invert: bool = False) -> rc.HeaderMatcher:
    hm = rc.HeaderMatcher(name=name.lower(), invert_match=invert)
    m = string_matcher(sm)
    if m is None:
        hm.present_match = True
    else:
        hm.string_match.CopyFrom(m)
    return hm


def route_match(m: Any) -> rc.RouteMatch:
    """An Istio HTTPMatchRequest (or None: match everything) as an Envoy RouteMatch."""
    rm = rc.RouteMatch()
    uri = m.uri if m is not None else None
    if uri is None or (uri.exact is None and uri.prefix is None and uri.regex is None):
        rm.prefix = "/"
    elif uri.exact is not None:
        rm.path = uri.exact
    elif uri.prefix is not None:
        rm.prefix = uri.prefix
    else:
        rm.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=uri.regex))
    if m is None:
        return rm
    if m.ignore_uri_case:
        rm.case_sensitive.CopyFrom(wrappers_pb2.BoolValue(value=False))
    for pseudo, sm in ((":method", m.method), (":authority", m.authority), (":scheme", m.scheme)):
        if sm is not None:
            rm.headers.append(_header_matcher(pseudo, sm))
    for name, sm in sorted(m.headers.items()):
        rm.headers.append(_header_matcher(name, sm))
    for name, sm in sorted(m.without_headers.items()):
        rm.headers.append(_header_matcher(name, sm, invert=True))
    for name, sm in sorted(m.query_params.items()):
        qm = rc.QueryParameterMatcher(name=name)
        smm = string_matcher(sm)
        if smm is None:
            qm.present_match = True
        else:
            qm.string_match.CopyFrom(smm)
        rm.query_parameters.append(qm)
    return rm


def _match_applies(m: Any, ctx: RouteContext) -> bool:
    if m.port and m.port != ctx.listener_port:
        return False
    if m.gateways:
        vs_ns = ctx.virtual_service.namespace if ctx.virtual_service else ""
        gws = {g if g == MESH_GATEWAY or "/" in g else f"{vs_ns}/{g}" for g in m.gateways}
        if ctx.gateway not in gws:
            return False
    if ctx.proxy.type is ProxyType.SIDECAR:
        if m.source_labels and not labels_match(m.source_labels, ctx.proxy.labels):
            return False
        if m.source_namespace and m.source_namespace != ctx.proxy.namespace:
            return False
    return True


def _destination_cluster(dest: Any, ctx: RouteContext) -> str:
    vs_ns = ctx.virtual_service.namespace if ctx.virtual_service else ctx.proxy.namespace
    host = ctx.push.resolve_host(dest.host, vs_ns)
    port = dest.port.number if dest.port is not None and dest.port.number else 0
    if not port:
        svc = ctx.push.service_for_host(host, ctx.proxy.namespace)
        if (svc is not None and len(svc.ports) == 1) or (
            svc is not None and ctx.proxy.type is ProxyType.ROUTER and svc.ports
        ):
            port = svc.ports[0].port
        else:
            port = ctx.listener_port
    return names.outbound_cluster_name(port, dest.subset, host)


def _set_action(route: rc.Route, http: Any, ctx: RouteContext) -> bool:
    if http.redirect is not None:
        r = http.redirect
        ra = rc.RedirectAction()
        if r.uri:
            ra.path_redirect = r.uri
        if r.authority:
            ra.host_redirect = r.authority
        if r.port:
            ra.port_redirect = r.port
        if r.scheme:
            ra.scheme_redirect = r.scheme
        codes = {
            301: rc.RedirectAction.MOVED_PERMANENTLY,
            302: rc.RedirectAction.FOUND,
            303: rc.RedirectAction.SEE_OTHER,
            307: rc.RedirectAction.TEMPORARY_REDIRECT,
            308: rc.RedirectAction.PERMANENT_REDIRECT,
        }
        ra.response_code = codes.get(r.redirect_code or 301, rc.RedirectAction.MOVED_PERMANENTLY)
        route.redirect.CopyFrom(ra)
        return True
    if http.direct_response is not None:
        dr = rc.DirectResponseAction(status=http.direct_response.status)
        body = http.direct_response.body
        if body is not None and body.string is not None:
            dr.body.inline_string = body.string
        route.direct_response.CopyFrom(dr)
        return True
    dests = [d for d in http.route if d.destination is not None]
    if not dests:
        return False
    if len(dests) == 1:
        route.route.cluster = _destination_cluster(dests[0].destination, ctx)
        return True
    wc = rc.WeightedCluster()
    for d in dests:
        if d.weight <= 0:
            continue
        wc.clusters.append(
            rc.WeightedCluster.ClusterWeight(
                name=_destination_cluster(d.destination, ctx),
                weight=wrappers_pb2.UInt32Value(value=d.weight),
            )
        )
    if not wc.clusters:
        return False
    if len(wc.clusters) == 1:
        route.route.cluster = wc.clusters[0].name
    else:
        route.route.weighted_clusters.CopyFrom(wc)
    return True


def _vs_config_path(vs: ConfigObject) -> str:
    return f"/apis/networking.istio.io/v1alpha3/namespaces/{vs.namespace}/virtual-service/{vs.name}"


def virtual_service_routes(
    vs: ConfigObject,
    proxy: Proxy,
    push: PushContext,
    listener_port: int,
    gateway: str,
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> list[rc.Route]:
    """The VirtualService's ``http`` rules in order; one Envoy route per applicable match."""
    out: list[rc.Route] = []
    for i, http in enumerate(vs.spec.http):
        ctx = RouteContext(proxy, push, vs, http, listener_port, gateway)
        matches = [m for m in http.match if _match_applies(m, ctx)] if http.match else [None]
        if http.match and not matches:
            continue
        for m in matches:
            name = http.name or f"{vs.namespace}.{vs.name}.{i}"
            if m is not None and m.name:
                name = f"{http.name}.{m.name}" if http.name else m.name
            route = rc.Route(name=name, match=route_match(m))
            if not _set_action(route, http, ctx):
                continue
            # what `istioctl proxy-config route` shows as VIRTUAL SERVICE
            route.metadata.CopyFrom(filter_metadata({"istio": {"config": _vs_config_path(vs)}}))
            for configure in configurers:
                configure(route, ctx)
            out.append(route)
    return out


def default_route(
    cluster: str,
    ctx: RouteContext,
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> rc.Route:
    route = rc.Route(name="default", match=rc.RouteMatch(prefix="/"))
    route.route.cluster = cluster
    for configure in configurers:
        configure(route, ctx)
    return route


def _service_names(svc: Service, proxy_namespace: str, domain_suffix: str) -> list[str]:
    """FQDN, ``name.ns.svc``, ``name.ns``, ``name`` (same namespace only), the VIPs."""
    base = [svc.hostname]
    suffix = f".svc.{domain_suffix}"
    if svc.hostname.endswith(suffix):
        short = svc.hostname[: -len(suffix)]  # name.ns
        base.append(f"{short}.svc")
        base.append(short)
        if svc.namespace == proxy_namespace:
            base.append(svc.name)
    base.extend(svc.addresses)
    return base


def service_domains(svc: Service, port: int, proxy_namespace: str, domain_suffix: str) -> list[str]:
    """The names a client may use for the service: FQDN, ``name.ns.svc``, ``name.ns``,
    ``name`` (same namespace only), the VIPs; each also with ``:port``."""
    out = []
    for d in _service_names(svc, proxy_namespace, domain_suffix):
        out.extend([d, f"{d}:{port}"])
    return out


def explicit_proxy_domains(
    svc: Service, port: int, proxy_namespace: str, domain_suffix: str
) -> list[str]:
    """The :func:`service_domains` of one port in a route configuration that holds every
    port (explicit mode): always ``name:port``; the bare name too only for port 80, which
    HTTP clients leave out of the Host header."""
    out = []
    for d in _service_names(svc, proxy_namespace, domain_suffix):
        out.extend([d, f"{d}:{port}"] if port == 80 else [f"{d}:{port}"])
    return out


def _vhost(
    name: str, domains: list[str], routes: list[rc.Route], used: set[str]
) -> rc.VirtualHost | None:
    doms = []
    for d in domains:
        if d.lower() not in used:
            used.add(d.lower())
            doms.append(d)
    if not doms or not routes:
        return None
    return rc.VirtualHost(
        name=name, domains=doms, routes=routes, include_request_attempt_count=True
    )


def _service_http_routes(
    proxy: Proxy,
    push: PushContext,
    svc: Service,
    port: int,
    configurers: Sequence[RouteConfigurer],
) -> list[rc.Route]:
    """The routes of a service's HTTP port: its VirtualService's ``http`` rules, else the
    default route to ``outbound|<port>||<host>``."""
    vs = push.virtual_service_for_host(proxy.namespace, svc.hostname, MESH_GATEWAY)
    if vs is not None and vs.spec.http:
        return virtual_service_routes(vs, proxy, push, port, MESH_GATEWAY, configurers)
    ctx = RouteContext(proxy, push, None, None, port, MESH_GATEWAY)
    return [default_route(names.outbound_cluster_name(port, "", svc.hostname), ctx, configurers)]


def _connect_match() -> rc.RouteMatch:
    return rc.RouteMatch(connect_matcher=rc.RouteMatch.ConnectMatcher())


def _terminate_connect(route: rc.Route) -> None:
    route.route.timeout.CopyFrom(duration(0))
    route.route.upgrade_configs.append(
        rc.RouteAction.UpgradeConfig(
            upgrade_type="CONNECT", connect_config=rc.RouteAction.UpgradeConfig.ConnectConfig()
        )
    )


def connect_route(proxy: Proxy, push: PushContext, svc: Service, port: int) -> rc.Route:
    """Explicit mode: ``CONNECT host:port`` to a TCP (or auto-detected) service port. Envoy
    answers 200 and forwards the tunnelled bytes, as a sidecar's tcp_proxy would: to
    ``outbound|<port>||<host>``, or the destinations of the VirtualService's ``tcp`` route
    (weighted when it has several)."""
    route = rc.Route(name="connect", match=_connect_match())
    dests = None
    vs = push.virtual_service_for_host(proxy.namespace, svc.hostname, MESH_GATEWAY)
    if vs is not None:
        dests = tcp_route_destinations(vs, push, proxy, port, MESH_GATEWAY)
    if not dests:
        route.route.cluster = names.outbound_cluster_name(port, "", svc.hostname)
    elif len(dests) == 1:
        route.route.cluster = dests[0][0]
    else:
        route.route.weighted_clusters.CopyFrom(
            rc.WeightedCluster(
                clusters=[
                    rc.WeightedCluster.ClusterWeight(
                        name=n, weight=wrappers_pb2.UInt32Value(value=w)
                    )
                    for n, w in dests
                ]
            )
        )
    _terminate_connect(route)
    return route


def _fallback_vhost(push: PushContext, *, connect: bool = False) -> rc.VirtualHost:
    """``allow_any`` (PassthroughCluster) under ALLOW_ANY, ``block_all`` (502) under
    REGISTRY_ONLY; with ``connect``, ``CONNECT`` to unknown hosts gets the same treatment."""
    if push.mesh.registry_only:
        block = rc.Route(name="block_all", match=rc.RouteMatch(prefix="/"))
        block.direct_response.status = 502
        routes = [block]
        if connect:
            block_connect = rc.Route(name="block_all_connect", match=_connect_match())
            block_connect.direct_response.status = 502
            routes.insert(0, block_connect)
        return rc.VirtualHost(name="block_all", domains=["*"], routes=routes)
    allow = rc.Route(name="allow_any", match=rc.RouteMatch(prefix="/"))
    allow.route.cluster = names.PASSTHROUGH_CLUSTER
    allow.route.timeout.CopyFrom(duration(0))
    routes = [allow]
    if connect:
        allow_connect = rc.Route(name="allow_any_connect", match=_connect_match())
        allow_connect.route.cluster = names.PASSTHROUGH_CLUSTER
        _terminate_connect(allow_connect)
        routes.insert(0, allow_connect)
    return rc.VirtualHost(
        name="allow_any", domains=["*"], routes=routes, include_request_attempt_count=True
    )


def sidecar_route_configuration(
    proxy: Proxy,
    push: PushContext,
    port: int,
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> route_pb2.RouteConfiguration:
    """Route configuration ``<port>``: a virtual host per service with an HTTP port ``port``
    (VirtualService routes, else the default route), then ``allow_any``/``block_all``."""
    used: set[str] = set()
    vhosts: list[rc.VirtualHost] = []
    for svc in outbound_services(proxy, push):
        sp = svc.port(port)
        if sp is None or not (sp.protocol.is_http or sp.protocol.is_unsupported):
            continue
        routes = _service_http_routes(proxy, push, svc, port, configurers)
        domains = service_domains(svc, port, proxy.namespace, push.domain_suffix)
        vh = _vhost(f"{svc.hostname}:{port}", domains, routes, used)
        if vh is not None:
            vhosts.append(vh)
    vhosts.sort(key=lambda v: v.name)
    vhosts.append(_fallback_vhost(push))
    return route_pb2.RouteConfiguration(
        name=str(port),
        virtual_hosts=vhosts,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
    )


def _explicit_routes(
    proxy: Proxy,
    push: PushContext,
    svc: Service,
    sp: ServicePort,
    configurers: Sequence[RouteConfigurer],
) -> list[rc.Route]:
    """HTTP ports: the routes route configuration ``<port>`` has for the service; TCP ports:
    a CONNECT route; auto-detected ports: both (CONNECT never matches a path route)."""
    routes: list[rc.Route] = []
    if not sp.protocol.is_http:
        routes.append(connect_route(proxy, push, svc, sp.port))
    if sp.protocol.is_http or sp.protocol.is_unsupported:
        routes.extend(_service_http_routes(proxy, push, svc, sp.port, configurers))
    return routes


def explicit_proxy_route_configuration(
    proxy: Proxy,
    push: PushContext,
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> route_pb2.RouteConfiguration:
    """Route configuration ``15001`` of an explicit-mode sidecar's HTTP proxy listener.

    A virtual host ``<host>:<port>`` per visible service port (the same Sidecar/exportTo
    scope as the per-port configurations), with :func:`explicit_proxy_domains`: HTTP ports
    route exactly as route configuration ``<port>`` does; TCP ports take ``CONNECT
    host:port``. Unknown hosts end in ``allow_any`` or ``block_all`` as in the per-port
    configurations, CONNECT included.

    ``allow_any`` routes to PassthroughCluster, which nothing has captured an original
    destination for: in explicit mode that cluster takes its destination from the request's
    ``:authority`` instead (see ``cluster._builder.passthrough_clusters``), so unknown
    ``IP:port`` destinations pass (absolute URLs and CONNECT) and unknown host names get 503
    (no DNS resolution: a dynamic forward proxy would add it, at the cost of a DNS cache)."""
    used: set[str] = set()
    vhosts: list[rc.VirtualHost] = []
    for svc in outbound_services(proxy, push):
        for sp in svc.ports:
            if sp.protocol is Protocol.UDP:
                continue
            routes = _explicit_routes(proxy, push, svc, sp, configurers)
            domains = explicit_proxy_domains(svc, sp.port, proxy.namespace, push.domain_suffix)
            vh = _vhost(f"{svc.hostname}:{sp.port}", domains, routes, used)
            if vh is not None:
                vhosts.append(vh)
    vhosts.sort(key=lambda v: v.name)
    vhosts.append(_fallback_vhost(push, connect=True))
    return route_pb2.RouteConfiguration(
        name=names.EXPLICIT_PROXY_ROUTE,
        virtual_hosts=vhosts,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
    )


def _gateway_domains(host: str) -> list[str]:
    return ["*"] if host == "*" else [host, f"{host}:*"]


def gateway_route_configuration(
    proxy: Proxy,
    push: PushContext,
    port: int,
    servers: Sequence[GatewayServer],
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> route_pb2.RouteConfiguration:
    """Route configuration ``http.<port>``: a virtual host per VirtualService host that one of
    the port's servers accepts, routes in VirtualService order. Unmatched hosts and paths get
    Envoy's 404."""
    vhosts: dict[str, tuple[list[str], list[rc.Route], bool]] = {}
    for gs in servers:
        if not gs.is_http:
            continue
        redirect = bool(gs.server.tls is not None and gs.server.tls.https_redirect)
        for vs in push.virtual_services_for_gateway(proxy.namespace, gs.gateway):
            for h in push.vs_hosts(vs):
                host = None
                for ns, sh in gs.hosts():
                    if ns not in ("*", vs.namespace) or not hosts_intersect(sh, h):
                        continue
                    host = h if host_matches(sh, h) else sh
                    break
                if host is None:
                    continue
                key = f"{host}:{port}"
                if key not in vhosts:
                    routes = virtual_service_routes(vs, proxy, push, port, gs.gateway, configurers)
                    vhosts[key] = (_gateway_domains(host), routes, redirect)
    used: set[str] = set()
    out = []
    for key in sorted(vhosts):
        domains, routes, redirect = vhosts[key]
        vh = _vhost(key, domains, routes, used)
        if vh is None:
            continue
        if redirect:
            vh.require_tls = rc.VirtualHost.ALL
        out.append(vh)
    return route_pb2.RouteConfiguration(
        name=names.gateway_http_route_name(port),
        virtual_hosts=out,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
    )


def inbound_route_configuration(port: int, cluster: str) -> route_pb2.RouteConfiguration:
    """The inline route of an inbound HTTP filter chain: everything to the workload."""
    route = rc.Route(name="default", match=rc.RouteMatch(prefix="/"))
    route.route.cluster = cluster
    route.route.timeout.CopyFrom(duration(0))
    route.route.max_stream_duration.CopyFrom(
        rc.RouteAction.MaxStreamDuration(grpc_timeout_header_max=duration(0))
    )
    return route_pb2.RouteConfiguration(
        name=cluster,
        virtual_hosts=[rc.VirtualHost(name=f"inbound|http|{port}", domains=["*"], routes=[route])],
        validate_clusters=wrappers_pb2.BoolValue(value=False),
    )


def build_routes(
    proxy: Proxy,
    push: PushContext,
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
) -> list[route_pb2.RouteConfiguration]:
    """Every RDS route configuration the proxy's listeners name, sorted by name."""
    out: list[route_pb2.RouteConfiguration] = []
    if proxy.type is ProxyType.ROUTER:
        for port, servers in gateway_servers(proxy, push).items():
            if any(s.is_http for s in servers):
                out.append(gateway_route_configuration(proxy, push, port, servers, configurers))
    elif is_explicit(proxy):
        out.append(explicit_proxy_route_configuration(proxy, push, configurers))
    else:
        for port in sidecar_route_ports(proxy, push):
            out.append(sidecar_route_configuration(proxy, push, port, configurers))
    out.sort(key=lambda r: r.name)
    return out
