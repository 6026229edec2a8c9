"""Cluster configurers: each sets one Envoy concern on a Cluster being built.

A configurer is a callable ``(cluster, ctx) -> None``. The generator applies
:data:`DEFAULT_OUTBOUND_CONFIGURERS` (and any extra ones it is given, in order) to every
outbound cluster: first Istio's defaults, then the DestinationRule traffic policy
(``_policy.POLICY_CONFIGURERS``: connection pool, outlier detection, load balancer, TLS),
which read ``ctx.traffic_policy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2
from envoy.config.core.v3 import protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import wrappers_pb2

from lateen.api._object import ConfigObject
from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.registry import Endpoint, Protocol, Resolution, Service, ServicePort
from lateen.xds._scope import is_explicit
from lateen.xds._util import ads_config_source, duration, filter_metadata, pack, socket_address
from lateen.xds.cluster._mtls import configure_auto_mtls
from lateen.xds.cluster._policy import POLICY_CONFIGURERS
from lateen.xds.cluster._serviceentry import SERVICE_ENTRY_CONFIGURERS

__all__ = [
    "DEFAULT_OUTBOUND_CONFIGURERS",
    "HTTP_PROTOCOL_OPTIONS",
    "ClusterConfigurer",
    "OutboundClusterContext",
    "configure_circuit_breakers",
    "configure_connect_timeout",
    "configure_discovery",
    "configure_explicit_original_dst",
    "configure_lb_policy",
    "configure_metadata",
    "configure_upstream_protocol",
    "original_dst_from_authority",
    "static_load_assignment",
]

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_MAX = 4294967295


@dataclass(frozen=True, slots=True)
class OutboundClusterContext:
    """Everything a configurer may read about one outbound cluster."""

    proxy: Proxy
    push: PushContext
    service: Service
    port: ServicePort
    subset: str  # "" for the service-wide cluster
    subset_labels: Mapping[str, str] | None
    destination_rule: ConfigObject | None
    traffic_policy: Any  # the DestinationRule TrafficPolicy for this port and subset, or None
    endpoints: tuple[Endpoint, ...]  # the service port's endpoints (subset-filtered)


ClusterConfigurer = Callable[[cluster_pb2.Cluster, OutboundClusterContext], None]


def static_load_assignment(
    name: str, addresses: Sequence[tuple[str, int]]
) -> endpoint_pb2.ClusterLoadAssignment:
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(a, p))
                    )
                    for a, p in addresses
                ]
            )
        ]
        if addresses
        else [],
    )


def dns_load_assignment(
    name: str, endpoints: Sequence[Endpoint]
) -> endpoint_pb2.ClusterLoadAssignment:
    """The hosts of a DNS cluster grouped by locality (sorted), with their weights, so that
    locality load balancing can set priorities on them as on EDS clusters."""
    groups: dict[str, list[Endpoint]] = {}
    for e in endpoints:
        groups.setdefault(e.locality, []).append(e)
    out = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    for loc in sorted(groups):
        group = out.endpoints.add()
        if loc:
            region, zone, subzone = [*loc.split("/", 2), "", ""][:3]
            group.locality.region, group.locality.zone, group.locality.sub_zone = (
                region,
                zone,
                subzone,
            )
        for e in groups[loc]:
            lb_ep = group.lb_endpoints.add()
            lb_ep.endpoint.address.CopyFrom(socket_address(e.address, e.port))
            if e.weight:
                lb_ep.load_balancing_weight.value = e.weight
    return out


def configure_discovery(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """Discovery type from the service resolution: EDS (CLIENT_SIDE_LB, STATIC), STRICT_DNS,
    LOGICAL_DNS, ORIGINAL_DST (PASSTHROUGH)."""
    res = ctx.service.resolution
    if res in (Resolution.CLIENT_SIDE_LB, Resolution.STATIC):
        c.type = cluster_pb2.Cluster.EDS
        c.eds_cluster_config.CopyFrom(
            cluster_pb2.Cluster.EdsClusterConfig(
                eds_config=ads_config_source(), service_name=c.name
            )
        )
    elif res in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
        c.type = (
            cluster_pb2.Cluster.STRICT_DNS
            if res is Resolution.DNS
            else cluster_pb2.Cluster.LOGICAL_DNS
        )
        c.dns_lookup_family = cluster_pb2.Cluster.V4_ONLY
        eps = sorted(
            {(e.locality, e.address, e.port): e for e in ctx.endpoints if e.healthy}.items()
        )
        if res is Resolution.DNS_ROUND_ROBIN:
            eps = eps[:1]  # LOGICAL_DNS takes exactly one host
        c.load_assignment.CopyFrom(dns_load_assignment(c.name, [e for _, e in eps]))
    else:
        c.type = cluster_pb2.Cluster.ORIGINAL_DST
        c.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED


AUTHORITY_HEADER = ":authority"


def original_dst_from_authority(c: cluster_pb2.Cluster) -> None:
    """An ORIGINAL_DST cluster that takes its destination from the request's ``:authority``
    (``IP:port``) rather than from a captured connection's original destination."""
    c.original_dst_lb_config.CopyFrom(
        cluster_pb2.Cluster.OriginalDstLbConfig(
            use_http_header=True, http_header_name=AUTHORITY_HEADER
        )
    )


def configure_explicit_original_dst(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """Explicit mode (nothing captured, so no original destination): ORIGINAL_DST clusters
    (ServiceEntry ``resolution: NONE``) take the destination from ``:authority``."""
    if c.type == cluster_pb2.Cluster.ORIGINAL_DST and is_explicit(ctx.proxy):
        original_dst_from_authority(c)


def configure_connect_timeout(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    c.connect_timeout.CopyFrom(duration(ctx.push.mesh.connect_timeout))


def configure_lb_policy(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """Istio's default load balancer is LEAST_REQUEST (ORIGINAL_DST keeps CLUSTER_PROVIDED)."""
    if c.type != cluster_pb2.Cluster.ORIGINAL_DST:
        c.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST


def configure_circuit_breakers(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """Istio's default thresholds: effectively unlimited, with remaining counts tracked."""
    c.circuit_breakers.CopyFrom(default_circuit_breakers())


def default_circuit_breakers() -> circuit_breaker_pb2.CircuitBreakers:
    return circuit_breaker_pb2.CircuitBreakers(
        thresholds=[
            circuit_breaker_pb2.CircuitBreakers.Thresholds(
                max_connections=wrappers_pb2.UInt32Value(value=_MAX),
                max_pending_requests=wrappers_pb2.UInt32Value(value=_MAX),
                max_requests=wrappers_pb2.UInt32Value(value=_MAX),
                max_retries=wrappers_pb2.UInt32Value(value=_MAX),
                track_remaining=True,
            )
        ]
    )


def configure_upstream_protocol(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """HTTP/2 upstream for http2/grpc ports; the downstream's protocol for auto-detected ports."""
    proto = ctx.port.protocol
    opts: http_protocol_options_pb2.HttpProtocolOptions | None = None
    if proto.is_http2:
        opts = http_protocol_options_pb2.HttpProtocolOptions(
            explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
            )
        )
    elif proto is Protocol.UNSUPPORTED:
        opts = http_protocol_options_pb2.HttpProtocolOptions(
            use_downstream_protocol_config=http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig(
                http_protocol_options=protocol_pb2.Http1ProtocolOptions(),
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
            )
        )
    if opts is not None:
        c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(opts))


def configure_metadata(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``istio`` filter metadata naming the service (used by telemetry), as Istio sets it."""
    md: dict[str, Any] = {
        "services": [
            {
                "host": ctx.service.hostname,
                "name": ctx.service.name,
                "namespace": ctx.service.namespace,
            }
        ],
        "default_original_port": ctx.port.port,
    }
    if ctx.subset:
        md["subset"] = ctx.subset
    dr = ctx.destination_rule
    if dr is not None:  # what `istioctl proxy-config cluster` shows as DESTINATION RULE
        md["config"] = f"/apis/networking.istio.io/v1alpha3/namespaces/{dr.namespace}/destination-rule/{dr.name}"
    c.metadata.CopyFrom(filter_metadata({"istio": md}))


DEFAULT_OUTBOUND_CONFIGURERS: tuple[ClusterConfigurer, ...] = (
    configure_discovery,
    configure_connect_timeout,
    configure_lb_policy,
    configure_circuit_breakers,
    configure_upstream_protocol,
    configure_metadata,
    *POLICY_CONFIGURERS,  # DestinationRule traffic policy (may turn a cluster ORIGINAL_DST)
    configure_auto_mtls,  # no DestinationRule tls: ISTIO_MUTUAL to sidecars, plaintext otherwise
    configure_explicit_original_dst,
    *SERVICE_ENTRY_CONFIGURERS,  # DNS refresh, NONE + targetPort
)
