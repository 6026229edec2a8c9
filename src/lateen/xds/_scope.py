"""What a proxy sees: its outbound services and its inbound ports (shared by the generators)."""

from __future__ import annotations

from dataclasses import dataclass

from lateen.model._gateway import GatewayServer
from lateen.model._proxy import InterceptionMode, Proxy, ProxyType
from lateen.model._push_context import PushContext
from lateen.registry import Protocol, Service, ServicePort, labels_match

__all__ = [
    "GatewayServer",
    "InboundPort",
    "OutboundListenerSpec",
    "explicit_bind_host",
    "gateway_servers",
    "inbound_ports",
    "is_explicit",
    "listener_bind_address",
    "outbound_listener_specs",
    "outbound_services",
    "proxy_cache_key",
    "sidecar_route_ports",
]


def is_explicit(proxy: Proxy) -> bool:
    """``INTERCEPTION_MODE: NONE``: nothing captures traffic; the app uses the sidecar as its
    HTTP proxy and the proxy's listeners bind the pod's own address."""
    return proxy.interception_mode is InterceptionMode.NONE


def explicit_bind_host(proxy: Proxy) -> str:
    """Where an explicit-mode proxy's listeners bind: its (first) IP, else 127.0.0.1 (Istio
    binds to localhost when nothing is captured)."""
    return proxy.ip or "127.0.0.1"


def listener_bind_address(proxy: Proxy, port: int, default_host: str) -> tuple[str, int]:
    """The ``(host, port)`` the listener for ``port`` binds: ``LATEEN_PORT_BINDINGS`` when it
    names the port, else ``(default_host, port)``."""
    return proxy.port_bindings.get(port) or (default_host, port)


@dataclass(frozen=True, slots=True)
class InboundPort:
    """A port the workload behind a sidecar serves: ``port`` is the container (target) port."""

    port: int
    protocol: Protocol
    service: Service
    service_port: ServicePort


def outbound_services(proxy: Proxy, push: PushContext) -> tuple[Service, ...]:
    """Services visible to the proxy (exportTo, and the Sidecar's egress hosts for sidecars)."""
    return push.services_for_proxy(proxy)


def inbound_ports(proxy: Proxy, push: PushContext) -> tuple[InboundPort, ...]:
    """The workload's ports: from endpoints at the proxy's addresses, else from the services
    of its namespace whose selector matches its labels (numeric target ports only).
    One entry per container port; the first service (by hostname) wins."""
    if proxy.type is not ProxyType.SIDECAR:
        return ()
    found: dict[int, InboundPort] = {}
    for svc, ep in push.instances_at(proxy.ip_addresses):
        sp = svc.port(ep.service_port)
        if sp is not None and sp.protocol is not Protocol.UDP and ep.port not in found:
            found[ep.port] = InboundPort(ep.port, sp.protocol, svc, sp)
    if not found:
        for svc in push.services:
            if (
                svc.namespace != proxy.namespace
                or svc.mesh_external
                or not svc.selector
                or not labels_match(svc.selector, proxy.labels)
            ):
                continue
            for sp in svc.ports:
                if isinstance(sp.target_port, str) and not sp.target_port.isdigit():
                    continue
                port = int(sp.target_port) if sp.target_port else sp.port
                if sp.protocol is not Protocol.UDP and port not in found:
                    found[port] = InboundPort(port, sp.protocol, svc, sp)
    return tuple(found[p] for p in sorted(found))


def proxy_cache_key(proxy: Proxy, push: PushContext, *, with_addresses: bool) -> tuple[object, ...]:
    """Proxies with equal keys get identical output from the same push."""
    # labels matter to a sidecar's output only when some config selects on them; gateways
    # are always selected by label
    label_sensitive = proxy.type is not ProxyType.SIDECAR or push.selects_on_labels
    key: tuple[object, ...] = (
        push.version,
        proxy.type,
        proxy.namespace,
        tuple(sorted(proxy.labels.items())) if label_sensitive else None,
    )
    if with_addresses:
        # the output depends on the proxy's addresses only through its inbound ports, so
        # replicas of one workload (same labels, same ports) share one generation
        inbound = tuple(
            (p.port, p.protocol, p.service.hostname, p.service_port.port)
            for p in inbound_ports(proxy, push)
        )
        key += (inbound, str(proxy.metadata.get("INBOUND_ADDRESS", "")))
    # explicit mode and port bindings make the output depend on the proxy itself: listeners
    # bind its address (or the bound ones), inbound clusters point at its app address; its
    # route configurations differ in kind ("15001" instead of per-port). Capture-mode proxies
    # without bindings keep their shared keys.
    explicit = is_explicit(proxy)
    bindings = proxy.port_bindings
    if explicit or bindings:
        key += (InterceptionMode.NONE if explicit else None,)
        if with_addresses:
            key += (proxy.ip, proxy.app_address if explicit else None, tuple(bindings.items()))
    return key


@dataclass(frozen=True, slots=True)
class OutboundListenerSpec:
    """One outbound listener of a sidecar: ``0.0.0.0_<port>`` for HTTP (route config
    ``<port>``), ``<vip>_<port>`` (or ``0.0.0.0_<port>`` without a VIP) for TCP; ``sniff``
    marks auto-detected ports (HTTP chain by ALPN/http_inspector, TCP chain otherwise)."""

    address: str
    port: int
    http: bool
    sniff: bool = False
    tcp_service: Service | None = None
    tcp_port: ServicePort | None = None

    @property
    def name(self) -> str:
        return f"{self.address}_{self.port}"


def outbound_listener_specs(proxy: Proxy, push: PushContext) -> tuple[OutboundListenerSpec, ...]:
    http_ports: dict[int, bool] = {}  # port -> sniff
    tcp: dict[tuple[str, int], tuple[Service, ServicePort, bool]] = {}
    wildcard_tcp: dict[int, tuple[Service, ServicePort]] = {}
    for svc in outbound_services(proxy, push):
        for sp in svc.ports:
            proto = sp.protocol
            if proto is Protocol.UDP:
                continue
            if proto.is_http:
                http_ports.setdefault(sp.port, False)
            elif svc.addresses:
                tcp.setdefault((svc.addresses[0], sp.port), (svc, sp, proto.is_unsupported))
            elif proto.is_unsupported:
                http_ports[sp.port] = True
            else:
                wildcard_tcp.setdefault(sp.port, (svc, sp))
    out: list[OutboundListenerSpec] = []
    for port, sniff in http_ports.items():
        out.append(OutboundListenerSpec("0.0.0.0", port, True, sniff))
    for port, (svc, sp) in wildcard_tcp.items():
        if port not in http_ports:
            out.append(OutboundListenerSpec("0.0.0.0", port, False, False, svc, sp))
    for (addr, port), (svc, sp, sniff) in tcp.items():
        out.append(OutboundListenerSpec(addr, port, sniff, sniff, svc, sp))
    out.sort(key=lambda s: s.name)
    return tuple(out)


def sidecar_route_ports(proxy: Proxy, push: PushContext) -> tuple[int, ...]:
    """Ports that have an outbound RDS route configuration named ``<port>``."""
    return tuple(sorted({s.port for s in outbound_listener_specs(proxy, push) if s.http}))


def gateway_servers(proxy: Proxy, push: PushContext) -> dict[int, list[GatewayServer]]:
    """Servers of the Gateways selecting this router after Istio's merge, by port (sorted)."""
    if proxy.type is not ProxyType.ROUTER:
        return {}
    merged = push.merged_gateway(proxy).servers
    return {port: list(merged[port]) for port in sorted(merged)}
