"""End-to-end: ``lateen proxy-status`` and ``lateen proxy-config`` against a real control
plane (``lateen discovery``) and a real Envoy, through the real CLI. Only the local
runtime's API (which pod has which Envoy admin) is a fake."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lateen.cli import main
from lateen.cli._common import fetch_json
from lateen.testing.procs import (
    Processes,
    ads_bootstrap,
    free_port,
    http_get,
    start_envoy,
    wait_for,
)

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  clusterIP: {vip}
  selector: {{app: reviews}}
  ports: [{{name: http, port: 9080}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: reviews, namespace: default}}
subsets:
- addresses: [{{ip: {backend}}}]
  ports: [{{name: http, port: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: default}}
spec:
  host: reviews
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
"""


def synced(monitoring_port: int, proxy: str) -> bool:
    for e in fetch_json(f"http://127.0.0.1:{monitoring_port}/debug/syncz"):
        if e["proxy"] == proxy:
            types = e["types"]
            return {"cds", "eds", "lds", "rds"} <= types.keys() and all(
                t["sent_nonce"] == t["acked_nonce"] for t in types.values())
    return False


@pytest.fixture
def mesh(fake_mesh: Any, make_pod: Any, tmp_path: Path) -> Iterator[Any]:
    block = random.randrange(100, 200)  # the pod's own loopback address, as lateen up gives it
    ip, app_ip = f"127.{block}.{random.randrange(256)}.{random.randrange(1, 255)}", f"127.{block + 1}.0.9"
    config = tmp_path / "config"
    config.mkdir()
    (config / "reviews.yaml").write_text(CONFIG.format(vip=f"127.{block + 2}.0.12", backend=f"127.{block + 2}.0.13"))
    logs = tmp_path / "logs"
    logs.mkdir()
    with Processes(logs) as procs:
        xds_port, monitoring_port, admin_port = free_port(), free_port(), free_port()
        procs.python("discovery", "-m", "lateen", "discovery", "--config-dir", str(config),
                     "--xds-port", str(xds_port), "--monitoring-port", str(monitoring_port))
        wait_for(lambda: http_get(f"http://127.0.0.1:{monitoring_port}/metrics")[0] == 200, what="discovery")
        bootstrap = ads_bootstrap(
            node_id=f"sidecar~{ip}~web-1.default~default.svc.cluster.local",
            cluster="web.default",
            metadata={"NAMESPACE": "default", "CLUSTER_ID": "Kubernetes", "LABELS": {"app": "web"},
                      "INTERCEPTION_MODE": "NONE", "LATEEN_APP_ADDRESS": app_ip},  # no ISTIO_VERSION
            xds_address="127.0.0.1", xds_port=xds_port, admin_port=admin_port,
        )
        start_envoy(procs, "envoy", bootstrap, tmp_path)
        try:
            wait_for(lambda: synced(monitoring_port, "web-1.default"), timeout=30, what="envoy synced")
        except TimeoutError:
            print(procs.log("discovery"), procs.log("envoy"), file=sys.stderr)
            raise
        fake_mesh.pods = [
            {**make_pod("web-1", ip=ip), "admin": f"127.0.0.1:{admin_port}"},
            make_pod("plain-1", proxy="", ip=f"127.{block}.0.200"),
        ]
        fake_mesh.write_runtime(monitoring_address=f"127.0.0.1:{monitoring_port}")
        yield fake_mesh


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_proxy_status_shows_the_synced_proxy(
    mesh: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # as inside a pod: must not be used
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    for argv in (["proxy-status"], ["proxy-status", "web-1"], ["ps", "web-1.default"]):
        assert main([*argv, *mesh.args()]) == 0
        table = rows(capsys.readouterr().out)
        assert table[0] == ["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"]
        assert len(table) == 2
        assert table[1][:8] == ["web-1.default", "Kubernetes", "SYNCED", "SYNCED", "SYNCED", "SYNCED", "NOT", "SENT"]
        assert table[1][-1].endswith("*") and table[1][-1][0].isdigit()  # Envoy's version, marked as istioctl does
    assert main(["proxy-status", "plain-1", *mesh.args()]) == 1
    assert "is not connected to the control plane" in capsys.readouterr().err


def test_proxy_config_reads_the_real_envoy(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy-config", "cluster", "web-1", "--fqdn", "reviews", *mesh.args()]) == 0
    assert rows(capsys.readouterr().out) == [
        ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION", "RULE"],
        ["reviews.default.svc.cluster.local", "9080", "-", "outbound", "EDS", "reviews.default"],
        ["reviews.default.svc.cluster.local", "9080", "v1", "outbound", "EDS", "reviews.default"],
    ]
    assert main(["pc", "endpoint", "web-1", "--cluster", "outbound|9080||reviews.default.svc.cluster.local",
                 *mesh.args()]) == 0
    table = rows(capsys.readouterr().out)
    assert table[1][1:] == ["HEALTHY", "OK", "outbound|9080||reviews.default.svc.cluster.local"]
    assert table[1][0].endswith(".0.13:9080")
    assert main(["pc", "listener", "web-1", *mesh.args()]) == 0
    assert ["15001", "ALL", "Route:", "15001"] in [r[1:] for r in rows(capsys.readouterr().out)]
    assert main(["pc", "route", "web-1", "-o", "json", *mesh.args()]) == 0
    assert "15001" in [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert main(["pc", "bootstrap", "web-1", *mesh.args()]) == 0
    assert json.loads(capsys.readouterr().out)["bootstrap"]["node"]["id"].startswith("sidecar~")


def test_proxy_config_of_a_pod_without_proxy(mesh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pc", "cluster", "plain-1", *mesh.args()]) == 1
    assert capsys.readouterr().err.strip() == "error: pod plain-1.default has no proxy (no istio-proxy container)"
    assert main(["pc", "cluster", "nope", *mesh.args()]) == 1
    assert capsys.readouterr().err.strip() == 'Error from server (NotFound): pods "nope" not found'
