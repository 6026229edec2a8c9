"""ServiceEntry, WorkloadEntry and WorkloadGroup (istio/api networking/v1alpha3/
service_entry.proto, workload_entry.proto, workload_group.proto)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import Int32, UInt32, WorkloadSelector, enum_ints

__all__ = [
    "ExecHealthCheckConfig",
    "GrpcHealthCheckConfig",
    "HTTPHeader",
    "HTTPHealthCheckConfig",
    "ReadinessProbe",
    "ServiceEntry",
    "ServicePort",
    "TCPHealthCheckConfig",
    "WorkloadEntry",
    "WorkloadGroup",
    "WorkloadGroupObjectMeta",
]


class WorkloadEntry(IstioModel):
    address: str = ""
    ports: dict[str, UInt32] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    network: str = ""
    locality: str = ""
    weight: UInt32 = 0
    service_account: str = ""


class ServicePort(IstioModel):
    number: UInt32 = 0
    protocol: str = ""
    name: str = ""
    target_port: UInt32 = 0


Location = Literal["MESH_EXTERNAL", "MESH_INTERNAL"]
Resolution = Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"]


class ServiceEntry(IstioModel):
    hosts: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)
    ports: list[ServicePort] = Field(default_factory=list)
    location: Annotated[Location, enum_ints(Location)] = "MESH_EXTERNAL"
    resolution: Annotated[Resolution, enum_ints(Resolution)] = "NONE"
    endpoints: list[WorkloadEntry] = Field(default_factory=list)
    workload_selector: WorkloadSelector | None = None
    export_to: list[str] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)


class WorkloadGroupObjectMeta(IstioModel):
    """``WorkloadGroup.metadata`` (Go ``istio.networking.v1alpha3.WorkloadGroup.ObjectMeta``)."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class HTTPHeader(IstioModel):
    name: str = ""
    value: str = ""


class HTTPHealthCheckConfig(IstioModel):
    path: str = ""
    port: UInt32 = 0
    host: str = ""
    scheme: str = ""
    http_headers: list[HTTPHeader] = Field(default_factory=list)


class TCPHealthCheckConfig(IstioModel):
    host: str = ""
    port: UInt32 = 0


class ExecHealthCheckConfig(IstioModel):
    command: list[str] = Field(default_factory=list)


class GrpcHealthCheckConfig(IstioModel):
    port: UInt32 = 0
    service: str | None = None


class ReadinessProbe(IstioModel):
    initial_delay_seconds: Int32 = 0
    timeout_seconds: Int32 = 0
    period_seconds: Int32 = 0
    success_threshold: Int32 = 0
    failure_threshold: Int32 = 0
    # oneof health_check_method
    http_get: HTTPHealthCheckConfig | None = None
    tcp_socket: TCPHealthCheckConfig | None = None
    exec: ExecHealthCheckConfig | None = None
    grpc: GrpcHealthCheckConfig | None = None


class WorkloadGroup(IstioModel):
    metadata: WorkloadGroupObjectMeta | None = None
    template: WorkloadEntry | None = None
    probe: ReadinessProbe | None = None
