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
from lateen.model._jwks import (
    DEFAULT_JWKS_TIMEOUT,
    FAIL_CLOSED_JWKS,
    JWKS_REFRESH_INTERVAL,
    JwksClock,
    JwksFetchError,
    JwksResolver,
    JwksSource,
    jwks_uris,
)
from lateen.model._mesh import (
    MeshConfig,
    OutboundTrafficPolicyMode,
    load_mesh_config,
    mesh_config_from_configmap,
)
from lateen.model._proxy import NodeIdError, Proxy, ProxyType, parse_node
from lateen.model._push_context import (
    GATEWAY_NAME_LABEL,
    MESH_GATEWAY,
    PushContext,
    build_push_context,
)
from lateen.model._push_request import FULL_PUSH, PushRequest, TriggerReason

__all__ = [
    "DEFAULT_JWKS_TIMEOUT",
    "FAIL_CLOSED_JWKS",
    "FULL_PUSH",
    "GATEWAY_NAME_LABEL",
    "JWKS_REFRESH_INTERVAL",
    "MESH_GATEWAY",
    "GatewayConflict",
    "GatewayServer",
    "JwksClock",
    "JwksFetchError",
    "JwksResolver",
    "JwksSource",
    "MergedGateway",
    "MeshConfig",
    "NodeIdError",
    "OutboundTrafficPolicyMode",
    "Proxy",
    "ProxyType",
    "PushContext",
    "PushRequest",
    "TriggerReason",
    "build_push_context",
    "gateway_route_name",
    "host_matches",
    "hosts_intersect",
    "is_visible",
    "jwks_uris",
    "load_mesh_config",
    "merge_gateways",
    "mesh_config_from_configmap",
    "most_specific_host",
    "parse_node",
    "resolve_short_name",
]
