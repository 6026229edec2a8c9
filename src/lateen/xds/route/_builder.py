"""RDS: route configurations for sidecars (``<port>``), gateways (``http.<port>``,
``https.<port>.<portName>.<gateway>.<namespace>``) and the
inline inbound route of a sidecar; in explicit mode (``INTERCEPTION_MODE: NONE``) a sidecar's
one route configuration ``15001`` for its HTTP proxy listener."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import metadata_pb2, regex_pb2, value_pb2
from google.protobuf import wrappers_pb2

from lateen.api._object import ConfigObject
from lateen.model._host import host_matches, hosts_intersect
from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import MESH_GATEWAY, PushContext
from lateen.registry import Protocol, Service, ServicePort, labels_match
from lateen.xds import names
from lateen.xds._scope import (
    GatewayServer,
    bound_egress_specs,
    fallback_cluster,
    is_explicit,
    outbound_services,
    registry_only,
    route_services,
    sidecar_route_ports,
)
from lateen.xds._util import duration, filter_metadata
from lateen.xds.route._configurers import (
    DEFAULT_ROUTE_CONFIGURERS,
    direct_response_body,
    envoy_string_matcher,
)
from lateen.xds.route._context import (
    RouteConfigurer,
    RouteContext,
    destination_cluster,
    resolve_gateway_name,
)
from lateen.xds.route._delegate import effective_http_routes
from lateen.xds.route._l4 import explicit_l4_route

__all__ = [
    "build_routes",
    "connect_route",
    "default_route",
    "explicit_proxy_domains",
    "explicit_proxy_route_configuration",
    "gateway_route_configuration",
    "inbound_route_configuration",
    "is_catch_all",
    "jwt_claim_path",
    "route_match",
    "service_domains",
    "sidecar_route_configuration",
    "sort_catch_all_last",
    "string_matcher",
    "virtual_service_routes",
]


string_matcher = envoy_string_matcher

# Istio raises Envoy's 4 KiB limit to what validation allows (1 MiB)
MAX_DIRECT_RESPONSE_BODY = wrappers_pb2.UInt32Value(value=1024 * 1024)

_JWT_CLAIM_PREFIX = "@request.auth.claims"
_JWT_FILTER = "envoy.filters.http.jwt_authn"
_JWT_PAYLOAD = "payload"


def _is_present_match(sm: Any) -> bool:
    """An empty StringMatch, or regex ``*`` (not a regex: Istio's "present" marker)."""
    return sm is None or (
        sm.exact is None and sm.prefix is None and (sm.regex is None or sm.regex == "*")
    )


def _header_matcher(name: str, sm: Any, invert: bool = False) -> rc.HeaderMatcher:
    hm = rc.HeaderMatcher(name=name.lower(), invert_match=invert)
    m = None if _is_present_match(sm) else envoy_string_matcher(sm)
    if m is None:
        hm.present_match = True
    else:
        hm.string_match.CopyFrom(m)
        if invert:
            hm.treat_missing_header_as_empty = True
    return hm


def jwt_claim_path(name: str) -> list[str] | None:
    """The claim path of a ``@request.auth.claims.a.b`` / ``@request.auth.claims[a][b]``
    header name (Istio's JWT claim routing), else None."""
    if not name.startswith(_JWT_CLAIM_PREFIX):
        return None
    rest = name[len(_JWT_CLAIM_PREFIX) :]
    if rest.startswith("."):
        claims = rest[1:].split(".")
    elif rest.startswith("[") and rest.endswith("]"):
        claims = rest[1:-1].split("][")
    else:
        return None
    return claims if claims and all(claims) else None


def _claim_matcher(claims: list[str], sm: Any) -> metadata_pb2.MetadataMatcher:
    """A JWT claim match on the payload the jwt_authn filter stores: a string claim equal to,
    or a list claim containing, a matching value."""
    value = value_pb2.ValueMatcher()
    m = None if _is_present_match(sm) else envoy_string_matcher(sm)
    if m is None:
        value.present_match = True
    else:
        value.string_match.CopyFrom(m)
    return metadata_pb2.MetadataMatcher(
        filter=_JWT_FILTER,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in [_JWT_PAYLOAD, *claims]],
        value=value_pb2.ValueMatcher(
            or_match=value_pb2.OrMatcher(
                value_matchers=[
                    value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=value)),
                    value,
                ]
            )
        ),
    )


def route_match(m: Any) -> rc.RouteMatch:
    """An Istio HTTPMatchRequest (or None: match everything) as an Envoy RouteMatch: headers
    and withoutHeaders sorted by name, then ``:method``, ``:authority``, ``:scheme``; JWT claim
    "headers" become dynamic metadata matches; the path is case sensitive unless
    ``ignoreUriCase``."""
    rm = rc.RouteMatch(prefix="/")
    if m is None:
        return rm
    headers: list[rc.HeaderMatcher] = []
    for invert, mapping in ((False, m.headers), (True, m.without_headers)):
        for name, sm in sorted(mapping.items()):
            claims = jwt_claim_path(name)
            if claims is not None:
                mm = _claim_matcher(claims, sm)
                mm.invert = invert
                rm.dynamic_metadata.append(mm)
            else:
                headers.append(_header_matcher(name, sm, invert))
    headers.sort(key=lambda h: h.name)
    uri = m.uri
    if uri is not None and uri.exact is not None:
        rm.path = uri.exact
    elif uri is not None and uri.prefix is not None:
        rm.prefix = uri.prefix
    elif uri is not None and uri.regex is not None:
        rm.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=uri.regex))
    rm.case_sensitive.CopyFrom(wrappers_pb2.BoolValue(value=not m.ignore_uri_case))
    for pseudo, sm in ((":method", m.method), (":authority", m.authority), (":scheme", m.scheme)):
        if sm is not None:
            headers.append(_header_matcher(pseudo, sm))
    rm.headers.extend(headers)
    for name, sm in sorted(m.query_params.items()):
        qm = rc.QueryParameterMatcher(name=name)
        smm = None if _is_present_match(sm) else envoy_string_matcher(sm)
        if smm is None:
            qm.present_match = True
        else:
            qm.string_match.CopyFrom(smm)
        rm.query_parameters.append(qm)
    return rm


def is_catch_all(route: rc.Route) -> bool:
    """A route that matches every request (prefix ``/`` or regex ``.*``, nothing else):
    nothing after it can match."""
    m = route.match
    which = m.WhichOneof("path_specifier")
    catch_all = (
        (which == "prefix" and m.prefix == "/")
        or (which == "path_separated_prefix" and m.path_separated_prefix == "/")
        or (which == "safe_regex" and m.safe_regex.regex == ".*")
    )
    return catch_all and not m.headers and not m.query_parameters and not m.dynamic_metadata


def _match_applies(m: Any, ctx: RouteContext) -> bool:
    """Istio's static match predicates: ``port`` is the listener's; ``gateways`` (when set,
    they alone decide) name the gateway routes are built for; else ``sourceLabels`` select
    the proxy and ``sourceNamespace`` is its namespace."""
    if m is None:
        return True
    if m.port and m.port != ctx.listener_port:
        return False
    if m.gateways:
        vs_ns = ctx.virtual_service.namespace if ctx.virtual_service else ""
        return ctx.gateway in {resolve_gateway_name(g, vs_ns) for g in m.gateways}
    if not labels_match(m.source_labels, ctx.proxy.labels):
        return False
    return not m.source_namespace or m.source_namespace == ctx.proxy.namespace


_REDIRECT_CODES = {
    0: rc.RedirectAction.MOVED_PERMANENTLY,
    301: rc.RedirectAction.MOVED_PERMANENTLY,
    302: rc.RedirectAction.FOUND,
    303: rc.RedirectAction.SEE_OTHER,
    307: rc.RedirectAction.TEMPORARY_REDIRECT,
    308: rc.RedirectAction.PERMANENT_REDIRECT,
}


def _redirect(r: Any, listener_port: int, is_tls: bool = False) -> rc.RedirectAction | None:
    """An HTTPRedirect; None for a response code Envoy cannot send."""
    code = _REDIRECT_CODES.get(r.redirect_code)
    if code is None:
        return None
    ra = rc.RedirectAction(host_redirect=r.authority, path_redirect=r.uri, response_code=code)
    if r.scheme:
        ra.scheme_redirect = r.scheme
    if r.port is not None or r.derive_port is not None:
        if r.port is not None:
            ra.port_redirect = r.port
        elif r.derive_port == "FROM_REQUEST_PORT":
            ra.port_redirect = listener_port
        scheme = r.scheme or ("https" if is_tls else "http")
        if (ra.port_redirect, scheme) in ((80, "http"), (443, "https")):
            ra.port_redirect = 0
    return ra


def _set_action(route: rc.Route, http: Any, ctx: RouteContext) -> bool:
    """Redirect, direct response, or route to the destination's cluster (one destination)
    or weighted clusters (several; weight 0 ones left out). False: nothing to route to."""
    if http.redirect is not None:
        ra = _redirect(http.redirect, ctx.listener_port)
        if ra is None:
            return False
        route.redirect.CopyFrom(ra)
        return True
    if http.direct_response is not None:
        dr = rc.DirectResponseAction(status=http.direct_response.status)
        body = direct_response_body(http.direct_response.body)
        if body is not None:
            dr.body.CopyFrom(body)
        route.direct_response.CopyFrom(dr)
        return True
    if not http.route or any(d.destination is None for d in http.route):
        return False
    if len(http.route) == 1:
        route.route.cluster = destination_cluster(http.route[0].destination, ctx)
        return True
    wc = rc.WeightedCluster()
    for d in http.route:
        if d.weight > 0:
            wc.clusters.append(
                rc.WeightedCluster.ClusterWeight(
                    name=destination_cluster(d.destination, ctx),
                    weight=wrappers_pb2.UInt32Value(value=d.weight),
                )
            )
    if not wc.clusters:
        return False
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
    """The VirtualService's ``http`` rules in order (delegates merged in), one Envoy route per
    applicable match; nothing after a catch-all route. Route names are the rule's ``name``,
    with ``.<match name>`` for a named match."""
    out: list[rc.Route] = []
    metadata = filter_metadata({"istio": {"config": _vs_config_path(vs)}})
    for http in effective_http_routes(vs, push):
        catch_all = not http.match
        for m in http.match or [None]:
            ctx = RouteContext(proxy, push, vs, http, listener_port, gateway, m)
            if not _match_applies(m, ctx):
                continue
            name = http.name
            if m is not None and m.name:
                name = f"{name}.{m.name}"
            route = rc.Route(name=name, match=route_match(m))
            if not _set_action(route, http, ctx):
                continue
            # what `istioctl proxy-config route` shows as VIRTUAL SERVICE
            route.metadata.CopyFrom(metadata)
            for configure in configurers:
                configure(route, ctx)
            out.append(route)
            if is_catch_all(route):
                catch_all = True
                break
        if catch_all:
            break
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
        routes = virtual_service_routes(vs, proxy, push, port, MESH_GATEWAY, configurers)
        if routes:
            return routes
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
    (``tls`` route for TLS ports; weighted when it has several, see ``explicit_l4_route``)."""
    route = rc.Route(name="connect", match=_connect_match())
    l4 = None
    vs = push.virtual_service_for_host(proxy.namespace, svc.hostname, MESH_GATEWAY)
    if vs is not None:
        sp = svc.port(port)
        tls = sp is not None and sp.protocol.is_tls
        l4 = explicit_l4_route(vs, push, proxy, svc, port, tls=tls)
    if l4 is None:
        route.route.cluster = names.outbound_cluster_name(port, "", svc.hostname)
    elif not l4.weighted:
        route.route.cluster = l4.clusters[0][0]
    else:
        route.route.weighted_clusters.CopyFrom(
            rc.WeightedCluster(
                clusters=[
                    rc.WeightedCluster.ClusterWeight(
                        name=n, weight=wrappers_pb2.UInt32Value(value=w)
                    )
                    for n, w in l4.clusters
                ]
            )
        )
    _terminate_connect(route)
    return route


def _fallback_vhost(
    push: PushContext, proxy: Proxy, *, connect: bool = False
) -> rc.VirtualHost:
    """``allow_any`` (PassthroughCluster, or the Sidecar's egressProxy) under ALLOW_ANY,
    ``block_all`` (502) under REGISTRY_ONLY (the proxy's Sidecar, else the mesh, decides);
    with ``connect``, ``CONNECT`` to unknown hosts gets the same treatment."""
    fallback = fallback_cluster(proxy, push)
    if registry_only(proxy, push):
        block = rc.Route(name="block_all", match=rc.RouteMatch(prefix="/"))
        block.direct_response.status = 502
        routes = [block]
        if connect:
            block_connect = rc.Route(name="block_all_connect", match=_connect_match())
            block_connect.direct_response.status = 502
            routes.insert(0, block_connect)
        return rc.VirtualHost(name="block_all", domains=["*"], routes=routes)
    allow = rc.Route(name="allow_any", match=rc.RouteMatch(prefix="/"))
    allow.route.cluster = fallback
    allow.route.timeout.CopyFrom(duration(0))
    routes = [allow]
    if connect:
        allow_connect = rc.Route(name="allow_any_connect", match=_connect_match())
        allow_connect.route.cluster = fallback
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
    (VirtualService routes, else the default route), then ``allow_any``/``block_all``.
    The services are those of the Sidecar egress listener owning the port."""
    used: set[str] = set()
    vhosts: list[rc.VirtualHost] = []
    for svc in route_services(proxy, push, port):
        sp = svc.port(port)
        if sp is None or not (sp.protocol.is_http or sp.protocol.is_unsupported):
            continue
        routes = _service_http_routes(proxy, push, svc, port, configurers)
        domains = service_domains(svc, port, proxy.namespace, push.domain_suffix)
        vh = _vhost(f"{svc.hostname}:{port}", domains, routes, used)
        if vh is not None:
            vhosts.append(vh)
    vhosts.sort(key=lambda v: v.name)
    vhosts.append(_fallback_vhost(push, proxy))
    return route_pb2.RouteConfiguration(
        name=str(port),
        virtual_hosts=vhosts,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
        max_direct_response_body_size_bytes=MAX_DIRECT_RESPONSE_BODY,
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
    vhosts.append(_fallback_vhost(push, proxy, connect=True))
    return route_pb2.RouteConfiguration(
        name=names.EXPLICIT_PROXY_ROUTE,
        virtual_hosts=vhosts,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
        max_direct_response_body_size_bytes=MAX_DIRECT_RESPONSE_BODY,
    )


def _gateway_domains(host: str) -> list[str]:
    return ["*"] if host == "*" else [host, f"{host}:*"]


def _gateway_vs_hosts(push: PushContext, gs: GatewayServer, vs: ConfigObject) -> list[str]:
    """Hosts a VirtualService and a server's hosts have in common (for the VirtualService's
    namespace), the more specific of each overlapping pair, lower-cased."""
    out: list[str] = []
    for h in push.vs_hosts(vs):
        for ns, sh in gs.hosts():
            if ns not in ("*", vs.namespace) or not hosts_intersect(sh, h):
                continue
            host = (h if host_matches(sh, h) else sh).lower()
            if host not in out:
                out.append(host)
    return out


def sort_catch_all_last(routes: list[rc.Route]) -> list[rc.Route]:
    """Istio's ``SortVHostRoutes``: catch-all routes after every other route, the order
    otherwise kept (routes merged from several VirtualServices stay reachable)."""
    return [r for r in routes if not is_catch_all(r)] + [r for r in routes if is_catch_all(r)]


def gateway_route_configuration(
    proxy: Proxy,
    push: PushContext,
    port: int,
    servers: Sequence[GatewayServer],
    configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS,
    name: str = "",
) -> route_pb2.RouteConfiguration:
    """Route configuration ``name`` (default ``http.<port>``; ``https.<port>.<portName>.
    <gateway>.<namespace>`` for a TLS-terminating server), as Istio's
    ``buildGatewayHTTPRouteConfig``: a virtual host per host a server and a VirtualService
    bound to its Gateway share; VirtualServices sharing a host add their routes in order
    (catch-all routes last); ``httpsRedirect`` servers require TLS on their hosts (a 301 to
    https), with or without a VirtualService. No host at all: a ``blackhole`` virtual host
    (Envoy's 404)."""
    vhosts: dict[str, tuple[list[rc.Route], list[bool]]] = {}
    built: dict[tuple[str, str, str], list[rc.Route]] = {}
    for gs in servers:
        redirect = gs.https_redirect
        for vs in push.virtual_services_for_gateway(proxy.namespace, gs.gateway):
            hosts = _gateway_vs_hosts(push, gs, vs)
            if not hosts:
                continue
            key = (gs.gateway, vs.namespace, vs.name)
            if key not in built:
                built[key] = virtual_service_routes(
                    vs, proxy, push, port, gs.gateway, configurers
                )
            for host in hosts:
                routes, tls = vhosts.setdefault(host, ([], [False]))
                routes.extend(built[key])
                tls[0] = tls[0] or redirect
        if redirect:
            for _, host in gs.hosts():
                vhosts.setdefault(host.lower(), ([], [False]))[1][0] = True
    out = []
    used: set[str] = set()
    for host in sorted(vhosts):
        routes, tls = vhosts[host]
        domains = [d for d in _gateway_domains(host) if d not in used]
        if not domains:
            continue
        used.update(domains)
        vh = rc.VirtualHost(
            name=f"{host}:{port}",
            domains=domains,
            routes=sort_catch_all_last(routes),
            include_request_attempt_count=True,
        )
        if tls[0]:
            vh.require_tls = rc.VirtualHost.ALL
        out.append(vh)
    if not out:
        out.append(rc.VirtualHost(name=f"blackhole:{port}", domains=["*"]))
    return route_pb2.RouteConfiguration(
        name=name or names.gateway_http_route_name(port),
        virtual_hosts=out,
        validate_clusters=wrappers_pb2.BoolValue(value=False),
        max_direct_response_body_size_bytes=MAX_DIRECT_RESPONSE_BODY,
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
        for name, servers in push.merged_gateway(proxy).route_names().items():
            out.append(
                gateway_route_configuration(
                    proxy, push, servers[0].port, servers, configurers, name
                )
            )
    elif is_explicit(proxy):
        out.append(explicit_proxy_route_configuration(proxy, push, configurers))
        for port in sorted({s.port for s in bound_egress_specs(proxy, push) if s.http}):
            out.append(sidecar_route_configuration(proxy, push, port, configurers))
    else:
        for port in sidecar_route_ports(proxy, push):
            out.append(sidecar_route_configuration(proxy, push, port, configurers))
    out.sort(key=lambda r: r.name)
    return out
