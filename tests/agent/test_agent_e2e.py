"""End-to-end: `lateen discovery` + `lateen agent --type router` (real Envoy) + a Python backend.

The agent's readiness turns 200, traffic flows through the gateway; a kill -9 of Envoy is
survived; SIGTERM drains and leaves no Envoy behind and every port free.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lateen.testing.procs import Processes, free_port, http_get, wait_for

pytestmark = pytest.mark.e2e

GATEWAY_ADDRESS = "127.0.0.150"  # the gateway "pod"
BACKEND_ADDRESS = "127.0.0.151"

CONFIG = """\
apiVersion: v1
kind: Namespace
metadata: {{name: istio-system}}
---
apiVersion: v1
kind: Service
metadata: {{name: backend-a, namespace: default}}
spec:
  clusterIP: 198.19.0.50
  ports: [{{name: http, port: 8000, targetPort: {port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: backend-a, namespace: default}}
subsets:
- addresses: [{{ip: {address}}}]
  ports: [{{name: http, port: {port}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: test-gateway, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {gateway_port}, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: backend, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [test-gateway]
  http:
  - route:
    - destination: {{host: backend-a, port: {{number: 8000}}}}
"""


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(address: str, port: int) -> bool:
    """True when a server can listen on ``address:port`` (SO_REUSEADDR, as servers bind: a
    connection in TIME_WAIT does not hold a port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            s.listen()
        except OSError:
            return False
        return True


@dataclass
class Gateway:
    procs: Processes
    agent: subprocess.Popen[bytes]
    work_dir: Path
    gateway_port: int
    admin_port: int
    stats_port: int
    status_port: int
    started_at: float
    envoy_pids: set[int] = field(default_factory=set)

    def url(self, path: str = "/") -> str:
        return f"http://{GATEWAY_ADDRESS}:{self.gateway_port}{path}"

    def ready(self) -> tuple[int, str]:
        return http_get(f"http://{GATEWAY_ADDRESS}:{self.status_port}/healthz/ready", timeout=5)

    def envoy_pid(self) -> int | None:
        """PID of the Envoy the agent started last (from the agent's log)."""
        pids = [int(p) for p in re.findall(r"envoy started \(pid (\d+)", self.procs.log("agent"))]
        self.envoy_pids.update(pids)
        return pids[-1] if pids else None

    def backend(self) -> str | None:
        try:
            status, body = http_get(self.url(), timeout=2)
        except OSError:
            return None
        return body.split()[0] if status == 200 else None

    def dump_logs(self) -> None:
        for name in ("discovery", "agent", "backend-a"):
            print(f"--- {name} ---\n{self.procs.log(name)[-4000:]}", file=sys.stderr)
        envoy_log = self.work_dir / "envoy.log"
        if envoy_log.exists():
            print(f"--- envoy ---\n{envoy_log.read_text(errors='replace')[-4000:]}", file=sys.stderr)


def _start(tmp_path: Path, procs: Processes, delta: bool) -> Gateway:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    backend_port = free_port(BACKEND_ADDRESS)
    procs.python("backend-a", "-m", "lateen.testing.backend", "--name", "a",
                 "--address", BACKEND_ADDRESS, "--port", str(backend_port))
    gateway_port = free_port()
    (config_dir / "config.yaml").write_text(
        CONFIG.format(port=backend_port, address=BACKEND_ADDRESS, gateway_port=gateway_port)
    )
    xds_port, monitoring_port = free_port(), free_port()
    procs.python("discovery", "-m", "lateen", "discovery", "--config-dir", str(config_dir),
                 "--xds-port", str(xds_port), "--monitoring-port", str(monitoring_port))
    wait_for(lambda: http_get(f"http://127.0.0.1:{monitoring_port}/metrics")[0] == 200,
             what="discovery /metrics")
    admin_port, stats_port, status_port = (free_port(GATEWAY_ADDRESS) for _ in range(3))
    work_dir = tmp_path / "agent"
    argv = [
        "-m", "lateen", "agent", "--type", "router", "--pod-name", "istio-ingressgateway-1",
        "--namespace", "istio-system", "--pod-ip", GATEWAY_ADDRESS,
        "--labels", "istio=ingressgateway,app=istio-ingressgateway",
        "--discovery-address", f"127.0.0.1:{xds_port}",
        "--admin-port", str(admin_port), "--stats-port", str(stats_port),
        "--status-port", str(status_port), "--work-dir", str(work_dir),
        "--termination-drain-duration", "1",
    ]  # fmt: skip
    if delta:
        argv.append("--delta")
    started_at = time.monotonic()
    agent = procs.python("agent", *argv)
    return Gateway(procs, agent, work_dir, gateway_port, admin_port, stats_port, status_port, started_at)


@contextlib.contextmanager
def _gateway(tmp_path: Path, delta: bool = False) -> Iterator[Gateway]:
    logs = tmp_path / "logs"
    logs.mkdir()
    gw: Gateway | None = None
    with Processes(logs) as procs:
        try:
            gw = _start(tmp_path, procs, delta)
            yield gw
        except BaseException:
            if gw is not None:
                gw.dump_logs()
            raise
        finally:
            if gw is not None:
                procs.stop(gw.agent, timeout=10)
                gw.envoy_pid()
                for pid in gw.envoy_pids:  # never leave an Envoy behind, even on failure
                    if pid_alive(pid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)


def _wait_ready(gw: Gateway, timeout: float = 30) -> float:
    wait_for(lambda: gw.ready()[0] == 200, timeout=timeout, interval=0.02, what="/healthz/ready 200")
    return time.monotonic() - gw.started_at


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_ready_then_traffic_flows_through_the_gateway(tmp_path: Path, delta: bool) -> None:
    with _gateway(tmp_path, delta) as gw:
        elapsed = _wait_ready(gw)
        print(f"\nagent start -> ready ({'delta' if delta else 'sotw'}): {elapsed * 1000:.0f} ms")
        wait_for(lambda: gw.backend() == "a", timeout=15, what="gateway routes to backend a")
        assert [gw.backend() for _ in range(10)] == ["a"] * 10
        status, text = http_get(f"http://{GATEWAY_ADDRESS}:{gw.stats_port}/stats/prometheus")
        assert status == 200
        assert "envoy_cluster_manager_cds_update_success" in text
        pid = gw.envoy_pid()
        assert pid is not None and pid_alive(pid)


def test_readiness_reports_an_unreachable_envoy(tmp_path: Path) -> None:
    with _gateway(tmp_path) as gw:
        _wait_ready(gw)
        pid = gw.envoy_pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # admin stops answering
        try:
            _, text = wait_for(lambda: (r := gw.ready())[0] == 503 and r, timeout=10,
                                    what="503 while Envoy is stopped")
            assert "not reachable" in text
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: gw.ready()[0] == 200, timeout=10, what="ready again")


def test_kill_9_envoy_is_restarted_and_traffic_recovers(tmp_path: Path) -> None:
    with _gateway(tmp_path) as gw:
        _wait_ready(gw)
        wait_for(lambda: gw.backend() == "a", timeout=15, what="gateway routes")
        first = gw.envoy_pid()
        assert first is not None
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not pid_alive(first), timeout=5, what="envoy gone")
        second = wait_for(lambda: (p := gw.envoy_pid()) != first and p, timeout=15,
                          what="envoy restarted")
        assert pid_alive(second)
        wait_for(lambda: gw.backend() == "a", timeout=20, what="traffic recovers")
        print(f"\nkill -9 envoy -> traffic again: {(time.monotonic() - killed_at) * 1000:.0f} ms")
        assert gw.ready()[0] == 200
        assert "exited with -9" in gw.procs.log("agent")


def test_sigterm_drains_and_leaves_no_envoy_and_frees_the_ports(tmp_path: Path) -> None:
    with _gateway(tmp_path) as gw:
        _wait_ready(gw)
        wait_for(lambda: gw.backend() == "a", timeout=15, what="gateway routes")
        pid = gw.envoy_pid()
        assert pid is not None
        stopped_at = time.monotonic()
        gw.agent.send_signal(signal.SIGTERM)
        assert gw.agent.wait(timeout=15) == 0
        print(f"\nSIGTERM -> agent exited: {(time.monotonic() - stopped_at) * 1000:.0f} ms "
              "(termination drain 1 s)")
        log = gw.procs.log("agent")
        assert "envoy drain requested: 200" in log
        assert log.index("drain requested") < log.index("sending SIGTERM to envoy")
        wait_for(lambda: not pid_alive(pid), timeout=5, what="envoy gone")
        assert gw.envoy_pid() == pid, "no restart while stopping"
        for port in (gw.admin_port, gw.stats_port, gw.status_port):
            assert port_free(GATEWAY_ADDRESS, port), port
        assert port_free("0.0.0.0", gw.gateway_port)
