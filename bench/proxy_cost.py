"""proxy-cost: the CPU and memory a Lateen sidecar costs per request rate.

On the testbed of ``bench/_testbed.py``, the C open-loop generator sends 100, 500, 1000 and
2000 requests per second (1 KB responses, 16 keep-alive connections, as Istio's benchmark)
through the Lateen path (client -> client sidecar -> server sidecar -> server, mTLS between
the sidecars) and, right after, through the static two-Envoy limit (the same mTLS). Around each run, every process's user+system CPU
time is read from ``/proc/PID/stat`` (10 ms ticks); after each run its ``VmRSS``. Reported
per process (each sidecar's Envoy and agent separately, and each limit Envoy): CPU ms per 1000
requests, vCPU (CPU seconds per second of the run), and RSS (``VmRSS``, which counts Envoy's
~50 MB binary mapped from one file) beside ``RssAnon`` (private memory) and ``Pss``
(``/proc/PID/smaps_rollup``: shared pages divided among the processes sharing them). Before the runs, every
process is watched idle for a few seconds; "over idle" subtracts that idle vCPU (Envoy's own
timers and stats flushes) from a run's, leaving the cost of the requests.

Anchors: Istio 1.24, one sidecar with 2 workers at 1000 rps of 1 KB: 0.20 vCPU, 60 MB;
the Linkerd proxy: 26 MB.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import run_open_loop
from bench._procs import cpu_seconds, pss_mb, rss_mb
from bench._testbed import Testbed, testbed

__all__ = ["ISTIO_ANCHOR", "Params", "run"]

ISTIO_ANCHOR = {
    "istio_version": "1.24",
    "sidecar_vcpu_at_1000_rps": 0.20,
    "sidecar_memory_mb": 60,
    "linkerd_proxy_memory_mb": 26,
}

# (path, process roles measured on it)
MEASURED = {
    "lateen": ("client-envoy", "client-agent", "server-envoy", "server-agent", "control-plane"),
    "limit": ("limit-client-envoy", "limit-server-envoy"),
}


@dataclass(frozen=True)
class Params:
    rates: tuple[int, ...]
    connections: int
    duration_s: float
    warmup_s: float
    idle_s: float


QUICK = Params(
    rates=(100, 500, 1000, 2000), connections=16, duration_s=1.5, warmup_s=0.3, idle_s=1.0
)
FULL = Params(
    rates=(100, 500, 1000, 2000), connections=16, duration_s=20.0, warmup_s=1.0, idle_s=10.0
)
ALL_ROLES = tuple(r for roles in MEASURED.values() for r in roles)


def _idle(bed: Testbed, p: Params) -> dict[str, float | None]:
    """vCPU of every measured process with no traffic."""
    cpu0 = {r: cpu_seconds(bed.pids[r]) for r in ALL_ROLES}
    t0 = time.monotonic()
    time.sleep(p.idle_s)
    wall = time.monotonic() - t0
    out: dict[str, float | None] = {}
    for r in ALL_ROLES:
        a, b = cpu0[r], cpu_seconds(bed.pids[r])
        out[r] = None if a is None or b is None else round((b - a) / wall, 4)
    return out


def _one(
    bed: Testbed, path: str, rate: int, p: Params, idle: dict[str, float | None]
) -> dict[str, Any]:
    t = bed.targets[path]
    roles = MEASURED[path]
    cpu0 = {r: cpu_seconds(bed.pids[r]) for r in roles}
    t0 = time.monotonic()
    res = run_open_loop(
        t.address, t.port, rate=rate, connections=p.connections,
        duration=p.duration_s, warmup=p.warmup_s, host=t.host,
    )  # fmt: skip
    wall = time.monotonic() - t0
    cpu1 = {r: cpu_seconds(bed.pids[r]) for r in roles}
    requests = int(res.summary["sent"])
    # the CPU of the warm-up requests is in the delta too: divide by every request sent
    all_requests = requests + round(rate * p.warmup_s)
    processes: dict[str, Any] = {}
    for r in roles:
        a, b = cpu0[r], cpu1[r]
        used = None if a is None or b is None else b - a
        base = idle.get(r)
        over = None if used is None or base is None else max(0.0, used - base * wall)
        mem, anon, pss = rss_mb(bed.pids[r]), rss_mb(bed.pids[r], "RssAnon"), pss_mb(bed.pids[r])
        processes[r] = {
            "cpu_s": None if used is None else round(used, 3),
            "vcpu": None if used is None else round(used / wall, 3),
            "cpu_ms_per_1000_req": None
            if used is None or not requests
            else round(used * 1e6 / all_requests, 1),
            "cpu_ms_per_1000_req_over_idle": None
            if over is None or not requests
            else round(over * 1e6 / all_requests, 1),
            "rss_mb": None if mem is None else round(mem, 1),
            "rss_anon_mb": None if anon is None else round(anon, 1),
            "pss_mb": None if pss is None else round(pss, 1),
        }
    return {
        "path": path,
        "rate": rate,
        "sent": requests,
        "ok": int(res.summary["ok"]),
        "failed": res.failed,
        "send_rate": round(res.send_rate, 1),
        "wall_s": round(wall, 2),
        "processes": processes,
    }


def measure(p: Params) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lateen-bench-proxy-cost-") as tmp,
        testbed(Path(tmp)) as bed,
    ):
        time.sleep(1.0)  # let the start-up work (xDS, first stats flush) settle
        idle = _idle(bed, p)
        for rate in p.rates:
            for path in ("lateen", "limit"):
                runs.append(_one(bed, path, rate, p, idle))
            print(f"proxy-cost: {rate} rps done", flush=True)
        bed.group.check()
    return {"idle_vcpu": idle, "runs": runs, "wall_s": round(time.monotonic() - started, 1)}


def _sum(procs: dict[str, Any], roles: tuple[str, ...], key: str) -> float | None:
    vals = [procs[r][key] for r in roles]
    return None if any(v is None for v in vals) else round(sum(vals), 3)


KEYS = ("vcpu", "cpu_ms_per_1000_req", "cpu_ms_per_1000_req_over_idle", "rss_mb", "rss_anon_mb",
        "pss_mb")  # fmt: skip


def _table(runs: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    cols = [
        "rps", "process", "vCPU", "CPU ms / 1000 req", "over idle", "RSS MB", "RssAnon MB",
        "PSS MB", "Istio 1.24 sidecar", "failed",
    ]  # fmt: skip
    rows: list[list[Any]] = []

    def row(run: dict[str, Any], name: str, vals: list[Any], anchor: str = "") -> None:
        rows.append([run["rate"], name, *vals, anchor, run["failed"]])

    for run in runs:
        procs = run["processes"]
        if run["path"] == "lateen":
            for side in ("client", "server"):
                roles = (f"{side}-envoy", f"{side}-agent")
                for r in roles:
                    row(run, r, [procs[r][k] for k in KEYS])
                anchor = "0.20 vCPU, 60 MB" if run["rate"] == 1000 else ""
                row(run, f"{side} sidecar (Envoy + agent)",
                    [_sum(procs, roles, k) for k in KEYS], anchor)  # fmt: skip
            row(run, "control plane", [procs["control-plane"][k] for k in KEYS])
        else:
            for r in MEASURED["limit"]:
                row(run, f"limit: {r.removeprefix('limit-')}", [procs[r][k] for k in KEYS])
    return {
        "title": f"proxy-cost: {p.duration_s:g} s per rate and path, {p.connections} connections, 1 KB",
        "columns": cols,
        "rows": rows,
        "notes": [
            "vCPU: CPU seconds per second of the run (/proc/PID/stat utime+stime, 10 ms ticks); "
            "over idle: minus the process's idle vCPU over the same time",
            "RSS counts Envoy's binary (~50 MB, shared by every Envoy); RssAnon is private memory; "
            "PSS splits shared pages among the processes mapping them (here: 4 Envoys; 2 agents and the control plane share Python)",
            "Linkerd's proxy: 26 MB (memory anchor)",
            "the hop between the two sidecars (and between the limit's two Envoys) is Istio mTLS, "
            "as in Istio's anchor; Lateen has no telemetry filters yet",
        ],
    }


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    res = measure(p)
    failed = sum(r["failed"] for r in res["runs"])
    return {
        "params": {
            "rates": list(p.rates),
            "connections": p.connections,
            "duration_s": p.duration_s,
            "warmup_s": p.warmup_s,
            "idle_s": p.idle_s,
            "response_bytes": 1024,
        },
        "istio_anchor": ISTIO_ANCHOR,
        "status": "ok" if failed == 0 else "incomplete",
        **res,
        "table": _table(res["runs"], p),
    }
