"""What a route configurer sees (:class:`RouteContext`) and the destination -> cluster rule
the builder and the configurers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc

from lateen.api._object import ConfigObject
from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import MESH_GATEWAY, PushContext
from lateen.xds import names

__all__ = [
    "RouteConfigurer",
    "RouteContext",
    "destination_cluster",
    "resolve_gateway_name",
]


@dataclass(frozen=True, slots=True)
class RouteContext:
    proxy: Proxy
    push: PushContext
    virtual_service: ConfigObject | None  # None for the default route
    http_route: Any  # lateen.api.networking.HTTPRoute, or None for the default route
    listener_port: int
    gateway: str  # "mesh" or "ns/name"
    match: Any = None  # the HTTPMatchRequest this route was built for (None: no match)


RouteConfigurer = Callable[[rc.Route, RouteContext], None]


def resolve_gateway_name(gateway: str, namespace: str) -> str:
    """A VirtualService's gateway reference as ``ns/name`` (Istio's resolveGatewayName):
    ``mesh`` stays, ``name`` is in the VirtualService's namespace, ``./name`` too, and the
    legacy ``name.ns[.svc.cluster.local]`` form becomes ``ns/name``."""
    if gateway == MESH_GATEWAY:
        return gateway
    ns, slash, name = gateway.partition("/")
    if slash:
        return f"{namespace}/{name}" if ns == "." else gateway
    if "." not in gateway:
        return f"{namespace}/{gateway}"
    name, _, rest = gateway.partition(".")
    return f"{rest.split('.')[0]}/{name}"


def destination_cluster(dest: Any, ctx: RouteContext) -> str:
    """``outbound|<port>|<subset>|<host>`` of a Destination: its port, else the service's only
    port (a gateway takes the service's first port), else the listener's port. Short host
    names are resolved in the VirtualService's namespace."""
    vs_ns = ctx.virtual_service.namespace if ctx.virtual_service else ctx.proxy.namespace
    host = ctx.push.resolve_host(dest.host, vs_ns)
    port = dest.port.number if dest.port is not None and dest.port.number else 0
    if not port:
        svc = ctx.push.service_for_host(host, ctx.proxy.namespace)
        if (svc is not None and len(svc.ports) == 1) or (
            svc is not None and ctx.proxy.type is ProxyType.ROUTER and svc.ports
        ):
            port = svc.ports[0].port
        else:
            port = ctx.listener_port
    return names.outbound_cluster_name(port, dest.subset, host)
