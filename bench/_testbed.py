"""The data-plane testbed: one HTTP server reached three ways, on one loopback block 127.X/16.

* ``no-mesh``: client -> server. The server is the C program of ``bench/_native/server.c``
  (every request: 200, 1 KB body) on ``127.X.1.2:9080``, two threads.
* ``lateen``: client -> client sidecar -> server sidecar -> server, with real Lateen sidecars
  in explicit mode: ``lateen discovery`` (one Service ``server`` with the server pod as its
  endpoint) and two ``lateen agent`` processes, each running its Envoy (2 workers, Istio's
  default). The client sends to its sidecar's HTTP proxy listener ``127.X.0.10:15001`` with
  ``Host: server:9080``; the client sidecar routes to the server pod ``127.X.0.11:9080``, whose
  sidecar's inbound listener forwards to the app address ``127.X.1.2:9080``. No mTLS yet
  (Lateen has no CA yet): the hop between the sidecars is plain HTTP/1.1.
* ``limit``: the same two hops through two Envoys (2 workers each) with a hand-written static
  bootstrap (:func:`limit_bootstrap`: one listener, HTTP connection manager with only the
  router filter, one static cluster): what two Envoys cost at the least.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._loadgen import start_server
from bench._procs import ProcGroup, bound_blocks, envoy_child
from lateen.agent import envoy_binary
from lateen.testing.procs import free_port

__all__ = ["PATHS", "Target", "Testbed", "limit_bootstrap", "pick_block", "testbed"]

PATHS = ("no-mesh", "lateen", "limit")
APP_PORT = 9080
HOST = "server:9080"  # the Host header every path gets
RESPONSE_BYTES = 1024

CONFIG = """\
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: default}}
spec:
  clusterIP: 198.19.0.10
  selector: {{app: server}}
  ports: [{{name: http, port: {port}, targetPort: {port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: server, namespace: default}}
subsets:
- addresses: [{{ip: {pod}}}]
  ports: [{{name: http, port: {port}}}]
"""


@dataclass(frozen=True)
class Target:
    """Where a client sends for one path (always with ``Host: server:9080``)."""

    path: str
    address: str
    port: int
    host: str = HOST


@dataclass
class Testbed:
    group: ProcGroup
    block: int
    targets: dict[str, Target] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)  # role -> PID (see ROLES)


# processes whose CPU and memory the benchmarks read
ROLES = (
    "server",
    "control-plane",
    "client-agent",
    "client-envoy",
    "server-agent",
    "server-envoy",
    "limit-client-envoy",
    "limit-server-envoy",
)


def pick_block(rng: random.Random | None = None) -> int:
    """A random X in 100..199 with no socket bound on any 127.X.y.z."""
    bound = bound_blocks()
    free = [x for x in range(100, 200) if x not in bound]
    if not free:
        raise RuntimeError("every 127.X.0.0/16 block (X in 100..199) has a bound socket")
    return (rng or random.Random()).choice(free)


def limit_bootstrap(
    *, node: str, listen: tuple[str, int], upstream: tuple[str, int], admin: tuple[str, int]
) -> dict[str, Any]:
    """A static Envoy bootstrap: HTTP on ``listen`` (router filter only, every host and path)
    to one static upstream, HTTP/1.1 both sides."""

    def addr(a: tuple[str, int]) -> dict[str, Any]:
        return {"socket_address": {"address": a[0], "port_value": a[1]}}

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "limit",
        "codec_type": "AUTO",
        "route_config": {
            "name": "limit",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": addr(admin)},
        "static_resources": {
            "listeners": [
                {
                    "name": "limit",
                    "address": addr(listen),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": hcm,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "upstream",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "upstream",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": addr(upstream)}}]}],
                    },
                }
            ],
        },
    }


def get(target: Target, timeout: float = 2.0) -> tuple[int | None, int]:
    """(status, body length) of one ``GET /`` to a target; (None, 0) when it fails."""
    conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": target.host})
        resp = conn.getresponse()
        return resp.status, len(resp.read())
    except (OSError, http.client.HTTPException):
        return None, 0
    finally:
        conn.close()


def _wait(group: ProcGroup, what: str, pred: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        group.check()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{group.log(n, 1500)}" for n in group.procs)
            raise RuntimeError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


def _start_agent(
    group: ProcGroup, workdir: Path, role: str, pod_ip: str, app_ip: str, app: str, xds: str
) -> None:
    work = workdir / role
    work.mkdir()
    argv = [
        sys.executable, "-m", "lateen", "agent",
        "--pod-name", f"{app}-v1-1", "--namespace", "default", "--pod-ip", pod_ip,
        "--labels", f"app={app},version=v1", "--service-account", app,
        "--discovery-address", xds, "--work-dir", str(work),
        "--termination-drain-duration", "1",
    ]  # fmt: skip
    env = {"ISTIO_META_INTERCEPTION_MODE": "NONE", "ISTIO_META_LATEEN_APP_ADDRESS": app_ip}
    group.start(f"{role}-agent", argv, env=env)


@contextmanager
def testbed(
    workdir: Path, *, mesh: bool = True, limit: bool = True, server_threads: int = 2
) -> Iterator[Testbed]:
    """Start the server and the requested paths, wait until each answers 200 with 1 KB, yield;
    every process is stopped (by PID) when the block ends."""
    x = pick_block()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ProcGroup(logs) as group:
        bed = Testbed(group, x)
        app = f"127.{x}.1.2"
        bed.pids["server"] = start_server(
            group, "server", app, APP_PORT, size=RESPONSE_BYTES, threads=server_threads
        ).pid
        bed.targets["no-mesh"] = Target("no-mesh", app, APP_PORT)
        if mesh:
            cp_ip, client_pod, server_pod = f"127.{x}.0.1", f"127.{x}.0.10", f"127.{x}.0.11"
            config = workdir / "config"
            config.mkdir()
            (config / "server.yaml").write_text(CONFIG.format(pod=server_pod, port=APP_PORT))
            xds_port, mon_port = free_port(cp_ip), free_port(cp_ip)
            argv = [
                sys.executable, "-m", "lateen", "discovery", "--config-dir", str(config),
                "--listen-address", cp_ip, "--xds-port", str(xds_port),
                "--monitoring-port", str(mon_port), "--log-level", "warning",
            ]  # fmt: skip
            cp = group.start("control-plane", argv)
            bed.pids["control-plane"] = cp.pid
            xds = f"{cp_ip}:{xds_port}"
            _start_agent(group, workdir, "client", client_pod, f"127.{x}.1.10", "client", xds)
            _start_agent(group, workdir, "server", server_pod, app, "server", xds)
            bed.targets["lateen"] = Target("lateen", client_pod, 15001)
        if limit:
            lc, ls = f"127.{x}.0.20", f"127.{x}.0.21"
            for name, listen, upstream in (
                ("limit-client-envoy", (lc, 15001), (ls, APP_PORT)),
                ("limit-server-envoy", (ls, APP_PORT), (app, APP_PORT)),
            ):
                path = workdir / f"{name}.json"
                boot = limit_bootstrap(node=name, listen=listen, upstream=upstream,
                                       admin=(listen[0], 15000))  # fmt: skip
                path.write_text(json.dumps(boot, indent=2))
                argv = [
                    str(envoy_binary()), "-c", str(path), "--concurrency", "2",
                    "--disable-hot-restart", "--base-id", str(free_port() % 60000),
                    "--log-level", "warning",
                ]  # fmt: skip
                envoy = group.start(name, argv)
                bed.pids[name] = envoy.pid
            bed.targets["limit"] = Target("limit", lc, 15001)
        for target in bed.targets.values():
            _wait(group, f"200 with {RESPONSE_BYTES} bytes via {target.path}",
                  lambda t=target: get(t) == (200, RESPONSE_BYTES))  # fmt: skip
        if mesh:
            for role in ("client", "server"):
                agent = group.procs[f"{role}-agent"].pid
                bed.pids[f"{role}-agent"] = agent
                envoy_pid = envoy_child(agent)
                if envoy_pid is None:
                    raise RuntimeError(f"no Envoy under the {role} agent (PID {agent})")
                group.adopt(envoy_pid)
                bed.pids[f"{role}-envoy"] = envoy_pid
        yield bed
