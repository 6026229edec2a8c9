"""End-to-end: explicit mode (INTERCEPTION_MODE NONE) with real Envoy and `lateen discovery`.

Pods are loopback addresses: pod A's sidecar on 127.N.0.1 is its app's HTTP proxy
(``http://127.N.0.1:15001``); pod B's sidecar on 127.N.0.2 listens for inbound traffic on
B's service ports and forwards to B's app on 127.N.1.2. A gateway in explicit mode publishes
its port 8080 on 127.0.0.1:<free port> through LATEEN_PORT_BINDINGS. Nothing is captured.
"""

from __future__ import annotations

import json
import random
import re
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lateen.testing.procs import (
    Processes,
    ads_bootstrap,
    free_port,
    http_get,
    start_envoy,
    wait_for,
)

pytestmark = pytest.mark.e2e

ECHO_SERVER = """\
import asyncio, sys

async def handle(reader, writer):
    while data := await reader.readline():
        writer.write(b"echo " + data)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, sys.argv[1], int(sys.argv[2]))
    print("listening", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""

CONFIG = """\
apiVersion: v1
kind: Namespace
metadata: {{name: istio-system}}
---
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  clusterIP: {vip}
  ports: [{{name: http, port: 9080, targetPort: 9080}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: reviews, namespace: default}}
subsets:
- addresses: [{{ip: {pod_b}}}]
  ports: [{{name: http, port: 9080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: tcp-echo, namespace: default}}
spec:
  ports: [{{name: tcp, port: 9000, targetPort: 9000}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: tcp-echo, namespace: default}}
subsets:
- addresses: [{{ip: {pod_b}}}]
  ports: [{{name: tcp, port: 9000}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ingress, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: reviews, port: {{number: 9080}}}}}}]
"""


@dataclass
class Mesh:
    procs: Processes
    pod_a: str
    pod_b: str
    app_b: str
    vip: str
    outside: tuple[str, int]  # a server in no mesh service
    admin: dict[str, int]
    ingress_port: int

    def via_a(self, url: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET ``url`` with pod A's sidecar as the HTTP proxy, as ``HTTP_PROXY`` makes apps do."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://{self.pod_a}:15001"})
        )
        try:
            with opener.open(url, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stat(self, envoy: str, name: str) -> int:
        _, text = http_get(
            f"http://127.0.0.1:{self.admin[envoy]}/stats?filter=^{re.escape(name)}$"
        )
        m = re.search(rf"^{re.escape(name)}: (\d+)", text, re.M)
        return int(m.group(1)) if m else 0

    def listeners(self, envoy: str) -> dict[str, str]:
        _, text = http_get(f"http://127.0.0.1:{self.admin[envoy]}/listeners?format=json")
        return {
            lis["name"]: "{address}:{port_value}".format(
                **lis["local_address"]["socket_address"]
            )
            for lis in json.loads(text)["listener_statuses"]
        }


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _pick_network() -> int:
    """A 127.N.0.0/16 whose addresses we need are free (N in 100..199)."""
    for n in random.sample(range(100, 200), 100):
        wanted = [(f"127.{n}.0.1", 15001), (f"127.{n}.0.2", 9080), (f"127.{n}.0.2", 9000),
                  (f"127.{n}.1.2", 9080), (f"127.{n}.1.2", 9000), (f"127.{n}.0.3", 8080)]
        if all(_bindable(a, p) for a, p in wanted):
            return n
    raise RuntimeError("no free 127.N.0.0/16 network")


def _node(kind: str, ip: str, pod: str) -> str:
    return f"{kind}~{ip}~{pod}.default~default.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    tmp = tmp_path_factory.mktemp("explicit")
    config_dir = tmp / "config"
    config_dir.mkdir()
    logs = tmp / "logs"
    logs.mkdir()
    n = _pick_network()
    pod_a, pod_b, app_b, pod_gw = f"127.{n}.0.1", f"127.{n}.0.2", f"127.{n}.1.2", f"127.{n}.0.3"
    outside_addr = f"127.{n}.2.1"
    with Processes(logs) as procs:
        procs.python("backend", "-m", "lateen.testing.backend", "--name", "reviews-v1",
                     "--address", app_b, "--port", "9080")
        procs.python("echo", "-c", ECHO_SERVER, app_b, "9000")
        outside_port = free_port(outside_addr)
        procs.python("outside", "-m", "lateen.testing.backend", "--name", "outside",
                     "--address", outside_addr, "--port", str(outside_port))
        vip = f"127.{n}.3.1"
        (config_dir / "mesh.yaml").write_text(CONFIG.format(pod_b=pod_b, vip=vip))
        mesh_config = tmp / "meshconfig.yaml"
        mesh_config.write_text("accessLogFile: /dev/stdout\n")
        xds_port, monitoring_port = free_port(), free_port()
        procs.python("discovery", "-m", "lateen", "discovery", "--config-dir", str(config_dir),
                     "--xds-port", str(xds_port), "--monitoring-port", str(monitoring_port),
                     "--mesh-config", str(mesh_config))
        wait_for(lambda: http_get(f"http://127.0.0.1:{monitoring_port}/metrics")[0] == 200,
                 what="discovery /metrics")
        ingress_port = free_port()
        admin = {"a": free_port(), "b": free_port(), "gw": free_port()}
        envoys = {
            "a": (_node("sidecar", pod_a, "client-1"),
                  {"INTERCEPTION_MODE": "NONE", "LATEEN_APP_ADDRESS": f"127.{n}.1.1"}),
            "b": (_node("sidecar", pod_b, "reviews-v1-1"),
                  {"INTERCEPTION_MODE": "NONE", "LATEEN_APP_ADDRESS": app_b}),
            "gw": (_node("router", pod_gw, "ingress-1"),
                   {"INTERCEPTION_MODE": "NONE", "LABELS": {"istio": "ingressgateway"},
                    "LATEEN_PORT_BINDINGS": {"8080": f"127.0.0.1:{ingress_port}"}}),
        }
        for name, (node, metadata) in envoys.items():
            bootstrap = ads_bootstrap(
                node_id=node,
                cluster=name,
                metadata={"NAMESPACE": "default", **metadata},
                xds_address="127.0.0.1",
                xds_port=xds_port,
                admin_port=admin[name],
            )
            start_envoy(procs, f"envoy-{name}", bootstrap, tmp)
        m = Mesh(procs, pod_a, pod_b, app_b, vip, (outside_addr, outside_port), admin,
                 ingress_port)
        try:
            wait_for(lambda: m.via_a("http://reviews:9080/ready")[0] == 200, timeout=30,
                     what="reviews through pod A's proxy")
            wait_for(lambda: http_get(f"http://127.0.0.1:{ingress_port}/")[0] == 200,
                     timeout=30, what="the gateway's bound port")
        except TimeoutError:
            for name in ("discovery", "envoy-a", "envoy-b", "envoy-gw"):
                print(f"--- {name}\n{procs.log(name)[-3000:]}", file=sys.stderr)
            for name, port in admin.items():
                clusters = http_get(f"http://127.0.0.1:{port}/clusters", timeout=2)[1]
                print(f"--- {name} /clusters\n{clusters[-3000:]}", file=sys.stderr)
            raise
        yield m


def test_listeners_bind_the_pod_addresses(mesh: Mesh) -> None:
    assert mesh.listeners("a") == {f"{mesh.pod_a}_15001": f"{mesh.pod_a}:15001"}
    assert mesh.listeners("b") == {
        f"{mesh.pod_b}_15001": f"{mesh.pod_b}:15001",
        f"{mesh.pod_b}_9000": f"{mesh.pod_b}:9000",
        f"{mesh.pod_b}_9080": f"{mesh.pod_b}:9080",
    }
    assert mesh.listeners("gw") == {"127.0.0.1_8080": f"127.0.0.1:{mesh.ingress_port}"}


def test_http_through_the_proxy_reaches_the_backend_via_the_inbound_listener(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    inbound = "cluster.inbound|9080||.upstream_rq_200"
    outbound = "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_200"
    before_b, before_a = mesh.stat("b", inbound), mesh.stat("a", outbound)
    names = ("reviews", "reviews.default", "reviews.default.svc.cluster.local", mesh.vip)
    for name in names:
        assert mesh.via_a(f"http://{name}:9080/hello") == (200, "reviews-v1 /hello\n")
    assert mesh.stat("a", outbound) - before_a == len(names)
    assert mesh.stat("b", inbound) - before_b == len(names)
    # B's access log shows the request arriving on its inbound listener, for its app address
    wait_for(
        lambda: re.search(
            rf'"GET /hello HTTP/1.1" 200 .*"{re.escape(mesh.app_b)}:9080" inbound\|9080\|\|',
            mesh.procs.log("envoy-b"),
        ),
        timeout=10,
        what="the inbound access log line",
    )
    # the bare name is port 80's only
    assert mesh.via_a("http://reviews/hello")[0] == 503


def test_unknown_hosts_pass_by_ip_and_port_only(mesh: Mesh) -> None:
    host, port = mesh.outside
    assert mesh.via_a(f"http://{host}:{port}/x") == (200, "outside /x\n")
    # no DNS in PassthroughCluster: a name the mesh does not know cannot be reached
    assert mesh.via_a("http://no-such-service.example:9080/")[0] == 503


def _connect(proxy: str, target: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((proxy, 15001), timeout=5)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def test_connect_tunnels_to_a_tcp_service(mesh: Mesh) -> None:
    inbound = "cluster.inbound|9000||.upstream_cx_total"
    before = mesh.stat("b", inbound)
    sock, head = _connect(mesh.pod_a, "tcp-echo:9000")
    with sock:
        assert head.startswith(b"HTTP/1.1 200"), head
        f = sock.makefile("rwb")
        for line in (b"hello\n", b"world\n"):
            f.write(line)
            f.flush()
            assert f.readline() == b"echo " + line
    assert mesh.stat("b", inbound) - before == 1
    assert mesh.stat("a", "cluster.outbound|9000||tcp-echo.default.svc.cluster.local"
                          ".upstream_cx_total") >= 1


def test_gateway_port_binding_publishes_the_ingress(mesh: Mesh) -> None:
    status, body = http_get(f"http://127.0.0.1:{mesh.ingress_port}/productpage")
    assert (status, body) == (200, "reviews-v1 /productpage\n")
