"""DestinationRule and its messages (istio/api networking/v1alpha3/destination_rule.proto)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import Int32, PortSelector, TypeWorkloadSelector, UInt32, enum_ints

__all__ = [
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "ConsistentHashLB",
    "DestinationRule",
    "HTTPCookie",
    "HTTPCookieAttribute",
    "HTTPSettings",
    "LoadBalancerSettings",
    "LocalityLoadBalancerSetting",
    "LocalityLoadBalancerSettingDistribute",
    "LocalityLoadBalancerSettingFailover",
    "MagLev",
    "OutlierDetection",
    "PortTrafficPolicy",
    "ProxyProtocol",
    "RetryBudget",
    "RingHash",
    "Subset",
    "TCPKeepalive",
    "TCPSettings",
    "TrafficPolicy",
    "TunnelSettings",
    "WarmupConfiguration",
]

SimpleLB = Literal[
    "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
]


class HTTPCookieAttribute(IstioModel):
    name: str = ""
    value: str = ""


class HTTPCookie(IstioModel):
    name: str = ""
    path: str = ""
    ttl: str | None = None
    attributes: list[HTTPCookieAttribute] = Field(default_factory=list)


class RingHash(IstioModel):
    minimum_ring_size: int = Field(default=0, ge=0)


class MagLev(IstioModel):
    table_size: int = Field(default=0, ge=0)


class ConsistentHashLB(IstioModel):
    # oneof hash_key
    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    # oneof hash_algorithm
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: int = Field(default=0, ge=0)  # deprecated, use ring_hash


class LocalityLoadBalancerSettingDistribute(IstioModel):
    from_: str = Field(default="", alias="from")
    to: dict[str, UInt32] = Field(default_factory=dict)


class LocalityLoadBalancerSettingFailover(IstioModel):
    from_: str = Field(default="", alias="from")
    to: str = ""


class LocalityLoadBalancerSetting(IstioModel):
    distribute: list[LocalityLoadBalancerSettingDistribute] = Field(default_factory=list)
    failover: list[LocalityLoadBalancerSettingFailover] = Field(default_factory=list)
    failover_priority: list[str] = Field(default_factory=list)
    enabled: bool | None = None


class WarmupConfiguration(IstioModel):
    duration: str | None = None
    minimum_percent: float | None = None
    aggression: float | None = None


class LoadBalancerSettings(IstioModel):
    # oneof lb_policy: simple | consistent_hash
    simple: Annotated[SimpleLB, enum_ints(SimpleLB)] | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    warmup_duration_secs: str | None = None  # deprecated, use warmup
    warmup: WarmupConfiguration | None = None


class TCPKeepalive(IstioModel):
    probes: UInt32 = 0
    time: str | None = None
    interval: str | None = None


class TCPSettings(IstioModel):
    max_connections: Int32 = 0
    connect_timeout: str | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: str | None = None
    idle_timeout: str | None = None


H2UpgradePolicy = Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"]


class HTTPSettings(IstioModel):
    http1_max_pending_requests: Int32 = 0
    http2_max_requests: Int32 = 0
    max_requests_per_connection: Int32 = 0
    max_retries: Int32 = 0
    idle_timeout: str | None = None
    h2_upgrade_policy: Annotated[H2UpgradePolicy, enum_ints(H2UpgradePolicy)] = "DEFAULT"
    use_client_protocol: bool = False
    max_concurrent_streams: Int32 = 0


class ConnectionPoolSettings(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    consecutive_errors: Int32 = 0  # deprecated
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = Field(default=None, alias="consecutive5xxErrors")
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: Int32 = 0
    min_health_percent: Int32 = 0


TLSMode = Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]


class ClientTLSSettings(IstioModel):
    mode: Annotated[TLSMode, enum_ints(TLSMode)] = "DISABLE"
    client_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    credential_name: str = ""
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str = ""
    insecure_skip_verify: bool | None = None
    ca_crl: str = ""


class TunnelSettings(IstioModel):
    protocol: str = ""
    target_host: str = ""
    target_port: UInt32 = 0


ProxyProtocolVersion = Literal["V1", "V2"]


class ProxyProtocol(IstioModel):
    version: Annotated[ProxyProtocolVersion, enum_ints(ProxyProtocolVersion)] = "V1"


class RetryBudget(IstioModel):
    percent: float | None = None
    min_retry_concurrency: UInt32 = 0


class PortTrafficPolicy(IstioModel):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(IstioModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


class Subset(IstioModel):
    name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRule(IstioModel):
    host: str = ""
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
    workload_selector: TypeWorkloadSelector | None = None
