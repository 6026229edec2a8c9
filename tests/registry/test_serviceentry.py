"""ServiceEntry -> services and endpoints, as Istio's serviceentry conversion: location,
resolution, addresses, endpoint ports (``ports`` > ``targetPort`` > ``number``), tlsMode, and
the host itself as the endpoint of a DNS entry without endpoints."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.registry import Registry, Resolution, build_registry


def registry(spec: str) -> Registry:
    text = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
    text += "metadata: {name: se, namespace: default}\nspec:\n" + textwrap.indent(
        textwrap.dedent(spec), "  "
    )
    result = load_yaml(text, "test")
    assert result.ok, result.errors
    return build_registry(result.objects)


def summary(reg: Registry) -> list[dict[str, Any]]:
    return [
        {
            "host": s.hostname,
            "addresses": list(s.addresses),
            "resolution": s.resolution.value,
            "external": s.mesh_external,
            "endpoints": [
                (e.address, e.service_port, e.port, e.tls_mode) for e in reg.service_endpoints(s)
            ],
        }
        for s in reg.services
    ]


CASES: list[tuple[str, str, list[dict[str, Any]]]] = [
    (
        "none-defaults-external",
        """
        hosts: [legacy.example.com]
        ports: [{number: 7000, name: tcp, protocol: TCP}]
        """,
        [{"host": "legacy.example.com", "addresses": [], "resolution": Resolution.PASSTHROUGH,
          "external": True, "endpoints": []}],
    ),
    (
        "static-endpoint-ports",
        """
        hosts: [api.example.com]
        addresses: [198.18.201.10/32, 198.18.201.11]
        location: MESH_INTERNAL
        resolution: STATIC
        ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
        endpoints:
        - {address: 198.18.201.21}
        - {address: 198.18.201.22, ports: {http: 9090}}
        """,
        [{"host": "api.example.com", "addresses": ["198.18.201.10", "198.18.201.11"],
          "resolution": Resolution.STATIC, "external": False,
          "endpoints": [("198.18.201.21", 80, 8080, "disabled"),
                        ("198.18.201.22", 80, 9090, "disabled")]}],
    ),
    (
        "dns-host-itself-with-target-port",
        """
        hosts: [httpbin.example.com, other.example.com]
        resolution: DNS
        ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8000}]
        """,
        [{"host": "httpbin.example.com", "addresses": [], "resolution": Resolution.DNS,
          "external": True, "endpoints": [("httpbin.example.com", 80, 8000, "disabled")]},
         {"host": "other.example.com", "addresses": [], "resolution": Resolution.DNS,
          "external": True, "endpoints": [("other.example.com", 80, 8000, "disabled")]}],
    ),
    (
        "dns-round-robin-endpoint",
        """
        hosts: [rr.example.com]
        resolution: DNS_ROUND_ROBIN
        ports: [{number: 443, name: tls, protocol: TLS}]
        endpoints: [{address: first.rr.example.com}]
        """,
        [{"host": "rr.example.com", "addresses": [], "resolution": Resolution.DNS_ROUND_ROBIN,
          "external": True, "endpoints": [("first.rr.example.com", 443, 443, "disabled")]}],
    ),
    (
        "tls-mode-from-service-account-or-label",
        """
        hosts: [vm.example]
        location: MESH_INTERNAL
        resolution: STATIC
        ports: [{number: 9080, name: http, protocol: HTTP}]
        endpoints:
        - {address: 198.18.202.5, serviceAccount: vm}
        - {address: 198.18.202.6, serviceAccount: vm, labels: {security.istio.io/tlsMode: disabled}}
        - {address: 198.18.202.7, labels: {security.istio.io/tlsMode: istio}}
        - {address: 198.18.202.8}
        """,
        [{"host": "vm.example", "addresses": [], "resolution": Resolution.STATIC,
          "external": False,
          "endpoints": [("198.18.202.5", 9080, 9080, "istio"),
                        ("198.18.202.6", 9080, 9080, "disabled"),
                        ("198.18.202.7", 9080, 9080, "istio"),
                        ("198.18.202.8", 9080, 9080, "disabled")]}],
    ),
]


@pytest.mark.parametrize(("spec", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_service_entry(spec: str, want: list[dict[str, Any]]) -> None:
    assert summary(registry(spec)) == want


def test_passthrough_keeps_target_port_for_the_cluster() -> None:
    reg = registry("""
        hosts: [legacy.example.com]
        resolution: NONE
        ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: 7070}]
        """)
    (svc,) = reg.services
    assert svc.port(7000) is not None and svc.port(7000).target_port == 7070  # type: ignore[union-attr]
