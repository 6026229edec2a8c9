"""Real ``lateen up`` meshes for the benchmarks, with the C load generator run inside a pod.

:func:`manifests` writes the bench's workload: a ``server`` Deployment (the C 1 KB server of
``bench/_native/server.c``) behind Service ``server:9080``, a ``client`` Deployment that only
sleeps, and ``server-plain``/``client-plain``, the same two without a sidecar
(``sidecar.istio.io/inject: "false"``). :func:`up_meshes` starts one ``lateen up -d`` mesh per
pod-network mode (in parallel) and always stops them (``lateen down``, then ``down --force``).
:func:`pod_load` runs the generator with ``lateen exec POD -- loadgen ...``, so its traffic
takes the pod's path: in transparent mode it runs in the pod's network namespace as the app
user (uid 1000) and its connections are captured by the pod's iptables rules.
"""

from __future__ import annotations

import array
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._loadgen import LoadResult
from bench._native import binary
from lateen.testing.localmesh import Mesh
from lateen.testing.procs import free_port

__all__ = [
    "APP_PORT",
    "HOST",
    "RESPONSE_BYTES",
    "deployment_pod",
    "manifests",
    "pod_load",
    "up_meshes",
    "wait_path",
]

APP_PORT = 9080
HOST = "server:9080"
RESPONSE_BYTES = 1024
SERVER_THREADS = 2

_SERVICE = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: bench}
---
apiVersion: v1
kind: Service
metadata: {name: server, labels: {app: server}}
spec:
  selector: {app: server}
  ports: [{name: http, port: PORT, targetPort: PORT}]
"""

# the built-in ingress gateway is replaced by one with no replica: nothing here goes through
# it, and its Envoy's 5 s drain would dominate `lateen down`
_NO_GATEWAY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  replicas: 0
  selector: {matchLabels: {app: istio-ingressgateway, istio: ingressgateway}}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
      annotations: {inject.istio.io/templates: gateway}
    spec:
      containers:
      - {name: istio-proxy, image: auto}
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: LABELS}
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: bench
      containers:
      - name: NAME
        command: COMMAND
        ports: PORTS
"""


def manifests(directory: Path) -> Path:
    """Write ``bench.yaml`` (ServiceAccount, Service ``server``, four Deployments, the ingress
    gateway scaled to zero) into ``directory``; returns it. The server listens on ``$LISTEN_ADDRESS`` (the app address in
    explicit mode, 0.0.0.0 in transparent mode)."""
    server = str(binary("server"))
    serve = ["sh", "-c", f'exec {server} "${{LISTEN_ADDRESS:-0.0.0.0}}" {APP_PORT} '
             f"{RESPONSE_BYTES} {SERVER_THREADS}"]  # fmt: skip
    sleep = ["sleep", "infinity"]
    docs = [_SERVICE.replace("PORT", str(APP_PORT)), _NO_GATEWAY]
    for name, command, mesh in (
        ("server", serve, True),
        ("client", sleep, True),
        ("server-plain", serve, False),
        ("client-plain", sleep, False),
    ):
        labels = {"app": name} if mesh else {"app": name, "sidecar.istio.io/inject": "false"}
        ports = [{"containerPort": APP_PORT}] if command is serve else []
        docs.append(
            _DEPLOYMENT.replace("NAME", name)
            .replace("LABELS", json.dumps(labels))
            .replace("COMMAND", json.dumps(command))
            .replace("PORTS", json.dumps(ports))
        )
    (directory / "bench.yaml").write_text("---\n".join(docs))
    return directory


def _up(mesh: Mesh, src: Path, timeout: float) -> None:
    out = mesh.lateen("up", str(src), "-d", "--mode", mesh.mode, "--ingress-port", str(mesh.port),
                      "--timeout", str(timeout), "--log-level", "warning", check=False)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"lateen up --mode {mesh.mode} failed:\n{out.stdout}\n{out.stderr}")


def _down(mesh: Mesh) -> None:
    """``lateen down``; if it fails, ``down --force``; then kill (by PID and start time) any
    process the state directory still names."""
    from lateen.platform.local import StateDir, proc_start_time

    if mesh.lateen("down", check=False).returncode != 0:
        mesh.lateen("down", "--force", check=False)
    for rec in StateDir(mesh.state).read_processes():
        if proc_start_time(rec.pid) == rec.start_time:
            os.killpg(rec.pid, signal.SIGKILL)


@contextmanager
def up_meshes(
    workdir: Path, modes: Sequence[str], *, timeout: float = 90
) -> Iterator[dict[str, Mesh]]:
    """One ``lateen up -d --mode MODE`` mesh per mode, started in parallel from the same
    manifests, each with its own state directory and ingress port; stopped on exit."""
    src = workdir / "manifests"
    src.mkdir()
    manifests(src)
    meshes: dict[str, Mesh] = {}
    for mode in modes:
        port = free_port()
        meshes[mode] = Mesh(workdir / f"state-{mode}", f"http://127.0.0.1:{port}", port, mode)
    try:
        with ThreadPoolExecutor(len(meshes)) as pool:
            for f in [pool.submit(_up, m, src, timeout) for m in meshes.values()]:
                f.result()
        yield meshes
    finally:  # a half-started mesh is stopped too; the meshes stop in parallel
        with ThreadPoolExecutor(len(meshes)) as pool:
            list(pool.map(_down, meshes.values()))


def _records(path: Path) -> tuple[list[float], list[float]]:
    rec = array.array("q")
    rec.frombytes(path.read_bytes())
    lat, lag, status = rec[0::3], rec[1::3], rec[2::3]
    ok = [v / 1000 for v, st in zip(lat, status, strict=True) if v >= 0 and 200 <= st < 300]
    return ok, [v / 1000 for v in lag if v >= 0]


def pod_load(
    mesh: Mesh,
    pod: str,
    address: str,
    port: int,
    *,
    rate: float,
    connections: int,
    duration: float,
    warmup: float = 0.5,
    host: str = HOST,
    path: str = "/",
    drain: float = 5.0,
) -> LoadResult:
    """Run the open-loop generator inside ``pod`` (``deploy/NAME``) of ``mesh`` against
    ``address:port`` with ``GET path`` and ``Host: host``; the same measurements as
    :func:`bench._loadgen.run_open_loop`."""
    with tempfile.TemporaryDirectory(prefix="lateen-podload-") as tmp:
        os.chmod(tmp, 0o777)  # in transparent mode the generator runs as the app user (uid 1000)
        out = Path(tmp) / "records.bin"
        argv = [
            str(binary("loadgen")), "-a", address, "-p", str(port), "-H", host,
            "-r", str(rate), "-c", str(connections), "-d", str(duration),
            "-w", str(warmup), "-t", str(drain), "-u", path, "-o", str(out),
        ]  # fmt: skip
        proc = mesh.lateen("exec", pod, "--", *argv, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen in {pod} ({mesh.mode}) exited {proc.returncode}: "
                               f"{proc.stderr.strip()[-2000:]}")  # fmt: skip
        summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        latencies, lags = _records(out)
    return LoadResult(summary=summary, latencies_us=latencies, send_lags_us=lags)


def wait_path(mesh: Mesh, pod: str, address: str, port: int, *, timeout: float = 60) -> float:
    """Send a few requests until every one gets a 2xx (endpoints and routes pushed, the
    server listening); returns the seconds it took."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        try:
            res = pod_load(mesh, pod, address, port, rate=20, connections=1, duration=0.25,
                           warmup=0, drain=2)  # fmt: skip
            if res.summary["ok"] == res.summary["scheduled"] > 0:
                return round(time.monotonic() - started, 1)
            last = json.dumps(res.summary)
        except RuntimeError as e:
            last = str(e)
        time.sleep(0.5)
    raise RuntimeError(
        f"{pod} ({mesh.mode}) -> {address}:{port} not answering after {timeout} s: {last}"
    )


def deployment_pod(
    mesh: Mesh, deployment: str, pods: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The (first) pod of ``deployment`` (among ``pods``, default: the mesh's status); pods
    are named ``<deployment>-<hash>-<suffix>``."""
    for pod in mesh.status()["pods"] if pods is None else pods:
        if str(pod["name"]).rsplit("-", 2)[0] == deployment:
            return dict(pod)
    raise RuntimeError(f"no pod of deployment {deployment} in the {mesh.mode} mesh")
