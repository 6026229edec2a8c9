"""throughput: closed-loop saturation requests per second, mesh vs no mesh vs the limit.

``wrk`` (Debian's package; ``apt-get install -y wrk``) runs closed loop (each connection sends
its next request as soon as the previous response is in) with 2 threads and 16 keep-alive
HTTP/1.1 connections against each path of the testbed (``bench/_testbed.py``: the C 1 KB
server with 2 threads; no mesh, the Lateen sidecars, the static two-Envoy limit), the paths
interleaved over rounds. Reported per path: the median requests/s over the rounds and the
ratios Lateen / no mesh, limit / no mesh, Lateen / limit, plus the CPU each Envoy used per
1000 requests at saturation. Everything shares the machine's cores (``os.cpu_count()``), wrk
included: on a small machine the no-mesh figure is bound by wrk and the server as much as by
anything else.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import ratio
from bench._procs import cpu_seconds
from bench._testbed import PATHS, Testbed, testbed

__all__ = ["Params", "parse_wrk", "run"]

ENVOYS = {
    "no-mesh": (),
    "lateen": ("client-envoy", "server-envoy"),
    "limit": ("limit-client-envoy", "limit-server-envoy"),
}


@dataclass(frozen=True)
class Params:
    rounds: int
    duration_s: int
    connections: int
    threads: int


QUICK = Params(rounds=1, duration_s=3, connections=16, threads=2)
FULL = Params(rounds=3, duration_s=10, connections=16, threads=2)

_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}  # wrk's time units


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests, seconds, requests/s, non-2xx/3xx and socket errors from wrk's output."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if not done or not rps:
        raise ValueError(f"not wrk output: {text[:300]!r}")
    secs = float(done.group(2)) * _SECONDS[done.group(3)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(done.group(1)),
        "duration_s": secs,
        "rps": float(rps.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0,
    }


def _wrk(bed: Testbed, path: str, p: Params) -> dict[str, Any]:
    t = bed.targets[path]
    roles = ENVOYS[path]
    cpu0 = {r: cpu_seconds(bed.pids[r]) for r in roles}
    argv = [
        "wrk", "-t", str(p.threads), "-c", str(p.connections), "-d", f"{p.duration_s}s",
        "-H", f"Host: {t.host}", f"http://{t.address}:{t.port}/",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=p.duration_s + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip()}")
    out = parse_wrk(proc.stdout)
    cpu: dict[str, float | None] = {}
    for r in roles:
        a, b = cpu0[r], cpu_seconds(bed.pids[r])
        cpu[r] = (
            None if a is None or b is None or not out["requests"]
            else round((b - a) * 1e6 / out["requests"], 1)
        )  # fmt: skip
    out["envoy_cpu_ms_per_1000_req"] = cpu
    return out



def measure(p: Params) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lateen-bench-throughput-") as tmp,
        testbed(Path(tmp)) as bed,
    ):
        for r in range(p.rounds):
            for path in PATHS[r % 3 :] + PATHS[: r % 3]:
                runs[path].append(_wrk(bed, path, p))
            print(f"throughput: round {r + 1}/{p.rounds} done", flush=True)
        bed.group.check()
    paths: dict[str, Any] = {}
    for path, rs in runs.items():
        cpu: dict[str, float | None] = {}
        for role in ENVOYS[path]:
            vals = [x["envoy_cpu_ms_per_1000_req"][role] for x in rs]
            cpu[role] = None if None in vals else round(statistics.median(vals), 1)
        paths[path] = {
            "rps": round(statistics.median(x["rps"] for x in rs), 1),
            "rounds_rps": [x["rps"] for x in rs],
            "non_2xx": sum(x["non_2xx"] for x in rs),
            "socket_errors": sum(x["socket_errors"] for x in rs),
            "envoy_cpu_ms_per_1000_req": cpu,
        }
    rps = {k: v["rps"] for k, v in paths.items()}
    ratios = {
        "lateen_over_no_mesh": ratio(rps["lateen"], rps["no-mesh"]),
        "limit_over_no_mesh": ratio(rps["limit"], rps["no-mesh"]),
        "lateen_over_limit": ratio(rps["lateen"], rps["limit"]),
    }
    return {"paths": paths, "ratios": ratios, "wall_s": round(time.monotonic() - started, 1)}


def _table(res: dict[str, Any], p: Params) -> dict[str, Any]:
    cols = ["path", "requests/s (median)", "rounds", "vs no mesh", "vs limit",
            "Envoy CPU ms / 1000 req", "errors"]  # fmt: skip
    rows = []
    nm, lim = res["paths"]["no-mesh"]["rps"], res["paths"]["limit"]["rps"]
    for path, v in res["paths"].items():
        cpu = " + ".join(f"{c:g}" for c in v["envoy_cpu_ms_per_1000_req"].values() if c is not None)
        rows.append([path, v["rps"], " / ".join(f"{x:,.0f}" for x in v["rounds_rps"]),
                     ratio(v["rps"], nm), ratio(v["rps"], lim), cpu or "-",
                     v["non_2xx"] + v["socket_errors"]])  # fmt: skip
    return {
        "title": f"throughput: wrk -t{p.threads} -c{p.connections} -d{p.duration_s}s, "
        f"{p.rounds} interleaved round(s), 1 KB",
        "columns": cols,
        "rows": rows,
        "notes": ["closed loop: wrk, the server and every Envoy share the same cores"],
    }


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    params = {"rounds": p.rounds, "duration_s": p.duration_s, "connections": p.connections,
              "threads": p.threads, "response_bytes": 1024, "tool": "wrk"}  # fmt: skip
    if shutil.which("wrk") is None:
        why = "wrk is not installed (apt-get install -y wrk): nothing measured"
        print(f"throughput: {why}")
        return {"params": params, "status": "unavailable", "notes": [why]}
    res = measure(p)
    errors = sum(v["non_2xx"] + v["socket_errors"] for v in res["paths"].values())
    return {
        "params": params,
        "status": "ok" if errors == 0 else "incomplete",
        **res,
        "table": _table(res, p),
    }
