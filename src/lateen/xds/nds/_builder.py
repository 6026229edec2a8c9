"""The name table of a proxy (Istio's ``BuildNameTable``): every hostname the proxy sees that
has addresses, for the agent's DNS proxy. Pure."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from lateen.protos.nds import REGISTRY_KUBERNETES, NameInfo

if TYPE_CHECKING:
    from lateen.model import Proxy, PushContext
    from lateen.registry import Service

__all__ = ["build_name_table"]

# Multi-cluster (MCS) hosts keep no short name: they would shadow the cluster.local ones.
_CLUSTERSET_SUFFIX = ".svc.clusterset.local"
_PASSTHROUGH = "PASSTHROUGH"  # lateen.registry.Resolution.PASSTHROUGH (headless, SE NONE)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _addresses(svc: Service, push: PushContext) -> list[str]:
    """The service's VIPs (CIDRs dropped: a name cannot resolve to a range); without any, a
    headless service (or a ServiceEntry with resolution NONE) resolves to its endpoints'
    addresses on its first port, as Kubernetes DNS does."""
    vips = [a for a in svc.addresses if _is_ip(a)]
    if vips or svc.addresses:
        return vips
    if svc.resolution != _PASSTHROUGH or not svc.ports:
        return []
    out: list[str] = []
    for ep in push.endpoints(svc, svc.ports[0].port):
        if _is_ip(ep.address) and ep.address not in out:
            out.append(ep.address)
    return out


def build_name_table(proxy: Proxy, push: PushContext) -> dict[str, NameInfo]:
    """``{hostname: NameInfo}`` for the services visible to ``proxy`` (exportTo, Sidecar egress
    hosts) that have addresses: Kubernetes Services by clusterIP (headless: endpoint
    addresses), ServiceEntry hosts by ``addresses`` (wildcard hosts included: the agent
    answers for any name under them). Services without an address are left out (their
    names are resolved by the platform's DNS). Sorted by hostname."""
    out: dict[str, NameInfo] = {}
    for svc in push.services_for_proxy(proxy):
        ips = _addresses(svc, push)
        if not ips:
            continue
        registry = str(svc.registry)
        short = ""
        namespace = ""
        if registry == REGISTRY_KUBERNETES and not svc.hostname.endswith(_CLUSTERSET_SUFFIX):
            # the agent derives name, name.ns and name.ns.svc from these
            short, namespace = svc.name, svc.namespace
        out[svc.hostname] = NameInfo(
            ips=tuple(ips), registry=registry, shortname=short, namespace=namespace
        )
    return dict(sorted(out.items()))
