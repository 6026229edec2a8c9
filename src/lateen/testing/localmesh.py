"""Drive a ``lateen up`` mesh from end-to-end tests: run ``lateen`` commands against its state
directory, read its status and pods, and check that nothing of it is left on the host."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Mesh", "assert_no_network_left", "container_log", "run_lateen"]

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
