"""Port protocols and Istio's protocol inference from port names and ``appProtocol``."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Protocol", "infer_protocol", "parse_protocol"]


class Protocol(StrEnum):
    """Istio's ``protocol.Instance``. ``UNSUPPORTED`` means "auto-detect" (sniffing)."""

    GRPC = "GRPC"
    GRPC_WEB = "GRPC-Web"
    HTTP = "HTTP"
    HTTP_PROXY = "HTTP_PROXY"
    HTTP2 = "HTTP2"
    HTTPS = "HTTPS"
    TCP = "TCP"
    TLS = "TLS"
    UDP = "UDP"
    MONGO = "Mongo"
    REDIS = "Redis"
    MYSQL = "MySQL"
    UNSUPPORTED = "UnsupportedProtocol"

    @property
    def is_http(self) -> bool:
        return self in _HTTP

    @property
    def is_http2(self) -> bool:
        return self in (Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB)

    @property
    def is_tcp(self) -> bool:
        """Plain L4 forwarding (TCP, TLS, HTTPS and the opaque database protocols)."""
        return self in _TCP

    @property
    def is_tls(self) -> bool:
        return self in (Protocol.HTTPS, Protocol.TLS)

    @property
    def is_unsupported(self) -> bool:
        return self is Protocol.UNSUPPORTED


_HTTP = frozenset(
    {Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY}
)
_TCP = frozenset(
    {Protocol.TCP, Protocol.HTTPS, Protocol.TLS, Protocol.MONGO, Protocol.REDIS, Protocol.MYSQL}
)

_BY_NAME = {
    "tcp": Protocol.TCP,
    "udp": Protocol.UDP,
    "grpc": Protocol.GRPC,
    "grpc-web": Protocol.GRPC_WEB,
    "http": Protocol.HTTP,
    "http_proxy": Protocol.HTTP_PROXY,
    "http2": Protocol.HTTP2,
    "https": Protocol.HTTPS,
    "tls": Protocol.TLS,
    "mongo": Protocol.MONGO,
    "redis": Protocol.REDIS,
    "mysql": Protocol.MYSQL,
}

# Ports that are well known and never auto-detected (Istio pkg/config/kube/conversion.go).
_WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306})


def parse_protocol(name: str) -> Protocol:
    """Istio's ``protocol.Parse``: a protocol name, any case; unknown -> UNSUPPORTED."""
    return _BY_NAME.get(name.lower(), Protocol.UNSUPPORTED)


def infer_protocol(
    port: int, name: str = "", transport: str = "TCP", app_protocol: str | None = None
) -> Protocol:
    """Istio's ``kube.ConvertProtocol``: ``appProtocol`` wins, else the port name's prefix
    (``http-web`` -> HTTP, ``grpc-web...`` -> GRPC-Web); UDP ports are UDP; an unnamed or
    unrecognised port is auto-detected, except the well-known TCP ports 25, 53 and 3306."""
    if transport.upper() == "UDP":
        return Protocol.UDP
    n = name
    if app_protocol:
        n = app_protocol
        if n == "kubernetes.io/h2c":
            return Protocol.HTTP2
        if n in ("kubernetes.io/ws", "kubernetes.io/wss"):
            return Protocol.HTTP
    if n.lower().startswith("grpc-web"):
        return Protocol.GRPC_WEB
    prefix, _, _ = n.partition("-")
    p = parse_protocol(prefix)
    if p is Protocol.UNSUPPORTED and port in _WELL_KNOWN_TCP_PORTS:
        return Protocol.TCP
    return p
