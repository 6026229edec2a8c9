"""SidecarScope as Istio computes it: which Sidecar applies, which services each egress
listener imports (hosts, ports, VirtualService destinations, exportTo), the traffic policy,
and what the generators make of it (listeners, route services, fallback cluster)."""

from __future__ import annotations

import pytest

from lateen.api import load_yaml
from lateen.model import MeshConfig, Proxy, ProxyType, build_push_context
from lateen.xds._scope import (
    fallback_cluster,
    inbound_ports,
    outbound_listener_specs,
    route_services,
)

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: a, namespace: default}
spec:
  clusterIP: 198.19.0.1
  selector: {app: a}
  ports: [{name: http, port: 8000}, {name: tcp, port: 9000}]
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: default}
spec:
  clusterIP: 198.19.0.2
  selector: {app: b}
  ports: [{name: http, port: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: other}
spec:
  clusterIP: 198.19.0.3
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: d, namespace: other}
spec:
  clusterIP: 198.19.0.4
  ports: [{name: http, port: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: hidden, namespace: other, annotations: {networking.istio.io/exportTo: "."}}
spec:
  clusterIP: 198.19.0.5
  ports: [{name: http, port: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: gw, namespace: istio-system}
spec:
  clusterIP: 198.19.0.6
  ports: [{name: http, port: 15021}]
"""


def _sidecar(ns: str, spec: str, name: str = "default") -> str:
    return (
        f"apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n"
    )


def _push(*docs: str, mesh: MeshConfig | None = None):  # type: ignore[no-untyped-def]
    res = load_yaml("\n---\n".join([SERVICES, *docs]), "test")
    assert not res.errors, res.errors
    return build_push_context(res.objects, mesh, version="t")


def _proxy(ns: str = "default", labels: dict[str, str] | None = None, kind: str = "sidecar") -> Proxy:
    return Proxy(
        type=ProxyType(kind),
        ip_addresses=("198.18.0.9",),
        id=f"p.{ns}",
        dns_domain=f"{ns}.svc.cluster.local",
        namespace=ns,
        labels=labels or {"app": "client"},
    )


def _names(services) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{s.name}.{s.namespace}:{','.join(str(p.port) for p in s.ports)}" for s in services]


ALL = ["a.default:8000,9000", "b.default:8000", "c.other:9080", "d.other:8000", "gw.istio-system:15021"]

SCOPE_CASES = [
    ("no-sidecar", [], ALL),
    ("dot-star", [_sidecar("default", '{egress: [{hosts: ["./*"]}]}')],
     ["a.default:8000,9000", "b.default:8000"]),
    ("ns-star", [_sidecar("default", '{egress: [{hosts: ["other/*"]}]}')],
     ["c.other:9080", "d.other:8000"]),
    ("star-host", [_sidecar("default", '{egress: [{hosts: ["*/d.other.svc.cluster.local"]}]}')],
     ["d.other:8000"]),
    ("wildcard-host", [_sidecar("default", '{egress: [{hosts: ["*/*.other.svc.cluster.local"]}]}')],
     ["c.other:9080", "d.other:8000"]),
    ("tilde-imports-nothing", [_sidecar("default", '{egress: [{hosts: ["~/*"]}]}')], []),
    # an entry naming the namespace does not stop */ entries from importing there (Istio 1.2x)
    ("ns-entry-and-star-entry",
     [_sidecar("default", '{egress: [{hosts: ["./a.default.svc.cluster.local", "*/b.default.svc.cluster.local"]}]}')],
     ["a.default:8000,9000", "b.default:8000"]),
    ("port-trims", [_sidecar("default", '{egress: [{port: {number: 8000, protocol: HTTP, name: h}, hosts: ["*/*"]}]}')],
     ["a.default:8000", "b.default:8000", "d.other:8000"]),
    ("ports-merge-across-listeners",
     [_sidecar("default", '{egress: [{port: {number: 9000, protocol: TCP, name: t}, hosts: ["./*"]}, {hosts: ["./a.default.svc.cluster.local"]}]}')],
     ["a.default:9000,8000"]),
    ("http-proxy-port-does-not-trim",
     [_sidecar("default", '{egress: [{port: {number: 3128, protocol: HTTP_PROXY, name: p}, bind: 127.0.0.1, hosts: ["./*"]}]}')],
     ["a.default:8000,9000", "b.default:8000"]),
    ("root-namespace-dot-is-proxy-namespace", [_sidecar("istio-system", '{egress: [{hosts: ["./*"]}]}')],
     ["a.default:8000,9000", "b.default:8000"]),
    ("namespace-sidecar-beats-root",
     [_sidecar("istio-system", '{egress: [{hosts: ["./*"]}]}'), _sidecar("default", '{egress: [{hosts: ["istio-system/*"]}]}')],
     ["gw.istio-system:15021"]),
    ("selector-beats-namespace",
     [_sidecar("default", '{egress: [{hosts: ["./*"]}]}'),
      _sidecar("default", '{workloadSelector: {labels: {app: client}}, egress: [{hosts: ["other/*"]}]}', "client")],
     ["c.other:9080", "d.other:8000"]),
    ("selector-not-matching",
     [_sidecar("default", '{egress: [{hosts: ["./*"]}]}'),
      _sidecar("default", '{workloadSelector: {labels: {app: nobody}}, egress: [{hosts: ["other/*"]}]}', "x")],
     ["a.default:8000,9000", "b.default:8000"]),
    ("other-namespace-sidecar-ignored", [_sidecar("other", '{egress: [{hosts: ["./*"]}]}')], ALL),
    ("vs-destination-added-with-its-port",
     [_sidecar("default", '{egress: [{hosts: ["./b.default.svc.cluster.local"]}]}'),
      "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b, namespace: default}\n"
      "spec: {hosts: [b], http: [{route: [{destination: {host: a, port: {number: 9000}}}]}]}"],
     ["a.default:9000", "b.default:8000"]),
    ("vs-not-imported-adds-nothing",
     [_sidecar("default", '{egress: [{hosts: ["./b.default.svc.cluster.local"]}]}'),
      "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c, namespace: other}\n"
      "spec: {hosts: [c], http: [{route: [{destination: {host: a.default.svc.cluster.local}}]}]}"],
     ["b.default:8000"]),
]


@pytest.mark.parametrize("docs,want", [(d, w) for _, d, w in SCOPE_CASES], ids=[c[0] for c in SCOPE_CASES])
def test_scope_services(docs: list[str], want: list[str]) -> None:
    push = _push(*docs)
    assert _names(push.sidecar_scope(_proxy()).services) == want
    # the memo returns the same scope
    assert push.sidecar_scope(_proxy()) is push.sidecar_scope(_proxy())


def test_gateways_ignore_sidecars() -> None:
    push = _push(_sidecar("istio-system", '{egress: [{hosts: ["~/*"]}]}'))
    router = _proxy("istio-system", {"istio": "ingressgateway"}, kind="router")
    assert _names(push.services_for_proxy(router)) == ALL
    assert push.services_for_proxy(_proxy("istio-system")) == ()


REG = MeshConfig.from_dict({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})
POLICY_CASES = [
    ("mesh-allow-any", None, "", "PassthroughCluster"),
    ("mesh-registry-only", REG, "", "BlackHoleCluster"),
    ("sidecar-registry-only", None, "outboundTrafficPolicy: {mode: REGISTRY_ONLY}", "BlackHoleCluster"),
    ("sidecar-empty-policy-is-registry-only", None, "outboundTrafficPolicy: {}", "BlackHoleCluster"),
    ("sidecar-allow-any-over-mesh", REG, "outboundTrafficPolicy: {mode: ALLOW_ANY}", "PassthroughCluster"),
    ("egress-proxy", None,
     "outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: d.other.svc.cluster.local, subset: v1, port: {number: 8000}}}",
     "outbound|8000|v1|d.other.svc.cluster.local"),
]


@pytest.mark.parametrize("mesh,policy,want", [c[1:] for c in POLICY_CASES], ids=[c[0] for c in POLICY_CASES])
def test_outbound_traffic_policy(mesh: MeshConfig | None, policy: str, want: str) -> None:
    docs = [_sidecar("default", "{egress: [{hosts: ['*/*']}], " + policy + "}")] if policy else []
    push = _push(*docs, mesh=mesh)
    assert fallback_cluster(_proxy(), push) == want


def test_port_listener_owns_its_route_and_catch_all_skips_the_port() -> None:
    push = _push(_sidecar("default", '{egress: [{port: {number: 8000, protocol: HTTP, name: h}, hosts: ["other/*"]}, {hosts: ["./*"]}]}'))
    proxy = _proxy()
    assert _names(route_services(proxy, push, 8000)) == ["d.other:8000"]
    assert _names(route_services(proxy, push, 9000)) == ["a.default:8000,9000", "b.default:8000"]
    assert [s.name for s in outbound_listener_specs(proxy, push)] == ["0.0.0.0_8000", "198.19.0.1_9000"]


def test_bound_egress_listener() -> None:
    push = _push(_sidecar("default", '{egress: [{port: {number: 8000, protocol: HTTP, name: h}, captureMode: NONE, hosts: ["./*"]}]}'))
    specs = outbound_listener_specs(_proxy(), push)
    assert [(s.name, s.bound, s.http) for s in specs] == [("127.0.0.1_8000", True, True)]


INGRESS_CASES = [
    ("localhost", "{port: {number: 8000, protocol: HTTP, name: h}, defaultEndpoint: '127.0.0.1:18000'}",
     (8000, "HTTP", ("127.0.0.1", 18000), "")),
    ("instance-ip", "{port: {number: 8000, protocol: HTTP, name: h}, defaultEndpoint: '0.0.0.0:8001'}",
     (8000, "HTTP", ("", 8001), "")),
    ("unset-endpoint", "{port: {number: 7000, protocol: TCP, name: t}}", (7000, "TCP", ("", 7000), "")),
    ("capture-none-binds-pod-ip", "{port: {number: 7000, protocol: TCP, name: t}, captureMode: NONE}",
     (7000, "TCP", ("", 7000), "198.18.0.9")),
    ("explicit-bind", "{port: {number: 7000, protocol: TCP, name: t}, bind: 127.0.0.5}",
     (7000, "TCP", ("", 7000), "127.0.0.5")),
]


@pytest.mark.parametrize("listener,want", [c[1:] for c in INGRESS_CASES], ids=[c[0] for c in INGRESS_CASES])
def test_ingress_replaces_detected_ports(listener: str, want: tuple[object, ...]) -> None:
    push = _push(_sidecar("default", "{workloadSelector: {labels: {app: a}}, ingress: [" + listener + "]}"))
    ports = inbound_ports(_proxy(labels={"app": "a"}), push)
    assert [(p.port, p.protocol.value, p.endpoint, p.bind) for p in ports] == [want]
    # without the Sidecar: the Service's two ports
    assert [p.port for p in inbound_ports(_proxy(labels={"app": "a"}), _push())] == [8000, 9000]
