"""Bootstrap rendering: golden files, the pieces Istio's contract fixes, and real Envoy's
``--mode validate`` on every golden bootstrap."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lateen.agent import (
    BootstrapOptions,
    ProxyKind,
    base_id,
    envoy_binary,
    node_id,
    render_bootstrap,
    service_cluster,
    workload_name_from_pod,
)
from lateen.model import ProxyType, parse_node
from lateen.testing.golden import assert_golden

CASES_DIR = Path(__file__).parent.parent / "testdata" / "bootstrap"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in CASES_DIR.glob("*.input.yaml"))
_TUPLES = {"stats_inclusion_prefixes", "stats_inclusion_suffixes", "stats_inclusion_regexps"}


def load_case(name: str) -> BootstrapOptions:
    raw: dict[str, Any] = yaml.safe_load((CASES_DIR / f"{name}.input.yaml").read_text()) or {}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "kind":
            value = ProxyKind(value)
        elif key in _TUPLES:
            value = tuple(value)
        kwargs[key] = value
    return BootstrapOptions(**kwargs)


def test_there_are_cases() -> None:
    assert {"01-sidecar", "02-gateway", "03-delta", "04-custom-ports"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    assert_golden(CASES_DIR / f"{case}.golden.yaml", render_bootstrap(load_case(case)))


@pytest.mark.parametrize("case", CASES)
def test_real_envoy_accepts_the_golden_bootstrap(case: str, tmp_path: Path) -> None:
    data = yaml.safe_load((CASES_DIR / f"{case}.golden.yaml").read_text())
    path = tmp_path / "envoy-rev.json"
    path.write_text(json.dumps(data))
    proc = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--disable-hot-restart",
         "--base-id", str(base_id(load_case(case))), "--log-level", "warning"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendering_is_pure_and_deterministic() -> None:
    opts = load_case("04-custom-ports")
    before = copy.deepcopy(opts)
    first = render_bootstrap(opts)
    second = render_bootstrap(opts)
    assert first == second
    assert first is not second
    assert opts == before
    first["node"]["metadata"]["LABELS"]["x"] = "y"  # results share no mutable state
    assert "x" not in render_bootstrap(opts)["node"]["metadata"]["LABELS"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ProxyKind.SIDECAR, "sidecar~198.18.0.1~web-1.shop~shop.svc.cluster.local"),
        (ProxyKind.ROUTER, "router~198.18.0.1~web-1.shop~shop.svc.cluster.local"),
    ],
    ids=["sidecar", "router"],
)
def test_node_id(kind: ProxyKind, expected: str) -> None:
    assert node_id(BootstrapOptions(pod_name="web-1", namespace="shop", pod_ip="198.18.0.1", kind=kind)) == expected


@pytest.mark.parametrize(
    ("labels", "workload", "expected"),
    [
        ({"app": "reviews"}, "", "reviews.ns"),
        ({"app.kubernetes.io/name": "rv", "app": "reviews"}, "", "rv.ns"),
        ({"service.istio.io/canonical-name": "canon", "app": "reviews"}, "", "canon.ns"),
        ({}, "reviews-v2", "reviews-v2.ns"),
        ({}, "", "reviews-v2.ns"),  # derived from the pod name
    ],
    ids=["app", "k8s-name", "canonical", "workload", "from-pod"],
)
def test_service_cluster(labels: dict[str, str], workload: str, expected: str) -> None:
    opts = BootstrapOptions(pod_name="reviews-v2-7d79d5bd5d-x9k2m", namespace="ns", labels=labels,
                            workload_name=workload)
    assert service_cluster(opts) == expected


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("reviews-v1-545db77b95-2xk8p", "reviews-v1"),
        ("productpage-v1-6b746f74dc-9stvs", "productpage-v1"),
        ("httpbin-0", "httpbin-0"),
        ("gateway", "gateway"),
    ],
)
def test_workload_name_from_pod(pod: str, workload: str) -> None:
    assert workload_name_from_pod(pod) == workload


@pytest.mark.parametrize("case", CASES)
def test_the_control_plane_reads_our_node_as_intended(case: str) -> None:
    opts = load_case(case)
    node = render_bootstrap(opts)["node"]
    proxy = parse_node(node["id"], node["metadata"])
    assert proxy.type is ProxyType(str(opts.kind))
    assert proxy.namespace == opts.namespace
    assert proxy.ip == opts.pod_ip
    assert dict(proxy.labels) == dict(opts.labels)
    assert proxy.service_account == opts.service_account
    assert proxy.workload_name == opts.resolved_workload_name
    assert proxy.cluster_id == opts.cluster_id
    assert proxy.id == f"{opts.pod_name}.{opts.namespace}"


@pytest.mark.parametrize(
    ("pod_ip", "admin_address", "expected"),
    [("127.0.0.9", "", "127.0.0.9"), ("198.19.0.3", "", "127.0.0.1"), ("198.19.0.3", "127.0.0.5", "127.0.0.5")],
    ids=["loopback-pod", "routable-pod", "explicit"],
)
def test_admin_binds_the_pods_loopback_address(pod_ip: str, admin_address: str, expected: str) -> None:
    b = render_bootstrap(BootstrapOptions(pod_name="p", pod_ip=pod_ip, admin_address=admin_address))
    assert b["admin"]["address"]["socket_address"]["address"] == expected
    prom = next(c for c in b["static_resources"]["clusters"] if c["name"] == "prometheus_stats")
    ep = prom["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert ep["socket_address"]["address"] == expected
    listener = b["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"protocol": "TCP", "address": pod_ip, "port_value": 15090}


@pytest.mark.parametrize("bad", ["istiod", "istiod:", ":15010", "istiod:abc"])
def test_bad_discovery_address_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="discovery address"):
        render_bootstrap(BootstrapOptions(pod_name="p", discovery_address=bad))


def test_base_id_differs_per_proxy() -> None:
    ids = {
        base_id(BootstrapOptions(pod_name=f"p{i}", pod_ip=f"127.0.0.{i}")) for i in range(2, 50)
    }
    assert len(ids) == 48


@pytest.mark.parametrize(
    ("token", "metadata"),
    [("", None), ("t0k3n", [{"key": "authorization", "value": "Bearer t0k3n"}])],
    ids=["no-token", "token"],
)
def test_ads_stream_carries_the_pods_token(token: str, metadata: list[dict[str, str]] | None) -> None:
    opts = BootstrapOptions(pod_name="gw", xds_token=token)
    (service,) = render_bootstrap(opts)["dynamic_resources"]["ads_config"]["grpc_services"]
    assert service.get("initial_metadata") == metadata
    assert "t0k3n" not in repr(opts)  # never in logs
