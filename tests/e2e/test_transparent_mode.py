"""Transparent capture on one machine, beyond the Bookinfo suite (which runs in both modes):
what an app sees inside a captured pod (DNS -> VIP, both sidecars on the path), a pod
without a sidecar reaching a meshed pod through its 15006 capture, the exclude annotations
bypassing Envoy, and cleanup after ``lateen up`` was killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lateen.platform.local import StateDir, proc_start_time
from lateen.testing.localmesh import ROOT, Mesh, assert_no_network_left, container_log, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

CLIENTS = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: curl}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata:
      labels: LABELS
      annotations: ANNOTATIONS
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: curl
      containers:
      - name: curl
        command: ["python3", "-c", "import time\\nwhile True: time.sleep(3600)"]
"""

# pod name -> (extra labels, annotations)
PODS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "curl-plain": ({"sidecar.istio.io/inject": "false"}, {}),
    "curl-excl-port": ({}, {"traffic.sidecar.istio.io/excludeOutboundPorts": "9080"}),
    "curl-excl-ip": ({}, {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "198.18.0.0/16"}),
}

GET = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=10) as r:\n"
    "    print(r.status, r.headers.get('x-lateen-probe', ''), r.read()[:60])\n"
)


def _manifests(tmp: Path) -> Path:
    docs = []
    for name, (labels, notes) in PODS.items():
        text = CLIENTS.split("---", 1)[1] if docs else CLIENTS
        docs.append(
            text.replace("NAME", name)
            .replace("LABELS", json.dumps({"app": name, **labels}))
            .replace("ANNOTATIONS", json.dumps(notes))
        )
    (tmp / "clients.yaml").write_text("---\n".join(docs))
    bookinfo = ROOT / "samples" / "bookinfo" / "platform" / "bookinfo.yaml"
    (tmp / "kustomization.yaml").write_text(f"resources:\n- {bookinfo}\n- clients.yaml\n")
    return tmp


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    src = _manifests(tmp_path_factory.mktemp("transparent-src"))
    with mesh_up(tmp_path_factory.mktemp("transparent") / ".lateen", src, "transparent") as m:
        yield m


def _pod(mesh: Mesh, prefix: str) -> dict:
    return mesh.pod(prefix)


_log = container_log


def _exec(mesh: Mesh, target: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return mesh.lateen("exec", target, "--", sys.executable, "-c", code, *args, check=False)


def test_app_resolves_a_service_to_its_vip_and_both_sidecars_see_the_request(mesh: Mesh):
    vip = json.loads(mesh.lateen("get", "svc", "reviews", "-o", "json").stdout)["spec"]["clusterIP"]
    assert vip.startswith("198.19.")
    resolve = "import socket; print(socket.gethostbyname('reviews'), socket.gethostbyname('reviews.default.svc.cluster.local'))"
    out = _exec(mesh, "deploy/productpage-v1", resolve)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [vip, vip]
    missing = _exec(mesh, "deploy/productpage-v1", "import socket; socket.gethostbyname('nosuchservice')")
    assert missing.returncode != 0 and "gaierror" in missing.stderr
    # no proxy settings in the app's environment: the capture does the work
    env = _exec(mesh, "deploy/productpage-v1", "import os; print(sorted(k for k in os.environ if 'proxy' in k.lower()))")
    assert env.stdout.strip() == "[]"
    marker = f"/reviews/0?probe={time.monotonic_ns()}"
    out = _exec(mesh, "deploy/productpage-v1", GET, f"http://reviews:9080{marker}")
    assert out.returncode == 0 and out.stdout.startswith("200"), out.stdout + out.stderr
    pp, reviews = _pod(mesh, "productpage-v1"), [p for p in mesh.status()["pods"] if p["name"].startswith("reviews-")]
    wait_for(lambda: marker in _log(pp) and any(marker in _log(r) for r in reviews), timeout=10,
             what="the request in both sidecars' access logs")
    line = next(x for x in _log(pp).splitlines() if marker in x)
    assert "outbound|9080||reviews.default.svc.cluster.local" in line
    served = next(x for r in reviews for x in _log(r).splitlines() if marker in x)
    assert "inbound|9080||" in served


def test_processes_run_as_istio_uids(mesh: Mesh):
    pod = _pod(mesh, "details-v1")
    uids = {}
    for c in pod["containers"]:
        status = Path(f"/proc/{c['pid']}/status").read_text()
        uids[c["name"]] = int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1])
    assert uids == {"istio-proxy": 1337, "details": 1000}


def test_pod_without_sidecar_reaches_a_meshed_pod_through_its_inbound_capture(mesh: Mesh):
    plain = _pod(mesh, "curl-plain")
    assert not any(c["name"] == "istio-proxy" for c in plain["containers"])
    details = _pod(mesh, "details-v1")
    marker = f"/details/0?plain={time.monotonic_ns()}"
    out = _exec(mesh, "deploy/curl-plain", GET, f"http://{details['ip']}:9080{marker}")
    assert out.returncode == 0 and out.stdout.startswith("200"), out.stdout + out.stderr
    wait_for(lambda: marker in _log(details), timeout=10, what="details' sidecar inbound log")
    assert "inbound|9080||" in next(x for x in _log(details).splitlines() if marker in x)


@pytest.mark.parametrize("client", ["curl-excl-port", "curl-excl-ip"])
def test_excluded_outbound_traffic_bypasses_the_sidecar(mesh: Mesh, client: str):
    details = _pod(mesh, "details-v1")
    bypass = f"/details/0?bypass={time.monotonic_ns()}"
    captured = f"/details/0?captured={time.monotonic_ns()}"
    out = _exec(mesh, f"deploy/{client}", GET, f"http://{details['ip']}:9080{bypass}")
    assert out.returncode == 0 and out.stdout.startswith("200"), out.stdout + out.stderr
    # the control: a call that the capture does take (by service name, port 9080 / VIP) for
    # curl-excl-ip; for curl-excl-port port 9080 is excluded everywhere, so use ratings' VIP
    # on 9080 only for the IP case
    if client == "curl-excl-ip":
        out = _exec(mesh, f"deploy/{client}", GET, f"http://details:9080{captured}")
        assert out.returncode == 0, out.stdout + out.stderr
        wait_for(lambda: captured in _log(_pod(mesh, client)), timeout=10, what="the captured call in the log")
    wait_for(lambda: bypass in _log(details), timeout=10, what="details' inbound log")
    time.sleep(1.2)  # Envoy flushes access logs once a second
    assert bypass not in _log(_pod(mesh, client))


def test_sigkilled_runtime_is_cleaned_by_down_force(mesh: Mesh):
    info = StateDir(mesh.state).read_runtime()
    assert info is not None
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    from lateen.platform.local._transparent import mesh_id

    assert f"lateen-{mesh_id(str(mesh.state.absolute()))}-" in netns
    os.kill(info.pid, signal.SIGKILL)
    wait_for(lambda: proc_start_time(info.pid) != info.start_time, timeout=10, what="the runtime gone")
    out = mesh.lateen("down", "--force")
    assert "mesh stopped" in out.stdout
    assert_no_network_left(mesh.state)
    alive = [r for r in StateDir(mesh.state).read_processes() if proc_start_time(r.pid) == r.start_time]
    assert alive == []
