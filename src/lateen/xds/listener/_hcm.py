"""The HTTP connection manager, built from configurers (one concern each). HTTP filters are
appended by configurers in order; the router filter always comes last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import substitution_format_string_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import wrappers_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds._authn import build_jwt_authn, jwt_rules_for_proxy
from lateen.xds._util import ads_config_source, pack, struct
from lateen.xds.authz import custom_http_filters, rbac_http_filters
from lateen.xds.names import JWT_AUTHN_FILTER

__all__ = [
    "DEFAULT_HCM_CONFIGURERS",
    "HCM_FILTER",
    "ISTIO_ACCESS_LOG_FORMAT",
    "Direction",
    "HcmConfigurer",
    "HcmContext",
    "build_hcm",
    "configure_access_log",
    "configure_basics",
    "configure_client_cert_details",
    "configure_default_http_filters",
    "configure_explicit_proxy",
    "configure_jwt_authn",
    "configure_path_normalization",
    "configure_route_source",
    "file_access_log",
    "gateway_xfcc_mode",
]

HCM_FILTER = "envoy.filters.network.http_connection_manager"
ROUTER_FILTER = "envoy.filters.http.router"

ISTIO_ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

_JSON_FIELDS = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "route_name": "%ROUTE_NAME%",
}


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"
    GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class HcmContext:
    proxy: Proxy
    push: PushContext
    direction: Direction
    port: int
    stat_prefix: str
    route_config_name: str = ""  # RDS name; empty when ``inline_route`` is set
    inline_route: route_pb2.RouteConfiguration | None = None
    explicit_proxy: bool = False  # the explicit-mode HTTP proxy listener (``<ip>_15001``)


HcmConfigurer = Callable[[hcm_pb2.HttpConnectionManager, HcmContext], None]


def configure_basics(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    hcm.stat_prefix = ctx.stat_prefix
    hcm.codec_type = hcm_pb2.HttpConnectionManager.AUTO
    hcm.use_remote_address.CopyFrom(
        wrappers_pb2.BoolValue(value=ctx.direction is Direction.GATEWAY)
    )
    hcm.upgrade_configs.append(
        hcm_pb2.HttpConnectionManager.UpgradeConfig(upgrade_type="websocket")
    )


def configure_route_source(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    if ctx.inline_route is not None:
        hcm.route_config.CopyFrom(ctx.inline_route)
    else:
        hcm.rds.CopyFrom(
            hcm_pb2.Rds(config_source=ads_config_source(), route_config_name=ctx.route_config_name)
        )


def configure_path_normalization(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """Mesh ``pathNormalization`` on every HTTP connection manager (sidecar outbound, inbound
    and gateway), as Istio sets it: the same normalized path is matched by routes, checked by
    the HTTP filters (RBAC, jwt_authn) and forwarded upstream.

    NONE: ``normalize_path: false``; BASE (and DEFAULT): ``normalize_path`` (RFC 3986 dot
    segments, ``\\`` -> ``/``, percent-encoded unreserved characters decoded);
    MERGE_SLASHES: also ``merge_slashes``; DECODE_AND_MERGE_SLASHES: also
    ``UNESCAPE_AND_FORWARD`` for ``%2F``/``%5C``. Every other mode keeps escaped slashes
    unchanged (``KEEP_UNCHANGED``, set explicitly so Envoy's runtime default cannot change it).
    """
    mode = ctx.push.mesh.path_normalization
    actions = hcm_pb2.HttpConnectionManager
    hcm.path_with_escaped_slashes_action = actions.KEEP_UNCHANGED
    hcm.normalize_path.CopyFrom(wrappers_pb2.BoolValue(value=mode != "NONE"))
    if mode in ("MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"):
        hcm.merge_slashes = True
    if mode == "DECODE_AND_MERGE_SLASHES":
        hcm.path_with_escaped_slashes_action = actions.UNESCAPE_AND_FORWARD


def configure_default_http_filters(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """Fault and CORS filters (inert until a route configures them), as Istio installs them."""
    hcm.http_filters.append(
        hcm_pb2.HttpFilter(
            name="envoy.filters.http.fault", typed_config=pack(fault_pb2.HTTPFault())
        )
    )
    hcm.http_filters.append(
        hcm_pb2.HttpFilter(name="envoy.filters.http.cors", typed_config=pack(cors_pb2.Cors()))
    )


def configure_explicit_proxy(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """The explicit-mode HTTP proxy: accept absolute-URL requests (``GET http://host:port/``,
    what ``HTTP_PROXY`` clients send) and ``CONNECT host:port`` (routes terminate it and
    forward the tunnelled bytes)."""
    if not ctx.explicit_proxy:
        return
    hcm.http_protocol_options.allow_absolute_url.CopyFrom(wrappers_pb2.BoolValue(value=True))
    hcm.upgrade_configs.append(hcm_pb2.HttpConnectionManager.UpgradeConfig(upgrade_type="CONNECT"))


def file_access_log(path: str, encoding: str, text_format: str = "") -> accesslog_pb2.AccessLog:
    fmt = substitution_format_string_pb2.SubstitutionFormatString()
    if encoding.upper() == "JSON":
        fmt.json_format.CopyFrom(struct(_JSON_FIELDS))
    else:
        fmt.text_format_source.inline_string = text_format or ISTIO_ACCESS_LOG_FORMAT
    return accesslog_pb2.AccessLog(
        name="envoy.access_loggers.file",
        typed_config=pack(file_pb2.FileAccessLog(path=path, log_format=fmt)),
    )


def configure_access_log(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    mesh = ctx.push.mesh
    if mesh.access_log_file:
        hcm.access_log.append(
            file_access_log(mesh.access_log_file, mesh.access_log_encoding, mesh.access_log_format)
        )


_XFCC_MODES = {
    "SANITIZE": hcm_pb2.HttpConnectionManager.SANITIZE,
    "FORWARD_ONLY": hcm_pb2.HttpConnectionManager.FORWARD_ONLY,
    "APPEND_FORWARD": hcm_pb2.HttpConnectionManager.APPEND_FORWARD,
    "SANITIZE_SET": hcm_pb2.HttpConnectionManager.SANITIZE_SET,
    "ALWAYS_FORWARD_ONLY": hcm_pb2.HttpConnectionManager.ALWAYS_FORWARD_ONLY,
}


def gateway_xfcc_mode(proxy: Proxy) -> str:
    """The gateway's ``gatewayTopology.forwardClientCertDetails`` from its ProxyConfig (node
    metadata ``PROXY_CONFIG``); SANITIZE_SET when unset or UNDEFINED, as Istio."""
    pc = proxy.metadata.get("PROXY_CONFIG")
    topology = pc.get("gatewayTopology") if isinstance(pc, dict) else None
    mode = topology.get("forwardClientCertDetails") if isinstance(topology, dict) else None
    mode = str(mode or "").upper()
    return mode if mode in _XFCC_MODES else "SANITIZE_SET"


def configure_client_cert_details(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """``x-forwarded-client-cert`` as Istio sets it. Gateways: SANITIZE_SET unless the
    gateway's ``gatewayTopology.forwardClientCertDetails`` says otherwise, with the client
    certificate's subject, cert, URI and DNS SANs: a header the client sent never passes,
    only what the gateway verified itself (nothing without a client certificate). Sidecar
    inbound: APPEND_FORWARD with subject, URI and DNS SANs: the app sees the XFCC of the hops
    before (a gateway's) plus the mTLS peer's identity. Outbound: Envoy's default (SANITIZE)."""
    if ctx.direction is Direction.OUTBOUND:
        return
    details = hcm.set_current_client_cert_details
    details.subject.value = True
    details.uri = True
    details.dns = True
    if ctx.direction is Direction.GATEWAY:
        hcm.forward_client_cert_details = _XFCC_MODES[gateway_xfcc_mode(ctx.proxy)]
        details.cert = True
    else:
        hcm.forward_client_cert_details = hcm_pb2.HttpConnectionManager.APPEND_FORWARD


def configure_jwt_authn(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """RequestAuthentication: the ``jwt_authn`` filter on a sidecar's inbound HTTP and on a
    gateway's HTTP listeners when some policy selects the workload (:mod:`lateen.xds._authn`)."""
    if ctx.direction is Direction.OUTBOUND:
        return
    config = build_jwt_authn(jwt_rules_for_proxy(ctx.proxy, ctx.push), ctx.push.jwks)
    if config is not None:
        hcm.http_filters.append(hcm_pb2.HttpFilter(name=JWT_AUTHN_FILTER, typed_config=pack(config)))


def _authorizes(ctx: HcmContext) -> bool:
    """AuthorizationPolicy applies to a sidecar's inbound traffic and to gateways."""
    return ctx.direction in (Direction.INBOUND, Direction.GATEWAY)


def configure_ext_authz(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """AuthorizationPolicy CUSTOM: the RBAC shadow filter marking the requests its rules
    match, then ext_authz for those (Istio puts these before the authentication filters)."""
    if _authorizes(ctx):
        policies = ctx.push.authorization_policies(ctx.proxy)
        hcm.http_filters.extend(custom_http_filters(ctx.push, ctx.proxy.namespace, policies))


def configure_rbac(hcm: hcm_pb2.HttpConnectionManager, ctx: HcmContext) -> None:
    """AuthorizationPolicy AUDIT, DENY, ALLOW: one RBAC filter each (after jwt_authn)."""
    if _authorizes(ctx):
        hcm.http_filters.extend(rbac_http_filters(ctx.push.authorization_policies(ctx.proxy)))


# HTTP filter order as Istio's: ext_authz (CUSTOM), [jwt_authn: RequestAuthentication], rbac
# (AUDIT, DENY, ALLOW), fault, cors, router
DEFAULT_HCM_CONFIGURERS: tuple[HcmConfigurer, ...] = (
    configure_basics,
    configure_explicit_proxy,
    configure_route_source,
    configure_path_normalization,
    configure_client_cert_details,
    configure_access_log,
    configure_ext_authz,
    configure_jwt_authn,
    configure_rbac,
    configure_default_http_filters,
)


def build_hcm(
    ctx: HcmContext, configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS
) -> hcm_pb2.HttpConnectionManager:
    hcm = hcm_pb2.HttpConnectionManager()
    for configure in configurers:
        configure(hcm, ctx)
    hcm.http_filters.append(
        hcm_pb2.HttpFilter(name=ROUTER_FILTER, typed_config=pack(router_pb2.Router()))
    )
    return hcm
