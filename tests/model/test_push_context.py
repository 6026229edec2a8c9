"""PushContext indexes: DestinationRule lookup precedence, VirtualService binding and
visibility, Sidecar egress scoping, gateway selection; MeshConfig loading."""

from __future__ import annotations

import textwrap

import pytest

from lateen.api import load_yaml
from lateen.model import (
    MeshConfig,
    OutboundTrafficPolicyMode,
    Proxy,
    ProxyType,
    PushContext,
    build_push_context,
    load_mesh_config,
    mesh_config_from_configmap,
)


def push_of(text: str) -> PushContext:
    result = load_yaml(textwrap.dedent(text), "test")
    assert result.ok, result.errors
    return build_push_context(result.objects, MeshConfig(), version="v1")


def proxy(
    ns: str, labels: dict[str, str] | None = None, typ: ProxyType = ProxyType.SIDECAR
) -> Proxy:
    return Proxy(typ, ("198.18.0.1",), f"p.{ns}", f"{ns}.svc.cluster.local", ns, labels or {})


def svc(name: str, ns: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec: {{clusterIP: 198.18.0.1, ports: [{{name: http, port: 80}}]}}
---
"""


def dr(name: str, ns: str, host: str, export: str = "") -> str:
    exp = f"\n  exportTo: [{export}]" if export else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: "{host}"{exp}
---
"""


@pytest.mark.parametrize(
    ("rules", "proxy_ns", "expected"),
    [
        ([], "app", None),
        ([dr("svc-ns", "backend", "api")], "app", "svc-ns"),
        (
            [dr("svc-ns", "backend", "api"), dr("client", "app", "api.backend.svc.cluster.local")],
            "app",
            "client",
        ),
        ([dr("svc-ns", "backend", "api"), dr("root", "istio-system", "*.local")], "app", "svc-ns"),
        ([dr("root", "istio-system", "*.local")], "app", "root"),
        (
            [
                dr("root", "istio-system", "*.local"),
                dr("client-wild", "app", "*.svc.cluster.local"),
            ],
            "app",
            "client-wild",
        ),
        (
            [dr("a", "app", "*.cluster.local"), dr("b", "app", "*.backend.svc.cluster.local")],
            "app",
            "b",
        ),
        ([dr("private", "backend", "api", '"."')], "app", None),
        ([dr("private", "backend", "api", '"."')], "backend", "private"),
        (
            [dr("to-other", "backend", "api", '"other"'), dr("root", "istio-system", "*")],
            "app",
            "root",
        ),
        ([dr("to-app", "backend", "api", '"app"')], "app", "to-app"),
        ([dr("elsewhere", "third", "api.backend.svc.cluster.local")], "app", None),
    ],
    ids=[
        "none",
        "service-namespace",
        "proxy-namespace-wins",
        "service-namespace-over-root",
        "root-namespace",
        "proxy-namespace-wildcard-over-root",
        "most-specific-wildcard",
        "private-not-exported",
        "private-in-own-namespace",
        "exported-elsewhere-falls-to-root",
        "exported-to-proxy-namespace",
        "third-namespace-ignored",
    ],
)
def test_destination_rule_precedence(rules: list[str], proxy_ns: str, expected: str | None) -> None:
    push = push_of(svc("api", "backend") + "".join(rules))
    service = push.service_for_host("api.backend.svc.cluster.local", proxy_ns)
    assert service is not None
    found = push.destination_rule(proxy_ns, service)
    assert (found.name if found else None) == expected


VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: NAME, namespace: NS}
spec:
  hosts: [HOSTS]
  GATEWAYS
  http: [{route: [{destination: {host: api.backend.svc.cluster.local}}]}]
---
"""


def vs(name: str, ns: str, hosts: str, gateways: str = "", export: str = "") -> str:
    text = VS.replace("NAME", name).replace("NS", ns).replace("HOSTS", hosts)
    text = text.replace("GATEWAYS", f"gateways: [{gateways}]" if gateways else "")
    if export:
        text = text.replace("  http:", f"  exportTo: [{export}]\n  http:")
    return text


@pytest.mark.parametrize(
    ("config", "proxy_ns", "gateway", "expected"),
    [
        (vs("a", "backend", "api"), "app", "mesh", "a"),
        (vs("a", "backend", "api", "gw"), "app", "mesh", None),
        (vs("a", "backend", "api", "gw"), "app", "backend/gw", "a"),
        (vs("a", "backend", "api", "mesh, other/gw"), "app", "other/gw", "a"),
        (vs("a", "backend", "api", export='"."'), "app", "mesh", None),
        (vs("a", "backend", "api", export='"."'), "backend", "mesh", "a"),
        (
            vs("w", "backend", '"*.backend.svc.cluster.local"') + vs("e", "backend", "api"),
            "app",
            "mesh",
            "e",
        ),
        (vs("w", "backend", '"*.svc.cluster.local"'), "app", "mesh", "w"),
        (
            vs("other", "app", "api.backend.svc.cluster.local") + vs("a", "backend", "api"),
            "app",
            "mesh",
            "other",
        ),
    ],
    ids=[
        "default-mesh",
        "gateway-only",
        "gateway-short-name",
        "qualified-gateway",
        "private",
        "private-same-namespace",
        "exact-beats-wildcard",
        "wildcard",
        "proxy-namespace-first",
    ],
)
def test_virtual_service_for_host(
    config: str, proxy_ns: str, gateway: str, expected: str | None
) -> None:
    push = push_of(svc("api", "backend") + config)
    found = push.virtual_service_for_host(proxy_ns, "api.backend.svc.cluster.local", gateway)
    assert (found.name if found else None) == expected


def test_service_visibility_and_sidecar_egress() -> None:
    push = push_of(
        svc("api", "backend")
        + svc("db", "backend")
        + svc("web", "app")
        + """
apiVersion: v1
kind: Service
metadata: {name: hidden, namespace: backend, annotations: {networking.istio.io/exportTo: "."}}
spec: {clusterIP: 198.18.0.9, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: scoped}
spec:
  egress:
  - hosts: ["./*", "backend/api.backend.svc.cluster.local"]
"""
    )
    hosts = [s.hostname for s in push.services_for_proxy(proxy("app"))]
    assert hosts == [
        "api.backend.svc.cluster.local",
        "db.backend.svc.cluster.local",
        "web.app.svc.cluster.local",
    ]
    assert "hidden.backend.svc.cluster.local" in [
        s.hostname for s in push.services_for_proxy(proxy("backend"))
    ]
    assert [s.hostname for s in push.services_for_proxy(proxy("scoped"))] == [
        "api.backend.svc.cluster.local"
    ]


def test_gateways_for_proxy() -> None:
    push = push_of(
        """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"""
    )
    gw = proxy("istio-system", {"istio": "ingressgateway", "app": "x"}, ProxyType.ROUTER)
    assert [g.name for g in push.gateways_for_proxy(gw)] == ["ingress"]
    assert push.version == "v1"


def test_mesh_config_defaults_and_loading() -> None:
    default = MeshConfig()
    assert default.outbound_traffic_policy_mode is OutboundTrafficPolicyMode.ALLOW_ANY
    assert (default.root_namespace, default.trust_domain, default.enable_auto_mtls) == (
        "istio-system",
        "cluster.local",
        True,
    )
    mesh = load_mesh_config(
        textwrap.dedent(
            """
            outboundTrafficPolicy: {mode: REGISTRY_ONLY}
            rootNamespace: mesh-root
            trustDomain: example.org
            accessLogFile: /dev/stdout
            accessLogEncoding: JSON
            enableAutoMtls: false
            defaultConfig: {holdApplicationUntilProxyStarts: true}
            somethingLateenIgnores: 1
            """
        )
    )
    assert mesh.registry_only
    assert (mesh.root_namespace, mesh.trust_domain) == ("mesh-root", "example.org")
    assert (mesh.access_log_file, mesh.access_log_encoding, mesh.enable_auto_mtls) == (
        "/dev/stdout",
        "JSON",
        False,
    )
    assert dict(mesh.default_config) == {"holdApplicationUntilProxyStarts": True}
    cm = mesh_config_from_configmap({"data": {"mesh": "trustDomain: td\n"}})
    assert cm.trust_domain == "td"
    assert load_mesh_config("") == MeshConfig()
    with pytest.raises(ValueError, match=r"outboundTrafficPolicy\.mode"):
        load_mesh_config("outboundTrafficPolicy: {mode: NOPE}")
