"""Build the clusters of a proxy: outbound (per service port and DR subset), inbound, and the
fixed BlackHole / Passthrough / InboundPassthrough clusters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2

from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import PushContext
from lateen.registry import Protocol, ServicePort, labels_match
from lateen.xds import names
from lateen.xds._scope import inbound_ports, is_explicit, outbound_services
from lateen.xds._util import duration, socket_address
from lateen.xds.cluster._configurers import (
    DEFAULT_OUTBOUND_CONFIGURERS,
    ClusterConfigurer,
    OutboundClusterContext,
    configure_upstream_protocol,
    default_circuit_breakers,
    original_dst_from_authority,
    static_load_assignment,
)
from lateen.xds.cluster._policy import effective_traffic_policy
from lateen.xds.cluster._serviceentry import is_dns_cluster_without_hosts

__all__ = [
    "blackhole_cluster",
    "build_clusters",
    "inbound_clusters",
    "merged_traffic_policy",
    "outbound_cluster_contexts",
    "outbound_clusters",
    "passthrough_clusters",
]

INBOUND_PASSTHROUGH_BIND = "127.0.0.6"


def merged_traffic_policy(dr: Any, port: ServicePort, subset: str) -> Any:
    """The DestinationRule traffic policy for one port and subset, merged as Istio merges it
    (see :func:`lateen.xds.cluster._policy.effective_traffic_policy`)."""
    return effective_traffic_policy(dr.spec if dr is not None else None, port.port, subset)


def outbound_cluster_contexts(proxy: Proxy, push: PushContext) -> list[OutboundClusterContext]:
    """One context per (service, port) plus one per DestinationRule subset."""
    out: list[OutboundClusterContext] = []
    for svc in outbound_services(proxy, push):
        dr = push.destination_rule(proxy.namespace, svc, proxy.labels)
        for sp in svc.ports:
            if sp.protocol is Protocol.UDP:
                continue
            eps = push.endpoints(svc, sp.port)
            out.append(
                OutboundClusterContext(
                    proxy, push, svc, sp, "", None, dr, merged_traffic_policy(dr, sp, ""), eps
                )
            )
            if dr is None:
                continue
            for subset in dr.spec.subsets:
                labels = dict(subset.labels)
                out.append(
                    OutboundClusterContext(
                        proxy,
                        push,
                        svc,
                        sp,
                        subset.name,
                        labels,
                        dr,
                        merged_traffic_policy(dr, sp, subset.name),
                        tuple(e for e in eps if labels_match(labels, e.labels)),
                    )
                )
    return out


def outbound_clusters(
    proxy: Proxy,
    push: PushContext,
    configurers: Sequence[ClusterConfigurer] = DEFAULT_OUTBOUND_CONFIGURERS,
) -> list[cluster_pb2.Cluster]:
    out = []
    for ctx in outbound_cluster_contexts(proxy, push):
        c = cluster_pb2.Cluster(
            name=names.outbound_cluster_name(ctx.port.port, ctx.subset, ctx.service.hostname)
        )
        for configure in configurers:
            configure(c, ctx)
        if not is_dns_cluster_without_hosts(c):
            out.append(c)
    return out


def inbound_address(proxy: Proxy) -> str:
    """Where the sidecar forwards inbound traffic: 127.0.0.1 (metadata ``INBOUND_ADDRESS``
    overrides it, e.g. for a workload bound to its own loopback address); in explicit mode
    the workload's ``LATEEN_APP_ADDRESS`` (default 127.0.0.1)."""
    if is_explicit(proxy):
        return proxy.app_address
    return str(proxy.metadata.get("INBOUND_ADDRESS") or "127.0.0.1")


def inbound_clusters(proxy: Proxy, push: PushContext) -> list[cluster_pb2.Cluster]:
    out = []
    addr = inbound_address(proxy)
    for ip in inbound_ports(proxy, push):
        name = names.inbound_cluster_name(ip.port)
        # a Sidecar ingress listener's defaultEndpoint names the target (host and port)
        target = (ip.endpoint[0] or addr, ip.endpoint[1]) if ip.endpoint else (addr, ip.port)
        c = cluster_pb2.Cluster(
            name=name,
            type=cluster_pb2.Cluster.STATIC,
            connect_timeout=duration(push.mesh.connect_timeout),
            circuit_breakers=default_circuit_breakers(),
            load_assignment=static_load_assignment(name, [target]),
        )
        fake = OutboundClusterContext(
            proxy, push, ip.service, ip.service_port, "", None, None, None, ()
        )
        configure_upstream_protocol(c, fake)
        out.append(c)
    return out


def blackhole_cluster(push: PushContext) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=names.BLACKHOLE_CLUSTER,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration(push.mesh.connect_timeout),
    )


def passthrough_clusters(
    push: PushContext, proxy: Proxy | None = None
) -> list[cluster_pb2.Cluster]:
    """PassthroughCluster (ORIGINAL_DST) and InboundPassthroughCluster. For an explicit-mode
    proxy nothing captures connections, so PassthroughCluster finds the destination in the
    request's ``:authority`` (``IP:port``; absolute-URL requests and CONNECT carry it)."""
    timeout = duration(push.mesh.connect_timeout)
    outbound = cluster_pb2.Cluster(
        name=names.PASSTHROUGH_CLUSTER,
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        connect_timeout=timeout,
        circuit_breakers=default_circuit_breakers(),
    )
    if proxy is not None and is_explicit(proxy):
        original_dst_from_authority(outbound)
    inbound = cluster_pb2.Cluster(
        name=names.INBOUND_PASSTHROUGH_CLUSTER,
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        connect_timeout=timeout,
        circuit_breakers=default_circuit_breakers(),
        upstream_bind_config=address_pb2.BindConfig(
            source_address=socket_address(INBOUND_PASSTHROUGH_BIND, 0).socket_address
        ),
    )
    return [outbound, inbound]


def build_clusters(
    proxy: Proxy,
    push: PushContext,
    configurers: Sequence[ClusterConfigurer] = DEFAULT_OUTBOUND_CONFIGURERS,
) -> list[cluster_pb2.Cluster]:
    """Every cluster of the proxy, sorted by name. Sidecars: outbound, inbound, BlackHole,
    Passthrough, InboundPassthrough. Routers: outbound and BlackHole."""
    out = outbound_clusters(proxy, push, configurers)
    out.append(blackhole_cluster(push))
    if proxy.type is ProxyType.SIDECAR:
        out.extend(inbound_clusters(proxy, push))
        out.extend(passthrough_clusters(push, proxy))
    seen: dict[str, cluster_pb2.Cluster] = {}
    for c in out:
        seen.setdefault(c.name, c)
    return [seen[n] for n in sorted(seen)]
