"""Envoy resource names, exactly as Istio spells them."""

from __future__ import annotations

__all__ = [
    "BLACKHOLE_CLUSTER",
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "EXPLICIT_PROXY_PORT",
    "EXPLICIT_PROXY_ROUTE",
    "INBOUND_PASSTHROUGH_CLUSTER",
    "JWT_AUTHN_FILTER",
    "JWT_PAYLOAD_METADATA_KEY",
    "LISTENER_TYPE",
    "PASSTHROUGH_CLUSTER",
    "ROUTE_TYPE",
    "VIRTUAL_INBOUND",
    "VIRTUAL_INBOUND_PORT",
    "VIRTUAL_OUTBOUND",
    "VIRTUAL_OUTBOUND_PORT",
    "gateway_http_route_name",
    "inbound_cluster_name",
    "listener_name",
    "outbound_cluster_name",
    "parse_cluster_name",
    "sni_name",
]

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# RequestAuthentication <-> AuthorizationPolicy contract: every jwt_authn provider sets
# ``payload_in_metadata: "payload"``, so a verified token's payload is the filter metadata
# ``envoy.filters.http.jwt_authn`` -> ``payload`` -> {iss, sub, aud, azp, <claims>}
JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
JWT_PAYLOAD_METADATA_KEY = "payload"

BLACKHOLE_CLUSTER = "BlackHoleCluster"
PASSTHROUGH_CLUSTER = "PassthroughCluster"
INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster"
VIRTUAL_OUTBOUND = "virtualOutbound"
VIRTUAL_INBOUND = "virtualInbound"
VIRTUAL_OUTBOUND_PORT = 15001
VIRTUAL_INBOUND_PORT = 15006
# explicit mode (INTERCEPTION_MODE NONE): the sidecar's HTTP proxy listener ``<ip>_15001`` and
# its route configuration, named after the port as Istio names an HTTP_PROXY egress listener's
EXPLICIT_PROXY_PORT = 15001
EXPLICIT_PROXY_ROUTE = str(EXPLICIT_PROXY_PORT)


def outbound_cluster_name(port: int, subset: str, host: str) -> str:
    """``outbound|9080|v1|reviews.default.svc.cluster.local``."""
    return f"outbound|{port}|{subset}|{host}"


def inbound_cluster_name(port: int) -> str:
    """``inbound|9080||`` (the workload's target port)."""
    return f"inbound|{port}||"


def parse_cluster_name(name: str) -> tuple[str, int, str, str] | None:
    """``(direction, port, subset, host)`` of an ``outbound|...``/``inbound|...`` name."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] not in ("inbound", "outbound") or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2], parts[3]


def listener_name(address: str, port: int) -> str:
    """``0.0.0.0_9080`` / ``198.19.0.5_3306``."""
    return f"{address}_{port}"


def gateway_http_route_name(port: int) -> str:
    return f"http.{port}"


def sni_name(port: int, subset: str, host: str) -> str:
    return f"outbound_.{port}_.{subset}_.{host}"
