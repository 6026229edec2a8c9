"""Registry building: Kubernetes Service + Endpoints / EndpointSlice / pods, ServiceEntry +
WorkloadEntry, and Istio's protocol inference."""

from __future__ import annotations

import textwrap

import pytest

from lateen.api import load_yaml
from lateen.registry import Protocol, Registry, Resolution, build_registry, infer_protocol


def registry(text: str) -> Registry:
    result = load_yaml(textwrap.dedent(text), "test")
    assert result.ok, result.errors
    return build_registry(result.objects)


SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo, annotations: {networking.istio.io/exportTo: "., istio-system"}}
spec:
  clusterIP: 198.18.0.12
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 9080}
  - {name: grpc-api, port: 9090, targetPort: api}
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v2
  namespace: bookinfo
  labels: {app: reviews, version: v2, security.istio.io/tlsMode: istio, istio-locality: us.east.a}
spec:
  serviceAccountName: bookinfo-reviews
  containers: [{name: app, image: x, ports: [{name: api, containerPort: 19090}]}]
status: {podIP: 198.19.0.13}
---
"""

ENDPOINTS = """
apiVersion: v1
kind: Endpoints
metadata: {name: reviews, namespace: bookinfo}
subsets:
- addresses: [{ip: 198.19.0.13, targetRef: {kind: Pod, name: reviews-v2, namespace: bookinfo}}]
  notReadyAddresses: [{ip: 198.19.0.99}]
  ports: [{name: http, port: 9080}, {name: grpc-api, port: 19090}]
"""

SLICE = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-x1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}, {name: grpc-api, port: 19090}]
endpoints:
- addresses: [198.19.0.13]
  targetRef: {kind: Pod, name: reviews-v2, namespace: bookinfo}
- addresses: [198.19.0.99]
  conditions: {ready: false}
"""


def test_kube_service_fields() -> None:
    reg = registry(SERVICE)
    (svc,) = reg.services
    assert svc.hostname == "reviews.bookinfo.svc.cluster.local"
    assert (svc.namespace, svc.name, svc.addresses) == ("bookinfo", "reviews", ("198.18.0.12",))
    assert svc.resolution is Resolution.CLIENT_SIDE_LB
    assert [(p.name, p.port, p.protocol, p.target_port) for p in svc.ports] == [
        ("http", 9080, Protocol.HTTP, 9080),
        ("grpc-api", 9090, Protocol.GRPC, "api"),
    ]
    assert svc.export_to == frozenset({".", "istio-system"})
    assert dict(svc.selector or {}) == {"app": "reviews"}


@pytest.mark.parametrize(
    "source", [ENDPOINTS, SLICE, ""], ids=["Endpoints", "EndpointSlice", "pods"]
)
def test_endpoints(source: str) -> None:
    reg = registry(SERVICE + source)
    (svc,) = reg.services
    eps = reg.service_endpoints(svc)
    healthy = [e for e in eps if e.healthy]
    assert [(e.address, e.port, e.service_port, e.service_port_name) for e in healthy] == [
        ("198.19.0.13", 9080, 9080, "http"),
        ("198.19.0.13", 19090, 9090, "grpc-api"),
    ]
    e = healthy[0]
    assert e.labels["version"] == "v2"
    assert e.service_account == "bookinfo-reviews"
    assert e.tls_mode == "istio"
    assert e.locality == "us/east/a"
    unhealthy = [e.address for e in eps if not e.healthy]
    assert unhealthy == ([] if not source else ["198.19.0.99", "198.19.0.99"])


def test_slice_wins_over_endpoints() -> None:
    reg = registry(SERVICE + ENDPOINTS.replace("198.19.0.13", "198.19.0.50") + "---\n" + SLICE)
    (svc,) = reg.services
    assert {e.address for e in reg.service_endpoints(svc) if e.healthy} == {"198.19.0.13"}


def test_headless_and_external_name() -> None:
    reg = registry(
        """
        apiVersion: v1
        kind: Service
        metadata: {name: db, namespace: default}
        spec: {clusterIP: None, ports: [{name: tcp, port: 5432}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: ext, namespace: default}
        spec: {type: ExternalName, externalName: example.com, ports: [{name: http, port: 80}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec: {ports: [{name: http, port: 80}]}
        """
    )
    db, ext, web = reg.services
    assert (db.resolution, db.addresses) == (Resolution.PASSTHROUGH, ())
    # no clusterIP written in the manifest is not headless (the API server would allocate one)
    assert (web.resolution, web.addresses) == (Resolution.CLIENT_SIDE_LB, ())
    assert (ext.resolution, ext.mesh_external) == (Resolution.DNS, True)
    assert [(e.address, e.port) for e in reg.service_endpoints(ext)] == [("example.com", 80)]


def test_service_entry_and_workload_entry() -> None:
    reg = registry(
        """
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: vm, namespace: ns1}
        spec:
          hosts: [api.vm.internal, api2.vm.internal]
          addresses: [240.0.0.5]
          location: MESH_INTERNAL
          resolution: STATIC
          exportTo: ["."]
          ports: [{number: 8080, name: http, protocol: HTTP, targetPort: 9090}]
          workloadSelector: {labels: {app: vm}}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: vm-1, namespace: ns1}
        spec: {address: 198.18.0.5, labels: {app: vm, version: v1}, serviceAccount: vm, weight: 2}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: vm-other-ns, namespace: ns2}
        spec: {address: 198.18.0.6, labels: {app: vm}}
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: ext, namespace: ns1}
        spec:
          hosts: [httpbin.org]
          resolution: DNS
          ports: [{number: 443, name: https, protocol: HTTPS}]
        """
    )
    assert [s.hostname for s in reg.services] == [
        "api.vm.internal",
        "api2.vm.internal",
        "httpbin.org",
    ]
    vm = reg.services[0]
    assert (vm.resolution, vm.mesh_external, vm.addresses) == (
        Resolution.STATIC,
        False,
        ("240.0.0.5",),
    )
    assert vm.export_to == frozenset({"."})
    (ep,) = reg.service_endpoints(vm)
    assert (ep.address, ep.port, ep.weight, ep.service_account) == ("198.18.0.5", 9090, 2, "vm")
    ext = reg.services[2]
    assert (ext.resolution, ext.mesh_external, ext.ports[0].protocol) == (
        Resolution.DNS,
        True,
        Protocol.HTTPS,
    )
    assert [(e.address, e.port) for e in reg.service_endpoints(ext)] == [("httpbin.org", 443)]


@pytest.mark.parametrize(
    ("port", "name", "transport", "app_protocol", "expected"),
    [
        (80, "http", "TCP", None, Protocol.HTTP),
        (80, "http-web", "TCP", None, Protocol.HTTP),
        (80, "HTTP2-x", "TCP", None, Protocol.HTTP2),
        (80, "grpc", "TCP", None, Protocol.GRPC),
        (80, "grpc-web", "TCP", None, Protocol.GRPC_WEB),
        (80, "grpc-web-x", "TCP", None, Protocol.GRPC_WEB),
        (443, "https", "TCP", None, Protocol.HTTPS),
        (443, "tls-x", "TCP", None, Protocol.TLS),
        (9000, "tcp-echo", "TCP", None, Protocol.TCP),
        (27017, "mongo", "TCP", None, Protocol.MONGO),
        (6379, "redis", "TCP", None, Protocol.REDIS),
        (3306, "mysql", "TCP", None, Protocol.MYSQL),
        (8080, "", "TCP", None, Protocol.UNSUPPORTED),
        (8080, "web", "TCP", None, Protocol.UNSUPPORTED),
        (3306, "", "TCP", None, Protocol.TCP),
        (53, "dns", "UDP", None, Protocol.UDP),
        (8080, "web", "TCP", "http", Protocol.HTTP),
        (8080, "http", "TCP", "kubernetes.io/h2c", Protocol.HTTP2),
        (8080, "", "TCP", "kubernetes.io/ws", Protocol.HTTP),
        (8080, "http", "TCP", "tcp", Protocol.TCP),
    ],
    ids=lambda v: str(v),
)
def test_protocol_inference(
    port: int, name: str, transport: str, app_protocol: str | None, expected: Protocol
) -> None:
    assert infer_protocol(port, name, transport, app_protocol) is expected
