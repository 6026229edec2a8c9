"""EnvoyFilter and its messages (istio/api networking/v1alpha3/envoy_filter.proto)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import Int32, UInt32, WorkloadSelector, enum_ints

__all__ = [
    "ClusterMatch",
    "EnvoyConfigObjectMatch",
    "EnvoyConfigObjectPatch",
    "EnvoyFilter",
    "FilterChainMatch",
    "FilterMatch",
    "ListenerMatch",
    "Patch",
    "PolicyTargetReference",
    "ProxyMatch",
    "RouteConfigurationMatch",
    "RouteMatch",
    "SubFilterMatch",
    "VirtualHostMatch",
]

ApplyTo = Literal[
    "INVALID",
    "LISTENER",
    "FILTER_CHAIN",
    "NETWORK_FILTER",
    "HTTP_FILTER",
    "ROUTE_CONFIGURATION",
    "VIRTUAL_HOST",
    "HTTP_ROUTE",
    "CLUSTER",
    "EXTENSION_CONFIG",
    "BOOTSTRAP",
    "LISTENER_FILTER",
]
PatchContext = Literal["ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"]
Operation = Literal[
    "INVALID",
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
    "MERGE_AND_REPLACE_LIST",
]
FilterClass = Literal["UNSPECIFIED", "AUTHN", "AUTHZ", "STATS"]
RouteAction = Literal["ANY", "ROUTE", "REDIRECT", "DIRECT_RESPONSE"]


class ProxyMatch(IstioModel):
    proxy_version: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)


class SubFilterMatch(IstioModel):
    name: str = ""


class FilterMatch(IstioModel):
    name: str = ""
    sub_filter: SubFilterMatch | None = None


class FilterChainMatch(IstioModel):
    name: str = ""
    sni: str = ""
    transport_protocol: str = ""
    application_protocols: str = ""
    filter: FilterMatch | None = None
    destination_port: UInt32 = 0


class ListenerMatch(IstioModel):
    port_number: UInt32 = 0
    port_name: str = ""
    filter_chain: FilterChainMatch | None = None
    listener_filter: str = ""
    name: str = ""


class RouteMatch(IstioModel):
    name: str = ""
    action: Annotated[RouteAction, enum_ints(RouteAction)] = "ANY"


class VirtualHostMatch(IstioModel):
    name: str = ""
    route: RouteMatch | None = None
    domain_name: str = ""


class RouteConfigurationMatch(IstioModel):
    port_number: UInt32 = 0
    port_name: str = ""
    gateway: str = ""
    vhost: VirtualHostMatch | None = None
    name: str = ""


class ClusterMatch(IstioModel):
    port_number: UInt32 = 0
    service: str = ""
    subset: str = ""
    name: str = ""


class EnvoyConfigObjectMatch(IstioModel):
    context: Annotated[PatchContext, enum_ints(PatchContext)] = "ANY"
    proxy: ProxyMatch | None = None
    # oneof object_types
    listener: ListenerMatch | None = None
    route_configuration: RouteConfigurationMatch | None = None
    cluster: ClusterMatch | None = None


class Patch(IstioModel):
    operation: Annotated[Operation, enum_ints(Operation)] = "INVALID"
    value: dict[str, Any] | None = None
    filter_class: Annotated[FilterClass, enum_ints(FilterClass)] = "UNSPECIFIED"


class EnvoyConfigObjectPatch(IstioModel):
    apply_to: Annotated[ApplyTo, enum_ints(ApplyTo)] = "INVALID"
    match: EnvoyConfigObjectMatch | None = None
    patch: Patch | None = None


class PolicyTargetReference(IstioModel):
    group: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""


class EnvoyFilter(IstioModel):
    workload_selector: WorkloadSelector | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    config_patches: list[EnvoyConfigObjectPatch] = Field(default_factory=list)
    priority: Int32 = 0
