"""Gateways merged per workload, as Istio merges them (``pilot/pkg/model/gateway.go``).

Every Gateway that selects a router contributes its servers, taken in the Gateways' order
(creation time, then namespace/name) and then in the order they are listed. Per port:

- the first server decides what the port is: plain text (HTTP, HTTP2, GRPC, TCP, ... without
  TLS settings, or HTTP with ``tls.httpsRedirect``) or TLS (HTTPS/TLS with ``tls``);
- on a plain-text port, a later server is merged only when both are HTTP (they share the route
  configuration ``http.<port>``); anything else (HTTPS onto an HTTP port, a second TCP server)
  is dropped;
- on a TLS port, a later server is merged when it has TLS settings (filter chains tell servers
  apart by SNI); an HTTPS server that terminates TLS needs a route configuration name
  ``https.<port>.<portName>.<gateway>.<namespace>`` not taken yet;
- a server with TLS settings whose host is already served with TLS on the port is dropped
  (Envoy would reject two filter chains with the same SNI match).

A dropped server is reported as a :class:`GatewayConflict` (the push context logs it once per
push); the servers kept come out as :class:`GatewayServer` values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lateen.api._object import ConfigObject
from lateen.registry import Protocol, parse_protocol

__all__ = [
    "GatewayConflict",
    "GatewayServer",
    "MergedGateway",
    "gateway_route_name",
    "merge_gateways",
]

_PASSTHROUGH_MODES = ("PASSTHROUGH", "AUTO_PASSTHROUGH")


def gateway_route_name(server: Any, gateway_name: str, gateway_namespace: str) -> str:
    """RDS name of a server: ``http.<port>`` (HTTP protocols), ``https.<port>.<portName>.
    <gateway>.<namespace>`` (HTTPS terminating TLS), else empty (TCP, TLS, passthrough)."""
    proto = parse_protocol(server.port.protocol)
    number = int(server.port.number)
    if proto.is_http:
        return f"http.{number}"
    tls = server.tls
    if proto is Protocol.HTTPS and tls is not None and tls.mode not in _PASSTHROUGH_MODES:
        return f"https.{number}.{server.port.name}.{gateway_name}.{gateway_namespace}"
    return ""


def _sanitized_hosts(hosts: Sequence[str], namespace: str) -> tuple[str, ...]:
    """Istio's host forms: ``./h`` -> ``<ns>/h``, ``*/h`` -> ``h``, ``*/*`` -> just ``*``."""
    out: list[str] = []
    for h in hosts:
        ns, sep, name = h.partition("/")
        if not sep:
            out.append(h)
        elif ns == ".":
            out.append(f"{namespace}/{name}")
        elif ns == "*":
            if name == "*":
                return ("*",)
            out.append(name)
        else:
            out.append(h)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class GatewayServer:
    """One server a merged gateway keeps: its Gateway (``ns/name``, as VirtualService
    ``gateways`` names it), the API ``Server``, its protocol and RDS name (empty for L4)."""

    gateway: str
    namespace: str
    server: Any  # lateen.api.networking.Server
    protocol: Protocol
    route_name: str = ""
    sanitized_hosts: tuple[str, ...] = ()

    @property
    def port(self) -> int:
        return int(self.server.port.number)

    @property
    def port_name(self) -> str:
        return str(self.server.port.name)

    @property
    def tls_mode(self) -> str:
        """The TLS mode, empty without TLS settings or for an httpsRedirect-only server."""
        tls = self.server.tls
        if tls is None or self.protocol.is_http:
            return ""
        return str(tls.mode)

    @property
    def is_http(self) -> bool:
        """Plain HTTP servers (an HTTP server with ``tls.httpsRedirect`` only redirects)."""
        return self.protocol.is_http

    @property
    def https_redirect(self) -> bool:
        return bool(self.server.tls is not None and self.server.tls.https_redirect)

    @property
    def terminates_http(self) -> bool:
        """HTTPS with TLS terminated here: an HCM behind a TLS transport socket."""
        return self.protocol is Protocol.HTTPS and self.tls_mode not in ("", *_PASSTHROUGH_MODES)

    @property
    def is_passthrough(self) -> bool:
        return self.tls_mode in _PASSTHROUGH_MODES

    def hosts(self) -> list[tuple[str, str]]:
        """``(namespace, host)`` pairs; namespace ``*`` = any, ``.`` resolved to the gateway's."""
        out = []
        for h in self.sanitized_hosts or _sanitized_hosts(self.server.hosts, self.namespace):
            ns, sep, host = h.partition("/")
            if not sep:
                ns, host = "*", h
            out.append((ns, host))
        return out

    @property
    def sni_hosts(self) -> tuple[str, ...]:
        """The SNI names of a TLS server's filter chain: its hosts without namespace, sorted
        and unique (``*`` means any name: no SNI match)."""
        return tuple(sorted({h for _, h in self.hosts()}))


@dataclass(frozen=True, slots=True)
class GatewayConflict:
    """A server Istio's merge drops, with why."""

    gateway: str
    server_index: int
    port: int
    reason: str

    def message(self) -> str:
        return (
            f"skipping server {self.server_index} (port {self.port}) of gateway "
            f"{self.gateway}: {self.reason}"
        )


@dataclass(frozen=True, slots=True)
class MergedGateway:
    """Servers by port (ports in the order first seen), and what was dropped."""

    servers: dict[int, tuple[GatewayServer, ...]]
    conflicts: tuple[GatewayConflict, ...] = ()

    def route_names(self) -> dict[str, tuple[GatewayServer, ...]]:
        """RDS name -> the servers whose virtual hosts it holds."""
        out: dict[str, list[GatewayServer]] = {}
        for servers in self.servers.values():
            http_port = servers[0].is_http
            for s in servers:
                if s.route_name and (s.is_http if http_port else s.terminates_http):
                    out.setdefault(s.route_name, []).append(s)
        return {k: tuple(v) for k, v in out.items()}


@dataclass
class _MergeState:
    ports: dict[int, list[GatewayServer]]
    plaintext: dict[int, Protocol]  # port -> protocol of its first (plain-text) server
    route_names: set[str]
    tls_hosts: dict[int, set[str]]


def _admit(gs: GatewayServer, st: _MergeState) -> str:
    """Add ``gs`` to the merge; the reason it is dropped, or empty when kept."""
    number, tls = gs.port, gs.server.tls
    if tls is not None:
        known = st.tls_hosts.setdefault(number, set())
        dup = sorted(h for h in gs.sanitized_hosts if h in known)
        if dup:
            return f"duplicate host names {dup}"
        known.update(gs.sanitized_hosts)
    if number not in st.ports:
        st.ports[number] = [gs]
        if tls is None or gs.protocol.is_http:
            st.plaintext[number] = gs.protocol
        if gs.route_name:
            st.route_names.add(gs.route_name)
        return ""
    if number in st.plaintext:
        first = st.plaintext[number]
        if not (gs.protocol.is_http and first.is_http):
            return f"conflict with the {first.value} server already on the port"
        st.ports[number].append(gs)
        return ""
    if gs.is_http or gs.terminates_http:
        if gs.route_name in st.route_names:
            return f"route name {gs.route_name} is already used"
        st.route_names.add(gs.route_name)
    if tls is None:
        return "a server without TLS settings cannot share a TLS port"
    st.ports[number].append(gs)
    return ""


def merge_gateways(gateways: Sequence[ConfigObject]) -> MergedGateway:
    """Merge ``gateways`` (already in Istio's order) into one logical gateway."""
    st = _MergeState({}, {}, set(), {})
    conflicts: list[GatewayConflict] = []
    for gw in gateways:
        gw_name = f"{gw.namespace}/{gw.name}"
        for i, server in enumerate(gw.spec.servers):
            if server.port is None or not server.port.number:
                continue
            gs = GatewayServer(
                gw_name,
                gw.namespace,
                server,
                parse_protocol(server.port.protocol),
                gateway_route_name(server, gw.name, gw.namespace),
                _sanitized_hosts(server.hosts, gw.namespace),
            )
            reason = _admit(gs, st)
            if reason:
                conflicts.append(GatewayConflict(gw_name, i, gs.port, reason))
    return MergedGateway({p: tuple(s) for p, s in st.ports.items()}, tuple(conflicts))
