"""churn: the endpoint churn rate (pods/s) the control plane absorbs with one change's
convergence p99 under 1 s.

A ``lateen discovery`` subprocess serves a config directory of Kubernetes Services +
Endpoints (namespaces ``ns-0``.., 2 endpoints each in 198.18.0.0/16, config only: nothing is
contacted). N simulated sidecars (``bench/_xds_sim.py``: raw ADS streams that subscribe and
ACK as Envoy does) connect and sync. Then, for each rate R of a rising ladder, pod changes
arrive on a fixed schedule for T seconds: change i, at t0 + i/R, rewrites one Service's
Endpoints file (atomically) adding or removing one endpoint (one pod up or down), each change
on a different Service. A change has converged on a proxy when the proxy has ACKed an EDS
response giving that cluster the new endpoint count; its latency runs from the file's write.
Per rate: p50/p99/max over every (change, proxy) pair, and what did not converge within the
cap. The ladder stops after the first rate whose p99 is 1 s or more (or that left changes
unconverged); the result is the highest rate below that line.

Note: ``lateen discovery`` debounces pushes as istiod does (100 ms quiet, 10 s at most), so
once changes come faster than one per 100 ms a push waits for a quiet gap or the 10 s cap.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import percentile
from bench._procs import ProcGroup, cpu_seconds
from bench._xds_sim import Memo, SimProxy, Watch, cancel_all, open_channels
from lateen.testing.procs import free_port, http_get

__all__ = ["Params", "max_rate_under", "run"]

PORT = 9080
TARGET_P99_S = 1.0


@dataclass(frozen=True)
class Params:
    namespaces: int
    services_per_namespace: int
    proxies: int
    modes: tuple[str, ...]
    rates: tuple[float, ...]  # pods/s, rising
    step_s: float  # seconds of changes per rate
    converge_cap_s: float  # after the last change of a step

    @property
    def services(self) -> int:
        return self.namespaces * self.services_per_namespace


QUICK = Params(
    namespaces=5, services_per_namespace=10, proxies=20, modes=("sotw",),
    rates=(2, 10, 50), step_s=3.0, converge_cap_s=12.0,
)  # fmt: skip
FULL = Params(
    namespaces=10, services_per_namespace=100, proxies=100, modes=("sotw", "delta"),
    rates=(0.25, 0.5, 1, 2, 5, 10, 20, 50, 100), step_s=20.0, converge_cap_s=15.0,
)  # fmt: skip


# -- config ------------------------------------------------------------------------------------


def _names(s: int, p: Params) -> tuple[str, str]:
    return f"ns-{s % p.namespaces}", f"svc-{s // p.namespaces}"


def cluster_name(s: int, p: Params) -> str:
    ns, name = _names(s, p)
    return f"outbound|{PORT}||{name}.{ns}.svc.cluster.local"


def _ip(n: int) -> str:
    return f"198.18.{n >> 8 & 255}.{n & 255}"


def service_yaml(s: int, p: Params) -> str:
    ns, name = _names(s, p)
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        f"spec:\n  clusterIP: 198.19.{s >> 8 & 255}.{s & 255}\n  selector: {{app: {name}}}\n"
        f"  ports: [{{name: http, port: {PORT}, targetPort: {PORT}}}]\n"
    )


def endpoints_yaml(s: int, count: int, p: Params) -> str:
    ns, name = _names(s, p)
    addrs = ", ".join(f"{{ip: {_ip(s * 4 + k)}}}" for k in range(count))
    return (
        f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        f"subsets:\n- addresses: [{addrs}]\n  ports: [{{name: http, port: {PORT}}}]\n"
    )


def _endpoints_path(root: Path, s: int, p: Params) -> Path:
    ns, name = _names(s, p)
    return root / ns / f"{name}.endpoints.yaml"


def write_config(root: Path, p: Params) -> None:
    for s in range(p.services):
        ns, name = _names(s, p)
        (root / ns).mkdir(parents=True, exist_ok=True)
        (root / ns / f"{name}.service.yaml").write_text(service_yaml(s, p))
        _endpoints_path(root, s, p).write_text(endpoints_yaml(s, 2, p))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: the store ignores it
    tmp.write_text(text)
    os.replace(tmp, path)


def _node(i: int, p: Params) -> tuple[str, dict[str, Any]]:
    ns, app = _names(i % p.services, p)
    ip = f"198.18.{128 + (i >> 8 & 127)}.{i & 255}"  # 198.18.128.0/17: never an endpoint
    metadata = {"NAMESPACE": ns, "LABELS": {"app": app, "version": "v1"},
                "SERVICE_ACCOUNT": app, "CLUSTER_ID": "Kubernetes"}  # fmt: skip
    return f"sidecar~{ip}~pod-{i}.{ns}~{ns}.svc.cluster.local", metadata


# -- the ladder --------------------------------------------------------------------------------


def max_rate_under(steps: list[dict[str, Any]], target_ms: float) -> float | None:
    """The highest rate of the rising ladder up to the first step that missed ``target_ms``
    (p99) or left changes unconverged; None when the first step missed already."""
    best: float | None = None
    for step in steps:
        p99 = step.get("p99_ms")
        if step.get("status") != "ok" or p99 is None or p99 >= target_ms:
            break
        best = step["rate"]
    return best


async def _step(
    rate: float, first: int, proxies: list[SimProxy], watch: Watch, counts: list[int],
    root: Path, p: Params, pid: int,
) -> dict[str, Any]:  # fmt: skip
    changes = max(1, min(p.services, round(rate * p.step_s)))
    writes: list[tuple[str, float]] = []
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic() + 0.05
    for i in range(changes):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        s = (first + i) % p.services
        counts[s] = 5 - counts[s]  # 2 <-> 3 endpoints: one pod up or down
        name = cluster_name(s, p)
        for px in proxies:
            px.eds_seen.pop(name, None)
        watch.eds[name] = counts[s]
        text = endpoints_yaml(s, counts[s], p)
        at = time.monotonic()
        _write_atomic(_endpoints_path(root, s, p), text)
        writes.append((name, at))
    last = time.monotonic()
    span = last - t0
    deadline = last + p.converge_cap_s
    while time.monotonic() < deadline and not all(
        name in px.eds_seen for px in proxies for name, _ in writes
    ):
        await asyncio.sleep(0.05)
    cpu1 = cpu_seconds(pid)
    samples = [
        px.eds_seen[name] - at for name, at in writes for px in proxies if name in px.eds_seen
    ]
    missing = len(writes) * len(proxies) - len(samples)
    watch.eds.clear()
    out: dict[str, Any] = {
        "rate": rate,
        "changes": changes,
        "achieved_rate": round((changes - 1) / span, 2) if changes > 1 and span > 0 else rate,
        "samples": len(samples),
        "not_converged": missing,
        "status": "ok" if missing == 0 else "incomplete",
        "control_plane_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
    }
    if samples:
        s_sorted = sorted(samples)
        out.update(
            p50_ms=round(percentile(s_sorted, 50) * 1000, 1),
            p99_ms=round(percentile(s_sorted, 99) * 1000, 1),
            max_ms=round(s_sorted[-1] * 1000, 1),
        )
    else:
        out.update(p50_ms=None, p99_ms=math.inf, max_ms=None)
    return out


async def _ladder(mode: str, p: Params, root: Path, pid: int, target: str) -> dict[str, Any]:
    memo, watch = Memo(), Watch()
    channels = open_channels(target, max(1, math.ceil(p.proxies / 100)))
    proxies = []
    for i in range(p.proxies):
        node_id, md = _node(i, p)
        ch = channels[i % len(channels)]
        proxies.append(SimProxy(ch, node_id, md, delta=mode == "delta", memo=memo, watch=watch))
    tasks = [asyncio.create_task(px.run()) for px in proxies]
    out: dict[str, Any] = {"mode": mode, "proxies": p.proxies, "services": p.services}
    try:
        t0 = time.monotonic()
        while not all(px.synced_at is not None or px.error for px in proxies):
            if time.monotonic() - t0 > 120:
                break
            await asyncio.sleep(0.05)
        synced = sum(px.synced_at is not None for px in proxies)
        out["synced"] = synced
        out["sync_s"] = round(time.monotonic() - t0, 2)
        if synced < p.proxies:
            errors = [px.error for px in proxies if px.error]
            out["status"] = "failed"
            out["notes"] = [f"only {synced}/{p.proxies} proxies synced; errors: {errors[:3]}"]
            return out
        await asyncio.sleep(1.0)
        counts = [2] * p.services
        steps: list[dict[str, Any]] = []
        first = 0
        for rate in p.rates:
            step = await _step(rate, first, proxies, watch, counts, root, p, pid)
            first += step["changes"]
            steps.append(step)
            print(f"churn: {mode} {rate:g} pods/s -> p99 {step['p99_ms']} ms, "
                  f"not converged {step['not_converged']}", flush=True)  # fmt: skip
            if step["status"] != "ok" or step["p99_ms"] >= TARGET_P99_S * 1000:
                break
            await asyncio.sleep(1.0)
        for step in steps:
            if step["p99_ms"] == math.inf:
                step["p99_ms"] = None
        out["steps"] = steps
        out["max_rate_p99_under_1s"] = max_rate_under(steps, TARGET_P99_S * 1000)
        out["status"] = "ok"
        return out
    finally:
        await cancel_all(tasks)
        for ch in channels:
            await ch.close(None)


def _one_mode(mode: str, p: Params) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lateen-bench-churn-") as tmp:
        root, logs = Path(tmp) / "config", Path(tmp) / "logs"
        logs.mkdir()
        write_config(root, p)
        xds_port, mon_port = free_port(), free_port()
        with ProcGroup(logs) as group:
            argv = [
                sys.executable, "-m", "lateen", "discovery", "--config-dir", str(root),
                "--xds-port", str(xds_port), "--monitoring-port", str(mon_port),
                "--log-level", "warning",
            ]  # fmt: skip
            proc = group.start("discovery", argv)
            deadline = time.monotonic() + 60
            while True:
                group.check()
                try:
                    if http_get(f"http://127.0.0.1:{mon_port}/metrics", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lateen discovery did not start:\n{group.log('discovery')}")
                time.sleep(0.1)
            res = asyncio.run(_ladder(mode, p, root, proc.pid, f"127.0.0.1:{xds_port}"))
            group.check()
            return res


def _table(results: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    cols = ["mode", "pods/s", "achieved", "changes", "p50 ms", "p99 ms", "max ms",
            "not converged", "CP CPU s", "p99 < 1 s"]  # fmt: skip
    rows: list[list[Any]] = []
    notes = []
    for r in results:
        for s in r.get("steps", []):
            p99 = s["p99_ms"]
            under = "yes" if s["status"] == "ok" and p99 is not None and p99 < 1000 else "no"
            rows.append([r["mode"], s["rate"], s["achieved_rate"], s["changes"], s["p50_ms"],
                         p99, s["max_ms"], s["not_converged"], s["control_plane_cpu_s"], under])  # fmt: skip
        notes.append(
            f"{r['mode']}: highest churn with one-change p99 < 1 s: "
            f"{r.get('max_rate_p99_under_1s')} pods/s ({r['proxies']} proxies, "
            f"{r['services']} services)"
        )
        notes.extend(f"{r['mode']}: {n}" for n in r.get("notes", []))
    return {
        "title": f"churn: {p.proxies} simulated proxies, {p.services} services, "
        f"{p.step_s:g} s of changes per rate",
        "columns": cols,
        "rows": rows,
        "notes": notes,
    }


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    started = time.monotonic()
    results = []
    for mode in p.modes:
        print(f"churn: {mode} ...", flush=True)
        try:
            results.append(_one_mode(mode, p))
        except Exception as e:  # report and go on with the next mode
            results.append({"mode": mode, "proxies": p.proxies, "services": p.services,
                            "status": "failed", "notes": [f"failed: {e!r}"]})  # fmt: skip
    return {
        "params": {
            "namespaces": p.namespaces,
            "services": p.services,
            "proxies": p.proxies,
            "modes": list(p.modes),
            "rates": list(p.rates),
            "step_s": p.step_s,
            "converge_cap_s": p.converge_cap_s,
            "target_p99_ms": TARGET_P99_S * 1000,
        },
        "status": "ok" if all(r.get("status") == "ok" for r in results) else "incomplete",
        "results": results,
        "max_rate_p99_under_1s": {r["mode"]: r.get("max_rate_p99_under_1s") for r in results},
        "wall_s": round(time.monotonic() - started, 1),
        "table": _table(results, p),
    }
