"""Istio's getting-started, on one machine: ``lateen up samples/bookinfo -d``, the page through
the ingress gateway, traffic shifting with ``lateen apply``/``delete``, recovery from killed
processes, and a ``lateen down`` that leaves nothing behind. Real Envoy, real processes.

The whole module runs twice: in explicit mode (loopback addresses, ``HTTP_PROXY``) and in
transparent mode (network namespaces, Istio's iptables capture, the agent's DNS proxy; the
apps call plain ``http://reviews:9080``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lateen.platform.local import StateDir, proc_start_time
from lateen.testing.localmesh import Mesh, assert_no_network_left, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BOOKINFO = ROOT / "samples" / "bookinfo"
NET = BOOKINFO / "networking"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def stars(html: str) -> str:
    if 'font color="red"' in html:
        return "red"
    if 'font color="black"' in html:
        return "black"
    return "none" if "Reviews served by" in html else "error"


def _pages(mesh: Mesh, n: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        code, body = mesh.page()
        out[stars(body) if code == 200 else f"http-{code}"] += 1
    return out


def _converged(mesh: Mesh, want: str, n: int = 10) -> bool:
    return _pages(mesh, n) == Counter({want: n})


@pytest.fixture(scope="module", params=["explicit", "transparent"])
def mesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    mode = str(request.param)
    started = time.monotonic()
    # the teardown test checks cleanliness; leaving the block is the safety net
    with mesh_up(tmp_path_factory.mktemp(f"bookinfo-{mode}") / ".lateen", BOOKINFO, mode) as m:
        assert m.up_stdout.strip().endswith(m.url), m.up_stdout
        print(f"lateen up ({mode}) -> all ready in {time.monotonic() - started:.1f}s")
        yield m


def test_productpage_through_the_ingress_gateway(mesh: Mesh):
    code, body = mesh.page()
    assert code == 200
    assert "Book Details" in body
    assert "Book Reviews" in body
    assert "Error fetching" not in body
    status = mesh.status()
    pods = {p["name"].rsplit("-", 2)[0]: p for p in status["pods"]}
    assert set(pods) == {
        "details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3",
        "istio-ingressgateway",
    }
    assert all(p["ready"] for p in status["pods"])
    assert {p["proxy"] for p in status["pods"]} == {"sidecar", "router"}
    # the request went through both sidecars: outbound from productpage, inbound at reviews
    pp = next(c for c in pods["productpage-v1"]["containers"] if c["name"] == "istio-proxy")
    # Envoy flushes its access log file once a second: wait for the lines
    wait_for(
        lambda: all(
            want in Path(pp["log"]).read_text()
            for want in ("outbound|9080||reviews.default.svc.cluster.local", "inbound|9080||")
        ),
        timeout=10,
        what="productpage's sidecar access log",
    )


def test_round_robin_over_reviews_versions(mesh: Mesh):
    seen = _pages(mesh, 30)
    assert set(seen) == {"none", "black", "red"}, seen


def test_apply_rejects_a_bad_object_and_keeps_what_is_applied(mesh: Mesh, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - timeout: 3 seconds\n    route:\n"
        "    - destination: {host: reviews}\n"
    )
    before = mesh.lateen("get", "virtualservices", "-o", "json").stdout
    proc = mesh.lateen("apply", "-f", str(NET / "destination-rule-all.yaml"), "-f", str(bad), check=False)
    assert proc.returncode == 1
    assert str(bad) in proc.stderr
    assert "VirtualService default/reviews" in proc.stderr
    assert "spec.http[0].timeout" in proc.stderr
    assert "nothing was applied" in proc.stderr
    assert mesh.lateen("get", "virtualservices", "-o", "json").stdout == before
    assert json.loads(mesh.lateen("get", "destinationrules", "-o", "json").stdout).get("items") == []


def test_all_traffic_to_reviews_v3(mesh: Mesh):
    out = mesh.lateen("apply", "-f", str(NET / "destination-rule-all.yaml"), "-f", str(NET / "virtual-service-reviews-v3.yaml"))
    assert "virtualservices.networking.istio.io/reviews (default) created" in out.stdout
    wait_for(lambda: _converged(mesh, "red"), timeout=40, what="all pages red")
    assert _pages(mesh, 20) == Counter({"red": 20})


def test_reviews_50_50_v1_v3(mesh: Mesh):
    out = mesh.lateen("apply", "-f", str(NET / "virtual-service-reviews-50-v3.yaml"))
    assert "configured" in out.stdout
    wait_for(lambda: "none" in _pages(mesh, 10), timeout=40, what="v1 pages again")
    seen = _pages(mesh, 100)
    assert set(seen) <= {"red", "none"}, seen
    assert 30 <= seen["red"] <= 70, seen


def test_delete_restores_round_robin(mesh: Mesh):
    mesh.lateen("delete", "-f", str(NET / "virtual-service-reviews-50-v3.yaml"))
    wait_for(lambda: "black" in _pages(mesh, 10), timeout=40, what="v2 pages again")
    assert set(_pages(mesh, 30)) == {"none", "black", "red"}
    mesh.lateen("delete", "-f", str(NET / "destination-rule-all.yaml"))


def _pod(mesh: Mesh, prefix: str) -> dict:
    return next(p for p in mesh.status()["pods"] if p["name"].startswith(prefix))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(x) for x in text)
    return out


def _page_ok(mesh: Mesh) -> bool:
    code, body = mesh.page()
    return code == 200 and stars(body) != "error"


def test_killed_app_process_is_restarted(mesh: Mesh):
    pod = _pod(mesh, "details-v1")
    app = next(c for c in pod["containers"] if c["name"] == "details")
    os.kill(app["pid"], signal.SIGKILL)
    wait_for(lambda: _pod(mesh, "details-v1")["restarts"] >= 1 and _pod(mesh, "details-v1")["ready"],
             timeout=30, what="details restarted and ready")
    wait_for(lambda: "Error fetching product details" not in mesh.page()[1], timeout=20, what="details back")
    assert _page_ok(mesh)


def test_killed_envoy_is_restarted_by_its_agent(mesh: Mesh):
    pod = _pod(mesh, "productpage-v1")
    agent = next(c for c in pod["containers"] if c["name"] == "istio-proxy")
    (envoy,) = [p for p in _children(agent["pid"]) if "envoy" in Path(f"/proc/{p}/comm").read_text()]
    os.kill(envoy, signal.SIGKILL)
    wait_for(lambda: [p for p in _children(agent["pid"]) if p != envoy], timeout=20, what="a new Envoy")
    wait_for(lambda: _page_ok(mesh), timeout=30, what="the page through the restarted sidecar")


def test_killed_control_plane_keeps_traffic_and_proxies_reconnect(mesh: Mesh):
    status = mesh.status()
    cp = status["control_plane"]
    assert cp["running"]
    os.kill(cp["pid"], signal.SIGKILL)
    # traffic keeps flowing on the last config while the control plane is down or restarting
    assert Counter(_page_ok(mesh) for _ in range(10)) == Counter({True: 10})
    wait_for(lambda: mesh.status()["control_plane"]["restarts"] >= 1 and mesh.status()["control_plane"]["running"],
             timeout=30, what="control plane restarted")
    monitoring = json.loads((mesh.state / "runtime.json").read_text())["monitoring_address"]

    def connected() -> int:
        with _OPENER.open(f"http://{monitoring}/debug/syncz", timeout=5) as resp:
            return len(json.loads(resp.read()))

    wait_for(lambda: connected() == 7, timeout=60, what="all 7 proxies reconnected")
    # and the new control plane pushes config: a route change takes effect
    mesh.lateen("apply", "-f", str(NET / "destination-rule-all.yaml"), "-f", str(NET / "virtual-service-reviews-v3.yaml"))
    wait_for(lambda: _converged(mesh, "red"), timeout=30, what="all pages red after reconnect")
    mesh.lateen("delete", "-f", str(NET / "virtual-service-reviews-v3.yaml"), "-f", str(NET / "destination-rule-all.yaml"))


def test_down_leaves_no_process_port_or_lock(mesh: Mesh):
    state = StateDir(mesh.state)
    info = state.read_runtime()
    assert info is not None
    records = state.read_processes()
    assert len(records) >= 8  # 7 pods' processes + the control plane
    out = mesh.lateen("down")
    assert "mesh stopped" in out.stdout
    assert proc_start_time(info.pid) != info.start_time
    alive = [r for r in records if proc_start_time(r.pid) == r.start_time]
    assert alive == []
    assert not state.runtime_file.exists()
    assert not Path(info.api_socket).exists()
    host, _, port = info.xds_address.rpartition(":")
    addrs = [("127.0.0.1", mesh.port)]
    if mesh.mode == "explicit":
        addrs.append((host, int(port)))  # in transparent mode that address went with the bridge
    for addr in addrs:
        with socket.socket() as s:  # nothing listens there any more (TIME_WAIT may linger)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
            s.listen()
    assert "no mesh is running" in mesh.lateen("status", check=False).stderr
    if mesh.mode == "transparent":
        assert_no_network_left(mesh.state)

