"""The control plane's view of the mesh: proxies, push requests, frozen push contexts."""

from lateen.model._gateway import (
    GatewayConflict,
    GatewayServer,
    MergedGateway,
    gateway_route_name,
    merge_gateways,
)
from lateen.model._host import (
    host_matches,
    hosts_intersect,
    is_visible,
    most_specific_host,
    resolve_short_name,
)
from lateen.model._mesh import (
    MeshConfig,
    OutboundTrafficPolicyMode,
    load_mesh_config,
    mesh_config_from_configmap,
)
from lateen.model._proxy import NodeIdError, Proxy, ProxyType, VerifiedIdentity, parse_node
from lateen.model._push_context import MESH_GATEWAY, PushContext, build_push_context
from lateen.model._push_request import FULL_PUSH, PushRequest, TriggerReason

__all__ = [
    "FULL_PUSH",
    "MESH_GATEWAY",
    "GatewayConflict",
    "GatewayServer",
    "MergedGateway",
    "MeshConfig",
    "NodeIdError",
    "OutboundTrafficPolicyMode",
    "Proxy",
    "ProxyType",
    "PushContext",
    "PushRequest",
    "TriggerReason",
    "VerifiedIdentity",
    "build_push_context",
    "gateway_route_name",
    "host_matches",
    "hosts_intersect",
    "is_visible",
    "load_mesh_config",
    "merge_gateways",
    "mesh_config_from_configmap",
    "most_specific_host",
    "parse_node",
    "resolve_short_name",
]
