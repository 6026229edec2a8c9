"""Gateway and its messages (istio/api networking/v1alpha3/gateway.proto)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import UInt32, enum_ints

__all__ = ["Gateway", "Port", "Server", "ServerTLSSettings", "TLSCertificate"]


class Port(IstioModel):
    number: UInt32 = 0
    protocol: str = ""
    name: str = ""
    target_port: UInt32 = 0


ServerTLSMode = Literal[
    "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
]
TLSProtocol = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class TLSCertificate(IstioModel):
    server_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""


class ServerTLSSettings(IstioModel):
    https_redirect: bool = False
    mode: Annotated[ServerTLSMode, enum_ints(ServerTLSMode)] = "PASSTHROUGH"
    server_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    ca_crl: str = ""
    credential_name: str = ""
    credential_names: list[str] = Field(default_factory=list)
    tls_certificates: list[TLSCertificate] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)
    verify_certificate_spki: list[str] = Field(default_factory=list)
    verify_certificate_hash: list[str] = Field(default_factory=list)
    min_protocol_version: Annotated[TLSProtocol, enum_ints(TLSProtocol)] = "TLS_AUTO"
    max_protocol_version: Annotated[TLSProtocol, enum_ints(TLSProtocol)] = "TLS_AUTO"
    cipher_suites: list[str] = Field(default_factory=list)


class Server(IstioModel):
    port: Port | None = None
    bind: str = ""
    hosts: list[str] = Field(default_factory=list)
    tls: ServerTLSSettings | None = None
    default_endpoint: str = ""
    name: str = ""


class Gateway(IstioModel):
    servers: list[Server] = Field(default_factory=list)
    selector: dict[str, str] = Field(default_factory=dict)
