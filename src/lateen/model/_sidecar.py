"""SidecarScope: what one Sidecar resource (or the mesh default) lets a sidecar see.

Istio's semantics (``pilot/pkg/model/sidecar.go``):

- every egress listener imports the services named by its ``hosts`` (``ns/host``; ``.`` is
  the proxy's namespace, ``*`` any namespace, ``~`` none): a service is imported when an
  entry of its namespace or a ``*/`` entry matches its hostname. Among imported services of
  one hostname, the proxy's namespace wins, then Kubernetes services over ServiceEntries.
- a listener with a ``port`` imports only that port of each service (services without it
  are left out), unless the port's protocol is ``HTTP_PROXY``.
- VirtualServices bound to ``mesh`` whose namespace and hosts a listener imports add
  their destination services too (for clusters; trimmed to the destination ports when
  every destination names one), never overriding an imported hostname.
- the scope's services are the union over its listeners (ports merged per hostname).
- ``outboundTrafficPolicy`` of the Sidecar, else the mesh's.
- without a Sidecar (and for gateways) the scope is one catch-all listener importing
  every service exported to the namespace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lateen.api._object import ConfigObject
from lateen.model._host import host_matches, hosts_intersect, resolve_short_name
from lateen.registry import Protocol, Service, ServiceRegistryKind, parse_protocol

__all__ = [
    "EgressListener",
    "IngressListener",
    "SidecarScope",
    "build_sidecar_scope",
    "default_sidecar_scope",
]

ALLOW_ANY = "ALLOW_ANY"
REGISTRY_ONLY = "REGISTRY_ONLY"


@dataclass(frozen=True, slots=True)
class EgressListener:
    """One egress listener: ``port`` 0 is the catch-all. ``services`` are trimmed to
    ``port`` when it is set; ``bound`` means a real listener on ``bind`` (captureMode
    NONE or an explicit ``bind``) instead of a capture-mode virtual one."""

    services: tuple[Service, ...]
    port: int = 0
    protocol: Protocol = Protocol.UNSUPPORTED
    port_name: str = ""
    bind: str = ""
    capture_mode: str = "DEFAULT"

    @property
    def bound(self) -> bool:
        return bool(self.port) and (bool(self.bind) or self.capture_mode == "NONE")


@dataclass(frozen=True, slots=True)
class IngressListener:
    """One Sidecar ingress listener: traffic for ``port`` goes to ``default_endpoint``
    (``127.0.0.1:P`` / ``0.0.0.0:P`` / empty = the workload on ``port``)."""

    port: int
    protocol: Protocol
    port_name: str = ""
    bind: str = ""
    capture_mode: str = "DEFAULT"
    default_endpoint: str = ""


@dataclass(frozen=True, slots=True)
class SidecarScope:
    namespace: str  # the proxy's namespace the scope was computed for
    sidecar: ConfigObject | None
    egress: tuple[EgressListener, ...]
    services: tuple[Service, ...]  # union over egress listeners, sorted by hostname
    outbound_mode: str = ALLOW_ANY
    egress_proxy: Any = None  # lateen.api.networking.Destination
    ingress: tuple[IngressListener, ...] = ()

    @property
    def registry_only(self) -> bool:
        return self.outbound_mode == REGISTRY_ONLY

    @property
    def catch_all(self) -> EgressListener | None:
        for e in self.egress:
            if not e.port:
                return e
        return None

    def listener_for_port(self, port: int) -> EgressListener | None:
        """The egress listener whose services a route configuration ``<port>`` shows: the
        first listener on that port, else the catch-all (Istio's GetEgressListenerForRDS)."""
        for e in self.egress:
            if not e.port or e.port == port:
                return e
        return None


def default_sidecar_scope(
    namespace: str, visible: tuple[Service, ...], outbound_mode: str
) -> SidecarScope:
    """The scope without a Sidecar: every visible service, the mesh's traffic policy."""
    return SidecarScope(namespace, None, (EgressListener(visible),), visible, outbound_mode)


def _import_table(hosts: Iterable[str], proxy_ns: str) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for entry in hosts:
        ns, sep, host = entry.partition("/")
        if not sep:  # validation rejects this form; read it as any namespace
            ns, host = "*", entry
        if ns == ".":
            ns = proxy_ns
        table.setdefault(ns, []).append(host)
    return table


def _imported_hosts(table: Mapping[str, list[str]], namespace: str) -> list[str]:
    """The host patterns that apply to a namespace: its own entries and the ``*/`` ones."""
    return [*table.get(namespace, ()), *table.get("*", ())]


def _trim_to_port(svc: Service, port: int) -> Service | None:
    sp = svc.port(port)
    if sp is None:
        return None
    return svc if len(svc.ports) == 1 else replace(svc, ports=(sp,))


def _vs_destinations(vs: ConfigObject) -> dict[str, set[int]]:
    """Destination host -> ports it is reached on (0: no port named, i.e. every port)."""
    spec = vs.spec
    dests: list[Any] = []
    for h in spec.http:
        dests.extend(d.destination for d in h.route)
        dests.append(h.mirror)
        dests.extend(m.destination for m in h.mirrors)
    for r in (*spec.tcp, *spec.tls):
        dests.extend(d.destination for d in r.route)
    out: dict[str, set[int]] = {}
    for d in dests:
        if d is not None and d.host:
            port = int(d.port.number) if d.port is not None and d.port.number else 0
            out.setdefault(d.host, set()).add(port)
    return out


def _trim_to_ports(svc: Service, ports: set[int]) -> Service | None:
    if 0 in ports:
        return svc
    kept = tuple(p for p in svc.ports if p.port in ports)
    if not kept:
        return None
    return svc if len(kept) == len(svc.ports) else replace(svc, ports=kept)


def build_sidecar_scope(
    sidecar: ConfigObject,
    proxy_ns: str,
    visible_services: Iterable[Service],
    mesh_virtual_services: Iterable[ConfigObject],
    domain_suffix: str,
    mesh_outbound_mode: str,
) -> SidecarScope:
    """The scope of ``sidecar`` for a proxy of ``proxy_ns``. ``visible_services``: every
    service exported to ``proxy_ns`` (all namespaces, sorted by hostname);
    ``mesh_virtual_services``: VirtualServices bound to ``mesh`` visible from ``proxy_ns``."""
    spec = sidecar.spec
    visible = tuple(visible_services)
    by_host: dict[str, list[Service]] = {}
    for s in visible:
        by_host.setdefault(s.hostname, []).append(s)
    vss = tuple(mesh_virtual_services)
    egress_specs = list(spec.egress) or [None]

    listeners: list[EgressListener] = []
    union: dict[str, Service] = {}

    def add(svc: Service) -> None:
        found = union.get(svc.hostname)
        if found is None:
            union[svc.hostname] = svc
        elif found.namespace == svc.namespace:
            have = {p.port for p in found.ports}
            extra = tuple(p for p in svc.ports if p.port not in have)
            if extra:
                union[svc.hostname] = replace(found, ports=found.ports + extra)

    for eg in egress_specs:
        hosts = eg.hosts if eg is not None else ["*/*"]
        port = int(eg.port.number) if eg is not None and eg.port is not None else 0
        protocol = parse_protocol(eg.port.protocol) if eg is not None and eg.port else Protocol.UNSUPPORTED
        match_port = port if port and protocol is not Protocol.HTTP_PROXY else 0
        table = _import_table(hosts, proxy_ns)

        def pick(cands: Iterable[Service], match_port: int = match_port) -> Service | None:
            chosen: Service | None = None
            for s in cands:
                if match_port:
                    trimmed = _trim_to_port(s, match_port)
                    if trimmed is None:
                        continue
                    s = trimmed
                if (
                    chosen is None
                    or s.namespace == proxy_ns
                    or (
                        chosen.namespace != proxy_ns
                        and chosen.registry is not ServiceRegistryKind.KUBERNETES
                        and s.registry is ServiceRegistryKind.KUBERNETES
                    )
                ):
                    chosen = s
                if s.namespace == proxy_ns:
                    break
            return chosen

        services: list[Service] = []
        for hostname, cands in by_host.items():
            imported = [
                s
                for s in cands
                if any(host_matches(h, hostname) for h in _imported_hosts(table, s.namespace))
            ]
            svc = pick(imported)
            if svc is not None:
                services.append(svc)
        listeners.append(
            EgressListener(
                tuple(services),
                port,
                protocol,
                eg.port.name if eg is not None and eg.port is not None else "",
                eg.bind if eg is not None else "",
                eg.capture_mode if eg is not None else "DEFAULT",
            )
        )
        for s in services:
            add(s)
        # destinations of the VirtualServices this listener imports
        for vs in vss:
            patterns = _imported_hosts(table, vs.namespace)
            vs_hosts = [resolve_short_name(h, vs.namespace, domain_suffix) for h in vs.spec.hosts]
            if not any(hosts_intersect(p, h) for p in patterns for h in vs_hosts):
                continue
            for dest, ports in _vs_destinations(vs).items():
                hostname = resolve_short_name(dest, vs.namespace, domain_suffix)
                cands = by_host.get(hostname, [])
                own = [s for s in cands if s.namespace == proxy_ns]
                first = sorted(cands, key=lambda s: s.namespace)[:1]
                svc = pick(own or first)
                if svc is not None and svc.hostname not in union:
                    trimmed = _trim_to_ports(svc, ports)
                    if trimmed is not None:
                        union[svc.hostname] = trimmed

    otp = spec.outbound_traffic_policy
    mode = otp.mode if otp is not None else mesh_outbound_mode
    ingress = tuple(
        IngressListener(
            int(i.port.number),
            parse_protocol(i.port.protocol),
            i.port.name,
            i.bind,
            i.capture_mode,
            i.default_endpoint,
        )
        for i in spec.ingress
        if i.port is not None and i.port.number
    )
    return SidecarScope(
        proxy_ns,
        sidecar,
        tuple(listeners),
        tuple(union[h] for h in sorted(union)),
        mode,
        otp.egress_proxy if otp is not None and mode == ALLOW_ANY else None,
        ingress,
    )
