"""VirtualService and its messages (istio/api networking/v1alpha3/virtual_service.proto)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import Int32, Percent, PortSelector, UInt32, enum_ints

__all__ = [
    "CorsPolicy",
    "Delegate",
    "Destination",
    "HTTPBody",
    "HTTPDirectResponse",
    "HTTPFaultInjection",
    "HTTPFaultInjectionAbort",
    "HTTPFaultInjectionDelay",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HeaderOperations",
    "Headers",
    "L4MatchAttributes",
    "RegexRewrite",
    "RouteDestination",
    "StringMatch",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "VirtualService",
]


class StringMatch(IstioModel):
    """oneof exact / prefix / regex (the validator enforces at most one). An empty
    StringMatch in ``headers``/``queryParams`` matches presence."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class Destination(IstioModel):
    host: str = ""
    subset: str = ""
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(IstioModel):
    destination: Destination | None = None
    weight: Int32 = 0
    headers: Headers | None = None


class RouteDestination(IstioModel):
    destination: Destination | None = None
    weight: Int32 = 0


class HTTPMatchRequest(IstioModel):
    name: str = ""
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    port: UInt32 = 0
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    query_params: dict[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: bool = False
    without_headers: dict[str, StringMatch] = Field(default_factory=dict)
    source_namespace: str = ""
    stat_prefix: str = ""


RedirectPortSelection = Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"]


class HTTPRedirect(IstioModel):
    uri: str = ""
    authority: str = ""
    # oneof redirect_port: port | derive_port
    port: UInt32 | None = None
    derive_port: Annotated[RedirectPortSelection, enum_ints(RedirectPortSelection)] | None = None
    scheme: str = ""
    redirect_code: UInt32 = 0


class HTTPBody(IstioModel):
    """oneof string / bytes (bytes are base64 in JSON)."""

    string: str | None = None
    bytes: str | None = None


class HTTPDirectResponse(IstioModel):
    status: UInt32 = 0
    body: HTTPBody | None = None


class Delegate(IstioModel):
    name: str = ""
    namespace: str = ""


class RegexRewrite(IstioModel):
    match: str = ""
    rewrite: str = ""


class HTTPRewrite(IstioModel):
    uri: str = ""
    authority: str = ""
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(IstioModel):
    attempts: Int32 = 0
    per_try_timeout: str | None = None
    retry_on: str = ""
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: str | None = None


class HTTPFaultInjectionDelay(IstioModel):
    percent: Int32 = 0  # deprecated
    # oneof http_delay_type: fixed_delay | exponential_delay
    fixed_delay: str | None = None
    exponential_delay: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjectionAbort(IstioModel):
    # oneof error_type: http_status | grpc_status | http2_error
    http_status: Int32 | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    delay: HTTPFaultInjectionDelay | None = None
    abort: HTTPFaultInjectionAbort | None = None


class HTTPMirrorPolicy(IstioModel):
    destination: Destination | None = None
    percentage: Percent | None = None


UnmatchedPreflights = Literal["UNSPECIFIED", "FORWARD", "IGNORE"]


class CorsPolicy(IstioModel):
    allow_origins: list[StringMatch] = Field(default_factory=list)
    allow_origin: list[str] = Field(default_factory=list)  # deprecated
    allow_methods: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=list)
    expose_headers: list[str] = Field(default_factory=list)
    max_age: str | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: Annotated[UnmatchedPreflights, enum_ints(UnmatchedPreflights)] = (
        "UNSPECIFIED"
    )


class HTTPRoute(IstioModel):
    name: str = ""
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    mirror_percent: UInt32 | None = None  # deprecated
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(IstioModel):
    destination_subnets: list[str] = Field(default_factory=list)
    port: UInt32 = 0
    source_subnet: str = ""
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    source_namespace: str = ""


class TLSMatchAttributes(IstioModel):
    sni_hosts: list[str] = Field(default_factory=list)
    destination_subnets: list[str] = Field(default_factory=list)
    port: UInt32 = 0
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    source_namespace: str = ""


class TCPRoute(IstioModel):
    match: list[L4MatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)


class TLSRoute(IstioModel):
    match: list[TLSMatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)


class VirtualService(IstioModel):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    tls: list[TLSRoute] = Field(default_factory=list)
    tcp: list[TCPRoute] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
