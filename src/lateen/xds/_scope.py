"""What a proxy sees: its outbound services and its inbound ports (shared by the generators)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lateen.model._gateway import GatewayServer
from lateen.model._proxy import InterceptionMode, Proxy, ProxyType
from lateen.model._push_context import PushContext
from lateen.model._sidecar import EgressListener
from lateen.registry import Protocol, Service, ServicePort, labels_match
from lateen.xds import names

__all__ = [
    "GatewayServer",
    "InboundPort",
    "OutboundListenerSpec",
    "bound_egress_specs",
    "explicit_bind_host",
    "fallback_cluster",
    "gateway_servers",
    "inbound_ports",
    "is_explicit",
    "listener_bind_address",
    "outbound_listener_specs",
    "outbound_services",
    "proxy_cache_key",
    "registry_only",
    "route_services",
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
    """A port the workload behind a sidecar serves: ``port`` is the container (target) port
    (for a Sidecar ingress listener: its ``port.number``). ``endpoint`` is where the inbound
    cluster sends traffic (``(host, port)``; empty host = the proxy's inbound address) and
    ``bind`` the address of a real listener for the port (Sidecar ingress with captureMode
    NONE or ``bind``; empty = a filter chain of virtualInbound)."""

    port: int
    protocol: Protocol
    service: Service
    service_port: ServicePort
    endpoint: tuple[str, int] | None = None
    bind: str = ""


def outbound_services(proxy: Proxy, push: PushContext) -> tuple[Service, ...]:
    """Services visible to the proxy (exportTo, and the Sidecar's egress hosts for sidecars):
    the union over the Sidecar's egress listeners, the set clusters are built for."""
    return push.services_for_proxy(proxy)


def route_services(proxy: Proxy, push: PushContext, port: int) -> tuple[Service, ...]:
    """The services of the egress listener that owns route configuration ``<port>``: the
    Sidecar's listener on that port, else its catch-all listener (none: no services)."""
    listener = push.sidecar_scope(proxy).listener_for_port(port)
    return listener.services if listener is not None else ()


def registry_only(proxy: Proxy, push: PushContext) -> bool:
    """``outboundTrafficPolicy`` REGISTRY_ONLY for this proxy (its Sidecar's, else the mesh's)."""
    return push.sidecar_scope(proxy).registry_only


def fallback_cluster(proxy: Proxy, push: PushContext) -> str:
    """Where traffic to unknown destinations goes: BlackHoleCluster (REGISTRY_ONLY), the
    Sidecar's ``egressProxy`` cluster (ALLOW_ANY with an egress proxy), else
    PassthroughCluster."""
    scope = push.sidecar_scope(proxy)
    if scope.registry_only:
        return names.BLACKHOLE_CLUSTER
    ep = scope.egress_proxy
    if ep is not None and ep.host:
        host = push.resolve_host(ep.host, proxy.namespace)
        port = int(ep.port.number) if ep.port is not None else 0
        return names.outbound_cluster_name(port, ep.subset, host)
    return names.PASSTHROUGH_CLUSTER


def _placeholder_service(proxy: Proxy) -> Service:
    return Service(hostname="", namespace=proxy.namespace, name="")


def _ingress_endpoint(default_endpoint: str, port: int) -> tuple[str, int]:
    """``127.0.0.1:P`` / ``[::1]:P`` -> that address; ``0.0.0.0:P`` / ``[::]:P`` -> the
    proxy's inbound address (empty host); unset -> the inbound address on ``port``."""
    if not default_endpoint or default_endpoint.startswith("unix://"):
        return ("", port)
    host, _, p = default_endpoint.rpartition(":")
    host = host.strip("[]")
    target = int(p) if p.isdigit() else port
    return ("" if host in ("0.0.0.0", "::") else host, target)


def _sidecar_ingress_ports(
    proxy: Proxy, push: PushContext, detected: dict[int, InboundPort]
) -> tuple[InboundPort, ...]:
    out: dict[int, InboundPort] = {}
    for ing in push.sidecar_scope(proxy).ingress:
        if ing.port in out:
            continue
        known = detected.get(ing.port)
        svc = known.service if known is not None else _placeholder_service(proxy)
        sp = ServicePort(ing.port_name, ing.port, ing.protocol, ing.port)
        bind = ing.bind
        if not bind and ing.capture_mode == "NONE":
            bind = proxy.ip or "0.0.0.0"
        out[ing.port] = InboundPort(
            ing.port,
            ing.protocol,
            svc,
            sp,
            _ingress_endpoint(ing.default_endpoint, ing.port),
            bind,
        )
    return tuple(out[p] for p in sorted(out))


def inbound_ports(proxy: Proxy, push: PushContext) -> tuple[InboundPort, ...]:
    """The workload's ports: the Sidecar's ``ingress`` listeners when it has any; else from
    endpoints at the proxy's addresses, else from the services of its namespace whose
    selector matches its labels (numeric target ports only). One entry per container port;
    the first service (by hostname) wins."""
    if proxy.type is not ProxyType.SIDECAR:
        return ()
    detected = _detected_inbound_ports(proxy, push)
    if push.sidecar_scope(proxy).ingress:
        return _sidecar_ingress_ports(proxy, push, detected)
    return tuple(detected[p] for p in sorted(detected))


def _detected_inbound_ports(proxy: Proxy, push: PushContext) -> dict[int, InboundPort]:
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
    return found


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
            (p.port, p.protocol, p.service.hostname, p.service_port.port, p.endpoint, p.bind)
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
    marks auto-detected ports (HTTP chain by ALPN/http_inspector, TCP chain otherwise).
    ``bound``: a real listener on ``address`` (a Sidecar egress listener with ``bind`` or
    captureMode NONE) instead of a virtual one fed by virtualOutbound."""

    address: str
    port: int
    http: bool
    sniff: bool = False
    tcp_service: Service | None = None
    tcp_port: ServicePort | None = None
    bound: bool = False

    @property
    def name(self) -> str:
        return f"{self.address}_{self.port}"


def _virtual_specs(
    services: Iterable[Service], taken_ports: set[int]
) -> list[OutboundListenerSpec]:
    """Capture-mode listeners for ``services``: one HTTP listener per port, one TCP listener
    per (VIP, port), ports in ``taken_ports`` left out."""
    http_ports: dict[int, bool] = {}  # port -> sniff
    tcp: dict[tuple[str, int], tuple[Service, ServicePort, bool]] = {}
    wildcard_tcp: dict[int, tuple[Service, ServicePort]] = {}
    for svc in services:
        for sp in svc.ports:
            proto = sp.protocol
            if proto is Protocol.UDP or sp.port in taken_ports:
                continue
            # a VIP, not a CIDR: a ServiceEntry's `addresses: [198.18.200.0/24]` cannot name a
            # listener; such a service is served by the port's 0.0.0.0 listener (Istio matches
            # the prefix on a shared listener's filter chain instead)
            vip = next((a for a in svc.addresses if "/" not in a), None)
            if proto.is_http:
                http_ports.setdefault(sp.port, False)
            elif vip is not None:
                tcp.setdefault((vip, sp.port), (svc, sp, proto.is_unsupported))
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
    return out


def _bound_spec(listener: EgressListener) -> OutboundListenerSpec:
    """A Sidecar egress listener bound to ``bind`` (default 127.0.0.1, as Istio for
    captureMode NONE): HTTP ports get the route configuration ``<port>``; other protocols
    forward to the first imported service."""
    address = listener.bind or "127.0.0.1"
    proto = listener.protocol
    if proto.is_http or (proto.is_unsupported and not listener.services):
        return OutboundListenerSpec(address, listener.port, True, bound=True)
    svc = listener.services[0] if listener.services else None
    sp = svc.port(listener.port) if svc is not None else None
    sniff = proto.is_unsupported
    return OutboundListenerSpec(address, listener.port, sniff, sniff, svc, sp, bound=True)


def outbound_listener_specs(proxy: Proxy, push: PushContext) -> tuple[OutboundListenerSpec, ...]:
    """The outbound listeners of a capture-mode sidecar: per egress listener of its
    :class:`SidecarScope`, in order. A port-specific listener claims its port: later
    listeners (the catch-all) leave it alone. Bound listeners (``bind`` / captureMode NONE)
    are real listeners on their address."""
    out: list[OutboundListenerSpec] = []
    taken: set[int] = set()
    for listener in push.sidecar_scope(proxy).egress:
        if listener.port and listener.port in taken:
            continue
        if listener.bound:
            out.append(_bound_spec(listener))
        else:
            out.extend(_virtual_specs(listener.services, taken))
        if listener.port:
            taken.add(listener.port)
    out.sort(key=lambda s: s.name)
    return tuple(out)


def bound_egress_specs(proxy: Proxy, push: PushContext) -> tuple[OutboundListenerSpec, ...]:
    """The bound Sidecar egress listeners (explicit-mode proxies get only these)."""
    return tuple(s for s in outbound_listener_specs(proxy, push) if s.bound)


def sidecar_route_ports(proxy: Proxy, push: PushContext) -> tuple[int, ...]:
    """Ports that have an outbound RDS route configuration named ``<port>``."""
    return tuple(sorted({s.port for s in outbound_listener_specs(proxy, push) if s.http}))


def gateway_servers(proxy: Proxy, push: PushContext) -> dict[int, list[GatewayServer]]:
    """Servers of the Gateways selecting this router after Istio's merge, by port (sorted)."""
    if proxy.type is not ProxyType.ROUTER:
        return {}
    merged = push.merged_gateway(proxy).servers
    return {port: list(merged[port]) for port in sorted(merged)}
