"""Manifests -> pods: injection policy, names, replicas, env, probes, errors (tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lateen.api import load_yaml
from lateen.platform.local import (
    ContainerSpec,
    Probe,
    ProxyRole,
    builtin_objects,
    injection_applies,
    pod_name,
    pods_from_objects,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize(
    ("ns_labels", "pod_labels", "annotations", "want"),
    [
        ({"istio-injection": "enabled"}, {}, {}, True),
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, {}, False),
        ({"istio-injection": "enabled"}, {}, {"sidecar.istio.io/inject": "false"}, False),
        ({"istio-injection": "disabled"}, {"sidecar.istio.io/inject": "true"}, {}, False),
        ({"istio.io/rev": "canary"}, {}, {}, True),
        ({}, {}, {}, False),
        ({}, {"sidecar.istio.io/inject": "true"}, {}, True),
        ({}, {"sidecar.istio.io/inject": "false"}, {}, False),
    ],
    ids=[
        "ns-enabled", "ns-enabled-pod-opts-out", "ns-enabled-annotation-opts-out",
        "ns-disabled-wins", "ns-revision", "nothing", "pod-opts-in", "pod-false",
    ],
)
def test_injection_policy(ns_labels, pod_labels, annotations, want):
    assert injection_applies(ns_labels, pod_labels, annotations) is want


def _pods(text: str, ns_labels=None):
    result = load_yaml(text, "")
    assert result.ok, result.errors
    return pods_from_objects(
        result.objects, base_dir=Path("/srv/app"), python="/usr/bin/py",
        default_namespace_labels=ns_labels or {},
    )


DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, version: v2}}
    spec:
      serviceAccountName: web-sa
      containers:
      - name: web
        command: [python3, src/web.py]
        args: ["--port", "$(PORT)", "$$(PORT)"]
        workingDir: sub
        env:
        - {name: PORT, value: "9080"}
        - {name: ADDR, value: "0.0.0.0:$(PORT)"}
        - name: MY_POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: MY_APP
          valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
        ports: [{name: http, containerPort: 9080}]
        readinessProbe:
          httpGet: {path: /health, port: http}
          periodSeconds: 2
"""


def test_deployment_replicas_names_and_containers():
    pods, errors = _pods(DEPLOY, {"shop": {"istio-injection": "enabled"}})
    assert errors == []
    assert len(pods) == 3
    names = [p.name for p in pods]
    assert len(set(names)) == 3
    thash = pods[0].template_hash
    assert all(n.startswith(f"web-{thash}-") for n in names)
    assert sorted(names) == sorted(pod_name("web", thash, i) for i in range(3))
    p = pods[0]
    assert p.namespace == "shop"
    assert p.owner == "Deployment/web"
    assert p.proxy is ProxyRole.SIDECAR
    assert p.service_account == "web-sa"
    assert p.labels["pod-template-hash"] == thash
    assert p.labels["security.istio.io/tlsMode"] == "istio"
    assert p.labels["service.istio.io/canonical-name"] == "web"
    assert p.labels["service.istio.io/canonical-revision"] == "v2"
    c = p.containers[0]
    assert c == ContainerSpec(
        name="web",
        argv=("/usr/bin/py", "src/web.py", "--port", "9080", "$(PORT)"),
        env=(("PORT", "9080"), ("ADDR", "0.0.0.0:9080"), ("MY_POD", p.name), ("MY_APP", "web")),
        working_dir="/srv/app/sub",
        ports=(("http", 9080),),
        # injected: the probe goes to the agent, which runs the app's own (see below)
        readiness=Probe("http", 15020, "/app-health/web/readyz", (), 2.0, 0.0, 1.0, agent=True),
    )
    assert dict(p.app_probers) == {"/app-health/web/readyz": Probe("http", 9080, "/health", (), 2.0, 0.0, 1.0)}


PROBED = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns1, labels: {app: p}, annotations: {%s}}
spec:
  containers:
  - name: web
    command: [x]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: %s
  - name: side
    command: [y]
"""

AGENT_PROBE = Probe("http", 15020, "/app-health/web/readyz", (), 3.0, 1.0, 2.0, agent=True)
_TIMING = "periodSeconds: 3, initialDelaySeconds: 1, timeoutSeconds: 2"
PROBE_REWRITES = [
    # (id, namespace labels, annotations, probe, readiness the kubelet runs, ISTIO_KUBE_APP_PROBERS)
    ("http", {"istio-injection": "enabled"}, "", f"{{httpGet: {{path: /healthz, port: http}}, {_TIMING}}}",
     AGENT_PROBE,
     '{"/app-health/web/readyz":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"timeoutSeconds":2}}'),
    ("tcp", {"istio-injection": "enabled"}, "", f"{{tcpSocket: {{port: 8080}}, {_TIMING}}}",
     AGENT_PROBE, '{"/app-health/web/readyz":{"tcpSocket":{"port":8080},"timeoutSeconds":2}}'),
    ("exec-stays", {"istio-injection": "enabled"}, "", f"{{exec: {{command: ['true']}}, {_TIMING}}}",
     Probe("exec", 0, "/", ("true",), 3.0, 1.0, 2.0), ""),
    ("annotation-opts-out", {"istio-injection": "enabled"}, '"sidecar.istio.io/rewriteAppHTTPProbers": "false"',
     f"{{httpGet: {{path: /healthz, port: 8080}}, {_TIMING}}}", Probe("http", 8080, "/healthz", (), 3.0, 1.0, 2.0), ""),
    ("no-sidecar", {}, "", f"{{httpGet: {{path: /healthz, port: 8080}}, {_TIMING}}}",
     Probe("http", 8080, "/healthz", (), 3.0, 1.0, 2.0), ""),
]


@pytest.mark.parametrize(
    ("ns_labels", "annotations", "probe", "readiness", "probers"),
    [r[1:] for r in PROBE_REWRITES], ids=[r[0] for r in PROBE_REWRITES],
)
def test_sidecar_pods_probes_go_to_the_agent(ns_labels, annotations, probe, readiness, probers):
    """Istio's probe rewrite: a sidecar pod's HTTP/TCP readiness probe becomes a GET on the
    agent's :15020/app-health/<container>/readyz; the original is handed to the agent."""
    from lateen.platform.local._spec import app_probers_json

    pods, errors = _pods(PROBED % (annotations, probe), {"ns1": ns_labels})
    assert errors == []
    (pod,) = pods
    web, side = pod.containers
    assert web.readiness == readiness
    assert side.readiness is None
    assert (app_probers_json(pod.app_probers) if pod.app_probers else "") == probers


def test_names_are_stable_and_follow_the_template():
    a, _ = _pods(DEPLOY)
    b, _ = _pods(DEPLOY)
    c, _ = _pods(DEPLOY.replace("version: v2", "version: v3"))
    assert [p.name for p in a] == [p.name for p in b]
    assert {p.name for p in a}.isdisjoint(p.name for p in c)


def test_no_injection_without_namespace_label():
    pods, _ = _pods(DEPLOY)
    assert all(p.proxy is None for p in pods)
    assert "security.istio.io/tlsMode" not in pods[0].labels


def test_namespace_object_labels_decide():
    text = DEPLOY + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n"
    pods, _ = _pods(text)
    assert all(p.proxy is ProxyRole.SIDECAR for p in pods)


BAD = [
    ("no-command", "containers:\n      - name: a\n        image: x", "containers[0].command: required"),
    ("bad-port", "containers:\n      - name: a\n        command: [x]\n        readinessProbe: {httpGet: {port: web}}",
     "containers[0].readinessProbe.httpGet: port 'web'"),
    ("bad-field-ref", "containers:\n      - name: a\n        command: [x]\n        env:\n        - name: X\n          valueFrom: {secretKeyRef: {name: s, key: k}}",
     "containers[0].env[0].valueFrom: only fieldRef"),
    ("no-containers", "containers: []", "containers: at least one container"),
]


@pytest.mark.parametrize(("body", "error"), [(b, e) for _, b, e in BAD], ids=[i for i, _, _ in BAD])
def test_errors_name_object_and_field(body, error):
    text = f"""
apiVersion: v1
kind: Pod
metadata: {{name: p1, namespace: ns1}}
spec:
    {body}
---
apiVersion: v1
kind: Pod
metadata: {{name: ok, namespace: ns1}}
spec:
  containers: [{{name: a, command: [sleep, "1"]}}]
"""
    pods, errors = _pods(text)
    assert [p.name for p in pods] == ["ok"]  # the bad pod is skipped, the rest still runs
    assert len(errors) == 1
    assert "Pod ns1/p1: spec." in errors[0]
    assert error in errors[0]


def test_builtin_gateway_is_a_router_with_port_binding():
    pods, errors = pods_from_objects(builtin_objects("127.0.0.1", 18080), base_dir=Path("/"))
    assert errors == []
    (gw,) = pods
    assert gw.namespace == "istio-system"
    assert gw.proxy is ProxyRole.ROUTER
    assert gw.containers == ()
    assert gw.labels["istio"] == "ingressgateway"
    assert '127.0.0.1:18080' in gw.annotations["proxy.istio.io/config"]


def test_bookinfo_sample_runs_from_its_folder():
    from lateen.platform.local import read_documents
    from lateen.platform.local._runtime import _load

    objects, errors = _load(read_documents([SAMPLES / "bookinfo" / "platform"]))
    assert errors == []
    pods, spec_errors = pods_from_objects(
        objects, base_dir=Path("/"), default_namespace_labels={"default": {"istio-injection": "enabled"}}
    )
    assert spec_errors == []
    assert sorted(p.owner for p in pods) == [
        "Deployment/details-v1", "Deployment/productpage-v1", "Deployment/ratings-v1",
        "Deployment/reviews-v1", "Deployment/reviews-v2", "Deployment/reviews-v3",
    ]
    for p in pods:
        (c,) = p.containers
        assert p.proxy is ProxyRole.SIDECAR
        assert Path(c.working_dir) == SAMPLES / "bookinfo"
        assert (Path(c.working_dir) / c.argv[1]).is_file()


@pytest.mark.parametrize(("ready", "healthy"), [(True, True), (False, False)], ids=["ready", "not-ready"])
def test_running_pods_become_service_endpoints(ready, healthy):
    """What the kubelet publishes is what the registry makes endpoints of (Service selector,
    targetPort by name, the pod's address and readiness, labels for subsets and tlsMode)."""
    from lateen.platform.local import PodAddress, PodState, pod_object
    from lateen.registry import build_registry

    svc = load_yaml(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}\n", ""
    ).objects
    pods, _ = _pods(DEPLOY, {"shop": {"istio-injection": "enabled"}})
    states = []
    for i, spec in enumerate(pods):
        st = PodState(spec)
        st.address = PodAddress(f"127.40.0.{10 + i}", f"127.41.0.{10 + i}")
        st.ready = ready
        st.phase = "Running"
        states.append(st)
    reg = build_registry([*svc, *(pod_object(s) for s in states)])
    (service,) = reg.services
    eps = reg.service_endpoints(service)
    assert sorted((e.address, e.port, e.healthy) for e in eps) == [
        (f"127.40.0.{10 + i}", 9080, healthy) for i in range(3)
    ]
    assert {e.tls_mode for e in eps} == {"istio"}
    assert {e.service_account for e in eps} == {"web-sa"}
    assert {e.labels["version"] for e in eps} == {"v2"}


def test_read_documents_follows_a_kustomization(tmp_path: Path):
    from lateen.platform.local import MeshError, read_documents

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.yaml").write_text("kind: A\n")
    (tmp_path / "app" / "b.yml").write_text("kind: B\n")
    (tmp_path / "extra.yaml").write_text("kind: C\n")
    (tmp_path / "skipped.yaml").write_text("kind: D\n")
    assert [Path(d["source"]).name for d in read_documents([tmp_path])] == [
        "a.yaml", "b.yml", "extra.yaml", "skipped.yaml",
    ]
    (tmp_path / "kustomization.yaml").write_text("kind: Kustomization\nresources: [app, extra.yaml]\n")
    assert [Path(d["source"]).name for d in read_documents([tmp_path])] == ["a.yaml", "b.yml", "extra.yaml"]
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(MeshError, match=r"missing\.yaml: no such file"):
        read_documents([tmp_path])
