"""MeshConfig ``extensionProviders`` -> Envoy ext_authz filters (the CUSTOM action), pure.

``envoyExtAuthzHttp`` gives the HTTP ext_authz filter with an ``http_service``;
``envoyExtAuthzGrpc`` gives the HTTP filter with a ``grpc_service`` and the network ext_authz
filter for TCP chains. The provider's ``service`` (``[<namespace>/]<hostname>``, a short name
resolved in the namespace or the root namespace) must be a known service; the filter calls
the outbound cluster ``outbound|<port>||<host>``. Both filters are enabled only for requests
a CUSTOM rule matched: the RBAC filter in front records the matching policy's name
(``istio-ext-authz-...``) in its dynamic metadata, which ``filter_enabled_metadata`` checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envoy.config.core.v3 import base_pb2, grpc_service_pb2, http_uri_pb2
from envoy.config.core.v3 import config_source_pb2 as cs
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2 as http_ea
from envoy.extensions.filters.network.ext_authz.v3 import ext_authz_pb2 as tcp_ea
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from envoy.type.v3 import http_status_pb2

from lateen.api import parse_duration
from lateen.model._push_context import PushContext
from lateen.xds import names
from lateen.xds._util import duration

__all__ = [
    "EXT_AUTHZ_HTTP_FILTER",
    "EXT_AUTHZ_MATCH_PREFIX",
    "EXT_AUTHZ_SHADOW_STAT_PREFIX",
    "EXT_AUTHZ_TCP_FILTER",
    "BuiltExtAuthz",
    "ExtensionProviderError",
    "build_ext_authz",
]

EXT_AUTHZ_HTTP_FILTER = "envoy.filters.http.ext_authz"
EXT_AUTHZ_TCP_FILTER = "envoy.filters.network.ext_authz"
RBAC_HTTP_FILTER = "envoy.filters.http.rbac"
RBAC_TCP_FILTER = "envoy.filters.network.rbac"
EXT_AUTHZ_MATCH_PREFIX = "istio-ext-authz"
EXT_AUTHZ_SHADOW_STAT_PREFIX = "istio_ext_authz_"
_DEFAULT_TIMEOUT = 600.0  # Istio's: the DestinationRule's timeout is the real one


class ExtensionProviderError(ValueError):
    """The provider named by a CUSTOM policy is missing or unusable."""


@dataclass(frozen=True, slots=True)
class BuiltExtAuthz:
    http: http_ea.ExtAuthz
    tcp: tcp_ea.ExtAuthz | None  # gRPC providers only


def _enabled_metadata(rbac_filter: str) -> metadata_pb2.MetadataMatcher:
    """True once the CUSTOM shadow rules matched (their policy names start with
    ``istio-ext-authz``)."""
    return metadata_pb2.MetadataMatcher(
        filter=rbac_filter,
        path=[
            metadata_pb2.MetadataMatcher.PathSegment(
                key=f"{EXT_AUTHZ_SHADOW_STAT_PREFIX}shadow_effective_policy_id"
            )
        ],
        value=value_pb2.ValueMatcher(
            string_match=string_pb2.StringMatcher(prefix=EXT_AUTHZ_MATCH_PREFIX)
        ),
    )


def _find(providers: tuple[Mapping[str, Any], ...], name: str) -> Mapping[str, Any]:
    found = [p for p in providers if p.get("name") == name]
    if not found:
        known = sorted(str(p.get("name")) for p in providers)
        raise ExtensionProviderError(
            f"extension provider {name!r} not found in meshConfig.extensionProviders "
            f"(known: {', '.join(known) or 'none'})"
        )
    return found[0]


def _cluster(push: PushContext, proxy_ns: str, service: str, port: Any, where: str) -> tuple[str, str]:
    """(hostname, outbound cluster) of the provider's service."""
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ExtensionProviderError(f"{where}.port: must be in 1..65535, found {port!r}")
    if not service:
        raise ExtensionProviderError(f"{where}.service: must not be empty")
    ns, sep, host = service.partition("/")
    if not sep:
        ns, host = "", service
    cands = [push.resolve_host(host, n) for n in (ns, proxy_ns, push.mesh.root_namespace) if n]
    cands.append(host)
    for h in cands:
        svcs = push.services_by_hostname(h)
        if svcs and (not ns or any(s.namespace == ns for s in svcs)):
            return h, names.outbound_cluster_name(port, "", h)
    raise ExtensionProviderError(f"{where}.service: no service {service!r} in the registry")


def _status(value: Any, where: str) -> http_status_pb2.HttpStatus | None:
    if value in (None, ""):
        return None
    try:
        code = int(str(value))
    except ValueError:
        raise ExtensionProviderError(f"{where}.statusOnError: invalid {value!r}") from None
    if code not in http_status_pb2.StatusCode.values():
        raise ExtensionProviderError(f"{where}.statusOnError: unsupported status {code}")
    return http_status_pb2.HttpStatus(code=code)


def _timeout(value: Any, where: str) -> float:
    if value in (None, ""):
        return _DEFAULT_TIMEOUT
    try:
        return parse_duration(str(value))
    except ValueError as e:
        raise ExtensionProviderError(f"{where}.timeout: {e}") from None


def _exact_list(headers: Any) -> list[string_pb2.StringMatcher]:
    return [string_pb2.StringMatcher(exact=str(h)) for h in headers or ()]


def _body(raw: Any) -> http_ea.BufferSettings | None:
    if not isinstance(raw, Mapping):
        return None
    return http_ea.BufferSettings(
        max_request_bytes=int(raw.get("maxRequestBytes") or 0),
        allow_partial_message=bool(raw.get("allowPartialMessage", False)),
        pack_as_bytes=bool(raw.get("packAsBytes", False)),
    )


def _http_provider(push: PushContext, proxy_ns: str, cfg: Mapping[str, Any], where: str) -> BuiltExtAuthz:
    host, cluster = _cluster(push, proxy_ns, str(cfg.get("service") or ""), cfg.get("port"), where)
    prefix = str(cfg.get("pathPrefix") or "")
    if prefix and not prefix.startswith("/"):
        raise ExtensionProviderError(f"{where}.pathPrefix: must begin with '/', found {prefix!r}")
    service = http_ea.HttpService(
        path_prefix=prefix,
        server_uri=http_uri_pb2.HttpUri(
            uri=f"http://{host}", cluster=cluster, timeout=duration(_timeout(cfg.get("timeout"), where))
        ),
    )
    extra = cfg.get("includeAdditionalHeadersInCheck") or {}
    if extra:
        service.authorization_request.headers_to_add.extend(
            base_pb2.HeaderValue(key=str(k), value=str(v)) for k, v in sorted(extra.items())
        )
    upstream = _exact_list(cfg.get("headersToUpstreamOnAllow"))
    downstream = _exact_list(cfg.get("headersToDownstreamOnDeny"))
    on_allow = _exact_list(cfg.get("headersToDownstreamOnAllow"))
    if upstream:
        service.authorization_response.allowed_upstream_headers.patterns.extend(upstream)
    if downstream:
        service.authorization_response.allowed_client_headers.patterns.extend(downstream)
    if on_allow:
        service.authorization_response.allowed_client_headers_on_success.patterns.extend(on_allow)
    ext = http_ea.ExtAuthz(
        http_service=service,
        failure_mode_allow=bool(cfg.get("failOpen", False)),
        transport_api_version=cs.V3,
        filter_enabled_metadata=_enabled_metadata(RBAC_HTTP_FILTER),
    )
    status = _status(cfg.get("statusOnError"), where)
    if status is not None:
        ext.status_on_error.CopyFrom(status)
    allowed = _exact_list(cfg.get("includeRequestHeadersInCheck"))
    if allowed:
        ext.allowed_headers.patterns.extend(allowed)
    body = _body(cfg.get("includeRequestBodyInCheck"))
    if body is not None:
        ext.with_request_body.CopyFrom(body)
    return BuiltExtAuthz(http=ext, tcp=None)


def _grpc_provider(push: PushContext, proxy_ns: str, cfg: Mapping[str, Any], where: str) -> BuiltExtAuthz:
    _, cluster = _cluster(push, proxy_ns, str(cfg.get("service") or ""), cfg.get("port"), where)
    grpc = grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
            # ``|`` is not valid in an :authority header
            cluster_name=cluster, authority=cluster.replace("|", "_.")
        ),
        timeout=duration(_timeout(cfg.get("timeout"), where)),
    )
    fail_open = bool(cfg.get("failOpen", False))
    ext = http_ea.ExtAuthz(
        grpc_service=grpc,
        failure_mode_allow=fail_open,
        transport_api_version=cs.V3,
        filter_enabled_metadata=_enabled_metadata(RBAC_HTTP_FILTER),
    )
    status = _status(cfg.get("statusOnError"), where)
    if status is not None:
        ext.status_on_error.CopyFrom(status)
    body = _body(cfg.get("includeRequestBodyInCheck"))
    if body is not None:
        ext.with_request_body.CopyFrom(body)
    tcp = tcp_ea.ExtAuthz(
        stat_prefix="tcp.",
        grpc_service=grpc,
        failure_mode_allow=fail_open,
        transport_api_version=cs.V3,
        filter_enabled_metadata=_enabled_metadata(RBAC_TCP_FILTER),
    )
    return BuiltExtAuthz(http=ext, tcp=tcp)


def build_ext_authz(push: PushContext, proxy_ns: str, provider: str) -> BuiltExtAuthz:
    """The ext_authz filters of the named provider; raises :class:`ExtensionProviderError`."""
    cfg = _find(push.mesh.extension_providers, provider)
    where = f"meshConfig.extensionProviders[{provider}]"
    if isinstance(cfg.get("envoyExtAuthzHttp"), Mapping):
        return _http_provider(push, proxy_ns, cfg["envoyExtAuthzHttp"], f"{where}.envoyExtAuthzHttp")
    if isinstance(cfg.get("envoyExtAuthzGrpc"), Mapping):
        return _grpc_provider(push, proxy_ns, cfg["envoyExtAuthzGrpc"], f"{where}.envoyExtAuthzGrpc")
    raise ExtensionProviderError(
        f"{where}: not an authorization provider (envoyExtAuthzHttp or envoyExtAuthzGrpc)"
    )
