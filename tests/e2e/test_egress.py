"""Istio's egress tasks end to end (transparent mode): a plain httpbin process outside the mesh
on the host's bridge address stands in for httpbin.example.com. ALLOW_ANY passes the unknown
host (PassthroughCluster); REGISTRY_ONLY blocks it (502 from block_all); a ServiceEntry
re-allows it; a VirtualService timeout of 3s turns /delay/5 into a 504 after ~3s; the
egress-gateway task sends the same requests through an egress gateway."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import pytest

from lateen.platform.local import StateDir
from lateen.testing.localmesh import ROOT, Mesh, container_log, mesh_up
from lateen.testing.procs import Processes, wait_for

pytestmark = pytest.mark.e2e

HOST = "httpbin.example.com"

# GET http://ADDR{path} with Host: httpbin.example.com from inside the pod; prints status, seconds
GET = (
    "import http.client, sys, time\n"
    "c = http.client.HTTPConnection(sys.argv[1], 80, timeout=20)\n"
    "t = time.monotonic()\n"
    "c.request('GET', sys.argv[2], headers={'Host': sys.argv[3]})\n"
    "r = c.getresponse(); r.read()\n"
    "print(r.status, round(time.monotonic() - t, 2))\n"
)

MESH_CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
    outboundTrafficPolicy:
      mode: MODE
"""

SERVICE_ENTRY = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin-ext}
spec:
  hosts: [httpbin.example.com]
  location: MESH_EXTERNAL
  resolution: RESOLUTION
  ports:
  - {number: 80, name: http, protocol: HTTP}
  endpoints:
  - address: ADDRESS
"""

TIMEOUT_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin-ext}
spec:
  hosts: [httpbin.example.com]
  http:
  - timeout: 3s
    route:
    - destination: {host: httpbin.example.com}
      weight: 100
"""

# Istio's egress-gateway task (samples/egress/egress-gateway.yaml)
EGRESS_GATEWAY = ROOT / "samples" / "egress" / "egress-gateway.yaml"


class Egress:
    def __init__(self, mesh: Mesh, external: str) -> None:
        self.mesh, self.external = mesh, external

    def get(self, path: str, host: str = HOST) -> tuple[int, float]:
        """(status, seconds) of a GET from the curl pod to the external address; 0 on error."""
        out = self.mesh.lateen("exec", "deploy/curl", "--", sys.executable, "-c", GET,
                               self.external, path, host, check=False)  # fmt: skip
        if out.returncode != 0:
            return 0, 0.0
        status, seconds = out.stdout.split()
        return int(status), float(seconds)

    def apply(self, text: str) -> None:
        self.mesh.lateen("apply", "-f", "-", stdin=text)

    def delete(self, text: str) -> None:
        self.mesh.lateen("delete", "-f", "-", stdin=text)

    def wait_status(self, path: str, want: int, what: str) -> None:
        wait_for(lambda: self.get(path)[0] == want, timeout=30, interval=0.5, what=what)

    def service_entry(self, resolution: str = "STATIC") -> str:
        return SERVICE_ENTRY.replace("RESOLUTION", resolution).replace("ADDRESS", self.external)


@pytest.fixture(scope="module")
def egress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Egress]:
    src = tmp_path_factory.mktemp("egress-src")
    (src / "kustomization.yaml").write_text(
        f"resources:\n- {ROOT / 'samples' / 'curl' / 'curl.yaml'}\n"
        f"- {ROOT / 'samples' / 'egress' / 'egressgateway.yaml'}\n"
    )
    state = tmp_path_factory.mktemp("egress") / ".lateen"
    procs = Processes(tmp_path_factory.mktemp("egress-logs"))
    with mesh_up(state, src, "transparent") as mesh, contextlib.closing(procs):
        info = StateDir(state).read_runtime()
        assert info is not None
        external = info.control_plane_ip  # the host's address on the pod bridge
        # httpbin outside the mesh: a plain process on the host, no sidecar
        procs.start("httpbin", [sys.executable, str(ROOT / "samples/httpbin/src/httpbin.py"), "80"],
                    env={"LISTEN_ADDRESS": external})  # fmt: skip
        wait_for(lambda: _listening(external), timeout=20, what="the external httpbin")
        yield Egress(mesh, external)


def _listening(address: str) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((address, 80)) == 0


def _log_line(pod: dict, marker: str) -> str:
    return next((x for x in container_log(pod).splitlines() if marker in x), "")


def test_1_allow_any_passes_an_unknown_host(egress: Egress) -> None:
    marker = f"/status/200?allow={time.monotonic_ns()}"
    assert egress.get(marker)[0] == 200
    curl = egress.mesh.pod("curl")
    line = wait_for(lambda: _log_line(curl, marker), timeout=10, what="the curl sidecar's log")
    assert "PassthroughCluster" in line


def test_2_registry_only_blocks_and_a_service_entry_re_allows(egress: Egress) -> None:
    egress.apply(MESH_CONFIG.replace("MODE", "REGISTRY_ONLY"))
    egress.wait_status("/status/200", 502, "REGISTRY_ONLY to block the unknown host")
    egress.apply(egress.service_entry())
    egress.wait_status("/status/200", 200, "the ServiceEntry to re-allow httpbin.example.com")
    marker = f"/headers?se={time.monotonic_ns()}"
    assert egress.get(marker)[0] == 200
    line = wait_for(lambda: _log_line(egress.mesh.pod("curl"), marker), timeout=10, what="the log")
    assert f"outbound|80||{HOST}" in line
    # another host on the same address is still blocked
    assert egress.get("/status/200", host="other.example.com")[0] == 502


def test_3_dns_resolution_service_entry(egress: Egress) -> None:
    # resolution DNS: the sidecar's Envoy resolves the endpoint (an IP literal here: no DNS
    # server exists on this machine) in a STRICT_DNS cluster
    egress.apply(egress.service_entry("DNS"))
    out = egress.mesh.lateen("proxy-config", "cluster", "deploy/curl", "--fqdn", HOST)
    wait_for(lambda: "STRICT_DNS" in egress.mesh.lateen("proxy-config", "cluster", "deploy/curl",
                                                        "--fqdn", HOST).stdout,
             timeout=20, interval=0.5, what="a STRICT_DNS cluster")  # fmt: skip
    assert HOST in out.stdout
    assert egress.get("/status/200")[0] == 200
    egress.apply(egress.service_entry("STATIC"))


def test_4_virtual_service_timeout_gives_504_after_3s(egress: Egress) -> None:
    egress.apply(TIMEOUT_VS)
    try:
        wait_for(lambda: egress.get("/delay/5")[0] == 504, timeout=40, interval=0.5,
                 what="the 3s timeout")  # fmt: skip
        status, seconds = egress.get("/delay/5")
        assert status == 504
        assert 2.8 <= seconds < 4.5, seconds
        status, seconds = egress.get("/delay/1")
        assert status == 200 and seconds >= 1.0
    finally:
        egress.delete(TIMEOUT_VS)


def test_5_egress_gateway_carries_the_traffic(egress: Egress) -> None:
    config = EGRESS_GATEWAY.read_text()
    egress.apply(config)
    gw = egress.mesh.pod("istio-egressgateway")

    def through_gateway() -> str:
        marker = f"/status/200?egw={time.monotonic_ns()}"
        if egress.get(marker)[0] != 200:
            return ""
        return marker

    wait_for(lambda: (m := through_gateway()) and _wait_line(gw, m), timeout=40, interval=0.5,
             what="a request through the egress gateway")  # fmt: skip
    marker = through_gateway()
    assert marker
    gw_line = wait_for(lambda: _log_line(gw, marker), timeout=10, what="the egress gateway's log")
    assert f"outbound|80||{HOST}" in gw_line and " 200 " in gw_line
    curl_line = wait_for(lambda: _log_line(egress.mesh.pod("curl"), marker), timeout=10,
                         what="the curl sidecar's log")  # fmt: skip
    assert "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local" in curl_line
    egress.delete(config)


def _wait_line(pod: dict, marker: str) -> bool:
    try:
        wait_for(lambda: _log_line(pod, marker), timeout=2, what="log")
    except TimeoutError:
        return False
    return True
