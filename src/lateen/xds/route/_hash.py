"""The route side of a DestinationRule's ``consistentHash``: the hash policy of a route comes
from the DestinationRule of each cluster it sends to, as in Istio.

The cluster gets RING_HASH / MAGLEV (``cluster._policy``); the route says what to hash:
``httpHeaderName`` -> a header, ``httpCookie`` -> a cookie (Envoy sets it with ``ttl`` and
``path`` when the request has none), ``useSourceIp`` -> the downstream address,
``httpQueryParameterName`` -> a query parameter. The key is the subset's port-level setting,
else the subset's, else the port-level setting, else the top-level one. A route with exactly
one destination that hashes retries on the same host (no ``previous_hosts`` predicate, unless
``retryIgnorePreviousHosts: true``); the default route of a service without VirtualService
keeps Istio's default retry policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envoy.config.route.v3 import route_components_pb2 as rc

from lateen.api import parse_duration
from lateen.model._push_context import PushContext
from lateen.xds import names
from lateen.xds._util import duration

if TYPE_CHECKING:
    from lateen.xds.route._configurers import RouteContext

__all__ = ["configure_hash_policy", "consistent_hash_for", "hash_policy"]

PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"


def _port_level_hash(policy: Any, port: int | None) -> Any:
    if policy is None or port is None:
        return None
    for pl in policy.port_level_settings:
        if pl.port is not None and pl.port.number == port:
            return pl.load_balancer.consistent_hash if pl.load_balancer else None
    return None


def _hash(policy: Any) -> Any:
    lb = policy.load_balancer if policy is not None else None
    return lb.consistent_hash if lb is not None else None


def consistent_hash_for(dr: Any, port: int | None, subset: str) -> Any:
    """The ConsistentHashLB that applies to ``port`` (None: not given) and ``subset`` of a
    DestinationRule, or None."""
    if dr is None:
        return None
    spec = dr.spec
    top = spec.traffic_policy
    chosen = _hash(top)
    port_hash = _port_level_hash(top, port)
    sub = next((s for s in spec.subsets if subset and s.name == subset), None)
    sub_tp = sub.traffic_policy if sub is not None else None
    for candidate in (_port_level_hash(sub_tp, port), _hash(sub_tp), port_hash):
        if candidate is not None:
            return candidate
    return chosen


def hash_policy(ch: Any) -> rc.RouteAction.HashPolicy | None:
    """The Envoy hash policy of a ConsistentHashLB's key (None when it names none)."""
    if ch is None:
        return None
    if ch.http_header_name is not None:
        return rc.RouteAction.HashPolicy(
            header=rc.RouteAction.HashPolicy.Header(header_name=ch.http_header_name)
        )
    if ch.http_cookie is not None:
        cookie = rc.RouteAction.HashPolicy.Cookie(
            name=ch.http_cookie.name, path=ch.http_cookie.path
        )
        if ch.http_cookie.ttl is not None:
            cookie.ttl.CopyFrom(duration(parse_duration(ch.http_cookie.ttl)))
        return rc.RouteAction.HashPolicy(cookie=cookie)
    if ch.use_source_ip is not None:
        return rc.RouteAction.HashPolicy(
            connection_properties=rc.RouteAction.HashPolicy.ConnectionProperties(
                source_ip=ch.use_source_ip
            )
        )
    if ch.http_query_parameter_name is not None:
        return rc.RouteAction.HashPolicy(
            query_parameter=rc.RouteAction.HashPolicy.QueryParameter(
                name=ch.http_query_parameter_name
            )
        )
    return None


def _destination_hash(ctx: RouteContext, host: str, port: int | None, subset: str) -> Any:
    push: PushContext = ctx.push
    svc = push.service_for_host(host, ctx.proxy.namespace)
    if svc is None:
        return None
    dr = push.destination_rule(ctx.proxy.namespace, svc, ctx.proxy.labels)
    return consistent_hash_for(dr, port, subset)


def configure_hash_policy(route: rc.Route, ctx: RouteContext) -> None:
    """Hash policies from the DestinationRules of the route's destinations (in order); a
    single hashing destination drops the previous-hosts retry predicate."""
    if not route.HasField("route"):
        return
    policies: list[rc.RouteAction.HashPolicy] = []
    http = ctx.http_route
    if http is None:  # the default route: the service's cluster, its port known
        parsed = names.parse_cluster_name(route.route.cluster)
        if parsed is not None:
            _, svc_port, subset, host = parsed
            hp = hash_policy(_destination_hash(ctx, host, svc_port, subset))
            if hp is not None:
                policies.append(hp)
        route.route.hash_policy.extend(policies)
        return
    dests = [d for d in http.route if d.destination is not None]
    vs_ns = ctx.virtual_service.namespace if ctx.virtual_service else ctx.proxy.namespace
    for d in dests:
        if len(dests) > 1 and d.weight <= 0:
            continue
        dest = d.destination
        host = ctx.push.resolve_host(dest.host, vs_ns)
        port: int | None = dest.port.number if dest.port is not None else None
        hp = hash_policy(_destination_hash(ctx, host, port or None, dest.subset))
        if hp is not None:
            policies.append(hp)
    route.route.hash_policy.extend(policies)
    retries = getattr(http, "retries", None)
    keep_previous = retries is not None and retries.retry_ignore_previous_hosts is True
    if len(dests) == 1 and policies and not keep_previous and route.route.HasField("retry_policy"):
        kept = [
            p for p in route.route.retry_policy.retry_host_predicate if p.name != PREVIOUS_HOSTS
        ]
        del route.route.retry_policy.retry_host_predicate[:]
        route.route.retry_policy.retry_host_predicate.extend(kept)
