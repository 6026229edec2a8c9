"""Validation of the networking kinds, rule for rule after Istio's
``pkg/config/validation`` (validation.go, virtualservice.go, agent/validation.go,
envoyfilter/envoyfilter.go). Every finding is reported with its full field path."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from lateen.api._base import IstioModel, ValidationContext, parse_duration
from lateen.api._net_checks import (
    GRPC_STATUSES,
    HTTP_PROTOCOLS,
    HTTP_STATUS_CODES,
    TCP_PROTOCOLS,
    TLS_PROTOCOLS,
    check_duration,
    check_labels,
    fqdn,
    header_name,
    host_matches,
    host_subset_of,
    ip_address,
    ip_subnet,
    is_dns1123_label,
    is_ip,
    namespace_slash_hostname,
    parse_protocol,
    partial_wildcard,
    port,
    regex_error,
    unix_address,
    wildcard_domain,
    wildcard_domain_for_gateway_vs,
)
from lateen.api._net_common import Percent, PortSelector, TypeWorkloadSelector, WorkloadSelector
from lateen.api._net_dr import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    DestinationRule,
    LoadBalancerSettings,
    LocalityLoadBalancerSetting,
    OutlierDetection,
    TrafficPolicy,
)
from lateen.api._net_ef import EnvoyFilter
from lateen.api._net_gw import Gateway, Port, ServerTLSSettings
from lateen.api._net_pc import ProxyConfig
from lateen.api._net_se import ServiceEntry, WorkloadEntry, WorkloadGroup
from lateen.api._net_sidecar import Sidecar, SidecarPort
from lateen.api._net_vs import (
    CorsPolicy,
    Destination,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRoute,
    HTTPRouteDestination,
    RouteDestination,
    StringMatch,
    VirtualService,
)

__all__ = [
    "validate_destination_rule",
    "validate_envoy_filter",
    "validate_gateway",
    "validate_proxy_config",
    "validate_service_entry",
    "validate_sidecar",
    "validate_virtual_service",
    "validate_workload_entry",
    "validate_workload_group",
]

UNIX_PREFIX = "unix://"
_MESH_GATEWAY = "mesh"
_JWT_CLAIM_PREFIXES = ("@request.auth.claims.", "@request.auth.claims[")
_HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
)
_RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
_TOPOLOGY_LABELS = frozenset(
    {"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"}
)
_HEADER_VALUE_CTRL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_KB = 1024
_MB = 1024 * _KB

# Envoy/BoringSSL cipher suite names Istio accepts (security.IsValidCipherSuite).
_CIPHER_SUITES = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "ECDHE-PSK-AES128-CBC-SHA",
        "ECDHE-PSK-AES256-CBC-SHA",
        "ECDHE-PSK-CHACHA20-POLY1305",
        "PSK-AES128-CBC-SHA",
        "PSK-AES256-CBC-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
)


# ---------------------------------------------------------------------------- shared pieces


def _err(ctx: ValidationContext, path: str, msg: str | None) -> None:
    if msg:
        ctx.error(path, msg)


def _export_to(
    ctx: ValidationContext,
    path: str,
    export_to: Sequence[str],
    *,
    service_entry: bool = False,
    dr_with_selector: bool = False,
) -> None:
    if not export_to:
        return
    seen: set[str] = set()
    for i, e in enumerate(export_to):
        p = f"{path}[{i}]"
        key = ctx.namespace if e == "." else e
        if key in seen:
            if key != e:
                ctx.error(
                    p, f"duplicate entries in exportTo: . and current namespace {ctx.namespace}"
                )
            else:
                ctx.error(p, f"duplicate entries in exportTo for entry {e}")
            continue
        if e == "~":
            if service_entry:
                seen.add(key)
            else:
                ctx.error(p, "exportTo ~ (none) is not allowed for Istio configuration objects")
            continue
        if key not in ("*",) and e != "." and not is_dns1123_label(key):
            ctx.error(p, "only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
            continue
        seen.add(key)
    if dr_with_selector and seen:
        if ctx.namespace in seen:
            if len(seen) > 1:
                ctx.error(
                    path,
                    "destination rule with workload selector cannot have multiple entries in exportTo",
                )
        else:
            ctx.error(
                path,
                "destination rule with workload selector cannot have exportTo beyond current namespace",
            )
    if "*" in seen and len(export_to) > 1:
        ctx.error(path, "cannot have both public (*) and non-public exportTo values for a resource")
    if "~" in seen and len(export_to) > 1:
        ctx.error(path, "cannot export service entry to no one (~) and someone")


def _selector_labels(ctx: ValidationContext, path: str, labels: dict[str, str]) -> bool:
    """Shared rules of both selector forms; returns False when the selector has no labels."""
    for k, v in labels.items():
        if k == "":
            ctx.error(f"{path}.{k}", f"empty key is not supported in selector: {k + '=' + v!r}")
        if "*" in k or "*" in v:
            ctx.error(f"{path}.{k}", f"wildcard is not supported in selector: {k + '=' + v!r}")
    return bool(labels)


def _alpha_selector(
    ctx: ValidationContext, path: str, sel: WorkloadSelector | None, what: str
) -> None:
    if sel is None:
        return
    if not _selector_labels(ctx, f"{path}.labels", sel.labels):
        ctx.warn(
            path,
            f"{what}: workload selector specified without labels, will be applied to all services in namespace",
        )


def _type_selector(ctx: ValidationContext, path: str, sel: TypeWorkloadSelector | None) -> None:
    if sel is None:
        return
    if not _selector_labels(ctx, f"{path}.matchLabels", sel.match_labels):
        ctx.warn(path, "workload selector specified without labels")


def _percentage(ctx: ValidationContext, path: str, pct: Percent | None) -> None:
    if pct is None:
        return
    v = pct.value
    if v < 0.0 or v > 100.0 or 0.0 < v < 0.0001:
        ctx.error(f"{path}.value", f"percentage {v:g} is neither 0.0, nor in range [0.0001, 100.0]")


def _percent(ctx: ValidationContext, path: str, value: int) -> None:
    if value < 0 or value > 100:
        ctx.error(path, f"percentage {value} is not in range 0..100")


def _subset_name(name: str) -> str | None:
    if not name:
        return "subset name cannot be empty"
    if not is_dns1123_label(name):
        return f"subset name is invalid: {name}"
    return None


def _port_selector(ctx: ValidationContext, path: str, sel: PortSelector | None) -> None:
    if sel is not None:
        _err(ctx, f"{path}.number", port(sel.number or 0))


def _destination(ctx: ValidationContext, path: str, dest: Destination | None) -> None:
    if dest is None:
        return
    if dest.host == "*":
        ctx.error(f"{path}.host", f"invalid destination host {dest.host}")
    else:
        _err(ctx, f"{path}.host", wildcard_domain(dest.host))
    if dest.subset:
        _err(ctx, f"{path}.subset", _subset_name(dest.subset))
    _port_selector(ctx, f"{path}.port", dest.port)


def _port_name(name: str) -> str | None:
    return None if is_dns1123_label(name) else f"invalid port name: {name}"


def _protocol(name: str) -> str | None:
    if name and parse_protocol(name) == "Unsupported":
        return f"unsupported protocol: {name}"
    return None


# ---------------------------------------------------------------------------- VirtualService


def _string_match_count(sm: StringMatch) -> int:
    return sum(x is not None for x in (sm.exact, sm.prefix, sm.regex))


def _string_match(
    ctx: ValidationContext, path: str, sm: StringMatch | None, *, allow_empty_prefix: bool = False
) -> None:
    if sm is None:
        return
    if _string_match_count(sm) > 1:
        ctx.error(path, "only one of exact, prefix or regex may be set")
    if sm.prefix is not None and sm.prefix == "" and not allow_empty_prefix:
        ctx.error(f"{path}.prefix", "prefix string match should not be empty")
    if sm.regex is not None:
        if sm.regex == "":
            ctx.error(f"{path}.regex", "regex string match should not be empty")
        else:
            _err(ctx, f"{path}.regex", regex_error(sm.regex))


def _header_value(value: str) -> str | None:
    if _HEADER_VALUE_CTRL.search(value):
        return f"header value configuration {value} is invalid"
    # Envoy's %VARIABLE% substitution: every '%' opens or closes a variable or is doubled.
    i = 0
    while i < len(value):
        if value[i] == "%":
            if value.startswith("%%", i):
                i += 2
                continue
            end = value.find("%", i + 1)
            if end < 0:
                return (
                    f"header value configuration: invalid header value {value!r}: unterminated '%'"
                )
            if end == i + 1 or not re.fullmatch(
                r"[A-Z_]+(\(.*\))?(:[A-Za-z0-9_]*)?", value[i + 1 : end]
            ):
                return f"header value configuration: invalid header value {value!r}: bad variable {value[i : end + 1]!r}"
            i = end + 1
            continue
        i += 1
    return None


def _is_internal_header(name: str) -> bool:
    return name.startswith(":") or name.lower() == "host"


def _is_authority_header(name: str) -> bool:
    return name.lower() in (":authority", "host")


def _headers(ctx: ValidationContext, path: str, headers: Headers | None) -> None:
    if headers is None:
        return
    req, resp = headers.request, headers.response
    if req is not None:
        for op in ("add", "set"):
            for name, val in getattr(req, op).items():
                p = f"{path}.request.{op}.{name}"
                if not name:
                    ctx.error(p, "header name cannot be empty")
                elif _is_internal_header(name) and not _is_authority_header(name):
                    ctx.error(p, f'invalid header "{name}": header cannot have ":" prefix')
                _err(ctx, p, _header_value(val))
        for i, name in enumerate(req.remove):
            _err(ctx, f"{path}.request.remove[{i}]", _header_operation_name(name))
    if resp is not None:
        for op in ("add", "set"):
            for name, val in getattr(resp, op).items():
                p = f"{path}.response.{op}.{name}"
                _err(ctx, p, _header_operation_name(name))
                _err(ctx, p, _header_value(val))
        for i, name in enumerate(resp.remove):
            _err(ctx, f"{path}.response.remove[{i}]", _header_operation_name(name))


def _header_operation_name(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if name.lower() == "host":
        return f'invalid header "{name}": cannot set Host header'
    if _is_internal_header(name):
        return f'invalid header "{name}": header cannot have ":" prefix'
    return None


def _gateway_names(ctx: ValidationContext, path: str, names: Sequence[str]) -> None:
    for i, name in enumerate(names):
        p = f"{path}[{i}]"
        ns, slash, gw = name.partition("/")
        if not slash:
            if "." in name:
                parts = name.split(".")
                ctx.warn(
                    p,
                    f"using legacy gatewayName format {name!r}; prefer the <namespace>/<name> "
                    f"format: {parts[1] + '/' + parts[0]!r}",
                )
            _err(ctx, p, fqdn(name))
            continue
        if not ns or not gw:
            ctx.error(p, "config namespace and gateway name cannot be empty")
        if not is_dns1123_label(ns):
            ctx.error(p, f"invalid value for namespace: {ns!r}")
        if not is_dns1123_label(gw):
            ctx.error(p, f"invalid value for gateway name: {gw!r}")


def _route_destinations(
    ctx: ValidationContext, path: str, dests: Sequence[HTTPRouteDestination | RouteDestination]
) -> None:
    total = 0
    for i, d in enumerate(dests):
        p = f"{path}[{i}]"
        if d.destination is None:
            ctx.error(f"{p}.destination", "destination is required")
        if isinstance(d, HTTPRouteDestination):
            _headers(ctx, f"{p}.headers", d.headers)
        _destination(ctx, f"{p}.destination", d.destination)
        if d.weight < 0:
            ctx.error(f"{p}.weight", f"weight {d.weight} < 0")
        total += d.weight
    if len(dests) > 1 and total == 0:
        ctx.error(path, "total destination weight = 0")


def _cors(ctx: ValidationContext, path: str, cors: CorsPolicy | None) -> None:
    if cors is None:
        return
    for i, origin in enumerate(cors.allow_origins):
        p = f"{path}.allowOrigins[{i}]"
        value = origin.exact or origin.prefix or origin.regex or ""
        if not value:
            ctx.error(p, f"'{value}' is not a valid match type for CORS allow origins")
        elif origin.regex:
            _err(ctx, f"{p}.regex", regex_error(origin.regex))
        if _string_match_count(origin) > 1:
            ctx.error(p, "only one of exact, prefix or regex may be set")
    for i, method in enumerate(cors.allow_methods):
        if method not in _HTTP_METHODS:
            ctx.error(f"{path}.allowMethods[{i}]", f"{method!r} is not a supported HTTP method")
    for field, names in (
        ("allowHeaders", cors.allow_headers),
        ("exposeHeaders", cors.expose_headers),
    ):
        for i, name in enumerate(names):
            if name != "*":
                _err(ctx, f"{path}.{field}[{i}]", header_name(name))
    seconds = check_duration(ctx, f"{path}.maxAge", cors.max_age)
    if seconds is not None and seconds >= 0.001 and round(seconds * 1e9) % 1_000_000_000:
        ctx.error(f"{path}.maxAge", "max_age duration is accurate only to seconds precision")


def _fault(ctx: ValidationContext, path: str, fault: HTTPFaultInjection | None) -> None:
    if fault is None:
        return
    if fault.abort is None and fault.delay is None:
        ctx.error(path, "HTTP fault injection must have an abort and/or a delay")
    if (abort := fault.abort) is not None:
        p = f"{path}.abort"
        _percentage(ctx, f"{p}.percentage", abort.percentage)
        kinds = [x is not None for x in (abort.http_status, abort.grpc_status, abort.http2_error)]
        if sum(kinds) > 1:
            ctx.error(p, "only one of httpStatus, grpcStatus or http2Error may be set")
        if abort.grpc_status is not None:
            if abort.grpc_status not in GRPC_STATUSES:
                ctx.error(
                    f"{p}.grpcStatus",
                    f"gRPC status {abort.grpc_status!r} is not supported. See "
                    "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of "
                    "supported codes, for example 'NOT_FOUND'",
                )
        elif abort.http2_error is not None:
            ctx.error(f"{p}.http2Error", "HTTP/2 abort fault injection not supported yet")
        elif abort.http_status is not None:
            _err(ctx, f"{p}.httpStatus", _http_status(abort.http_status))
        else:
            ctx.warn(p, "abort configured, but error type not set")
    if (delay := fault.delay) is not None:
        p = f"{path}.delay"
        _percentage(ctx, f"{p}.percentage", delay.percentage)
        _percent(ctx, f"{p}.percent", delay.percent)
        if delay.fixed_delay is not None and delay.exponential_delay is not None:
            ctx.error(p, "only one of fixedDelay or exponentialDelay may be set")
        if delay.fixed_delay is not None:
            check_duration(ctx, f"{p}.fixedDelay", delay.fixed_delay)
        elif delay.exponential_delay is not None:
            check_duration(ctx, f"{p}.exponentialDelay", delay.exponential_delay)
            ctx.error(f"{p}.exponentialDelay", "exponentialDelay not supported yet")


def _http_status(status: int) -> str | None:
    if status < 200 or status > 599:
        return f"HTTP status {status} is not in range 200-599"
    return None


def _route_conflicts(ctx: ValidationContext, path: str, r: HTTPRoute, delegate_vs: bool) -> None:
    if r.delegate is not None and not delegate_vs:  # a root route: delegate, no destination
        if r.redirect is not None:
            ctx.error(f"{path}.redirect", f"root HTTP route {r.name} must not specify redirect")
        if r.route:
            ctx.error(f"{path}.route", f"root HTTP route {r.name} must not specify route")
        return
    if delegate_vs and r.delegate is not None:
        ctx.error(f"{path}.delegate", "delegate HTTP route cannot contain delegate")
    if r.redirect is not None:
        if r.route:
            ctx.error(path, "HTTP route cannot contain both route and redirect")
        if r.fault is not None:
            ctx.error(path, "HTTP route cannot contain both fault and redirect")
        if r.rewrite is not None:
            ctx.error(path, "HTTP route rule cannot contain both rewrite and redirect")
        if r.direct_response is not None:
            ctx.error(path, "HTTP route rule cannot contain both direct_response and redirect")
    elif r.direct_response is not None:
        if r.route:
            ctx.error(path, "HTTP route cannot contain both route and direct_response")
        if r.fault is not None:
            ctx.error(path, "HTTP route cannot contain both fault and direct_response")
        if r.rewrite is not None:
            ctx.error(path, "HTTP route rule cannot contain both rewrite and direct_response")
    elif not r.route:
        ctx.error(f"{path}.route", "HTTP route, redirect or direct_response is required")
    if r.mirror is not None and r.mirrors:
        ctx.error(path, "HTTP route cannot contain both mirror and mirrors")


def _match_requests(ctx: ValidationContext, path: str, matches: Sequence[HTTPMatchRequest]) -> None:
    for i, m in enumerate(matches):
        p = f"{path}[{i}]"
        for name, sm in m.headers.items():
            hp = f"{p}.headers.{name}"
            if not name.startswith(_JWT_CLAIM_PREFIXES):
                _err(ctx, hp, header_name(name))
            _string_match(ctx, hp, sm)
        for name, sm in m.without_headers.items():
            hp = f"{p}.withoutHeaders.{name}"
            if not name.startswith(_JWT_CLAIM_PREFIXES):
                _err(ctx, hp, header_name(name))
            if sm.regex != "*":  # "*" means "present", not a regex
                _string_match(ctx, hp, sm)
        _string_match(ctx, f"{p}.uri", m.uri, allow_empty_prefix=True)
        _string_match(ctx, f"{p}.scheme", m.scheme)
        _string_match(ctx, f"{p}.method", m.method)
        _string_match(ctx, f"{p}.authority", m.authority)
        for name, sm in m.query_params.items():
            _string_match(ctx, f"{p}.queryParams.{name}", sm)
        if m.port:
            _err(ctx, f"{p}.port", port(m.port))
        check_labels(ctx, f"{p}.sourceLabels", m.source_labels)
        _gateway_names(ctx, f"{p}.gateways", m.gateways)
        if m.source_namespace and not is_dns1123_label(m.source_namespace):
            ctx.error(
                f"{p}.sourceNamespace", f"sourceNamespace match {m.source_namespace} is invalid"
            )


def _delegate_matches(
    ctx: ValidationContext, path: str, matches: Sequence[HTTPMatchRequest]
) -> None:
    """Routes of a delegate (or delegating) VirtualService cannot match on regexes."""
    for i, m in enumerate(matches):
        p = f"{path}[{i}]"
        for field in ("uri", "scheme", "method", "authority"):
            sm = getattr(m, field)
            if sm is not None and sm.regex is not None:
                ctx.error(
                    f"{p}.{field}",
                    f"{field if field != 'uri' else 'url'} match does not support regex match for delegating",
                )
        for what, mapping in (
            ("header", m.headers),
            ("query param", m.query_params),
            ("withoutHeaders", m.without_headers),
        ):
            for name, sm in mapping.items():
                if sm.regex is not None:
                    ctx.error(
                        f"{p}.{'headers' if what == 'header' else 'queryParams' if what == 'query param' else 'withoutHeaders'}.{name}",
                        f"{what} match {name} does not support regex match for delegating",
                    )


def _http_route(ctx: ValidationContext, path: str, r: HTTPRoute, delegate_vs: bool) -> None:
    _route_conflicts(ctx, path, r, delegate_vs)
    _match_requests(ctx, f"{path}.match", r.match)
    if delegate_vs or r.delegate is not None:
        _delegate_matches(ctx, f"{path}.match", r.match)
    if r.delegate is not None:
        if not r.delegate.name:
            ctx.error(f"{path}.delegate.name", "delegate name is required")
        elif not is_dns1123_label(r.delegate.name) and fqdn(r.delegate.name):
            ctx.error(f"{path}.delegate.name", f"invalid delegate name {r.delegate.name!r}")
        if r.delegate.namespace and not is_dns1123_label(r.delegate.namespace):
            ctx.error(
                f"{path}.delegate.namespace", f"invalid delegate namespace {r.delegate.namespace!r}"
            )
    _headers(ctx, f"{path}.headers", r.headers)
    _cors(ctx, f"{path}.corsPolicy", r.cors_policy)
    _fault(ctx, f"{path}.fault", r.fault)
    if r.mirror_percent is not None:
        if r.mirror_percent > 100:
            ctx.error(
                f"{path}.mirrorPercent",
                f"mirror_percent must have a max value of 100 (it has {r.mirror_percent})",
            )
        ctx.warn(
            f"{path}.mirrorPercent",
            'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
        )
    if r.mirror_percentage is not None:
        v = r.mirror_percentage.value
        if v > 100:
            ctx.error(
                f"{path}.mirrorPercentage.value",
                f"mirror_percentage must have a max value of 100 (it has {v:f})",
            )
        if v < 0:
            ctx.error(
                f"{path}.mirrorPercentage.value",
                f"mirror_percentage must have a min value of 0 (it has {v:f})",
            )
    _destination(ctx, f"{path}.mirror", r.mirror)
    for i, mp in enumerate(r.mirrors):
        p = f"{path}.mirrors[{i}]"
        if mp.destination is None:
            ctx.error(f"{p}.destination", "destination is required for mirrors")
            continue
        _destination(ctx, f"{p}.destination", mp.destination)
        if mp.percentage is not None:
            v = mp.percentage.value
            if v > 100:
                ctx.error(
                    f"{p}.percentage.value",
                    f"mirror percentage must have a max value of 100 (it has {v:f})",
                )
            if v < 0:
                ctx.error(
                    f"{p}.percentage.value",
                    f"mirror percentage must have a min value of 0 (it has {v:f})",
                )
    if (rd := r.redirect) is not None:
        p = f"{path}.redirect"
        if (
            not rd.uri
            and not rd.authority
            and rd.port is None
            and rd.derive_port is None
            and not rd.scheme
        ):
            ctx.error(p, "redirect must specify URI, authority, scheme, or port")
        if rd.port is not None and rd.derive_port is not None:
            ctx.error(p, "only one of port or derivePort may be set")
        if rd.redirect_code and not 300 <= rd.redirect_code <= 399:
            ctx.error(
                f"{p}.redirectCode", f"{rd.redirect_code} is not a valid redirect code, must be 3xx"
            )
        if rd.scheme and rd.scheme not in ("http", "https"):
            ctx.error(f"{p}.scheme", 'invalid redirect scheme, must be "http" or "https"')
        if rd.port:
            _err(ctx, f"{p}.port", port(rd.port))
    if (dr := r.direct_response) is not None:
        p = f"{path}.directResponse"
        if dr.body is not None:
            if dr.body.string is not None and dr.body.bytes is not None:
                ctx.error(f"{p}.body", "only one of string or bytes may be set")
            size = len((dr.body.string or "").encode()) + len(dr.body.bytes or "") * 3 // 4
            if size > _MB:
                ctx.error(
                    f"{p}.body",
                    "large direct_responses may impact control plane performance, must be less than 1MB",
                )
            elif size > 100 * _KB:
                ctx.warn(f"{p}.body", "large direct_responses may impact control plane performance")
        _err(ctx, f"{p}.status", _http_status(dr.status))
    if (rt := r.retries) is not None:
        p = f"{path}.retries"
        if rt.attempts < 0:
            ctx.error(f"{p}.attempts", "attempts cannot be negative")
        if rt.attempts == 0 and (
            rt.per_try_timeout is not None or rt.retry_on or rt.retry_remote_localities is not None
        ):
            ctx.error(p, "http retry policy configured when attempts are set to 0 (disabled)")
        check_duration(ctx, f"{p}.perTryTimeout", rt.per_try_timeout)
        check_duration(ctx, f"{p}.backoff", rt.backoff)
        if rt.retry_on:
            for policy in rt.retry_on.split(","):
                code = int(policy) if policy.isdigit() else 0
                if code not in HTTP_STATUS_CODES and policy not in _RETRY_ON:
                    ctx.error(f"{p}.retryOn", f"{policy!r} is not a valid retryOn policy")
    if (rw := r.rewrite) is not None:
        p = f"{path}.rewrite"
        if rw.uri and rw.uri_regex_rewrite is not None:
            ctx.error(p, "rewrite may only contain one of URI or UriRegexRewrite")
        if not rw.uri and rw.uri_regex_rewrite is None and not rw.authority:
            ctx.error(
                p,
                "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified",
            )
        if (rr := rw.uri_regex_rewrite) is not None:
            if not rr.match or not rr.rewrite:
                ctx.error(
                    f"{p}.uriRegexRewrite",
                    "UriRegexRewrite requires both Rewrite and Match fields to be specified",
                )
            else:
                _err(ctx, f"{p}.uriRegexRewrite.match", regex_error(rr.match))
    # authority may be rewritten in one place only
    current = r.rewrite.authority if r.rewrite is not None else ""
    req = r.headers.request if r.headers is not None else None
    if req is not None:
        for op in ("set", "add"):
            for k, v in getattr(req, op).items():
                if not _is_authority_header(k):
                    continue
                if current:
                    ctx.error(
                        f"{path}.headers.request.{op}.{k}",
                        f"authority header cannot be set multiple times: have {current!r}, attempting to set {v!r}",
                    )
                current = v
    _route_destinations(ctx, f"{path}.route", r.route)
    check_duration(ctx, f"{path}.timeout", r.timeout)


def _match_key(obj: IstioModel) -> str:
    data = obj.model_dump(by_alias=True, exclude_defaults=True)
    data.pop("name", None)
    return json.dumps(data, sort_keys=True)


def _unreachable(
    ctx: ValidationContext, path: str, routes: Sequence[tuple[str, Sequence[IstioModel]]]
) -> None:
    """Istio's VirtualServiceUnreachableRule / VirtualServiceIneffectiveMatch warnings."""
    seen: dict[str, int] = {}
    empty_seen = False
    for n, (name, matches) in enumerate(routes):
        rname = f'"{name}"' if name else f"#{n}"
        if not matches:
            if empty_seen:
                ctx.warn(
                    f"{path}[{n}]",
                    f"virtualService rule {rname} not used (only the last rule can have no matches)",
                )
            empty_seen = True
            continue
        dups = 0
        for m_i, m in enumerate(matches):
            key = _match_key(m)
            if key in seen:
                d = seen[key]
                dname = f'"{routes[d][0]}"' if routes[d][0] else f"#{d}"
                mname = getattr(m, "name", "") or ""
                mref = f'"{mname}"' if mname else f"#{m_i}"
                ctx.warn(
                    f"{path}[{n}].match[{m_i}]",
                    f"virtualService rule {rname} match {mref} is not used "
                    f"(duplicate/overlapping match in rule {dname})",
                )
                dups += 1
            else:
                seen[key] = n
        if dups == len(matches):
            ctx.warn(
                f"{path}[{n}]",
                f"virtualService rule {rname} not used (all matches used by prior rules)",
            )


def validate_virtual_service(spec: VirtualService, ctx: ValidationContext) -> None:
    delegate_vs = not spec.hosts
    if delegate_vs:
        if spec.gateways:
            ctx.error("spec.gateways", "delegate virtual service must have no gateways specified")
        if spec.tls:
            ctx.error("spec.tls", "delegate virtual service must have no tls route specified")
        if spec.tcp:
            ctx.error("spec.tcp", "delegate virtual service must have no tcp route specified")
    applies_to_gateway = False
    if spec.gateways:
        _gateway_names(ctx, "spec.gateways", spec.gateways)
        applies_to_gateway = _MESH_GATEWAY not in spec.gateways
    applies_to_mesh = not applies_to_gateway
    if not applies_to_gateway:
        for i, r in enumerate(spec.http):
            for j, m in enumerate(r.match):
                for field, mapping in (
                    ("headers", m.headers),
                    ("withoutHeaders", m.without_headers),
                ):
                    for key in mapping:
                        if key.startswith(_JWT_CLAIM_PREFIXES):
                            ctx.error(
                                f"spec.http[{i}].match[{j}].{field}.{key}",
                                f"JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: {spec.gateways}",
                            )
    sni = any(m.sni_hosts for t in spec.tls for m in t.match)
    all_valid = True
    for i, h in enumerate(spec.hosts):
        err = wildcard_domain_for_gateway_vs(sni, h) if applies_to_gateway else wildcard_domain(h)
        if err:
            if not is_ip(h):
                ctx.error(f"spec.hosts[{i}]", err)
                all_valid = False
        elif applies_to_mesh and h == "*":
            ctx.error(
                f"spec.hosts[{i}]",
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
            )
            all_valid = False
    if all_valid:
        for i, a in enumerate(spec.hosts):
            for b in spec.hosts[i + 1 :]:
                if host_matches(a, b):
                    ctx.error(f"spec.hosts[{i}]", f"duplicate hosts in virtual service: {a} & {b}")
    if not spec.http and not spec.tcp and not spec.tls:
        ctx.error("spec", "http, tcp or tls must be provided in virtual service")
    for i, r in enumerate(spec.http):
        _http_route(ctx, f"spec.http[{i}]", r, delegate_vs)
    for i, t in enumerate(spec.tls):
        p = f"spec.tls[{i}]"
        if not t.match:
            ctx.error(f"{p}.match", "TLS route must have at least one match condition")
        for j, tm in enumerate(t.match):
            mp = f"{p}.match[{j}]"
            if not tm.sni_hosts:
                ctx.error(f"{mp}.sniHosts", "TLS match must have at least one SNI host")
            for k, s in enumerate(tm.sni_hosts):
                _sni_host(ctx, f"{mp}.sniHosts[{k}]", s, spec, applies_to_gateway)
            for k, sub in enumerate(tm.destination_subnets):
                _err(ctx, f"{mp}.destinationSubnets[{k}]", ip_subnet(sub))
            if tm.port:
                _err(ctx, f"{mp}.port", port(tm.port))
            check_labels(ctx, f"{mp}.sourceLabels", tm.source_labels)
            _gateway_names(ctx, f"{mp}.gateways", tm.gateways)
        if not t.route:
            ctx.error(f"{p}.route", "TLS route is required")
        _route_destinations(ctx, f"{p}.route", t.route)
    for i, tcp in enumerate(spec.tcp):
        p = f"spec.tcp[{i}]"
        for j, lm in enumerate(tcp.match):
            mp = f"{p}.match[{j}]"
            for k, sub in enumerate(lm.destination_subnets):
                _err(ctx, f"{mp}.destinationSubnets[{k}]", ip_subnet(sub))
            if lm.source_subnet:
                _err(ctx, f"{mp}.sourceSubnet", ip_subnet(lm.source_subnet))
            if lm.port:
                _err(ctx, f"{mp}.port", port(lm.port))
            check_labels(ctx, f"{mp}.sourceLabels", lm.source_labels)
            _gateway_names(ctx, f"{mp}.gateways", lm.gateways)
        if not tcp.route:
            ctx.error(f"{p}.route", "TCP route is required")
        _route_destinations(ctx, f"{p}.route", tcp.route)
    _export_to(ctx, "spec.exportTo", spec.export_to)
    _unreachable(ctx, "spec.http", [(r.name, r.match) for r in spec.http])
    _unreachable(ctx, "spec.tcp", [("", r.match) for r in spec.tcp])
    _unreachable(ctx, "spec.tls", [("", r.match) for r in spec.tls])


def _sni_host(
    ctx: ValidationContext, path: str, sni: str, vs: VirtualService, gateway: bool
) -> None:
    err = wildcard_domain_for_gateway_vs(True, sni) if gateway else wildcard_domain(sni)
    if err:
        if is_ip(sni):
            ctx.warn(
                path,
                f"using an IP address ({sni!r}) goes against SNI spec and most clients do not support this",
            )
        else:
            ctx.error(path, err)
        return
    if any(host_subset_of(sni, h) for h in vs.hosts):
        return
    ctx.error(
        path,
        f"SNI host {sni!r} is not a compatible subset of any of the virtual service hosts: [{', '.join(vs.hosts)}]",
    )


# ---------------------------------------------------------------------------- DestinationRule


def _client_tls(ctx: ValidationContext, path: str, tls: ClientTLSSettings | None) -> None:
    if tls is None:
        return
    if tls.insecure_skip_verify:
        if tls.mode == "SIMPLE" and (
            tls.ca_certificates or tls.credential_name or tls.subject_alt_names
        ):
            ctx.error(
                path,
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            )
        if tls.mode == "MUTUAL" and (tls.ca_certificates or tls.subject_alt_names):
            ctx.error(
                path,
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
            )
    if tls.mode in ("SIMPLE", "MUTUAL") and tls.credential_name:
        if tls.client_certificate or tls.ca_certificates or tls.private_key or tls.ca_crl:
            ctx.error(
                path,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
            )
        return
    if tls.mode == "MUTUAL":
        if not tls.client_certificate:
            ctx.error(f"{path}.clientCertificate", "client certificate required for mutual tls")
        if not tls.private_key:
            ctx.error(f"{path}.privateKey", "private key required for mutual tls")


def _outlier(ctx: ValidationContext, path: str, od: OutlierDetection | None) -> None:
    if od is None:
        return
    check_duration(ctx, f"{path}.baseEjectionTime", od.base_ejection_time)
    if od.consecutive_errors:
        ctx.warn(
            f"{path}.consecutiveErrors",
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
        )
    if (
        not od.split_external_local_origin_errors
        and (od.consecutive_local_origin_failures or 0) > 0
    ):
        ctx.error(
            f"{path}.consecutiveLocalOriginFailures",
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        )
    check_duration(ctx, f"{path}.interval", od.interval)
    _percent(ctx, f"{path}.maxEjectionPercent", od.max_ejection_percent)
    _percent(ctx, f"{path}.minHealthPercent", od.min_health_percent)


def _connection_pool(ctx: ValidationContext, path: str, cp: ConnectionPoolSettings | None) -> None:
    if cp is None:
        return
    if cp.http is None and cp.tcp is None:
        ctx.error(path, "connection pool must have at least one field")
        return
    if (h := cp.http) is not None:
        p = f"{path}.http"
        for field, alias, label in (
            ("http1_max_pending_requests", "http1MaxPendingRequests", "http1 max pending requests"),
            ("http2_max_requests", "http2MaxRequests", "http2 max requests"),
            (
                "max_requests_per_connection",
                "maxRequestsPerConnection",
                "max requests per connection",
            ),
            ("max_retries", "maxRetries", "max retries"),
            ("max_concurrent_streams", "maxConcurrentStreams", "max concurrent streams"),
        ):
            if getattr(h, field) < 0:
                ctx.error(f"{p}.{alias}", f"{label} must be non-negative")
        check_duration(ctx, f"{p}.idleTimeout", h.idle_timeout)
        if h.h2_upgrade_policy == "UPGRADE" and h.use_client_protocol:
            ctx.error(
                f"{p}.useClientProtocol",
                "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
            )
    if (t := cp.tcp) is not None:
        p = f"{path}.tcp"
        if t.max_connections < 0:
            ctx.error(f"{p}.maxConnections", "max connections must be non-negative")
        check_duration(ctx, f"{p}.connectTimeout", t.connect_timeout)
        check_duration(ctx, f"{p}.maxConnectionDuration", t.max_connection_duration)
        # 0s turns the TCP idle timeout off, so it is allowed here
        if t.idle_timeout is None or _duration_or_none(t.idle_timeout) != 0:
            check_duration(ctx, f"{p}.idleTimeout", t.idle_timeout)
        if (ka := t.tcp_keepalive) is not None:
            check_duration(ctx, f"{p}.tcpKeepalive.time", ka.time)
            check_duration(ctx, f"{p}.tcpKeepalive.interval", ka.interval)


def _is_prime(x: int) -> bool:
    if x != 0 and x < 4:
        return True
    if x & 1 == 0:
        return False
    f = 3
    while f * f <= x:
        if x % f == 0:
            return False
        f += 2
    return True


def _localities(localities: Sequence[str]) -> str | None:
    tree: dict[str, dict[str, set[str]]] = {}
    for loc in localities:
        n = loc.count("*")
        if n and (n > 1 or not loc.endswith("*")):
            return f"locality {loc} wildcard '*' number can not exceed 1 and must be in the end"
        if "*" in tree:
            return f"locality {loc} overlap with previous specified ones"
        items = loc.split("/", 2)
        if any(not x for x in items):
            return f"locality {loc} must not contain empty region/zone/subzone info"
        region = items[0]
        if len(items) == 1:
            if region in tree:
                return f"locality {loc} overlap with previous specified ones"
            tree[region] = {"*": {"*"}}
        elif len(items) == 2:
            zones = tree.setdefault(region, {})
            if "*" in zones or items[1] in zones:
                return f"locality {loc} overlap with previous specified ones"
            zones[items[1]] = {"*"}
        else:
            zones = tree.setdefault(region, {})
            if "*" in zones:
                return f"locality {loc} overlap with previous specified ones"
            subs = zones.setdefault(items[1], set())
            if "*" in subs or items[2] in subs:
                return f"locality {loc} overlap with previous specified ones"
            subs.add(items[2])
    return None


def _locality_lb(
    ctx: ValidationContext,
    path: str,
    lb: LocalityLoadBalancerSetting | None,
    od: OutlierDetection | None,
) -> None:
    if lb is None:
        return
    if lb.distribute and lb.failover:
        ctx.error(path, "can not simultaneously specify 'distribute' and 'failover'")
        return
    if lb.failover and lb.failover_priority:
        for i, label in enumerate(lb.failover_priority):
            if label in _TOPOLOGY_LABELS:
                ctx.error(
                    f"{path}.failoverPriority[{i}]",
                    f"can not simultaneously set 'failover' and topology label '{label}' in 'failover_priority'",
                )
                return
    for i, d in enumerate(lb.distribute):
        p = f"{path}.distribute[{i}]"
        total = 0
        for loc, weight in d.to.items():
            if weight <= 0 or weight > 100:
                ctx.error(f"{p}.to.{loc}", "locality weight must be in range [1, 100]")
                return
            total += weight
        if total != 100:
            ctx.error(f"{p}.to", f"total locality weight {total} != 100")
            return
        _err(ctx, f"{p}.to", _localities(list(d.to)))
    _err(ctx, f"{path}.distribute", _localities([d.from_ for d in lb.distribute]))
    if (lb.failover or lb.failover_priority) and od is None:
        ctx.warn(path, "outlier detection policy must be provided for failover")
    for i, f in enumerate(lb.failover):
        p = f"{path}.failover[{i}]"
        if f.from_ == f.to:
            ctx.error(p, "locality lb failover settings must specify different regions")
        if "/" in f.from_ or "/" in f.to:
            ctx.error(p, "locality lb failover only specify region")
        if "*" in f.from_ or "*" in f.to:
            ctx.error(p, "locality lb failover region should not contain '*' wildcard")


def _load_balancer(
    ctx: ValidationContext, path: str, lb: LoadBalancerSettings | None, od: OutlierDetection | None
) -> None:
    if lb is None:
        return
    if lb.simple is not None and lb.consistent_hash is not None:
        ctx.error(path, "only one of simple or consistentHash may be set")
    if (ch := lb.consistent_hash) is not None:
        p = f"{path}.consistentHash"
        keys = [ch.http_header_name, ch.http_cookie, ch.use_source_ip, ch.http_query_parameter_name]
        if sum(k is not None for k in keys) > 1:
            ctx.error(
                p,
                "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set",
            )
        if ch.http_cookie is not None:
            if not ch.http_cookie.name:
                ctx.error(f"{p}.httpCookie.name", "name required for HttpCookie")
            check_duration_zero_ok(ctx, f"{p}.httpCookie.ttl", ch.http_cookie.ttl)
        if ch.ring_hash is not None and ch.maglev is not None:
            ctx.error(p, "only one of ringHash or maglev may be set")
        if ch.minimum_ring_size:
            ctx.warn(
                f"{p}.minimumRingSize",
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
            )
            if ch.ring_hash is not None or ch.maglev is not None:
                ctx.error(p, "only one of MinimumRingSize or Maglev/Ringhash can be specified")
        if (ml := ch.maglev) is not None:
            tp = f"{p}.maglev.tableSize"
            if ml.table_size == 0:
                ctx.error(tp, "tableSize must be set for maglev")
            if ml.table_size >= 5000011:
                ctx.error(tp, "tableSize must be less than 5000011 for maglev")
            if not _is_prime(ml.table_size):
                ctx.error(tp, "tableSize must be a prime number for maglev")
    _locality_lb(ctx, f"{path}.localityLbSetting", lb.locality_lb_setting, od)
    check_duration(ctx, f"{path}.warmupDurationSecs", lb.warmup_duration_secs)
    if (w := lb.warmup) is not None:
        if w.duration is None:
            ctx.error(f"{path}.warmup.duration", "duration is required")
        check_duration(ctx, f"{path}.warmup.duration", w.duration)
        if w.minimum_percent is not None and w.minimum_percent > 100:
            ctx.error(
                f"{path}.warmup.minimumPercent",
                "minimumPercent value should be less than or equal to 100",
            )
        if w.minimum_percent is not None and w.minimum_percent < 0:
            ctx.error(f"{path}.warmup.minimumPercent", "minimumPercent must not be negative")
        if w.aggression is not None and w.aggression < 1:
            ctx.error(
                f"{path}.warmup.aggression", "aggression should be greater than or equal to 1"
            )


def _duration_or_none(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def check_duration_zero_ok(ctx: ValidationContext, path: str, text: str | None) -> None:
    """A duration where 0 is meaningful (cookie TTL 0 = session cookie)."""
    if text is None:
        return
    try:
        if parse_duration(text) < 0:
            ctx.error(path, "duration must not be negative")
    except ValueError as e:
        ctx.error(path, str(e))


def _traffic_policy(ctx: ValidationContext, path: str, tp: TrafficPolicy | None) -> None:
    if tp is None:
        return
    if (
        tp.outlier_detection is None
        and tp.connection_pool is None
        and tp.load_balancer is None
        and tp.tls is None
        and not tp.port_level_settings
        and tp.tunnel is None
        and tp.proxy_protocol is None
        and tp.retry_budget is None
    ):
        ctx.error(path, "traffic policy must have at least one field")
        return
    if tp.tunnel is not None and tp.proxy_protocol is not None:
        ctx.error(path, "tunnel and proxyProtocol must not be set together")
        return
    _outlier(ctx, f"{path}.outlierDetection", tp.outlier_detection)
    _connection_pool(ctx, f"{path}.connectionPool", tp.connection_pool)
    _load_balancer(ctx, f"{path}.loadBalancer", tp.load_balancer, tp.outlier_detection)
    _client_tls(ctx, f"{path}.tls", tp.tls)
    for i, pl in enumerate(tp.port_level_settings):
        p = f"{path}.portLevelSettings[{i}]"
        if pl.port is None:
            ctx.error(f"{p}.port", "portTrafficPolicy must have valid port")
        else:
            _port_selector(ctx, f"{p}.port", pl.port)
        if (
            pl.outlier_detection is None
            and pl.connection_pool is None
            and pl.load_balancer is None
            and pl.tls is None
        ):
            ctx.error(p, "port traffic policy must have at least one field")
            continue
        _outlier(ctx, f"{p}.outlierDetection", pl.outlier_detection)
        _connection_pool(ctx, f"{p}.connectionPool", pl.connection_pool)
        _load_balancer(ctx, f"{p}.loadBalancer", pl.load_balancer, pl.outlier_detection)
        _client_tls(ctx, f"{p}.tls", pl.tls)
    if (tn := tp.tunnel) is not None:
        p = f"{path}.tunnel"
        if tn.protocol not in ("", "CONNECT", "POST"):
            ctx.error(f"{p}.protocol", 'tunnel protocol must be "CONNECT" or "POST"')
        fe, ie = fqdn(tn.target_host), ip_address(tn.target_host)
        if fe and ie:
            ctx.error(
                f"{p}.targetHost",
                f"tunnel target host must be valid FQDN or IP address: {fe}; {ie}",
            )
        pe = port(tn.target_port)
        if pe:
            ctx.error(f"{p}.targetPort", f"tunnel target port is invalid: {pe}")
    if (
        (rb := tp.retry_budget) is not None
        and rb.percent is not None
        and not 0 <= rb.percent <= 100
    ):
        ctx.error(f"{path}.retryBudget.percent", "retry budget percent must be in range [0, 100]")


def validate_destination_rule(spec: DestinationRule, ctx: ValidationContext) -> None:
    _err(ctx, "spec.host", wildcard_domain(spec.host))
    _traffic_policy(ctx, "spec.trafficPolicy", spec.traffic_policy)
    names: set[str] = set()
    for i, s in enumerate(spec.subsets):
        p = f"spec.subsets[{i}]"
        if s.name in names:
            ctx.error(f"{p}.name", f"duplicate subset names: {s.name}")
        names.add(s.name)
        _err(ctx, f"{p}.name", _subset_name(s.name))
        check_labels(ctx, f"{p}.labels", s.labels)
        _traffic_policy(ctx, f"{p}.trafficPolicy", s.traffic_policy)
    _export_to(
        ctx, "spec.exportTo", spec.export_to, dr_with_selector=spec.workload_selector is not None
    )
    _type_selector(ctx, "spec.workloadSelector", spec.workload_selector)


# ---------------------------------------------------------------------------- Gateway


def _server_tls(ctx: ValidationContext, path: str, tls: ServerTLSSettings | None) -> None:
    if tls is None:
        return
    if tls.min_protocol_version in ("TLSV1_0", "TLSV1_1") and not tls.cipher_suites:
        ctx.warn(
            f"{path}.minProtocolVersion",
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
        )
    invalid = sorted({c for c in tls.cipher_suites if c not in _CIPHER_SUITES})
    if invalid:
        ctx.warn(f"{path}.cipherSuites", f"ignoring invalid cipher suites: {invalid}")
    valid = [c for c in tls.cipher_suites if c in _CIPHER_SUITES]
    dup = sorted({c for c in valid if valid.count(c) > 1})
    if dup:
        ctx.warn(f"{path}.cipherSuites", f"ignoring duplicate cipher suites: {dup}")
    sources = sum(
        bool(x) for x in (tls.credential_name, tls.credential_names, tls.tls_certificates)
    )
    if sources > 1:
        ctx.error(path, "only one of credentialName, credentialNames or tlsCertificates may be set")
    if len(tls.credential_names) > 2:
        ctx.error(f"{path}.credentialNames", "at most 2 credentialNames may be set")
    if len(tls.tls_certificates) > 2:
        ctx.error(f"{path}.tlsCertificates", "at most 2 tlsCertificates may be set")
    has_cred = bool(tls.credential_name or tls.credential_names)
    if tls.mode == "ISTIO_MUTUAL":
        if tls.server_certificate:
            ctx.error(
                f"{path}.serverCertificate",
                "ISTIO_MUTUAL TLS cannot have associated server certificate",
            )
        if tls.private_key:
            ctx.error(f"{path}.privateKey", "ISTIO_MUTUAL TLS cannot have associated private key")
        if tls.ca_certificates:
            ctx.error(f"{path}.caCertificates", "ISTIO_MUTUAL TLS cannot have associated CA bundle")
        if has_cred:
            ctx.error(
                f"{path}.credentialName", "ISTIO_MUTUAL TLS cannot have associated credentialName"
            )
        return
    if tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH") and (
        tls.ca_crl or tls.server_certificate or tls.private_key or tls.ca_certificates or has_cred
    ):
        ctx.warn(path, f"{tls.mode} mode does not use certificates, they will be ignored")
    if tls.mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and has_cred:
        if tls.ca_crl:
            ctx.error(
                f"{path}.caCrl",
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
            )
        return
    has_certs = bool(tls.tls_certificates)
    if tls.mode == "SIMPLE" and not has_certs:
        if not tls.server_certificate:
            ctx.error(f"{path}.serverCertificate", "SIMPLE TLS requires a server certificate")
        if not tls.private_key:
            ctx.error(f"{path}.privateKey", "SIMPLE TLS requires a private key")
    elif tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        if not has_certs:
            if not tls.server_certificate:
                ctx.error(f"{path}.serverCertificate", "MUTUAL TLS requires a server certificate")
            if not tls.private_key:
                ctx.error(f"{path}.privateKey", "MUTUAL TLS requires a private key")
        if not tls.ca_certificates and not any(c.ca_certificates for c in tls.tls_certificates):
            ctx.error(f"{path}.caCertificates", "MUTUAL TLS requires a client CA bundle")
    if tls.ca_crl and tls.mode == "SIMPLE":
        ctx.error(f"{path}.caCrl", "CRL is not supported with SIMPLE TLS")


def _server_port(ctx: ValidationContext, path: str, p: Port | None, bind: str) -> bool:
    if p is None:
        ctx.error(path, "port is required")
        return False
    ok = True
    if parse_protocol(p.protocol) == "Unsupported":
        ctx.error(
            f"{path}.protocol",
            f"invalid protocol {p.protocol!r}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
        )
        ok = False
    if p.number > 0 or not bind.startswith(UNIX_PREFIX):
        err = port(p.number)
        if err:
            ctx.error(f"{path}.number", err)
            ok = False
    if p.target_port > 0:
        ctx.error(f"{path}.targetPort", "targetPort has no impact on Gateways")
        ok = False
    if not p.name:
        ctx.error(f"{path}.name", "port name must be set")
        ok = False
    return ok


def validate_gateway(spec: Gateway, ctx: ValidationContext) -> None:
    if not spec.servers:
        ctx.error("spec.servers", "gateway must have at least one server")
    port_names: set[str] = set()
    for i, s in enumerate(spec.servers):
        p = f"spec.servers[{i}]"
        if not s.hosts:
            ctx.error(f"{p}.hosts", "server config must contain at least one host")
        for j, h in enumerate(s.hosts):
            for msg in namespace_slash_hostname(h, is_gateway=True):
                ctx.error(f"{p}.hosts[{j}]", msg)
        port_ok = _server_port(ctx, f"{p}.port", s.port, s.bind)
        if s.bind.startswith(UNIX_PREFIX):
            _err(ctx, f"{p}.bind", unix_address(s.bind[len(UNIX_PREFIX) :]))
            if s.port is not None and s.port.number != 0:
                ctx.error(f"{p}.port.number", "port number must be 0 for unix domain socket")
        elif s.bind:
            _err(ctx, f"{p}.bind", ip_address(s.bind))
        _server_tls(ctx, f"{p}.tls", s.tls)
        if port_ok and s.port is not None:
            proto = parse_protocol(s.port.protocol)
            if proto in TLS_PROTOCOLS and s.tls is None:
                ctx.error(f"{p}.tls", "server must have TLS settings for HTTPS/TLS protocols")
            elif proto not in TLS_PROTOCOLS and s.tls is not None:
                if proto in HTTP_PROTOCOLS:
                    t = s.tls
                    if (
                        t.mode not in ("PASSTHROUGH", "AUTO_PASSTHROUGH")
                        or t.ca_certificates
                        or t.private_key
                        or t.server_certificate
                    ):
                        ctx.error(
                            f"{p}.tls", "server cannot have TLS settings for plain text HTTP ports"
                        )
                else:
                    ctx.error(f"{p}.tls", "server cannot have TLS settings for non HTTPS/TLS ports")
        if s.port is not None:
            if s.port.name in port_names:
                ctx.error(
                    f"{p}.port.name",
                    f"port names in servers must be unique: duplicate name {s.port.name}",
                )
            port_names.add(s.port.name)
            if (
                parse_protocol(s.port.protocol) not in HTTP_PROTOCOLS
                and s.tls is not None
                and s.tls.https_redirect
            ):
                ctx.warn(
                    f"{p}.tls.httpsRedirect",
                    "tls.httpsRedirect should only be used with http servers",
                )


# ---------------------------------------------------------------------------- ServiceEntry, WorkloadEntry


def _workload_entry(
    ctx: ValidationContext,
    path: str,
    we: WorkloadEntry,
    service_ports: set[str] | None,
    allow_fqdn: bool,
) -> None:
    addr = we.address
    if not addr:
        if not we.network:
            ctx.error(f"{path}.address", "address is required")
            return
        ctx.warn(f"{path}.address", f"address is unset with network {we.network!r}")
    unix = addr.startswith(UNIX_PREFIX)
    if unix:
        _err(ctx, f"{path}.address", unix_address(addr[len(UNIX_PREFIX) :]))
        if we.ports:
            ctx.error(f"{path}.ports", f"unix endpoint {addr} must not include ports")
    elif addr and not is_ip(addr):
        if not allow_fqdn:
            ctx.error(f"{path}.address", f"endpoint address {addr!r} is not a valid IP address")
        elif fqdn(addr):
            ctx.error(
                f"{path}.address", f"endpoint address {addr!r} is not a valid FQDN or an IP address"
            )
    for name, number in we.ports.items():
        pp = f"{path}.ports.{name}"
        if service_ports is not None and name not in service_ports:
            ctx.error(pp, f"endpoint port {number} is not defined by the service entry")
        _err(ctx, pp, _port_name(name))
        _err(ctx, pp, port(number))
    check_labels(ctx, f"{path}.labels", we.labels)
    if unix and service_ports is not None and len(service_ports) != 1:
        ctx.error(path, "exactly 1 service port required for unix endpoints")


def validate_workload_entry(spec: WorkloadEntry, ctx: ValidationContext) -> None:
    _workload_entry(ctx, "spec", spec, None, True)


def validate_service_entry(spec: ServiceEntry, ctx: ValidationContext) -> None:
    _alpha_selector(ctx, "spec.workloadSelector", spec.workload_selector, "service entry")
    if spec.workload_selector is not None and spec.endpoints:
        ctx.error("spec", "only one of WorkloadSelector or Endpoints is allowed in Service Entry")
    if not spec.hosts:
        ctx.error("spec.hosts", "service entry must have at least one host")
    for i, h in enumerate(spec.hosts):
        if h == "*":
            ctx.error(f"spec.hosts[{i}]", f"invalid host {h}")
        else:
            _err(ctx, f"spec.hosts[{i}]", wildcard_domain(h))
            pw = partial_wildcard(h)
            if pw:
                ctx.warn(f"spec.hosts[{i}]", pw)
    cidr = False
    for i, a in enumerate(spec.addresses):
        cidr = cidr or "/" in a
        _err(ctx, f"spec.addresses[{i}]", ip_subnet(a))
    if cidr and spec.resolution not in ("NONE", "STATIC"):
        ctx.error(
            "spec.resolution", "CIDR addresses are allowed only for NONE/STATIC resolution types"
        )
    names: set[str] = set()
    numbers: set[int] = set()
    for i, sp in enumerate(spec.ports):
        p = f"spec.ports[{i}]"
        if sp.name in names:
            ctx.error(f"{p}.name", f"service entry port name {sp.name!r} already defined")
        names.add(sp.name)
        if sp.number in numbers:
            ctx.error(f"{p}.number", f"service entry port {sp.number} already defined")
        numbers.add(sp.number)
        if sp.target_port:
            _err(ctx, f"{p}.targetPort", port(sp.target_port))
            if spec.resolution == "NONE":
                ctx.warn(f"{p}.targetPort", "targetPort has no effect when resolution mode is NONE")
        if not spec.addresses and sp.protocol in ("", "TCP"):
            ctx.warn(
                p,
                "addresses are required for ports serving TCP (or unset) protocol when ISTIO_META_DNS_AUTO_ALLOCATE is not set on a proxy",
            )
        _err(ctx, f"{p}.name", _port_name(sp.name))
        _err(ctx, f"{p}.protocol", _protocol(sp.protocol))
        _err(ctx, f"{p}.number", port(sp.number))
    res = spec.resolution
    if res == "NONE":
        if spec.endpoints:
            ctx.error("spec.endpoints", "no endpoints should be provided for resolution type none")
        if spec.workload_selector is not None:
            ctx.warn(
                "spec.workloadSelector",
                "workloadSelector should not be set when resolution mode is NONE",
            )
    elif res == "STATIC":
        for i, ep in enumerate(spec.endpoints):
            _workload_entry(ctx, f"spec.endpoints[{i}]", ep, names, False)
    else:  # DNS, DNS_ROUND_ROBIN
        if not spec.endpoints:
            for i, h in enumerate(spec.hosts):
                if h != "*" and fqdn(h):
                    ctx.error(
                        f"spec.hosts[{i}]",
                        f"hosts must be FQDN if no endpoints are provided for resolution mode {res}",
                    )
        if res == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
            ctx.error(
                "spec.endpoints", f"there must only be 0 or 1 endpoint for resolution mode {res}"
            )
        for i, ep in enumerate(spec.endpoints):
            p = f"spec.endpoints[{i}]"
            if not is_ip(ep.address) and fqdn(ep.address):
                ctx.error(
                    f"{p}.address",
                    f"endpoint address {ep.address!r} is not a valid FQDN or an IP address",
                )
            check_labels(ctx, f"{p}.labels", ep.labels)
            for name, number in ep.ports.items():
                pp = f"{p}.ports.{name}"
                if name not in names:
                    ctx.error(pp, f"endpoint port {number} is not defined by the service entry")
                _err(ctx, pp, _port_name(name))
                _err(ctx, pp, port(number))
        if spec.workload_selector is not None:
            ctx.warn(
                "spec.workloadSelector",
                f"workloadSelector should not be set when resolution mode is {res}",
            )
        if (
            spec.addresses
            and len(spec.hosts) > 1
            and any(parse_protocol(sp.protocol) in TCP_PROTOCOLS for sp in spec.ports)
        ):
            ctx.warn(
                "spec.hosts",
                "service entry can not have more than one host specified simultaneously with address and tcp port",
            )
    if res != "NONE" and len(spec.hosts) > 1:
        for i, sp in enumerate(spec.ports):
            proto = parse_protocol(sp.protocol)
            if proto not in HTTP_PROTOCOLS and proto not in TLS_PROTOCOLS:
                ctx.error(
                    f"spec.ports[{i}].protocol",
                    "multiple hosts provided with non-HTTP, non-TLS ports",
                )
                break
    _export_to(ctx, "spec.exportTo", spec.export_to, service_entry=True)


def validate_workload_group(spec: WorkloadGroup, ctx: ValidationContext) -> None:
    if spec.template is None:
        ctx.error("spec.template", "template is required")
    else:
        # address is filled in per workload; only the parts a template may carry are checked
        t = spec.template
        for name, number in t.ports.items():
            _err(ctx, f"spec.template.ports.{name}", _port_name(name))
            _err(ctx, f"spec.template.ports.{name}", port(number))
        check_labels(ctx, "spec.template.labels", t.labels)
    if spec.metadata is not None:
        check_labels(ctx, "spec.metadata.labels", spec.metadata.labels)
    if (pr := spec.probe) is None:
        return
    p = "spec.probe"
    for field, alias in (
        ("period_seconds", "periodSeconds"),
        ("initial_delay_seconds", "initialDelaySeconds"),
        ("timeout_seconds", "timeoutSeconds"),
        ("success_threshold", "successThreshold"),
        ("failure_threshold", "failureThreshold"),
    ):
        if getattr(pr, field) < 0:
            ctx.error(f"{p}.{alias}", f"{alias} must be non-negative")
    methods = [m for m in (pr.http_get, pr.tcp_socket, pr.exec, pr.grpc) if m is not None]
    if len(methods) > 1:
        ctx.error(p, "only one of httpGet, tcpSocket, exec or grpc may be set")
    if pr.http_get is not None:
        h = pr.http_get
        _err(ctx, f"{p}.httpGet.port", port(h.port))
        if h.scheme and h.scheme not in ("HTTP", "HTTPS"):
            ctx.error(f"{p}.httpGet.scheme", 'httpGet.scheme must be one of "HTTPS", "HTTP"')
        for i, hd in enumerate(h.http_headers):
            _err(ctx, f"{p}.httpGet.httpHeaders[{i}].name", header_name(hd.name))
    elif pr.tcp_socket is not None:
        _err(ctx, f"{p}.tcpSocket.port", port(pr.tcp_socket.port))
    elif pr.exec is not None:
        if not pr.exec.command:
            ctx.error(f"{p}.exec.command", "exec.command is required")
    elif pr.grpc is not None:
        _err(ctx, f"{p}.grpc.port", port(pr.grpc.port))
    else:
        ctx.error(
            p, "unknown health check method: one of httpGet, tcpSocket, exec or grpc is required"
        )


# ---------------------------------------------------------------------------- Sidecar


def _sidecar_port(ctx: ValidationContext, path: str, sp: SidecarPort) -> None:
    if sp.name:
        _err(ctx, f"{path}.name", _port_name(sp.name))
    _err(ctx, f"{path}.protocol", _protocol(sp.protocol))


def validate_sidecar(spec: Sidecar, ctx: ValidationContext) -> None:
    _alpha_selector(ctx, "spec.workloadSelector", spec.workload_selector, "sidecar")
    if (
        not spec.egress
        and not spec.ingress
        and spec.outbound_traffic_policy is None
        and spec.inbound_connection_pool is None
    ):
        ctx.error("spec", "sidecar: empty configuration provided")
        return
    ports: set[int] = set()
    for i, ing in enumerate(spec.ingress):
        p = f"spec.ingress[{i}]"
        if ing.port is None:
            ctx.error(f"{p}.port", "sidecar: port is required for ingress listeners")
            continue
        if ing.port.target_port > 0:
            ctx.error(f"{p}.port.targetPort", "targetPort has no impact on Sidecars")
        _sidecar_port(ctx, f"{p}.port", ing.port)
        _err(ctx, f"{p}.port.number", port(ing.port.number))
        if ing.bind:
            _err(ctx, f"{p}.bind", ip_address(ing.bind))
        if ing.port.number in ports:
            ctx.error(f"{p}.port.number", "sidecar: ports on IP bound listeners must be unique")
        ports.add(ing.port.number)
        if ing.default_endpoint:
            _default_endpoint(ctx, f"{p}.defaultEndpoint", ing.default_endpoint)
        if (t := ing.tls) is not None:
            tp = f"{p}.tls"
            if t.subject_alt_names:
                ctx.error(
                    f"{tp}.subjectAltNames",
                    "sidecar: subjectAltNames is not supported in ingress tls",
                )
            if t.https_redirect:
                ctx.error(f"{tp}.httpsRedirect", "sidecar: httpsRedirect is not supported")
            if t.credential_name:
                ctx.error(
                    f"{tp}.credentialName", "sidecar: credentialName is not currently supported"
                )
            if t.mode in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
                ctx.error(
                    f"{tp}.mode",
                    f"configuration is invalid: cannot set mode to {t.mode} in sidecar ingress tls",
                )
            _server_tls(ctx, tp, t)
        _connection_pool(ctx, f"{p}.connectionPool", ing.connection_pool)
        if (
            ing.connection_pool is not None
            and ing.connection_pool.http is not None
            and parse_protocol(ing.port.protocol) not in HTTP_PROTOCOLS
        ):
            ctx.warn(
                f"{p}.connectionPool.http",
                f"sidecar: HTTP connection pool settings are configured for port {ing.port.number} "
                f"({ing.port.name!r}) but its protocol is not HTTP ({ing.port.protocol}); only TCP settings will apply",
            )
    _connection_pool(ctx, "spec.inboundConnectionPool", spec.inbound_connection_pool)

    ports = set()
    uds: set[str] = set()
    catch_all = False
    for i, eg in enumerate(spec.egress):
        p = f"spec.egress[{i}]"
        if eg.port is None:
            if catch_all:
                ctx.error(f"{p}.port", "sidecar: egress can have only one listener with empty port")
                continue
            if i == len(spec.egress) - 1:
                catch_all = True
            else:
                ctx.error(
                    f"{p}.port",
                    "sidecar: the egress listener with empty port should be the last listener in the list",
                )
        else:
            if eg.port.target_port > 0:
                ctx.error(f"{p}.port.targetPort", "targetPort has no impact on Sidecars")
            _sidecar_port(ctx, f"{p}.port", eg.port)
            if eg.port.number == 0:
                if not eg.bind.startswith(UNIX_PREFIX):
                    ctx.error(
                        f"{p}.bind",
                        "sidecar: ports with 0 value must have a unix domain socket bind address",
                    )
                else:
                    _err(ctx, f"{p}.bind", unix_address(eg.bind[len(UNIX_PREFIX) :]))
                if eg.capture_mode not in ("DEFAULT", "NONE"):
                    ctx.error(
                        f"{p}.captureMode",
                        "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
                    )
                if eg.bind in uds:
                    ctx.error(
                        f"{p}.bind",
                        "sidecar: unix domain socket values for listeners must be unique",
                    )
                uds.add(eg.bind)
            else:
                _err(ctx, f"{p}.port.number", port(eg.port.number))
                if eg.bind:
                    _err(ctx, f"{p}.bind", ip_address(eg.bind))
                if eg.port.number in ports:
                    ctx.error(
                        f"{p}.port.number", "sidecar: ports on IP bound listeners must be unique"
                    )
                ports.add(eg.port.number)
        if not eg.hosts:
            ctx.error(f"{p}.hosts", "sidecar: egress listener must contain at least one host")
            continue
        by_ns: dict[str, set[str]] = {}
        for j, h in enumerate(eg.hosts):
            hp = f"{p}.hosts[{j}]"
            ns, slash, svc = h.partition("/")
            if slash:
                if ns == ".":
                    ns = ctx.namespace
                known = by_ns.setdefault(ns, set())
                if (svc != "*" and (svc in known or "*" in known)) or (svc == "*" and known):
                    ctx.warn(hp, f"duplicated egress host: {h}")
                known.add(svc)
            for msg in namespace_slash_hostname(h, is_gateway=False):
                ctx.error(hp, msg)
        if "*" in by_ns.get("*", set()) and len(by_ns) != 1:
            ctx.warn(f"{p}.hosts", "`*/*` host select all resources, no other hosts can be added")
    if (otp := spec.outbound_traffic_policy) is not None and otp.egress_proxy is not None:
        p = "spec.outboundTrafficPolicy.egressProxy"
        if otp.mode != "ALLOW_ANY":
            ctx.error(
                p,
                "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
            )
        else:
            _err(ctx, f"{p}.host", fqdn(otp.egress_proxy.host))
            if otp.egress_proxy.port is None:
                ctx.error(f"{p}.port", "sidecar: egress_proxy port must be non-nil")
            else:
                _destination(ctx, p, otp.egress_proxy)


def _default_endpoint(ctx: ValidationContext, path: str, ep: str) -> None:
    if ep.startswith(UNIX_PREFIX):
        _err(ctx, path, unix_address(ep[len(UNIX_PREFIX) :]))
        return
    host, sep, port_s = ep.rpartition(":")
    if not sep:
        ctx.error(path, f"address {ep}: missing port in address")
        return
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        ctx.error(path, f"address {ep}: too many colons in address")
        return
    if host and host not in ("127.0.0.1", "0.0.0.0", "::1", "::"):
        ctx.error(
            path,
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset",
        )
    if not port_s.lstrip("-").isdigit():
        ctx.error(path, f"sidecar: defaultEndpoint port ({port_s}) is not a number")
    else:
        _err(ctx, path, port(int(port_s)))


# ---------------------------------------------------------------------------- EnvoyFilter, ProxyConfig

_LISTENER_CLASS = frozenset({"LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER"})
_ROUTE_CLASS = frozenset({"ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE"})
_HCM = "envoy.filters.network.http_connection_manager"
_DEPRECATED_FILTER_NAMES = {
    "envoy.http_connection_manager": _HCM,
    "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
    "envoy.router": "envoy.filters.http.router",
    "envoy.cors": "envoy.filters.http.cors",
    "envoy.fault": "envoy.filters.http.fault",
    "envoy.lua": "envoy.filters.http.lua",
    "envoy.ext_authz": "envoy.filters.http.ext_authz",
    "envoy.rate_limit": "envoy.filters.http.ratelimit",
    "envoy.gzip": "envoy.filters.http.gzip",
    "envoy.grpc_web": "envoy.filters.http.grpc_web",
    "envoy.health_check": "envoy.filters.http.health_check",
    "envoy.buffer": "envoy.filters.http.buffer",
    "envoy.filters.http.jwt_authn": "envoy.filters.http.jwt_authn",
    "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
    "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
    "envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
}


def validate_envoy_filter(spec: EnvoyFilter, ctx: ValidationContext) -> None:
    ctx.warn(
        "spec",
        "EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.",
    )
    _alpha_selector(ctx, "spec.workloadSelector", spec.workload_selector, "Envoy filter")
    if spec.workload_selector is not None and spec.target_refs:
        ctx.error("spec", "only one of targetRefs or workloadSelector can be set")
    for i, ref in enumerate(spec.target_refs):
        p = f"spec.targetRefs[{i}]"
        if not ref.name:
            ctx.error(f"{p}.name", "targetRef name must be set")
        if ref.namespace:
            ctx.error(
                f"{p}.namespace",
                "targetRef namespace must not be set; cross namespace referencing is not supported",
            )
        group = ref.group or "core"
        if (group, ref.kind) not in (
            ("core", "Service"),
            ("networking.istio.io", "ServiceEntry"),
            ("gateway.networking.k8s.io", "Gateway"),
        ):
            ctx.error(
                p,
                f"targetRef must be to one of Service, ServiceEntry, gateway.networking.k8s.io/Gateway but was {ref.group}/{ref.kind}",
            )
    for i, cp in enumerate(spec.config_patches):
        p = f"spec.configPatches[{i}]"
        if cp.apply_to == "INVALID":
            ctx.error(f"{p}.applyTo", "Envoy filter: missing applyTo")
            continue
        if cp.patch is None:
            ctx.error(f"{p}.patch", "Envoy filter: missing patch")
            continue
        if cp.patch.operation == "INVALID":
            ctx.error(f"{p}.patch.operation", "Envoy filter: missing patch operation")
            continue
        if cp.patch.operation != "REMOVE" and cp.patch.value is None:
            ctx.error(
                f"{p}.patch.value", "Envoy filter: missing patch value for non-remove operation"
            )
            continue
        m = cp.match
        if m is not None and m.proxy is not None and m.proxy.proxy_version:
            err = regex_error(m.proxy.proxy_version)
            if err:
                ctx.error(
                    f"{p}.match.proxy.proxyVersion",
                    f"Envoy filter: invalid regex for proxy version, [{err}]",
                )
                continue
        if m is not None:
            kinds = [x is not None for x in (m.listener, m.route_configuration, m.cluster)]
            if sum(kinds) > 1:
                ctx.error(
                    f"{p}.match", "only one of listener, routeConfiguration or cluster may be set"
                )
        has_object = m is not None and (
            m.listener is not None or m.route_configuration is not None or m.cluster is not None
        )
        if cp.apply_to in _LISTENER_CLASS and has_object:
            assert m is not None
            if m.listener is None:
                ctx.error(
                    f"{p}.match",
                    "Envoy filter: applyTo for listener class objects cannot have non listener match",
                )
                continue
            fc = m.listener.filter_chain
            if fc is not None and fc.filter is not None:
                fp = f"{p}.match.listener.filterChain.filter"
                if cp.apply_to in ("LISTENER", "FILTER_CHAIN"):
                    ctx.warn(
                        fp, f"Envoy filter: filter match has no effect when used with {cp.apply_to}"
                    )
                if not fc.filter.name:
                    ctx.error(f"{fp}.name", "Envoy filter: filter match has no name to match on")
                    continue
                if fc.filter.sub_filter is not None:
                    if cp.apply_to != "HTTP_FILTER":
                        ctx.error(
                            f"{fp}.subFilter",
                            "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only",
                        )
                        continue
                    if fc.filter.name not in (_HCM, "envoy.http_connection_manager"):
                        ctx.error(
                            f"{fp}.subFilter",
                            f"Envoy filter: subfilter match requires filter match with {_HCM}",
                        )
                        continue
                    if not fc.filter.sub_filter.name:
                        ctx.error(
                            f"{fp}.subFilter.name",
                            "Envoy filter: subfilter match has no name to match on",
                        )
                        continue
                for name, where in (
                    (fc.filter.name, f"{fp}.name"),
                    (
                        fc.filter.sub_filter.name if fc.filter.sub_filter else "",
                        f"{fp}.subFilter.name",
                    ),
                ):
                    new = _DEPRECATED_FILTER_NAMES.get(name)
                    if new and new != name:
                        ctx.warn(
                            where, f"using deprecated filter name {name!r}; use {new!r} instead"
                        )
        elif cp.apply_to in _ROUTE_CLASS and has_object:
            assert m is not None
            if m.route_configuration is None:
                ctx.error(
                    f"{p}.match",
                    "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
                )
        elif cp.apply_to == "CLUSTER" and has_object:
            assert m is not None
            if m.cluster is None:
                ctx.error(
                    f"{p}.match",
                    "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
                )
        if cp.patch.filter_class != "UNSPECIFIED" and (
            cp.apply_to != "HTTP_FILTER" or cp.patch.operation != "ADD"
        ):
            ctx.warn(
                f"{p}.patch.filterClass",
                "filterClass is only used with applyTo HTTP_FILTER and operation ADD",
            )
        if cp.patch.value is not None:
            _check_patch_value(ctx, f"{p}.patch.value", cp.apply_to, cp.patch.value)


def _check_patch_value(ctx: ValidationContext, path: str, apply_to: str, value: Any) -> None:
    """The value must describe the applyTo's Envoy message (unknown ``@type``, wrong field
    types: error); unknown fields only warn, as Istio (they may be newer Envoy fields)."""
    from lateen.api._net_ef_value import PatchValueError, patch_value_message

    try:
        patch_value_message(apply_to, value)
    except PatchValueError as e:
        ctx.error(path, str(e))
        return
    try:
        patch_value_message(apply_to, value, strict=True)
    except PatchValueError as e:
        ctx.warn(path, str(e))


def validate_proxy_config(spec: ProxyConfig, ctx: ValidationContext) -> None:
    _type_selector(ctx, "spec.selector", spec.selector)
    if spec.concurrency is not None and spec.concurrency < 0:
        ctx.error("spec.concurrency", "concurrency must be greater than or equal to 0")
