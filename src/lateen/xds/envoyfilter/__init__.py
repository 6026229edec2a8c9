"""EnvoyFilter: the config patches of the EnvoyFilters that select a proxy, applied to the
generated resources last, as Istio does (``pilot/pkg/networking/core/envoyfilter``).

Pure functions ``(proxy, push, resources) -> resources``: CDS (CLUSTER), LDS (LISTENER,
LISTENER_FILTER, FILTER_CHAIN, NETWORK_FILTER, HTTP_FILTER, and route patches on inbound
inline routes), RDS (ROUTE_CONFIGURATION, VIRTUAL_HOST, HTTP_ROUTE). EDS is not patched
(Istio does not). EXTENSION_CONFIG (ECDS) and BOOTSTRAP patches are not applied. A patch that
fails is logged and skipped; the push goes on."""

from __future__ import annotations

from typing import TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import PushContext
from lateen.xds._scope import inbound_ports, is_explicit
from lateen.xds.envoyfilter._cluster import added_clusters, cluster_context, patch_cluster
from lateen.xds.envoyfilter._common import (
    GATEWAY,
    SIDECAR_INBOUND,
    SIDECAR_OUTBOUND,
)
from lateen.xds.envoyfilter._listener import (
    LISTENER_TARGETS,
    listener_groups,
    patch_inline_routes,
    patch_listener_group,
)
from lateen.xds.envoyfilter._route import ROUTE_TARGETS, patch_route_configuration

__all__ = [
    "apply_cluster_patches",
    "apply_listener_patches",
    "apply_route_patches",
    "envoy_filter_cache_key",
]

M = TypeVar("M", bound=Message)


def envoy_filter_cache_key(proxy: Proxy, push: PushContext) -> tuple[object, ...]:
    """The patches that apply to the proxy (they depend on its namespace, labels and
    metadata): proxies with equal generator keys and equal patch keys get the same output."""
    if not push.envoy_filters:
        return ()
    patches = push.envoy_filter_patches(proxy)
    return (tuple(p.key for t in sorted(patches) for p in patches[t]),)


def _unique_sorted(resources: list[M]) -> list[M]:
    seen: dict[str, M] = {}
    for r in resources:
        seen.setdefault(getattr(r, "name"), r)  # noqa: B009
    return [seen[n] for n in sorted(seen)]


def apply_cluster_patches(
    proxy: Proxy, push: PushContext, clusters: list[cluster_pb2.Cluster]
) -> list[cluster_pb2.Cluster]:
    patches = push.envoy_filter_patches(proxy).get("CLUSTER", ())
    if not patches:
        return clusters
    router = proxy.type is ProxyType.ROUTER
    hosts = {f"inbound|{ip.port}||": [ip.service.hostname] for ip in inbound_ports(proxy, push)}
    out = [
        c
        for c in clusters
        if patch_cluster(cluster_context(router, c.name), patches, c, hosts.get(c.name, ()))
    ]
    if router:
        out.extend(added_clusters(GATEWAY, patches))
    else:
        out.extend(added_clusters(SIDECAR_OUTBOUND, patches))
        out.extend(added_clusters(SIDECAR_INBOUND, patches))
    return _unique_sorted(out)


def apply_listener_patches(
    proxy: Proxy, push: PushContext, listeners: list[listener_pb2.Listener]
) -> list[listener_pb2.Listener]:
    patches = push.envoy_filter_patches(proxy)
    if not any(t in patches for t in (*LISTENER_TARGETS, *ROUTE_TARGETS)):
        return listeners
    out: list[listener_pb2.Listener] = []
    for context, group, adds in listener_groups(
        proxy.type is ProxyType.ROUTER, is_explicit(proxy), listeners
    ):
        if context == SIDECAR_INBOUND:
            for lis in group:
                patch_inline_routes(patches, lis)
        out.extend(patch_listener_group(context, patches, group, adds))
    return _unique_sorted(out)


def apply_route_patches(
    proxy: Proxy, push: PushContext, routes: list[route_pb2.RouteConfiguration]
) -> list[route_pb2.RouteConfiguration]:
    patches = push.envoy_filter_patches(proxy)
    if not any(t in patches for t in ROUTE_TARGETS):
        return routes
    context = GATEWAY if proxy.type is ProxyType.ROUTER else SIDECAR_OUTBOUND
    for rc in routes:
        patch_route_configuration(context, patches, rc)
    return routes
