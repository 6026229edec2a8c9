"""Service VIPs for transparent mode: what the Kubernetes API server does for
``spec.clusterIP`` — allocate one when a Service has none, keep it for the Service's life."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from lateen.api import ConfigKey, ConfigObject

__all__ = ["assign_cluster_ips"]


def _service_spec(obj: ConfigObject) -> Mapping[str, Any] | None:
    """A Service's ``spec`` (a Kubernetes object's ``ConfigObject.spec`` is its whole body)."""
    if obj.group != "" or obj.kind != "Service" or not isinstance(obj.spec, Mapping):
        return None
    spec = obj.spec.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _cluster_ip(obj: ConfigObject) -> str:
    spec = _service_spec(obj)
    return str(spec.get("clusterIP") or "") if spec is not None else ""


def _needs_vip(obj: ConfigObject) -> bool:
    spec = _service_spec(obj)
    return spec is not None and not spec.get("clusterIP") and (spec.get("type") or "ClusterIP") != "ExternalName"


def _with_vip(obj: ConfigObject, vip: str) -> ConfigObject:
    spec = {**(_service_spec(obj) or {}), "clusterIP": vip, "clusterIPs": [vip]}
    return dataclasses.replace(obj, spec={**obj.spec, "spec": spec})


def assign_cluster_ips(
    objects: Iterable[ConfigObject],
    current: Mapping[ConfigKey, ConfigObject],
    network: ipaddress.IPv4Network,
    reserved: Iterable[str] = (),
) -> list[ConfigObject]:
    """``objects`` with a ``clusterIP`` on every Service lacking one: the VIP the Service
    already has in ``current`` (a re-apply keeps it), else the lowest free address of
    ``network`` from ``.11`` on (``reserved`` and every VIP in use excluded)."""
    objects = list(objects)
    used = {str(r) for r in reserved}
    for o in [*current.values(), *objects]:
        ip = _cluster_ip(o)
        if ip and ip != "None":
            used.add(ip)
    out = []
    next_host = int(network.network_address) + 11
    for o in objects:
        if not _needs_vip(o):
            out.append(o)
            continue
        old = current.get(o.key)
        old_ip = _cluster_ip(old) if old is not None else ""
        if old_ip and old_ip != "None":
            out.append(_with_vip(o, old_ip))
            continue
        while str(ipaddress.IPv4Address(next_host)) in used:
            next_host += 1
        if next_host >= int(network.broadcast_address):
            raise ValueError(f"Service VIP range {network} is exhausted")
        vip = str(ipaddress.IPv4Address(next_host))
        used.add(vip)
        out.append(_with_vip(o, vip))
    return out
