"""Sidecar and its messages (istio/api networking/v1alpha3/sidecar.proto)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import UInt32, WorkloadSelector, enum_ints
from lateen.api._net_dr import ConnectionPoolSettings
from lateen.api._net_gw import ServerTLSSettings
from lateen.api._net_vs import Destination

__all__ = [
    "IstioEgressListener",
    "IstioIngressListener",
    "OutboundTrafficPolicy",
    "Sidecar",
    "SidecarPort",
]

CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]
OutboundMode = Literal["REGISTRY_ONLY", "ALLOW_ANY"]


class SidecarPort(IstioModel):
    number: UInt32 = 0
    protocol: str = ""
    name: str = ""
    target_port: UInt32 = 0


class IstioIngressListener(IstioModel):
    port: SidecarPort | None = None
    bind: str = ""
    capture_mode: Annotated[CaptureMode, enum_ints(CaptureMode)] = "DEFAULT"
    default_endpoint: str = ""
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(IstioModel):
    port: SidecarPort | None = None
    bind: str = ""
    capture_mode: Annotated[CaptureMode, enum_ints(CaptureMode)] = "DEFAULT"
    hosts: list[str] = Field(default_factory=list)


class OutboundTrafficPolicy(IstioModel):
    mode: Annotated[OutboundMode, enum_ints(OutboundMode)] = "REGISTRY_ONLY"
    egress_proxy: Destination | None = None


class Sidecar(IstioModel):
    workload_selector: WorkloadSelector | None = None
    ingress: list[IstioIngressListener] = Field(default_factory=list)
    egress: list[IstioEgressListener] = Field(default_factory=list)
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None
