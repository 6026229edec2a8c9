"""End-to-end: `lateen discovery` serving a real gateway Envoy started from a plain bootstrap.

Backends are real Python HTTP servers on loopback addresses; traffic goes through real Envoy.
"""

from __future__ import annotations

import collections
import json
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

BACKENDS = {"a": "127.0.0.21", "b": "127.0.0.22"}

SERVICES = """\
apiVersion: v1
kind: Namespace
metadata: {{name: istio-system}}
{docs}
"""

SERVICE = """\
---
apiVersion: v1
kind: Service
metadata: {{name: backend-{name}, namespace: default}}
spec:
  clusterIP: 198.19.0.{octet}
  ports: [{{name: http, port: 8000, targetPort: {port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: backend-{name}, namespace: default}}
subsets:
- addresses: [{{ip: {address}}}]
  ports: [{{name: http, port: {port}}}]
"""

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: test-gateway, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: http, protocol: HTTP}}
    hosts: ["*"]
"""

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: backend, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [test-gateway]
  http:
  - match:
    - uri: {{prefix: /nack}}
      {extra}
    route:
    - destination: {{host: backend-a}}
  - route:
    - destination: {{host: backend-a, port: {{number: 8000}}}}
      weight: {wa}
    - destination: {{host: backend-b, port: {{number: 8000}}}}
      weight: {wb}
"""


@dataclass
class Mesh:
    procs: Processes
    config_dir: Path
    gateway_port: int
    admin_port: int
    monitoring_port: int

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.gateway_port}{path}"

    def write_vs(self, wa: int, wb: int, extra: str = "") -> None:
        text = VS.format(wa=wa, wb=wb, extra=extra)
        tmp = self.config_dir / ".vs.yaml.tmp"
        tmp.write_text(text)
        tmp.replace(self.config_dir / "vs.yaml")  # atomic, as editors and kubectl-like tools do

    def backend_of(self, path: str = "/") -> str | None:
        status, body = http_get(self.url(path), timeout=5)
        if status != 200:
            return None
        return body.split()[0]

    def metrics(self) -> str:
        return http_get(f"http://127.0.0.1:{self.monitoring_port}/metrics")[1]

    def envoy_stat(self, name: str) -> int:
        _, text = http_get(f"http://127.0.0.1:{self.admin_port}/stats?filter=^{re.escape(name)}$")
        m = re.search(rf"^{re.escape(name)}: (\d+)", text, re.M)
        return int(m.group(1)) if m else 0


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    with Processes(logs) as procs:
        docs = ""
        for i, (name, address) in enumerate(sorted(BACKENDS.items())):
            port = free_port(address)
            procs.python(f"backend-{name}", "-m", "lateen.testing.backend", "--name", name,
                         "--address", address, "--port", str(port))
            docs += SERVICE.format(name=name, octet=10 + i, address=address, port=port)
        (config_dir / "services.yaml").write_text(SERVICES.format(docs=docs))
        gateway_port = free_port()
        (config_dir / "gateway.yaml").write_text(GATEWAY.format(port=gateway_port))
        xds_port, monitoring_port, admin_port = free_port(), free_port(), free_port()
        m = Mesh(procs, config_dir, gateway_port, admin_port, monitoring_port)
        m.write_vs(80, 20)
        procs.python("discovery", "-m", "lateen", "discovery", "--config-dir", str(config_dir),
                     "--xds-port", str(xds_port), "--monitoring-port", str(monitoring_port))
        wait_for(lambda: http_get(f"http://127.0.0.1:{monitoring_port}/metrics")[0] == 200,
                 what="discovery /metrics")
        node = "router~127.0.0.1~test-gateway-1.istio-system~istio-system.svc.cluster.local"
        bootstrap = ads_bootstrap(
            node_id=node,
            cluster="istio-ingressgateway.istio-system",
            metadata={"NAMESPACE": "istio-system", "LABELS": {"istio": "ingressgateway"}},
            xds_address="127.0.0.1",
            xds_port=xds_port,
            admin_port=admin_port,
        )
        start_envoy(procs, "gateway", bootstrap, tmp_path)
        try:
            wait_for(lambda: m.backend_of() in ("a", "b"), timeout=30, what="gateway routing")
        except TimeoutError:
            print(procs.log("discovery"), procs.log("gateway"), file=sys.stderr)
            raise
        yield m


def _distribution(mesh: Mesh, n: int) -> collections.Counter[str | None]:
    return collections.Counter(mesh.backend_of() for _ in range(n))


def test_weighted_split_80_20_over_500_requests(mesh: Mesh) -> None:
    counts = _distribution(mesh, 500)
    assert counts[None] == 0
    share_a = counts["a"] / 500
    assert 0.74 <= share_a <= 0.86, counts


def test_editing_the_virtual_service_shifts_traffic_live_without_errors(mesh: Mesh) -> None:
    failures: list[str] = []
    seen: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                status, body = http_get(mesh.url(), timeout=5)
            except OSError as e:
                failures.append(repr(e))
                continue
            if status != 200:
                failures.append(f"{status} {body[:80]}")
            else:
                seen.append(body.split()[0])

    t = threading.Thread(target=client)
    t.start()
    try:
        time.sleep(0.5)
        mesh.write_vs(0, 100)
        wait_for(lambda: len(seen) > 20 and seen[-20:] == ["b"] * 20, timeout=15, what="shift to b")
        mesh.write_vs(100, 0)
        wait_for(lambda: len(seen) > 20 and seen[-20:] == ["a"] * 20, timeout=15, what="shift to a")
    finally:
        stop.set()
        t.join()
    assert failures == []
    assert len(seen) > 50


def test_nacked_config_leaves_traffic_flowing_and_is_counted(mesh: Mesh) -> None:
    mesh.write_vs(0, 100)
    wait_for(lambda: all(mesh.backend_of() == "b" for _ in range(10)), timeout=15, what="all to b")
    # Python's regex engine accepts this, Envoy's RE2 rejects it as too large (program size
    # over Envoy's limit), so Envoy NACKs the route configuration.
    mesh.write_vs(100, 0, extra='headers: {x-big: {regex: "(abcdefgh|ijklmnop|qrstuvwx){1,100}"}}')
    wait_for(lambda: "pilot_total_xds_rejects" in mesh.metrics()
             and re.search(r"^pilot_total_xds_rejects\S*\s+[1-9]", mesh.metrics(), re.M),
             timeout=15, what="NACK counted")
    # the last good config (100% b) stays in force
    assert collections.Counter(mesh.backend_of() for _ in range(20)) == {"b": 20}
    # a fixed config flows again
    mesh.write_vs(100, 0)
    wait_for(lambda: all(mesh.backend_of() == "a" for _ in range(10)), timeout=15, what="all to a")


def test_syncz_and_config_dump_show_the_gateway(mesh: Mesh) -> None:
    status, body = http_get(f"http://127.0.0.1:{mesh.monitoring_port}/debug/syncz")
    assert status == 200
    syncz = json.loads(body)
    ids = json.dumps(syncz)
    assert "test-gateway-1.istio-system" in ids
    with urllib.request.urlopen(
        f"http://127.0.0.1:{mesh.monitoring_port}/debug/config_dump?proxyID=test-gateway-1.istio-system",
        timeout=5,
    ) as resp:
        dump = resp.read().decode()
    assert "outbound|8000||backend-a.default.svc.cluster.local" in dump
