"""CDS: the clusters of a proxy, built from small configurers."""

from lateen.xds.cluster._builder import (
    blackhole_cluster,
    build_clusters,
    inbound_clusters,
    merged_traffic_policy,
    outbound_cluster_contexts,
    outbound_clusters,
    passthrough_clusters,
)
from lateen.xds.cluster._configurers import (
    DEFAULT_OUTBOUND_CONFIGURERS,
    ClusterConfigurer,
    OutboundClusterContext,
    configure_circuit_breakers,
    configure_connect_timeout,
    configure_discovery,
    configure_explicit_original_dst,
    configure_lb_policy,
    configure_metadata,
    configure_upstream_protocol,
    static_load_assignment,
)
from lateen.xds.cluster._generator import ClusterGenerator

__all__ = [
    "DEFAULT_OUTBOUND_CONFIGURERS",
    "ClusterConfigurer",
    "ClusterGenerator",
    "OutboundClusterContext",
    "blackhole_cluster",
    "build_clusters",
    "configure_circuit_breakers",
    "configure_connect_timeout",
    "configure_discovery",
    "configure_explicit_original_dst",
    "configure_lb_policy",
    "configure_metadata",
    "configure_upstream_protocol",
    "inbound_clusters",
    "merged_traffic_policy",
    "outbound_cluster_contexts",
    "outbound_clusters",
    "passthrough_clusters",
    "static_load_assignment",
]
