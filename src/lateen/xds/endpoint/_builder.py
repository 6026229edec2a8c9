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
from lateen.xds._locality import apply_locality_lb, locality_lb_setting, proxy_locality
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


def _groups(endpoints: Iterable[Endpoint], send_unhealthy: bool) -> list[list[Endpoint]]:
    """Endpoints (unready ones only with ``send_unhealthy``) grouped by locality: groups
    sorted by locality, endpoints by address and port."""
    by_loc: dict[str, list[Endpoint]] = defaultdict(list)
    for e in endpoints:
        if e.healthy or send_unhealthy:
            by_loc[e.locality].append(e)
    return [sorted(by_loc[loc], key=lambda e: (e.address, e.port)) for loc in sorted(by_loc)]


def _assignment(
    cluster_name: str, groups: list[list[Endpoint]]
) -> endpoint_pb2.ClusterLoadAssignment:
    out = []
    for eps in groups:
        lb_eps = []
        total = 0
        for e in eps:
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
        if eps[0].locality:
            group.locality.CopyFrom(_locality(eps[0].locality))
        group.load_balancing_weight.CopyFrom(wrappers_pb2.UInt32Value(value=total))
        out.append(group)
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster_name, endpoints=out)


def load_assignment(
    cluster_name: str, endpoints: Iterable[Endpoint], *, send_unhealthy: bool = False
) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoints grouped by locality (sorted), each with its health, weight and the
    ``tlsMode`` metadata auto mTLS matches on. Unready endpoints are left out unless
    ``send_unhealthy`` (then marked UNHEALTHY), as Istio does by default."""
    return _assignment(cluster_name, _groups(endpoints, send_unhealthy))


def build_endpoints(
    proxy: Proxy, push: PushContext, *, send_unhealthy: bool = False
) -> list[endpoint_pb2.ClusterLoadAssignment]:
    """A ClusterLoadAssignment for every EDS cluster the proxy has, sorted by cluster name.
    A DestinationRule's ``localityLbSetting`` (or the mesh's) shapes it for the proxy's
    locality: weights for ``distribute``, priorities for failover (with outlier detection)."""
    out = []
    locality = proxy_locality(proxy, push)
    mesh_setting = getattr(push.mesh, "locality_lb_setting", None)
    for ctx in outbound_cluster_contexts(proxy, push):
        if ctx.service.resolution not in (Resolution.CLIENT_SIDE_LB, Resolution.STATIC):
            continue
        tp = ctx.traffic_policy
        if (
            tp is not None
            and tp.load_balancer is not None
            and tp.load_balancer.simple == "PASSTHROUGH"
        ):
            continue  # an ORIGINAL_DST cluster: no EDS
        name = names.outbound_cluster_name(ctx.port.port, ctx.subset, ctx.service.hostname)
        groups = _groups(ctx.endpoints, send_unhealthy)
        cla = _assignment(name, groups)
        lb = tp.load_balancer if tp is not None else None
        setting = locality_lb_setting(lb.locality_lb_setting if lb else None, mesh_setting)
        failover = tp is not None and tp.outlier_detection is not None
        apply_locality_lb(cla, groups, locality, proxy.labels, setting, failover)
        out.append(cla)
    out.sort(key=lambda c: c.cluster_name)
    return out
