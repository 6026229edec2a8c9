"""EDS: one ClusterLoadAssignment per EDS cluster (service port, and DR subset)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from envoy.config.core.v3 import base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from google.protobuf import wrappers_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.registry import Endpoint, Resolution
from lateen.xds import names
from lateen.xds._util import filter_metadata, socket_address
from lateen.xds.cluster._builder import outbound_cluster_contexts

__all__ = ["build_endpoints", "load_assignment"]

TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match"


def _locality(loc: str) -> base_pb2.Locality:
    parts = [*loc.split("/"), "", "", ""][:3]
    return base_pb2.Locality(region=parts[0], zone=parts[1], sub_zone=parts[2])


def _metadata(e: Endpoint) -> dict[str, dict[str, str]]:
    md = {TRANSPORT_SOCKET_MATCH: {"tlsMode": e.tls_mode}}
    if e.workload_name:
        md["istio"] = {"workload": f"{e.workload_name};{e.namespace};;;"}
    return md


def load_assignment(
    cluster_name: str, endpoints: Iterable[Endpoint], *, send_unhealthy: bool = False
) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoints grouped by locality (sorted), each with its health, weight and the
    ``tlsMode`` metadata auto mTLS matches on. Unready endpoints are left out unless
    ``send_unhealthy`` (then marked UNHEALTHY), as Istio does by default."""
    by_loc: dict[str, list[Endpoint]] = defaultdict(list)
    for e in endpoints:
        if e.healthy or send_unhealthy:
            by_loc[e.locality].append(e)
    groups = []
    for loc in sorted(by_loc):
        lb_eps = []
        total = 0
        for e in sorted(by_loc[loc], key=lambda e: (e.address, e.port)):
            ep = endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(
                    address=socket_address(e.address, e.port)
                ),
                health_status=health_check_pb2.HEALTHY if e.healthy else health_check_pb2.UNHEALTHY,
                metadata=filter_metadata(_metadata(e)),
            )
            weight = e.weight or 1
            total += weight
            if e.weight:
                ep.load_balancing_weight.CopyFrom(wrappers_pb2.UInt32Value(value=e.weight))
            lb_eps.append(ep)
        group = endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=lb_eps)
        if loc:
            group.locality.CopyFrom(_locality(loc))
        group.load_balancing_weight.CopyFrom(wrappers_pb2.UInt32Value(value=total))
        groups.append(group)
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster_name, endpoints=groups)


def build_endpoints(
    proxy: Proxy, push: PushContext, *, send_unhealthy: bool = False
) -> list[endpoint_pb2.ClusterLoadAssignment]:
    """A ClusterLoadAssignment for every EDS cluster the proxy has, sorted by cluster name."""
    out = []
    for ctx in outbound_cluster_contexts(proxy, push):
        if ctx.service.resolution not in (Resolution.CLIENT_SIDE_LB, Resolution.STATIC):
            continue
        name = names.outbound_cluster_name(ctx.port.port, ctx.subset, ctx.service.hostname)
        out.append(load_assignment(name, ctx.endpoints, send_unhealthy=send_unhealthy))
    out.sort(key=lambda c: c.cluster_name)
    return out
