"""The proxy as the control plane sees it: identity, type, addresses, labels, metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lateen.api._object import EMPTY

__all__ = ["NodeIdError", "Proxy", "ProxyType", "parse_node"]


class ProxyType(StrEnum):
    SIDECAR = "sidecar"
    ROUTER = "router"


class NodeIdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Proxy:
    """A connected Envoy, identified like Istio: ``sidecar~IP~POD.NS~NS.svc.cluster.local``."""

    type: ProxyType
    ip_addresses: tuple[str, ...]
    id: str  # POD.NS
    dns_domain: str  # NS.svc.cluster.local
    namespace: str
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    service_account: str = ""
    workload_name: str = ""
    cluster_id: str = "Kubernetes"
    metadata: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    @property
    def node_id(self) -> str:
        return f"{self.type}~{self.ip_addresses[0] if self.ip_addresses else ''}~{self.id}~{self.dns_domain}"

    @property
    def pod_name(self) -> str:
        name, _, _ = self.id.rpartition(".")
        return name or self.id

    @property
    def ip(self) -> str:
        return self.ip_addresses[0] if self.ip_addresses else ""


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):  # Istio sends LABELS as a struct; tolerate a JSON string too
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def parse_node(node_id: str, metadata: Mapping[str, Any] | None = None) -> Proxy:
    """Build a :class:`Proxy` from an Envoy node id and its metadata (a plain mapping, as
    decoded from the protobuf Struct). Raises :class:`NodeIdError` for a malformed id."""
    md = dict(metadata or {})
    parts = node_id.split("~")
    if len(parts) != 4:
        raise NodeIdError(f"node id {node_id!r} is not TYPE~IP~ID~DOMAIN")
    typ, ip, ident, domain = parts
    try:
        ptype = ProxyType(typ)
    except ValueError:
        raise NodeIdError(f"node id {node_id!r}: unknown proxy type {typ!r}") from None
    if not ident:
        raise NodeIdError(f"node id {node_id!r}: empty id")
    ns = str(md.get("NAMESPACE") or "")
    if not ns:
        _, _, ns = ident.rpartition(".")
    if not ns and domain:
        ns = domain.split(".", 1)[0]
    ns = ns or "default"
    ips_raw = md.get("INSTANCE_IPS")
    ips: tuple[str, ...]
    if isinstance(ips_raw, str) and ips_raw:
        ips = tuple(x.strip() for x in ips_raw.split(",") if x.strip())
    else:
        ips = (ip,) if ip else ()
    if ip and ip not in ips:
        ips = (ip, *ips)
    return Proxy(
        type=ptype,
        ip_addresses=ips,
        id=ident,
        dns_domain=domain or f"{ns}.svc.cluster.local",
        namespace=ns,
        labels=_labels(md.get("LABELS")),
        service_account=str(md.get("SERVICE_ACCOUNT") or ""),
        workload_name=str(md.get("WORKLOAD_NAME") or ""),
        cluster_id=str(md.get("CLUSTER_ID") or "Kubernetes"),
        metadata=md,
    )
