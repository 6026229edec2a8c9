"""Shared pieces of the traffic-management e2e modules: one ``lateen up -d`` per module,
``lateen apply`` of task YAML, HTTP through the ingress gateway or through a pod's sidecar
(explicit mode: the sidecar is the app's HTTP proxy), pod logs, cleanup by recorded PID."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lateen.testing.localmesh import run_lateen, stop_mesh
from lateen.testing.procs import free_port, wait_for

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


@dataclass(frozen=True)
class Response:
    status: int  # 0: the request failed (connection error, timeout)
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: str
    elapsed: float


@dataclass
class Mesh:
    state: Path
    port: int  # the ingress gateway's port 8080 on 127.0.0.1
    _pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # by deployment

    def lateen(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_lateen(self.state, *args, check=check, stdin=stdin)

    def apply(self, *paths: Path, text: str | None = None) -> str:
        args = [a for p in paths for a in ("-f", str(p))]
        if text is not None:
            args += ["-f", "-"]
        return self.lateen("apply", *args, stdin=text).stdout

    def delete(self, *paths: Path, text: str | None = None) -> str:
        args = [a for p in paths for a in ("-f", str(p))]
        if text is not None:
            args += ["-f", "-"]
        return self.lateen("delete", *args, stdin=text).stdout

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.lateen("status", "-o", "json").stdout)
        return data

    def pod(self, deployment: str) -> dict[str, Any]:
        """The one pod of a Deployment (pods are named ``<deployment>-<hash>-<suffix>``)."""
        (pod,) = [p for p in self.status()["pods"] if p["name"].rsplit("-", 2)[0] == deployment]
        return pod

    def log(self, deployment: str, container: str) -> str:
        """The container's log so far (``istio-proxy``: the agent and Envoy's access log)."""
        pod = self.pod(deployment)
        (c,) = [c for c in pod["containers"] if c["name"] == container]
        return Path(c["log"]).read_text(errors="replace")

    def ingress(self, path: str, *, host: str = "", method: str = "GET", **kw: Any) -> Response:
        headers = dict(kw.pop("headers", {}) or {})
        if host:
            headers["Host"] = host
        return request("127.0.0.1", self.port, method, path, headers=headers, **kw)

    def via_sidecar(self, deployment: str, url: str, *, method: str = "GET", **kw: Any) -> Response:
        """``url`` requested by the pod's app: through its sidecar, the app's HTTP proxy."""
        ip = self.pod(deployment)["ip"]
        return request(ip, 15001, method, url, **kw)


def poll(fetch: Callable[[], T], ok: Callable[[T], bool], *, what: str, timeout: float = 40.0) -> T:
    """``fetch()`` every half second until ``ok`` holds for what it returned; that value."""
    found: T = wait_for(
        lambda: v if ok(v := fetch()) else None, timeout=timeout, interval=0.5, what=what
    )
    return found


def request(
    host: str,
    port: int,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 15.0,
) -> Response:
    """One HTTP/1.1 request, redirects not followed; ``target`` may be an absolute URL
    (proxy form: the Host header comes from it)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read().decode(errors="replace")
        hdrs: dict[str, str] = {}
        for k, v in resp.getheaders():
            hdrs[k.lower()] = f"{hdrs[k.lower()]}, {v}" if k.lower() in hdrs else v
        return Response(resp.status, hdrs, data, time.monotonic() - started)
    except OSError as e:
        return Response(0, {}, str(e), time.monotonic() - started)
    finally:
        conn.close()


@contextmanager
def running_mesh(
    tmp_path_factory: Any, name: str, *manifests: Path, timeout: int = 90
) -> Iterator[Mesh]:
    """``lateen up -d MANIFESTS`` in a fresh state directory; on exit ``lateen down --force``
    and SIGKILL for any recorded process still alive (PID and start time must match)."""
    state = tmp_path_factory.mktemp(name) / ".lateen"
    mesh = Mesh(state, free_port())
    started = time.monotonic()
    up = mesh.lateen(
        "up",
        *(str(m) for m in manifests),
        "-d",
        # these tests reach a pod's sidecar as its app's HTTP proxy (explicit mode); the
        # Bookinfo and transparent-mode suites cover the capture path
        "--mode",
        "explicit",
        "--ingress-port",
        str(mesh.port),
        "--timeout",
        str(timeout),
        check=False,
    )
    try:
        assert up.returncode == 0, f"lateen up failed:\n{up.stdout}\n{up.stderr}"
        print(f"lateen up ({name}) -> all ready in {time.monotonic() - started:.1f}s")
        yield mesh
    finally:
        stop_mesh(state)
