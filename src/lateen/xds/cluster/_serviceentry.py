"""Cluster configurers for the service resolutions a ServiceEntry brings (Istio's
``cluster_builder.go``): DNS clusters re-resolve on the mesh's ``dnsRefreshRate`` and honour the
records' TTL; an ORIGINAL_DST cluster (``resolution: NONE``) sends to the port's ``targetPort``
when the ServiceEntry sets one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2

from lateen.registry import Resolution
from lateen.xds._util import duration

if TYPE_CHECKING:
    from lateen.xds.cluster._configurers import OutboundClusterContext

__all__ = [
    "SERVICE_ENTRY_CONFIGURERS",
    "configure_dns_refresh",
    "configure_passthrough_target_port",
    "is_dns_cluster_without_hosts",
]

_DNS_TYPES = (cluster_pb2.Cluster.STRICT_DNS, cluster_pb2.Cluster.LOGICAL_DNS)


def configure_dns_refresh(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """STRICT_DNS / LOGICAL_DNS: ``respect_dns_ttl`` and the mesh ``dnsRefreshRate`` (60s)."""
    if c.type in _DNS_TYPES:
        c.respect_dns_ttl = True
        c.dns_refresh_rate.CopyFrom(duration(ctx.push.mesh.dns_refresh_rate))


def configure_passthrough_target_port(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``resolution: NONE`` with a port ``targetPort``: the original destination's address, on
    the target port (Envoy's ``upstream_port_override``)."""
    svc, port = ctx.service, ctx.port
    if (
        c.type == cluster_pb2.Cluster.ORIGINAL_DST
        and svc.resolution is Resolution.PASSTHROUGH
        and isinstance(port.target_port, int)
        and port.target_port
        and port.target_port != port.port
    ):
        c.original_dst_lb_config.upstream_port_override.value = port.target_port


def is_dns_cluster_without_hosts(c: cluster_pb2.Cluster) -> bool:
    """A DNS cluster with nothing to resolve: Istio leaves it out of CDS."""
    return c.type in _DNS_TYPES and not any(
        g.lb_endpoints for g in c.load_assignment.endpoints
    )


SERVICE_ENTRY_CONFIGURERS = (configure_dns_refresh, configure_passthrough_target_port)
