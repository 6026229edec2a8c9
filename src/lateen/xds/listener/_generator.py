"""LDS generator."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.model._push_request import PushRequest
from lateen.xds._generator import Resource
from lateen.xds._scope import proxy_cache_key
from lateen.xds.envoyfilter import apply_listener_patches, envoy_filter_cache_key
from lateen.xds.listener._builder import build_listeners
from lateen.xds.listener._hcm import DEFAULT_HCM_CONFIGURERS, HcmConfigurer
from lateen.xds.names import LISTENER_TYPE

__all__ = ["ListenerGenerator"]


class ListenerGenerator:
    type_url = LISTENER_TYPE

    def __init__(self, hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS) -> None:
        self.hcm_configurers = tuple(hcm_configurers)

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return request.full

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        return proxy_cache_key(proxy, push, with_addresses=True) + envoy_filter_cache_key(
            proxy, push
        )

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        listeners = build_listeners(proxy, push, self.hcm_configurers)
        listeners = apply_listener_patches(proxy, push, listeners)  # EnvoyFilter: last
        return [Resource(lis.name, lis) for lis in listeners]
