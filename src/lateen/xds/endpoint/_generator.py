"""EDS generator."""

from __future__ import annotations

from collections.abc import Hashable

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.model._push_request import PushRequest
from lateen.xds._generator import Resource
from lateen.xds._locality import locality_cache_key
from lateen.xds._scope import proxy_cache_key
from lateen.xds.endpoint._builder import build_endpoints
from lateen.xds.names import ENDPOINT_TYPE

__all__ = ["EndpointGenerator"]


class EndpointGenerator:
    type_url = ENDPOINT_TYPE

    def __init__(self, *, send_unhealthy: bool = False) -> None:
        self.send_unhealthy = send_unhealthy

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return True  # full pushes and endpoint-only pushes both change EDS

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        return proxy_cache_key(proxy, push, with_addresses=False) + locality_cache_key(proxy, push)

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        return [
            Resource(cla.cluster_name, cla)
            for cla in build_endpoints(proxy, push, send_unhealthy=self.send_unhealthy)
        ]
