"""Route configurers: each sets one Envoy concern on a Route built from a VirtualService
HTTPRoute (or the default route), as Istio's ``pilot/pkg/networking/core/route`` does.
A configurer is ``(route, ctx) -> None``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import (
    previous_priorities_config_pb2,
)
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from lateen.api import parse_duration
from lateen.api._net_checks import GRPC_STATUS_NAMES
from lateen.xds._util import duration, pack
from lateen.xds.route._context import RouteConfigurer, RouteContext, destination_cluster
from lateen.xds.route._hash import configure_hash_policy

__all__ = [
    "CORS_FILTER",
    "DEFAULT_RETRY_ON",
    "DEFAULT_ROUTE_CONFIGURERS",
    "FAULT_FILTER",
    "GRPC_STATUS_CODES",
    "RouteConfigurer",  # re-exported from _context
    "RouteContext",  # re-exported from _context
    "configure_cors",
    "configure_fault",
    "configure_headers",
    "configure_mirrors",
    "configure_retries",
    "configure_rewrite",
    "configure_stat_prefix",
    "configure_timeout",
    "cors_policy",
    "default_retry_policy",
    "envoy_string_matcher",
    "fault_config",
    "header_operations",
    "retry_policy",
]

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"
PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"
FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"

# gRPC status names -> codes (OK = 0 ... UNAUTHENTICATED = 16)
GRPC_STATUS_CODES: Mapping[str, int] = {name: code for code, name in enumerate(GRPC_STATUS_NAMES)}


# ---------------------------------------------------------------------------- helpers


def envoy_string_matcher(sm: Any, *, ignore_case: bool = False) -> string_pb2.StringMatcher | None:
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


def _percent(value: float) -> percent_pb2.FractionalPercent:
    """An Istio ``Percent`` (0-100, fractions allowed) as parts per million."""
    return percent_pb2.FractionalPercent(
        numerator=int(value * 10000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def _int_percent(value: int) -> percent_pb2.FractionalPercent:
    return percent_pb2.FractionalPercent(
        numerator=value, denominator=percent_pb2.FractionalPercent.HUNDRED
    )


def _is_internal_header(name: str) -> bool:
    return name.startswith(":") or name.lower() == "host"


def _is_authority_header(name: str) -> bool:
    return name.lower() in (":authority", "host")


def _header_values(
    values: Mapping[str, str], append: bool
) -> tuple[list[base_pb2.HeaderValueOption], str]:
    """Header value options sorted by name (internal headers dropped) and the authority the
    map sets (``:authority``/``host``), which becomes a host rewrite."""
    action = (
        base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
        if append
        else base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    )
    out = []
    authority = ""
    for key, value in sorted(values.items()):
        if _is_authority_header(key):
            authority = value
        if _is_internal_header(key):
            continue
        out.append(
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=key, value=value), append_action=action
            )
        )
    return out, authority


@dataclass(frozen=True, slots=True)
class HeaderOps:
    request_add: list[base_pb2.HeaderValueOption]
    request_remove: list[str]
    response_add: list[base_pb2.HeaderValueOption]
    response_remove: list[str]
    authority: str


def header_operations(headers: Any) -> HeaderOps:
    """Istio's ``Headers`` as Envoy header operations: ``set`` (overwrite) before ``add``
    (append), each sorted by name; pseudo headers and ``host`` are never added or removed; a
    request ``set`` (else ``add``) of ``:authority``/``host`` is returned as the authority."""
    req, resp = headers.request, headers.response
    req_set, set_auth = _header_values(req.set if req else {}, False)
    req_add, add_auth = _header_values(req.add if req else {}, True)
    resp_set, _ = _header_values(resp.set if resp else {}, False)
    resp_add, _ = _header_values(resp.add if resp else {}, True)
    return HeaderOps(
        request_add=req_set + req_add,
        request_remove=[h for h in (req.remove if req else []) if not _is_internal_header(h)],
        response_add=resp_set + resp_add,
        response_remove=[h for h in (resp.remove if resp else []) if not _is_internal_header(h)],
        authority=set_auth or add_auth,
    )


# ---------------------------------------------------------------------------- retries


def _parse_retry_on(retry_on: str) -> tuple[str, list[int]]:
    """Envoy retry conditions and the HTTP status codes among the comma separated parts."""
    parts: list[str] = []
    codes: list[int] = []
    for part in retry_on.split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit() and int(part) in HTTPStatus._value2member_map_:
            codes.append(int(part))
        else:
            parts.append(part)
    return ",".join(parts), codes


def default_retry_policy(*, previous_hosts: bool = True) -> rc.RetryPolicy:
    """Istio's default: 2 retries on connect-failure, refused-stream, unavailable, cancelled and
    503, 5 host selection attempts, avoiding the hosts already tried."""
    policy = rc.RetryPolicy(
        retry_on=DEFAULT_RETRY_ON,
        num_retries=wrappers_pb2.UInt32Value(value=2),
        host_selection_retry_max_attempts=5,
        retriable_status_codes=[503],
    )
    if previous_hosts:
        policy.retry_host_predicate.append(
            rc.RetryPolicy.RetryHostPredicate(
                name=PREVIOUS_HOSTS, typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate())
            )
        )
    return policy


def retry_policy(retries: Any) -> rc.RetryPolicy | None:
    """An ``HTTPRetry`` as Istio converts it: None (no retries) for ``attempts: 0``; else the
    default policy with ``attempts``, ``retryOn`` (status codes become retriable status codes,
    ``retriable-status-codes`` is added for them), ``perTryTimeout``,
    ``retryIgnorePreviousHosts``, ``retryRemoteLocalities`` (previous priorities) and
    ``backoff``."""
    policy = default_retry_policy()
    if retries is None:
        return policy
    if retries.attempts <= 0:
        return None
    policy.num_retries.value = retries.attempts
    if retries.retry_on:
        on, codes = _parse_retry_on(retries.retry_on)
        if codes and "retriable-status-codes" not in on:
            on = f"{on},retriable-status-codes" if on else "retriable-status-codes"
        policy.retry_on = on
        del policy.retriable_status_codes[:]
        policy.retriable_status_codes.extend(codes)
    if retries.per_try_timeout:
        policy.per_try_timeout.CopyFrom(duration(parse_duration(retries.per_try_timeout)))
    if retries.retry_ignore_previous_hosts is False:
        del policy.retry_host_predicate[:]
    if retries.retry_remote_localities:
        policy.retry_priority.CopyFrom(
            rc.RetryPolicy.RetryPriority(
                name=PREVIOUS_PRIORITIES,
                typed_config=pack(
                    previous_priorities_config_pb2.PreviousPrioritiesConfig(update_frequency=2)
                ),
            )
        )
    if retries.backoff:
        policy.retry_back_off.base_interval.CopyFrom(duration(parse_duration(retries.backoff)))
    return policy


def configure_retries(route: rc.Route, ctx: RouteContext) -> None:
    """The VirtualService's ``retries``, or Istio's default policy when unset."""
    if not route.HasField("route"):
        return
    policy = retry_policy(getattr(ctx.http_route, "retries", None))
    if policy is not None:
        route.route.retry_policy.CopyFrom(policy)


# ---------------------------------------------------------------------------- timeout, rewrite


def configure_timeout(route: rc.Route, ctx: RouteContext) -> None:
    """Route timeout: the VirtualService's ``timeout``, else 0s (none); the gRPC timeout
    header is honoured up to the same value (unbounded without a timeout), as Istio sets it."""
    if not route.HasField("route"):
        return
    timeout = getattr(ctx.http_route, "timeout", None)
    seconds = parse_duration(timeout) if timeout else 0.0
    route.route.timeout.CopyFrom(duration(seconds))
    route.route.max_grpc_timeout.CopyFrom(duration(seconds))


def configure_rewrite(route: rc.Route, ctx: RouteContext) -> None:
    """``rewrite``: ``uriRegexRewrite`` (regex_rewrite) or ``uri`` (prefix_rewrite: the matched
    prefix or path is replaced), ``authority`` (host_rewrite_literal)."""
    rewrite = getattr(ctx.http_route, "rewrite", None)
    if rewrite is None or not route.HasField("route"):
        return
    if rewrite.uri_regex_rewrite is not None:
        route.route.regex_rewrite.CopyFrom(
            regex_pb2.RegexMatchAndSubstitute(
                pattern=regex_pb2.RegexMatcher(regex=rewrite.uri_regex_rewrite.match),
                substitution=rewrite.uri_regex_rewrite.rewrite,
            )
        )
    elif rewrite.uri:
        route.route.prefix_rewrite = rewrite.uri
    if rewrite.authority:
        route.route.host_rewrite_literal = rewrite.authority


# ---------------------------------------------------------------------------- headers


def _destinations_with_weight(http: Any) -> list[Any]:
    return [d for d in http.route if d.destination is not None and d.weight > 0]


def configure_headers(route: rc.Route, ctx: RouteContext) -> None:
    """``headers`` of the route, then of its destination (one destination: appended to the
    route's; several: on each weighted cluster). A ``:authority``/``host`` value rewrites the
    host unless ``rewrite.authority`` already does."""
    http = ctx.http_route
    if http is None:
        return
    if http.headers is not None:
        ops = header_operations(http.headers)
        route.request_headers_to_add.extend(ops.request_add)
        route.request_headers_to_remove.extend(ops.request_remove)
        route.response_headers_to_add.extend(ops.response_add)
        route.response_headers_to_remove.extend(ops.response_remove)
        if ops.authority and route.HasField("route") and not route.route.host_rewrite_literal:
            route.route.host_rewrite_literal = ops.authority
    if not route.HasField("route"):
        return
    if route.route.HasField("weighted_clusters"):
        weighted = _destinations_with_weight(http)
        for cw, dest in zip(route.route.weighted_clusters.clusters, weighted, strict=False):
            if dest.headers is None:
                continue
            ops = header_operations(dest.headers)
            cw.request_headers_to_add.extend(ops.request_add)
            cw.request_headers_to_remove.extend(ops.request_remove)
            cw.response_headers_to_add.extend(ops.response_add)
            cw.response_headers_to_remove.extend(ops.response_remove)
            if ops.authority:
                cw.host_rewrite_literal = ops.authority
    elif len(http.route) == 1 and http.route[0].headers is not None:
        ops = header_operations(http.route[0].headers)
        route.request_headers_to_add.extend(ops.request_add)
        route.request_headers_to_remove.extend(ops.request_remove)
        route.response_headers_to_add.extend(ops.response_add)
        route.response_headers_to_remove.extend(ops.response_remove)
        if ops.authority and not route.route.host_rewrite_literal:
            route.route.host_rewrite_literal = ops.authority


# ---------------------------------------------------------------------------- mirrors


def _mirror_fraction(percentage: Any, legacy_percent: int | None = None) -> Any:
    """The runtime fraction to mirror: ``percentage`` (0 = never), else the deprecated integer
    percent, else 100%."""
    if percentage is not None:
        if percentage.value <= 0:
            return None
        return base_pb2.RuntimeFractionalPercent(default_value=_percent(percentage.value))
    if legacy_percent is not None:
        if legacy_percent <= 0:
            return None
        return base_pb2.RuntimeFractionalPercent(default_value=_int_percent(legacy_percent))
    return base_pb2.RuntimeFractionalPercent(default_value=_int_percent(100))


def configure_mirrors(route: rc.Route, ctx: RouteContext) -> None:
    """``mirror`` (with ``mirrorPercentage``/``mirrorPercent``) and ``mirrors``: request mirror
    policies to the destinations' clusters; Envoy sends the copies with ``-shadow`` appended
    to the host and ignores their responses."""
    http = ctx.http_route
    if http is None or not route.HasField("route"):
        return
    mirrors: list[tuple[Any, Any]] = []
    if http.mirror is not None:
        mirrors.append((http.mirror, _mirror_fraction(http.mirror_percentage, http.mirror_percent)))
    for mp in http.mirrors:
        if mp.destination is not None:
            mirrors.append((mp.destination, _mirror_fraction(mp.percentage)))
    for dest, fraction in mirrors:
        if fraction is None:
            continue
        route.route.request_mirror_policies.append(
            rc.RouteAction.RequestMirrorPolicy(
                cluster=destination_cluster(dest, ctx),
                runtime_fraction=fraction,
                trace_sampled=wrappers_pb2.BoolValue(value=False),
            )
        )


# ---------------------------------------------------------------------------- fault, CORS


def fault_config(fault: Any) -> fault_pb2.HTTPFault | None:
    """An ``HTTPFaultInjection`` as Envoy's per-route HTTPFault: a fixed delay and/or an abort
    (HTTP or gRPC status) on ``percentage`` of requests (none when unset); None when neither
    can be built (exponential delays and HTTP/2 errors are not supported)."""
    out = fault_pb2.HTTPFault()
    if fault.delay is not None and fault.delay.fixed_delay is not None:
        delay = fault.delay
        pct = (
            _percent(delay.percentage.value)
            if delay.percentage is not None
            else _int_percent(delay.percent)
        )
        out.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=duration(parse_duration(delay.fixed_delay)), percentage=pct
            )
        )
    abort = fault.abort
    if abort is not None and (abort.http_status is not None or abort.grpc_status is not None):
        fa = fault_pb2.FaultAbort()
        if abort.percentage is not None:
            fa.percentage.CopyFrom(_percent(abort.percentage.value))
        if abort.http_status is not None:
            fa.http_status = abort.http_status
        else:
            fa.grpc_status = GRPC_STATUS_CODES.get(str(abort.grpc_status), 2)
        out.abort.CopyFrom(fa)
    if not out.HasField("delay") and not out.HasField("abort"):
        return None
    return out


def configure_fault(route: rc.Route, ctx: RouteContext) -> None:
    """``fault``: the fault filter's per-route config (the filter sits in every HCM)."""
    fault = getattr(ctx.http_route, "fault", None)
    if fault is None:
        return
    cfg = fault_config(fault)
    if cfg is not None:
        route.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(cfg))


def cors_policy(cors: Any) -> cors_pb2.CorsPolicy:
    """A ``CorsPolicy`` as the CORS filter's per-route policy: origins as string matchers
    (``allowOrigins``, else the deprecated exact ``allowOrigin``), the lists comma joined,
    ``maxAge`` in seconds; unmatched preflights are forwarded unless ``IGNORE``."""
    out = cors_pb2.CorsPolicy(
        forward_not_matching_preflights=wrappers_pb2.BoolValue(
            value=cors.unmatched_preflights != "IGNORE"
        ),
        allow_methods=",".join(cors.allow_methods),
        allow_headers=",".join(cors.allow_headers),
        expose_headers=",".join(cors.expose_headers),
    )
    if cors.allow_origins:
        for origin in cors.allow_origins:
            m = envoy_string_matcher(origin)
            if m is not None:
                out.allow_origin_string_match.append(m)
    else:
        for origin in cors.allow_origin:
            out.allow_origin_string_match.append(string_pb2.StringMatcher(exact=origin))
    out.filter_enabled.CopyFrom(base_pb2.RuntimeFractionalPercent(default_value=_int_percent(100)))
    if cors.allow_credentials is not None:
        out.allow_credentials.CopyFrom(wrappers_pb2.BoolValue(value=cors.allow_credentials))
    if cors.max_age:
        out.max_age = str(int(parse_duration(cors.max_age)))
    return out


def configure_cors(route: rc.Route, ctx: RouteContext) -> None:
    """``corsPolicy``: the CORS filter's per-route policy (the filter sits in every HCM)."""
    cors = getattr(ctx.http_route, "cors_policy", None)
    if cors is not None:
        route.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors_policy(cors)))


def configure_stat_prefix(route: rc.Route, ctx: RouteContext) -> None:
    """``match[].statPrefix``: per-route stats (``vhost.<vh>.route.<prefix>.*``)."""
    prefix = getattr(ctx.match, "stat_prefix", "")
    if prefix:
        route.stat_prefix = prefix


def direct_response_body(body: Any) -> base_pb2.DataSource | None:
    if body is None:
        return None
    if body.string is not None:
        return base_pb2.DataSource(inline_string=body.string)
    if body.bytes is not None:
        return base_pb2.DataSource(inline_bytes=base64.b64decode(body.bytes))
    return None


DEFAULT_ROUTE_CONFIGURERS: tuple[RouteConfigurer, ...] = (
    configure_timeout,
    configure_retries,
    configure_rewrite,
    configure_headers,
    configure_mirrors,
    configure_fault,
    configure_cors,
    configure_stat_prefix,
    configure_hash_policy,  # DestinationRule consistentHash of the destinations
)
