"""Route configurers: each sets one Envoy concern on a Route built from a VirtualService
HTTPRoute (or the default route). A configurer is ``(route, ctx) -> None``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.type.matcher.v3 import regex_pb2
from google.protobuf import wrappers_pb2

from lateen.api import parse_duration
from lateen.api._object import ConfigObject
from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds._util import duration, pack
from lateen.xds.route._hash import configure_hash_policy

__all__ = [
    "DEFAULT_RETRY_ON",
    "DEFAULT_ROUTE_CONFIGURERS",
    "RouteConfigurer",
    "RouteContext",
    "configure_headers",
    "configure_retries",
    "configure_rewrite",
    "configure_timeout",
    "default_retry_policy",
]

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"


@dataclass(frozen=True, slots=True)
class RouteContext:
    proxy: Proxy
    push: PushContext
    virtual_service: ConfigObject | None  # None for the default route
    http_route: Any  # lateen.api.networking.HTTPRoute, or None for the default route
    listener_port: int
    gateway: str  # "mesh" or "ns/name"


RouteConfigurer = Callable[[rc.Route, RouteContext], None]


def default_retry_policy(
    attempts: int = 2, retry_on: str = DEFAULT_RETRY_ON, per_try_timeout: float | None = None
) -> rc.RetryPolicy:
    """Istio's retry policy: ``attempts`` retries on ``retry_on``, 503 retriable, avoiding the
    previous hosts for 5 host selection attempts."""
    codes: list[int] = [503]
    parts = []
    for part in retry_on.split(","):
        part = part.strip()
        if part.isdigit():
            codes.append(int(part))
        elif part:
            parts.append(part)
    if "retriable-status-codes" not in parts:
        parts.append("retriable-status-codes")
    policy = rc.RetryPolicy(
        retry_on=",".join(parts),
        num_retries=wrappers_pb2.UInt32Value(value=attempts),
        retry_host_predicate=[
            rc.RetryPolicy.RetryHostPredicate(
                name=PREVIOUS_HOSTS, typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate())
            )
        ],
        host_selection_retry_max_attempts=5,
        retriable_status_codes=sorted(set(codes)),
    )
    if per_try_timeout:
        policy.per_try_timeout.CopyFrom(duration(per_try_timeout))
    return policy


def configure_retries(route: rc.Route, ctx: RouteContext) -> None:
    """The VirtualService's ``retries``, or Istio's default policy when unset; ``attempts: 0``
    disables retries."""
    if not route.HasField("route"):
        return
    retries = getattr(ctx.http_route, "retries", None)
    if retries is None:
        route.route.retry_policy.CopyFrom(default_retry_policy())
        return
    if not retries.attempts:
        return
    per_try = parse_duration(retries.per_try_timeout) if retries.per_try_timeout else None
    policy = default_retry_policy(retries.attempts, retries.retry_on or DEFAULT_RETRY_ON, per_try)
    if retries.retry_ignore_previous_hosts is False:
        del policy.retry_host_predicate[:]
    route.route.retry_policy.CopyFrom(policy)


def configure_timeout(route: rc.Route, ctx: RouteContext) -> None:
    """Route timeout: the VirtualService's ``timeout``, else 0s (none), as Istio sets it."""
    if not route.HasField("route"):
        return
    timeout = getattr(ctx.http_route, "timeout", None)
    route.route.timeout.CopyFrom(duration(parse_duration(timeout) if timeout else 0.0))


def configure_rewrite(route: rc.Route, ctx: RouteContext) -> None:
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
        if route.match.path:
            route.route.regex_rewrite.CopyFrom(
                regex_pb2.RegexMatchAndSubstitute(
                    pattern=regex_pb2.RegexMatcher(regex=".*"), substitution=rewrite.uri
                )
            )
        else:
            route.route.prefix_rewrite = rewrite.uri
    if rewrite.authority:
        route.route.host_rewrite_literal = rewrite.authority


def _header_ops(ops: Any) -> tuple[list[base_pb2.HeaderValueOption], list[str]]:
    add = []
    for k, v in sorted(ops.set.items()):
        add.append(
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=k, value=v),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            )
        )
    for k, v in sorted(ops.add.items()):
        add.append(
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=k, value=v),
                append_action=base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD,
            )
        )
    return add, list(ops.remove)


def configure_headers(route: rc.Route, ctx: RouteContext) -> None:
    headers = getattr(ctx.http_route, "headers", None)
    if headers is None:
        return
    if headers.request is not None:
        add, remove = _header_ops(headers.request)
        route.request_headers_to_add.extend(add)
        route.request_headers_to_remove.extend(remove)
    if headers.response is not None:
        add, remove = _header_ops(headers.response)
        route.response_headers_to_add.extend(add)
        route.response_headers_to_remove.extend(remove)


DEFAULT_ROUTE_CONFIGURERS: tuple[RouteConfigurer, ...] = (
    configure_timeout,
    configure_retries,
    configure_rewrite,
    configure_headers,
    configure_hash_policy,  # DestinationRule consistentHash of the destinations
)
