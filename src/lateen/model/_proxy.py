"""The proxy as the control plane sees it: identity, type, addresses, labels, metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lateen.api._object import EMPTY

__all__ = [
    "APP_ADDRESS_KEY",
    "INTERCEPTION_MODE_KEY",
    "PORT_BINDINGS_KEY",
    "InterceptionMode",
    "NodeIdError",
    "Proxy",
    "ProxyType",
    "VerifiedIdentity",
    "parse_node",
]

INTERCEPTION_MODE_KEY = "INTERCEPTION_MODE"  # Istio's node metadata key
APP_ADDRESS_KEY = "LATEEN_APP_ADDRESS"
PORT_BINDINGS_KEY = "LATEEN_PORT_BINDINGS"
DEFAULT_APP_ADDRESS = "127.0.0.1"


class ProxyType(StrEnum):
    SIDECAR = "sidecar"
    ROUTER = "router"


class InterceptionMode(StrEnum):
    """How traffic reaches the proxy (Istio's ``INTERCEPTION_MODE``). ``NONE``: nothing is
    captured; the app uses the proxy explicitly (``HTTP_PROXY``) and the proxy's listeners
    bind the pod's own address ("explicit" mode)."""

    REDIRECT = "REDIRECT"
    TPROXY = "TPROXY"
    NONE = "NONE"


class NodeIdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who the proxy proved to be when it connected (Istio's ``VerifiedIdentity``): the
    namespace and service account its credential is bound to. What the node metadata claims
    is not proof; this is."""

    namespace: str
    service_account: str


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
    #: set by the server when the stream carried a credential it accepted; None otherwise
    verified_identity: VerifiedIdentity | None = None

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

    @property
    def interception_mode(self) -> InterceptionMode:
        """``INTERCEPTION_MODE`` metadata; absent or unknown values mean ``REDIRECT``, as in
        Istio."""
        raw = str(self.metadata.get(INTERCEPTION_MODE_KEY) or "").strip().upper()
        try:
            return InterceptionMode(raw)
        except ValueError:
            return InterceptionMode.REDIRECT

    @property
    def app_address(self) -> str:
        """``LATEEN_APP_ADDRESS``: the address the workload listens on (default 127.0.0.1)."""
        return str(self.metadata.get(APP_ADDRESS_KEY) or "").strip() or DEFAULT_APP_ADDRESS

    @property
    def port_bindings(self) -> Mapping[int, tuple[str, int]]:
        """``LATEEN_PORT_BINDINGS``: listener port -> ``(host, port)`` the listener binds
        instead, from ``{"8080": "127.0.0.1:18080"}`` (a struct, or its JSON string).
        Malformed entries are ignored."""
        return _port_bindings(self.metadata.get(PORT_BINDINGS_KEY))


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):  # Istio sends LABELS as a struct; tolerate a JSON string too
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def _port_number(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if not text.isdigit():
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def _host_port(raw: Any) -> tuple[str, int] | None:
    """``"127.0.0.1:18080"`` (or ``"[::1]:18080"``) -> ``("127.0.0.1", 18080)``."""
    if not isinstance(raw, str):
        return None
    host, sep, port_text = raw.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = _port_number(port_text)
    if not sep or not host or port is None:
        return None
    return host, port


def _port_bindings(raw: Any) -> dict[int, tuple[str, int]]:
    if isinstance(raw, str):  # a struct on the wire; tolerate a JSON string as for LABELS
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}
    if not isinstance(raw, Mapping):
        return {}
    out: dict[int, tuple[str, int]] = {}
    for key, value in raw.items():
        port = _port_number(key)
        target = _host_port(value)
        if port is not None and target is not None:
            out[port] = target
    return dict(sorted(out.items()))


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
