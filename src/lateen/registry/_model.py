"""The service registry's values: services, their ports, and their endpoints (as Istio's
``model.Service`` / ``model.Port`` / ``model.IstioEndpoint``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from lateen.registry._protocol import Protocol

__all__ = [
    "Endpoint",
    "Registry",
    "Resolution",
    "Service",
    "ServicePort",
    "ServiceRegistryKind",
    "labels_match",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class Resolution(StrEnum):
    CLIENT_SIDE_LB = "CLIENT_SIDE_LB"  # EDS
    DNS = "DNS"  # STRICT_DNS
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"  # LOGICAL_DNS
    PASSTHROUGH = "PASSTHROUGH"  # ORIGINAL_DST (headless, ServiceEntry NONE)
    STATIC = "STATIC"  # ServiceEntry STATIC: EDS with the listed addresses


class ServiceRegistryKind(StrEnum):
    KUBERNETES = "Kubernetes"
    EXTERNAL = "External"  # ServiceEntry


@dataclass(frozen=True, slots=True, order=True)
class ServicePort:
    name: str
    port: int
    protocol: Protocol
    target_port: int | str = 0  # number, or a named container port; 0 = same as port

    @property
    def numeric_target_port(self) -> int:
        return (
            self.target_port
            if isinstance(self.target_port, int) and self.target_port
            else self.port
        )


@dataclass(frozen=True, slots=True)
class Service:
    hostname: str
    namespace: str
    name: str
    ports: tuple[ServicePort, ...] = ()
    addresses: tuple[str, ...] = ()  # VIPs (clusterIP / ServiceEntry addresses)
    resolution: Resolution = Resolution.CLIENT_SIDE_LB
    mesh_external: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    selector: Mapping[str, str] | None = None  # None: no selector (endpoints managed by hand)
    export_to: frozenset[str] = frozenset()  # empty = mesh default ("*")
    registry: ServiceRegistryKind = ServiceRegistryKind.KUBERNETES
    creation_timestamp: str = ""

    @property
    def default_address(self) -> str:
        """The first VIP, or ``0.0.0.0`` (Istio's wildcard) when the service has none."""
        return self.addresses[0] if self.addresses else "0.0.0.0"

    def port(self, number: int) -> ServicePort | None:
        for p in self.ports:
            if p.port == number:
                return p
        return None

    def port_by_name(self, name: str) -> ServicePort | None:
        for p in self.ports:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address:port of one service port (Istio's ``IstioEndpoint``)."""

    address: str
    port: int  # the endpoint (container) port
    service_port_name: str
    service_port: int  # the service port this endpoint serves
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    namespace: str = ""
    service_account: str = ""
    tls_mode: str = "disabled"  # label security.istio.io/tlsMode: "istio" | "disabled"
    locality: str = ""  # region/zone/subzone
    weight: int = 0  # 0 = unset (Envoy default 1)
    healthy: bool = True
    workload_name: str = ""


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """True when every selector label is present with the same value (empty selects all)."""
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True, slots=True)
class Registry:
    """Every service and its endpoints; built by :func:`build_registry`.

    ``services`` is sorted by (hostname, namespace); ``endpoints`` maps
    ``(hostname, namespace)`` to the endpoints of that service, sorted."""

    services: tuple[Service, ...] = ()
    endpoints: Mapping[tuple[str, str], tuple[Endpoint, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def service_endpoints(self, service: Service, port: int | None = None) -> tuple[Endpoint, ...]:
        eps = self.endpoints.get((service.hostname, service.namespace), ())
        if port is None:
            return eps
        return tuple(e for e in eps if e.service_port == port)

    def services_by_hostname(self, hostname: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.hostname == hostname)
