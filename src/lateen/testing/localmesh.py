"""Drive a ``lateen up`` mesh from end-to-end tests: run ``lateen`` commands against its state
directory, read its status and pods, and check that nothing of it is left on the host."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Mesh", "assert_no_network_left", "container_log", "mesh_up", "run_lateen", "stop_mesh"]

ROOT = Path(__file__).resolve().parents[3]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_lateen(
    state: Path, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``lateen ARGS`` against the mesh in ``state`` (``--state-dir`` goes right after the
    subcommand, so that ``exec``'s ``--`` cannot swallow it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lateen", args[0], "--state-dir", str(state), *args[1:]],
        capture_output=True, text=True, timeout=timeout, input=stdin, cwd=ROOT,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"lateen {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Mesh:
    state: Path
    url: str
    port: int
    mode: str = "explicit"
    up_stdout: str = ""  # what `lateen up -d` printed

    def lateen(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_lateen(self.state, *args, check=check, stdin=stdin)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.lateen("status", "-o", "json").stdout)
        return result

    def pod(self, prefix: str) -> dict[str, Any]:
        """The first pod whose name starts with ``prefix``."""
        return next(p for p in self.status()["pods"] if p["name"].startswith(prefix))

    def get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        """GET ``path`` through the ingress gateway: (status, body), status 0 on no answer."""
        try:
            with _OPENER.open(f"{self.url}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def page(self, user: str | None = None) -> tuple[int, str]:
        return self.get("/productpage")


def container_log(pod: dict[str, Any], container: str = "istio-proxy") -> str:
    log = next(c["log"] for c in pod["containers"] if c["name"] == container)
    return Path(log).read_text(errors="replace")


def assert_no_network_left(state: Path) -> None:
    """``ip netns list``, ``ip link`` and the host's iptables show nothing of this mesh."""
    from lateen.platform.local._transparent import mesh_id

    ident = mesh_id(str(state.absolute()))
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    host_rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert f"lateen-{ident}-" not in netns, netns
    assert f"lt{ident}" not in links, links
    assert "ISTIO" not in host_rules and "lateen" not in host_rules.lower(), host_rules
    assert not (state / "network.json").exists()


def stop_mesh(state: Path) -> None:
    """``lateen down --force``, then SIGKILL for any recorded process still alive (PID and
    start time must match): the safety net of every test mesh."""
    from lateen.platform.local import StateDir, proc_start_time

    run_lateen(state, "down", "--force", check=False)
    for rec in StateDir(state).read_processes():
        if proc_start_time(rec.pid) == rec.start_time:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec.pid, signal.SIGKILL)


@contextlib.contextmanager
def mesh_up(
    state: Path, source: Path, mode: str, *, timeout: int = 90, args: Sequence[str] = ()
) -> Iterator[Mesh]:
    """``lateen up SOURCE -d --mode MODE`` on a free ingress port; the mesh is stopped (and
    anything left killed) when the block ends, whatever happened."""
    from lateen.testing.procs import free_port

    port = free_port()
    m = Mesh(state, f"http://127.0.0.1:{port}", port, mode)
    up = m.lateen("up", str(source), "-d", "--mode", mode, "--ingress-port", str(port),
                  "--timeout", str(timeout), *args, check=False)  # fmt: skip
    try:
        assert up.returncode == 0, f"lateen up failed:\n{up.stdout}\n{up.stderr}"
        m.up_stdout = up.stdout
        yield m
    finally:
        stop_mesh(state)
