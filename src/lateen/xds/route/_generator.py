"""RDS generator."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.model._push_request import PushRequest
from lateen.xds._generator import Resource
from lateen.xds._scope import proxy_cache_key
from lateen.xds.envoyfilter import apply_route_patches, envoy_filter_cache_key
from lateen.xds.names import ROUTE_TYPE
from lateen.xds.route._builder import build_routes
from lateen.xds.route._configurers import DEFAULT_ROUTE_CONFIGURERS, RouteConfigurer

__all__ = ["RouteGenerator"]


class RouteGenerator:
    type_url = ROUTE_TYPE

    def __init__(self, configurers: Sequence[RouteConfigurer] = DEFAULT_ROUTE_CONFIGURERS) -> None:
        self.configurers = tuple(configurers)

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return request.full

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        return proxy_cache_key(proxy, push, with_addresses=False) + envoy_filter_cache_key(
            proxy, push
        )

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        routes = build_routes(proxy, push, self.configurers)
        routes = apply_route_patches(proxy, push, routes)  # EnvoyFilter: last
        return [Resource(r.name, r) for r in routes]
