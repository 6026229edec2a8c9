"""Sidecar egress scoping end to end, in transparent mode: a client pod (curl) whose Sidecar
imports only httpbin. httpbin answers 200; httpbin2 (same port, outside the scope) is no
longer routed: REGISTRY_ONLY answers 502 (block_all), ALLOW_ANY passes it through
(PassthroughCluster forwards to the pod's address). ``lateen proxy-config cluster`` shows the
reduced cluster list, and deleting the Sidecar brings every cluster back."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lateen.cli._common import fetch_admin_json
from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

HTTPBIN = ROOT / "samples" / "httpbin"
# a second httpbin, as Service httpbin2 (its manifest lives in a temporary directory: the
# command names the sample's script by its absolute path)
SECOND = (HTTPBIN / "httpbin.yaml").read_text().replace("httpbin", "httpbin2").replace(
    '"src/httpbin2.py"', f'"{HTTPBIN / "src" / "httpbin.py"}"'
)

SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: curl, namespace: default}
spec:
  workloadSelector: {labels: {app: curl}}
  egress:
  - hosts: ["./httpbin.default.svc.cluster.local", "istio-system/*"]
  outboundTrafficPolicy: {mode: MODE}
"""

# GET argv[1] with Host argv[2]: prints the status (HTTP errors included)
GET = (
    "import sys, urllib.request, urllib.error\n"
    "req = urllib.request.Request(sys.argv[1], headers={'Host': sys.argv[2]})\n"
    "try:\n"
    "    with urllib.request.urlopen(req, timeout=10) as r: print(r.status)\n"
    "except urllib.error.HTTPError as e: print(e.code)\n"
)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("sidecar-src")
    (src / "httpbin2.yaml").write_text(SECOND)
    (src / "kustomization.yaml").write_text(
        f"resources:\n- {HTTPBIN / 'httpbin.yaml'}\n- {ROOT / 'samples' / 'curl' / 'curl.yaml'}\n"
        "- httpbin2.yaml\n"
    )
    with mesh_up(tmp_path_factory.mktemp("sidecar") / ".lateen", src, "transparent") as m:
        yield m


def _get(mesh: Mesh, url: str, host: str) -> str:
    out = mesh.lateen("exec", "deploy/curl", "--", sys.executable, "-c", GET, url, host, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


def _apply(mesh: Mesh, text: str, tmp: Path) -> None:
    path = tmp / "sidecar.yaml"
    path.write_text(text)
    mesh.lateen("apply", "-f", str(path))


def _clusters(mesh: Mesh) -> str:
    return mesh.lateen("proxy-config", "cluster", "deploy/curl").stdout


def _passthrough_hosts(pod: dict[str, Any]) -> set[str]:
    """The hosts PassthroughCluster (ORIGINAL_DST) created for connections it forwarded."""
    data = fetch_admin_json(pod, "/clusters?format=json")
    out = set()
    for c in data.get("cluster_statuses", []):
        if c.get("name") == "PassthroughCluster":
            for h in c.get("host_statuses", []):
                sa = h["address"]["socket_address"]
                out.add(f"{sa['address']}:{sa['port_value']}")
    return out


def _wait_clusters(mesh: Mesh, present: bool) -> None:
    wait_for(lambda: ("httpbin2.default.svc.cluster.local" in _clusters(mesh)) is present,
             timeout=20, what=f"httpbin2's cluster {'back' if present else 'gone'}")  # fmt: skip


def test_egress_scope_and_outbound_traffic_policy(mesh: Mesh, tmp_path: Path) -> None:
    other = mesh.pod("httpbin2")
    other_url = f"http://{other['ip']}:8080/status/200"
    # without a Sidecar: everything is routed (and httpbin2 by name)
    assert "httpbin2.default.svc.cluster.local" in _clusters(mesh)
    assert _get(mesh, "http://httpbin2:8000/status/200", "httpbin2:8000") == "200"

    _apply(mesh, SIDECAR.replace("MODE", "REGISTRY_ONLY"), tmp_path)
    _wait_clusters(mesh, present=False)
    table = _clusters(mesh)
    fqdns = {line.split()[0] for line in table.splitlines()[1:] if line.strip()}
    assert "httpbin.default.svc.cluster.local" in fqdns
    assert not any(f.endswith(".default.svc.cluster.local") and f != "httpbin.default.svc.cluster.local"
                   for f in fqdns), table  # fmt: skip
    assert _get(mesh, "http://httpbin:8000/status/200", "httpbin:8000") == "200"
    # httpbin2's pod port 8080 has no listener in the scope: BlackHoleCluster resets the
    # connection; on httpbin's port 8000 (a listener exists) block_all answers 502
    assert _get(mesh, f"http://{other['ip']}:8000/status/200", "httpbin2:8000") == "502"
    out = mesh.lateen("exec", "deploy/curl", "--", sys.executable, "-c", GET, other_url, "x", check=False)
    assert out.returncode != 0 and "200" not in out.stdout, out.stdout

    # ALLOW_ANY: the same connection passes through PassthroughCluster (which then holds
    # httpbin2's pod address as an original-destination host)
    _apply(mesh, SIDECAR.replace("MODE", "ALLOW_ANY"), tmp_path)
    curl = mesh.pod("curl")
    assert f"{other['ip']}:8080" not in _passthrough_hosts(curl)
    wait_for(lambda: _get(mesh, other_url, "httpbin2") == "200", timeout=20,
             what="ALLOW_ANY passthrough to httpbin2's pod")  # fmt: skip
    assert f"{other['ip']}:8080" in _passthrough_hosts(curl)
    assert "httpbin2.default.svc.cluster.local" not in _clusters(mesh)

    mesh.lateen("delete", "-f", str(tmp_path / "sidecar.yaml"))
    _wait_clusters(mesh, present=True)
