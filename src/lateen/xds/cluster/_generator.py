"""CDS generator."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.model._push_request import PushRequest
from lateen.xds._generator import Resource
from lateen.xds._locality import locality_cache_key
from lateen.xds._scope import proxy_cache_key
from lateen.xds.cluster._builder import build_clusters
from lateen.xds.cluster._configurers import DEFAULT_OUTBOUND_CONFIGURERS, ClusterConfigurer
from lateen.xds.envoyfilter import apply_cluster_patches, envoy_filter_cache_key
from lateen.xds.names import CLUSTER_TYPE

__all__ = ["ClusterGenerator"]


class ClusterGenerator:
    type_url = CLUSTER_TYPE

    def __init__(
        self, configurers: Sequence[ClusterConfigurer] = DEFAULT_OUTBOUND_CONFIGURERS
    ) -> None:
        self.configurers = tuple(configurers)

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return request.full

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        return (
            proxy_cache_key(proxy, push, with_addresses=True)
            + locality_cache_key(proxy, push)
            + envoy_filter_cache_key(proxy, push)
        )

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        clusters = build_clusters(proxy, push, self.configurers)
        clusters = apply_cluster_patches(proxy, push, clusters)  # EnvoyFilter: last
        return [Resource(c.name, c) for c in clusters]
