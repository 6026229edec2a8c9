"""``lateen get``: kinds as kubectl users type them, kubectl's tables, -o yaml/json/name,
NotFound, through the real CLI against a fake of the runtime's API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from lateen.api import lookup
from lateen.cli import main
from lateen.cli._get import (
    as_output,
    deployment_rows,
    not_found,
    object_rows,
    pod_rows,
    pod_status,
    service_rows,
)

NOW = 1_800_000_000.0


def stamp(ago: float) -> str:
    """``creationTimestamp`` ``ago`` seconds before NOW, as Kubernetes writes it."""
    return datetime.fromtimestamp(NOW - ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name: str, *, running: bool = True, ready: bool = True, restarts: int = 0,
              last_exit: int | None = None, reason: str = "") -> dict[str, Any]:
    return {"name": name, "pid": 7 if running else 0, "restarts": restarts, "running": running,
            "ready": ready, "last_exit": last_exit, "reason": reason, "log": ""}


def a_pod(name: str = "reviews-v1-abc", *, phase: str = "Running", containers: list[dict[str, Any]] | None = None,
          created: float = NOW - 90, namespace: str = "default", owner: str = "", ready: bool = True,
          ip: str = "127.42.0.13") -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "phase": phase, "ready": ready, "owner": owner, "ip": ip,
            "created": created,
            "containers": containers if containers is not None else [container("istio-proxy"), container("reviews")]}


# -- kinds ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("pods", "Pod"), ("pod", "Pod"), ("po", "Pod"), ("Pod", "Pod"),
        ("svc", "Service"), ("services", "Service"), ("service", "Service"),
        ("deploy", "Deployment"), ("deployments", "Deployment"), ("deployments.apps", "Deployment"),
        ("vs", "VirtualService"), ("virtualservices", "VirtualService"),
        ("virtualservices.networking.istio.io", "VirtualService"),
        ("dr", "DestinationRule"), ("gw", "Gateway"), ("se", "ServiceEntry"),
        ("pa", "PeerAuthentication"), ("authorizationpolicies", "AuthorizationPolicy"),
        ("ns", "Namespace"), ("cm", "ConfigMap"), ("sa", "ServiceAccount"), ("ep", "Endpoints"),
    ],
)
def test_kinds_resolve_as_kubectl_users_type_them(typed: str, kind: str) -> None:
    info = lookup(typed)
    assert info is not None and info.kind == kind


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("pods", 'Error from server (NotFound): pods "x" not found'),
        ("deploy", 'Error from server (NotFound): deployments.apps "x" not found'),
        ("vs", 'Error from server (NotFound): virtualservices.networking.istio.io "x" not found'),
    ],
)
def test_not_found_message(typed: str, message: str) -> None:
    info = lookup(typed)
    assert info is not None
    assert not_found(info, "x") == message


# -- pods -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("pod", "status"),
    [
        (a_pod(), "Running"),
        (a_pod(phase="Pending", containers=[]), "Pending"),
        (a_pod(phase="Terminating"), "Terminating"),
        (a_pod(containers=[container("istio-proxy"),
                           container("reviews", running=False, ready=False, restarts=3, last_exit=1,
                                     reason="exited with 1; restarting in 4.0s")]), "CrashLoopBackOff"),
        (a_pod(containers=[container("istio-proxy"),
                           container("reviews", running=False, ready=False, reason="cannot start: ENOENT")]),
         "RunContainerError"),
        (a_pod(containers=[container("istio-proxy", running=False, ready=False), container("reviews")]),
         "ContainerCreating"),
    ],
    ids=["running", "pending", "terminating", "crashloop", "cannot-start", "not-started-yet"],
)
def test_pod_status(pod: dict[str, Any], status: str) -> None:
    assert pod_status(pod) == status


def test_pod_rows_count_every_container_and_restarts() -> None:
    pods = [
        a_pod("reviews-v1-abc", created=NOW - 45),
        a_pod("ratings-v1-xyz", created=NOW - 3700, ready=False, containers=[
            container("istio-proxy", restarts=1), container("ratings", running=False, ready=False,
                                                            restarts=2, last_exit=1)]),
        a_pod("istio-ingressgateway-1", namespace="istio-system", containers=[container("istio-proxy")],
              ip="127.42.0.2"),
    ]
    assert pod_rows(pods[:2], NOW) == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["ratings-v1-xyz", "1/2", "CrashLoopBackOff", "3", "61m"],
        ["reviews-v1-abc", "2/2", "Running", "0", "45s"],
    ]
    assert pod_rows(pods, NOW, wide=True, all_namespaces=True) == [
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"],
        ["default", "ratings-v1-xyz", "1/2", "CrashLoopBackOff", "3", "61m", "127.42.0.13"],
        ["default", "reviews-v1-abc", "2/2", "Running", "0", "45s", "127.42.0.13"],
        ["istio-system", "istio-ingressgateway-1", "1/1", "Running", "0", "90s", "127.42.0.2"],
    ]


# -- services, deployments, other kinds --------------------------------------------------------------

SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "reviews", "namespace": "default", "creationTimestamp": stamp(3 * 3600 + 59)},
    "spec": {"selector": {"app": "reviews"}, "ports": [{"name": "http", "port": 9080}]},
}
GATEWAY_SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
    "spec": {"type": "LoadBalancer", "clusterIP": "127.44.0.2",
             "ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}]},
}


def test_service_rows() -> None:
    assert service_rows([SERVICE, GATEWAY_SERVICE], NOW, wide=True) == [
        ["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE", "SELECTOR"],
        ["reviews", "ClusterIP", "<none>", "9080/TCP", "3h", "app=reviews"],
        ["istio-ingressgateway", "LoadBalancer", "127.44.0.2", "80/TCP,443:30443/TCP", "<unknown>", "<none>"],
    ]


def test_deployment_rows_count_pods_by_owner() -> None:
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "reviews-v1", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "reviews", "version": "v1"}},
                 "template": {"spec": {"containers": [{"name": "reviews", "image": "auto"}]}}},
    }
    pods = [
        a_pod("reviews-v1-a", owner="Deployment/reviews-v1"),
        a_pod("reviews-v1-b", owner="Deployment/reviews-v1", ready=False),
        a_pod("reviews-v2-a", owner="Deployment/reviews-v2"),
        a_pod("reviews-v1-c", owner="Deployment/reviews-v1", namespace="other"),
    ]
    assert deployment_rows([deploy], pods, NOW, wide=True, all_namespaces=True) == [
        ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        ["default", "reviews-v1", "1/2", "2", "1", "<unknown>", "reviews", "auto", "app=reviews,version=v1"],
    ]


VS = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
    "metadata": {"name": "bookinfo", "namespace": "default"},
    "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": []},
}
DR = {
    "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
    "metadata": {"name": "reviews", "namespace": "default", "creationTimestamp": stamp(60)},
    "spec": {"host": "reviews"},
}
PA = {
    "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"mtls": {"mode": "STRICT"}},
}


@pytest.mark.parametrize(
    ("typed", "obj", "all_ns", "rows"),
    [
        ("vs", VS, False, [["NAME", "GATEWAYS", "HOSTS", "AGE"], ["bookinfo", '["bookinfo-gateway"]', '["*"]', "<unknown>"]]),
        ("dr", DR, True, [["NAMESPACE", "NAME", "HOST", "AGE"], ["default", "reviews", "reviews", "60s"]]),
        ("pa", PA, False, [["NAME", "MODE", "AGE"], ["default", "STRICT", "<unknown>"]]),
        ("gw", {"metadata": {"name": "gw"}}, False, [["NAME", "AGE"], ["gw", "<unknown>"]]),
        ("ns", {"metadata": {"name": "istio-system"}}, True, [["NAME", "STATUS", "AGE"], ["istio-system", "Active", "<unknown>"]]),
    ],
    ids=["virtualservice", "destinationrule-all-namespaces", "peerauthentication", "gateway", "namespace-cluster-scoped"],
)
def test_object_rows(typed: str, obj: dict[str, Any], all_ns: bool, rows: list[list[str]]) -> None:
    info = lookup(typed)
    assert info is not None
    assert object_rows(info, [obj], NOW, all_namespaces=all_ns) == rows


def test_output_one_named_object_as_is_several_as_a_list() -> None:
    assert yaml.safe_load(as_output([VS], "yaml", single=True)) == VS
    listed = json.loads(as_output([VS, DR], "json", single=False))
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert listed["items"] == [VS, DR]
    assert yaml.safe_load(as_output([VS], "yaml", single=False))["items"] == [VS]
    # kubectl's key order: apiVersion, kind, metadata, spec
    assert as_output([VS], "yaml", single=True).startswith("apiVersion: networking.istio.io/v1\nkind: VirtualService\n")


# -- through the CLI, against a fake of the runtime API ----------------------------------------------


@pytest.fixture
def mesh(fake_mesh: Any, make_pod: Any) -> Any:
    fake_mesh.pods = [
        make_pod("productpage-v1-aaa", owner="Deployment/productpage-v1", ip="127.42.0.10"),
        make_pod("reviews-v1-bbb", owner="Deployment/reviews-v1", ip="127.42.0.13"),
        make_pod("istio-ingressgateway-ccc", namespace="istio-system", owner="Deployment/istio-ingressgateway",
                 proxy="router", ip="127.42.0.2",
                 containers=[{"name": "istio-proxy", "pid": 5, "restarts": 0, "running": True,
                              "ready": True, "last_exit": None, "reason": "", "log": ""}]),
    ]
    fake_mesh.objects = [
        SERVICE, GATEWAY_SERVICE, VS, DR,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "reviews-v1", "namespace": "default"},
         "spec": {"replicas": 1}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reviews-v1-bbb", "namespace": "default"},
         "status": {"podIP": "127.42.0.13"}},
    ]
    return fake_mesh


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_get_pods_table(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "pods", *mesh.args()]) == 0
    out = capsys.readouterr().out
    assert lines(out) == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["productpage-v1-aaa", "2/2", "Running", "0", "0s"],
        ["reviews-v1-bbb", "2/2", "Running", "0", "0s"],
    ]
    assert out.splitlines()[0] == "NAME                 READY   STATUS    RESTARTS   AGE"


def test_get_pods_all_namespaces_wide(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "po", "-A", "-o", "wide", *mesh.args()]) == 0
    rows = lines(capsys.readouterr().out)
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"]
    assert ["istio-system", "istio-ingressgateway-ccc", "1/1", "Running", "0", "0s", "127.42.0.2"] in rows


def test_get_deployments_counts_pods(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "deploy", *mesh.args()]) == 0
    assert lines(capsys.readouterr().out) == [
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ["reviews-v1", "1/1", "1", "1", "<unknown>"],
    ]


def test_get_one_virtual_service_as_yaml(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "vs", "bookinfo", "-o", "yaml", *mesh.args()]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == VS
    assert "/v1/objects?group=networking.istio.io&kind=VirtualService&namespace=default&name=bookinfo" in mesh.requests


def test_get_pod_as_json_reads_the_pod_object(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "pods", "reviews-v1-bbb", "-o", "json", *mesh.args()]) == 0
    assert json.loads(capsys.readouterr().out)["status"]["podIP"] == "127.42.0.13"


def test_get_names(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "svc", "-A", "-o", "name", *mesh.args()]) == 0
    assert capsys.readouterr().out.split() == ["service/reviews", "service/istio-ingressgateway"]
    assert main(["get", "virtualservices.networking.istio.io", "-o", "name", *mesh.args()]) == 0
    assert capsys.readouterr().out.split() == ["virtualservice.networking.istio.io/bookinfo"]


@pytest.mark.parametrize(
    ("argv", "stderr"),
    [
        (["get", "vs", "nope"], 'Error from server (NotFound): virtualservices.networking.istio.io "nope" not found'),
        (["get", "pods", "nope"], 'Error from server (NotFound): pods "nope" not found'),
        (["get", "widgets"], 'error: the server doesn\'t have a resource type "widgets"'),
        (["get", "pods", "x", "-A"], "error: a resource cannot be retrieved by name across all namespaces"),
    ],
    ids=["vs-not-found", "pod-not-found", "unknown-kind", "name-with-all-namespaces"],
)
def test_get_errors(mesh: Any, capsys: pytest.CaptureFixture[str], argv: list[str], stderr: str) -> None:
    assert main([*argv, *mesh.args()]) == 1
    assert capsys.readouterr().err.strip() == stderr


def test_get_nothing_found_is_not_an_error(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "se", "-n", "other", *mesh.args()]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "No resources found in other namespace."


def test_no_mesh_running(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "pods", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"lateen: no mesh is running from {tmp_path}")


def test_state_dir_from_the_environment(mesh: Any, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATEEN_STATE_DIR", str(mesh.state_dir))
    assert main(["get", "pods"]) == 0
    assert "reviews-v1-bbb" in capsys.readouterr().out
