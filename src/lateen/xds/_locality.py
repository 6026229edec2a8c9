"""Locality-aware load balancing, as Istio applies a DestinationRule's ``localityLbSetting``.

A proxy's locality (``region/zone/subzone``) comes from its topology labels
(``topology.kubernetes.io/region``, ``topology.kubernetes.io/zone``,
``topology.istio.io/subzone``), else its ``istio-locality`` label, else the locality the
registry gives its own endpoints. :func:`apply_locality_lb` rewrites a ClusterLoadAssignment
for that proxy:

* ``distribute``: the first rule whose ``from`` matches the proxy's locality sets each
  matching locality's weight (split over the localities a wildcard ``to`` matches, in
  proportion to their own weights, rounded up); localities no ``to`` names lose their
  endpoints.
* failover (only with outlier detection, else Envoy never sees a host fail): each locality
  gets a priority: 0 same region/zone/subzone, 1 same zone, 2 same region, 3 elsewhere (4
  when a ``failover`` rule from the proxy's region names another region); with
  ``failoverPriority`` the endpoints are first split by how many of the listed labels
  (``label`` or ``label=value``) they share with the proxy. Priorities are then renumbered
  0..N without gaps.

Pure functions of their arguments.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from google.protobuf import wrappers_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.registry import Endpoint

__all__ = [
    "Locality",
    "apply_locality_lb",
    "lb_priority",
    "locality_cache_key",
    "locality_lb_setting",
    "locality_match",
    "parse_locality",
    "proxy_locality",
]

Locality = tuple[str, str, str]  # region, zone, subzone

REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
LOCALITY_LABEL = "istio-locality"


def parse_locality(text: str) -> Locality:
    """``us-east/zone-a/rack-1`` -> ``("us-east", "zone-a", "rack-1")`` (missing parts empty)."""
    parts = [*text.split("/", 2), "", ""]
    return parts[0], parts[1], parts[2]


def proxy_locality(proxy: Proxy, push: PushContext) -> Locality:
    """The proxy's locality: its topology labels, else ``istio-locality`` (dots for slashes),
    else the locality of its own service endpoints; empty when nothing says."""
    labels = proxy.labels
    if any(k in labels for k in (REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL)):
        return (
            labels.get(REGION_LABEL, ""),
            labels.get(ZONE_LABEL, ""),
            labels.get(SUBZONE_LABEL, ""),
        )
    if labels.get(LOCALITY_LABEL):
        return parse_locality(labels[LOCALITY_LABEL].replace(".", "/"))
    for _, ep in push.instances_at(proxy.ip_addresses):
        if ep.locality:
            return parse_locality(ep.locality)
    return "", "", ""


def locality_match(proxy: Locality, rule: str) -> bool:
    """Does the ``region/zone/subzone`` pattern (``*`` or missing parts match anything below
    the region) cover the proxy's locality?"""
    region, zone, subzone = parse_locality(rule)
    return (
        region in ("*", proxy[0]) and zone in ("*", "", proxy[1]) and subzone in ("*", "", proxy[2])
    )


def lb_priority(proxy: Locality, endpoint: Locality) -> int:
    """0 same subzone, 1 same zone, 2 same region, 3 elsewhere."""
    if proxy[0] != endpoint[0]:
        return 3
    if proxy[1] != endpoint[1]:
        return 2
    return 0 if proxy[2] == endpoint[2] else 1


def locality_lb_setting(dr_setting: Any, mesh_setting: Any = None) -> Any:
    """The setting in force: the DestinationRule's (``enabled: false`` turns locality load
    balancing off), else the mesh's (Istio's default mesh enables it with no rules, which
    means default failover once outlier detection is set). ``None``: off."""
    if dr_setting is not None:
        return None if dr_setting.enabled is False else dr_setting
    if mesh_setting is not None and mesh_setting.enabled is False:
        return None
    return mesh_setting if mesh_setting is not None else _MESH_DEFAULT


class _Enabled:
    """Istio's default mesh ``localityLbSetting: {enabled: true}``."""

    enabled = True
    distribute: Sequence[Any] = ()
    failover: Sequence[Any] = ()
    failover_priority: Sequence[str] = ()


_MESH_DEFAULT = _Enabled()


def _group_locality(group: endpoint_components_pb2.LocalityLbEndpoints) -> Locality:
    loc = group.locality
    return loc.region, loc.zone, loc.sub_zone


def _weight(ep: endpoint_components_pb2.LbEndpoint) -> int:
    return ep.load_balancing_weight.value if ep.HasField("load_balancing_weight") else 1


def _apply_distribute(
    cla: endpoint_pb2.ClusterLoadAssignment, proxy: Locality, distribute: Sequence[Any]
) -> None:
    for rule in distribute:
        if not locality_match(proxy, rule.from_):
            continue
        unmatched = set(range(len(cla.endpoints)))
        for loc, weight in rule.to.items():
            chosen: dict[int, int] = {}
            for i, group in enumerate(cla.endpoints):
                if i in unmatched and locality_match(_group_locality(group), loc):
                    unmatched.discard(i)
                    own = (
                        group.load_balancing_weight.value
                        if group.HasField("load_balancing_weight")
                        else 1
                    )
                    chosen[i] = own
            total = sum(chosen.values())
            for i, own in chosen.items():
                share = own * weight / total
                if share > 0:
                    cla.endpoints[i].load_balancing_weight.CopyFrom(
                        wrappers_pb2.UInt32Value(value=math.ceil(share))
                    )
        for i in unmatched:
            del cla.endpoints[i].lb_endpoints[:]
        return


def _renumber(priorities: Sequence[int]) -> list[int]:
    """Map priorities onto 0..N without gaps, keeping their order."""
    order = {p: i for i, p in enumerate(sorted(set(priorities)))}
    return [order[p] for p in priorities]


def _apply_failover(
    cla: endpoint_pb2.ClusterLoadAssignment, proxy: Locality, failover: Sequence[Any]
) -> None:
    raw = []
    for group in cla.endpoints:
        loc = _group_locality(group)
        priority = lb_priority(proxy, loc)
        if priority == 3:
            for rule in failover:
                if rule.from_ == proxy[0]:
                    if loc[0] != rule.to:
                        priority = 4
                    break
        raw.append(group.priority * 5 + priority)
    for group, p in zip(cla.endpoints, _renumber(raw), strict=True):
        group.priority = p


def _priority_labels(entries: Sequence[str]) -> list[tuple[str, str | None]]:
    """``label`` or ``label=value`` (the value to match instead of the proxy's own)."""
    out: list[tuple[str, str | None]] = []
    for e in entries:
        name, sep, value = e.partition("=")
        out.append((name, value if sep else None))
    return out


def _apply_failover_priority(
    cla: endpoint_pb2.ClusterLoadAssignment,
    groups: Sequence[Sequence[Endpoint]],
    proxy_labels: Mapping[str, str],
    failover_priority: Sequence[str],
) -> None:
    if not proxy_labels or not groups:
        return
    wanted = _priority_labels(failover_priority)
    lowest = len(wanted)
    out: list[endpoint_components_pb2.LocalityLbEndpoints] = []
    for group, eps in zip(cla.endpoints, groups, strict=True):
        by_priority: dict[int, list[int]] = defaultdict(list)
        for i, ep in enumerate(eps):
            priority = 0
            for j, (name, value) in enumerate(wanted):
                want = value if value is not None else proxy_labels.get(name)
                if want != ep.labels.get(name):
                    priority = lowest - j
                    break
            by_priority[priority].append(i)
        for priority in sorted(by_priority):
            part = endpoint_components_pb2.LocalityLbEndpoints()
            part.CopyFrom(group)
            del part.lb_endpoints[:]
            part.lb_endpoints.extend(group.lb_endpoints[i] for i in by_priority[priority])
            part.priority = priority
            part.load_balancing_weight.CopyFrom(
                wrappers_pb2.UInt32Value(value=sum(_weight(e) for e in part.lb_endpoints))
            )
            out.append(part)
    for part, p in zip(out, _renumber([g.priority for g in out]), strict=True):
        part.priority = p
    del cla.endpoints[:]
    cla.endpoints.extend(out)


def apply_locality_lb(
    cla: endpoint_pb2.ClusterLoadAssignment,
    groups: Sequence[Sequence[Endpoint]] | None,
    proxy: Locality,
    proxy_labels: Mapping[str, str],
    setting: Any,
    enable_failover: bool,
) -> None:
    """Rewrite ``cla`` (its LocalityLbEndpoints, with ``groups`` their registry endpoints in
    the same order, or None where unknown) for a proxy at ``proxy`` under ``setting``."""
    if setting is None:
        return
    if setting.distribute:
        _apply_distribute(cla, proxy, setting.distribute)
    elif enable_failover:
        if setting.failover_priority:
            _apply_failover_priority(cla, groups or (), proxy_labels, setting.failover_priority)
            if setting.failover:
                _apply_failover(cla, proxy, setting.failover)
        else:
            _apply_failover(cla, proxy, setting.failover)


_FAILOVER_PRIORITY_SEEN: list[tuple[PushContext, bool]] = []  # the last push's answer


def _uses_failover_priority(push: PushContext) -> bool:
    """Does any rule (or the mesh) set ``failoverPriority``? Asked once per proxy and xDS type
    of a push: the answer for the last push is kept."""
    if _FAILOVER_PRIORITY_SEEN and _FAILOVER_PRIORITY_SEEN[0][0] is push:
        return _FAILOVER_PRIORITY_SEEN[0][1]
    answer = _scan_failover_priority(push)
    _FAILOVER_PRIORITY_SEEN[:] = [(push, answer)]
    return answer


def _scan_failover_priority(push: PushContext) -> bool:
    def has(tp: Any) -> bool:
        if tp is None:
            return False
        lbs = [tp.load_balancer, *(pl.load_balancer for pl in tp.port_level_settings)]
        return any(
            lb is not None
            and lb.locality_lb_setting is not None
            and bool(lb.locality_lb_setting.failover_priority)
            for lb in lbs
        )

    mesh = getattr(push.mesh, "locality_lb_setting", None)
    if mesh is not None and mesh.failover_priority:
        return True
    return any(
        has(dr.spec.traffic_policy) or any(has(s.traffic_policy) for s in dr.spec.subsets)
        for dr in push.destination_rules
    )


def locality_cache_key(proxy: Proxy, push: PushContext) -> tuple[object, ...]:
    """What of the proxy, beyond the generators' usual cache key, locality load balancing
    reads: its locality, and its labels when some rule has a ``failoverPriority``."""
    labels = tuple(sorted(proxy.labels.items())) if _uses_failover_priority(push) else None
    return (proxy_locality(proxy, push), labels)
