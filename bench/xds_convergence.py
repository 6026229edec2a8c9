"""xds-convergence: how fast the control plane syncs and re-syncs many proxies.

A ``lateen discovery`` subprocess serves a config directory of Kubernetes Services +
Endpoints (one file each; addresses in 198.18.0.0/16, config only: nothing is contacted).
This process connects N simulated sidecars (``bench._xds_sim``, SotW or Delta) and measures,
per (mode, N):

* the time until all N proxies are initially synced (CDS+LDS ACKed, every EDS cluster and
  RDS route config received);
* the control plane's RSS (``/proc/PID/status`` VmRSS) before the proxies connect and once
  they are synced, hence RSS per connected proxy;
* endpoint-only convergence: one service's Endpoints file is rewritten atomically (one
  endpoint added); per proxy, the time from the write until it has ACKed the EDS response
  giving that cluster the new endpoint count (p50 / p99 / max, samples pooled over the
  changes), and the bytes pushed for the change;
* full-push convergence: a new Service (+ Endpoints) file is added; per proxy, the time
  until it has ACKed a CDS response containing the new cluster, and the bytes pushed.

Every phase is time-capped; what did not complete is reported as such, never guessed.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._xds_sim import Memo, SimProxy, Watch, cancel_all, open_channels
from lateen.testing.procs import Processes, free_port, http_get, wait_for

__all__ = ["Params", "run"]

HTTP_PORT = 9080
PROXIES_PER_CHANNEL = 100


@dataclass(frozen=True)
class Params:
    namespaces: int
    services_per_namespace: int
    proxies: tuple[int, ...]
    modes: tuple[str, ...]
    changes: int  # of each kind (endpoint-only, full) per configuration
    config_caps: tuple[float, ...]  # seconds per configuration, one per entry of ``proxies``
    change_cap: float  # seconds for one change to converge
    budget: float  # seconds for the whole scenario; later configurations are skipped

    @property
    def services(self) -> int:
        return self.namespaces * self.services_per_namespace


QUICK = Params(
    namespaces=10,
    services_per_namespace=10,
    proxies=(50,),
    modes=("sotw", "delta"),
    changes=2,
    config_caps=(20.0,),
    change_cap=8.0,
    budget=50.0,
)
FULL = Params(
    namespaces=10,
    services_per_namespace=100,
    proxies=(100, 500, 1000, 2000),
    modes=("sotw", "delta"),
    changes=5,
    config_caps=(110.0, 150.0, 150.0, 60.0),
    change_cap=30.0,
    budget=16.5 * 60.0,
)


# -- the config directory ------------------------------------------------------------------


def _ip(prefix: str, n: int) -> str:
    return f"{prefix}.{n >> 8 & 255}.{n & 255}"


def _endpoint_ip(service: int, k: int) -> str:
    return _ip("198.18", service * 16 + k)  # 198.18.0.0 - 198.18.127.255 for < 2048 services


def _proxy_ip(i: int) -> str:
    return _ip("198.18", 32768 + i)  # 198.18.128.0 and up: never an endpoint address


def _names(service: int, p: Params) -> tuple[str, str]:
    return f"ns-{service % p.namespaces}", f"svc-{service // p.namespaces}"


def cluster_name(service: int, p: Params) -> str:
    ns, name = _names(service, p)
    return f"outbound|{HTTP_PORT}||{name}.{ns}.svc.cluster.local"


def _service_yaml(service: int, p: Params) -> str:
    ns, name = _names(service, p)
    return (
        "apiVersion: v1\nkind: Service\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\n"
        "spec:\n"
        f"  clusterIP: {_ip('198.19', service)}\n"
        f"  selector: {{app: {name}}}\n"
        f"  ports: [{{name: http, port: {HTTP_PORT}, targetPort: {HTTP_PORT}}}]\n"
    )


def _endpoints_yaml(service: int, count: int, p: Params) -> str:
    ns, name = _names(service, p)
    addrs = ", ".join(f"{{ip: {_endpoint_ip(service, k)}}}" for k in range(count))
    return (
        "apiVersion: v1\nkind: Endpoints\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\n"
        f"subsets:\n- addresses: [{addrs}]\n"
        f"  ports: [{{name: http, port: {HTTP_PORT}}}]\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: the store ignores it
    tmp.write_text(text)
    os.replace(tmp, path)


def _service_path(root: Path, service: int, p: Params) -> Path:
    ns, name = _names(service, p)
    return root / ns / f"{name}.service.yaml"


def _endpoints_path(root: Path, service: int, p: Params) -> Path:
    ns, name = _names(service, p)
    return root / ns / f"{name}.endpoints.yaml"


def write_config(root: Path, p: Params) -> None:
    for ns in range(p.namespaces):
        (root / f"ns-{ns}").mkdir(parents=True, exist_ok=True)
    for s in range(p.services):
        _service_path(root, s, p).write_text(_service_yaml(s, p))
        _endpoints_path(root, s, p).write_text(_endpoints_yaml(s, 2, p))


def node_of(i: int, p: Params) -> tuple[str, dict[str, Any]]:
    """Proxy ``i`` is a pod of service ``i % services`` (its labels select that service)."""
    ns, app = _names(i % p.services, p)
    node_id = f"sidecar~{_proxy_ip(i)}~pod-{i}.{ns}~{ns}.svc.cluster.local"
    metadata = {
        "NAMESPACE": ns,
        "LABELS": {"app": app, "version": "v1"},
        "SERVICE_ACCOUNT": app,
        "ISTIO_VERSION": "1.28.0",
        "CLUSTER_ID": "Kubernetes",
    }
    return node_id, metadata


# -- measurements ------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def _until(pred: Callable[[], bool], cap: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + cap
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def _quiet(proxies: list[SimProxy], quiet: float = 0.4, cap: float = 10.0) -> None:
    """Until no proxy received anything for ``quiet`` seconds (or ``cap``)."""
    deadline = time.monotonic() + cap
    last = -1
    while time.monotonic() < deadline:
        total = sum(px.responses for px in proxies)
        if total == last:
            return
        last = total
        await asyncio.sleep(quiet)


# -- one configuration -------------------------------------------------------------------


async def _measure(
    mode: str, n: int, p: Params, root: Path, pid: int, target: str, cap_end: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": mode, "proxies": n, "services": p.services, "notes": []}
    notes: list[str] = out["notes"]
    await asyncio.sleep(1.0)
    rss0 = rss_bytes(pid)
    out["rss_before_mb"] = round(rss0 / 2**20, 1)
    memo, watch = Memo(), Watch()
    channels = open_channels(target, max(1, math.ceil(n / PROXIES_PER_CHANNEL)))
    proxies: list[SimProxy] = []
    for i in range(n):
        node_id, md = node_of(i, p)
        proxies.append(
            SimProxy(
                channels[i % len(channels)],
                node_id,
                md,
                delta=mode == "delta",
                memo=memo,
                watch=watch,
            )
        )
    tasks: list[asyncio.Task[None]] = []
    try:
        cpu_s0, cpu_c0 = cpu_seconds(pid), self_cpu_seconds()
        t0 = time.monotonic()
        tasks = [asyncio.create_task(px.run()) for px in proxies]
        sync_cap = max(1.0, cap_end - time.monotonic())
        ok = await _until(
            lambda: all(px.synced_at is not None or px.error for px in proxies), sync_cap, 0.05
        )
        synced = [px for px in proxies if px.synced_at is not None]
        errors = [px.error for px in proxies if px.error]
        out["synced"] = len(synced)
        out["server_cpu_sync_s"] = round(cpu_seconds(pid) - cpu_s0, 2)
        out["bench_cpu_sync_s"] = round(self_cpu_seconds() - cpu_c0, 2)
        if errors:
            notes.append(f"{len(errors)} stream(s) failed, first: {errors[0]}")
        if len(synced) < n:
            out["sync_s"] = None
            notes.append(
                f"only {len(synced)}/{n} proxies synced after {time.monotonic() - t0:.0f} s"
                + (" (time cap)" if not ok else " (every other stream had failed)")
                + f"; control plane used {out['server_cpu_sync_s']} CPU-s"
            )
            out["status"] = "incomplete"
            out["rss_after_mb"] = round(rss_bytes(pid) / 2**20, 1)
            return out
        out["sync_s"] = round(max(px.synced_at or 0.0 for px in proxies) - t0, 2)
        out["init_kb_per_proxy"] = round(sum(px.bytes_total for px in proxies) / n / 1024, 1)
        await _quiet(proxies)
        await asyncio.sleep(1.0)
        rss1 = rss_bytes(pid)
        out["rss_after_mb"] = round(rss1 / 2**20, 1)
        out["rss_per_proxy_kb"] = round((rss1 - rss0) / n / 1024, 1)

        # endpoint-only changes: one Endpoints file rewritten (one endpoint added)
        # endpoint-only changes get 40% of what is left, full pushes the rest
        eds_end = time.monotonic() + 0.4 * max(0.0, cap_end - time.monotonic())
        eds = await _changes("eds", proxies, p, root, watch, eds_end, notes, pid)
        out["eds"] = eds
        full = await _changes("full", proxies, p, root, watch, cap_end, notes, pid)
        out["full"] = full
        complete = all(c.get("complete") for c in (eds, full))
        out["status"] = "ok" if complete else "incomplete"
        out["bench_decoded_resources"] = memo.decoded
        return out
    finally:
        await cancel_all(tasks)
        for ch in channels:
            await ch.close(None)


def _seen(px: SimProxy, attr: str) -> dict[str, float]:
    seen: dict[str, float] = getattr(px, attr)
    return seen


def _all_seen(proxies: list[SimProxy], attr: str, name: str) -> bool:
    return all(name in _seen(px, attr) for px in proxies)


async def _changes(
    kind: str,
    proxies: list[SimProxy],
    p: Params,
    root: Path,
    watch: Watch,
    cap_end: float,
    notes: list[str],
    pid: int,
) -> dict[str, Any]:
    samples: list[float] = []
    per_change_bytes: list[int] = []
    missing = 0
    done = 0
    cpu0 = cpu_seconds(pid)
    last = 2.0  # how long the previous change took
    for r in range(p.changes):
        if r > 0 and time.monotonic() + last > cap_end:
            notes.append(f"{kind}: configuration time cap reached after {done} change(s)")
            break
        started = time.monotonic()
        before = sum(px.bytes_total for px in proxies)
        if kind == "eds":
            service = (r * 37 + 5) % p.services
            name = cluster_name(service, p)
            watch.eds[name] = 3
            attr = "eds_seen"
            text = _endpoints_yaml(service, 3, p)
            t0 = time.monotonic()
            _write_atomic(_endpoints_path(root, service, p), text)
        else:
            service = p.services + r  # a new service, in namespace r % namespaces
            name = cluster_name(service, p)
            watch.cds.add(name)
            attr = "cds_seen"
            svc_text, ep_text = _service_yaml(service, p), _endpoints_yaml(service, 2, p)
            t0 = time.monotonic()
            _write_atomic(_service_path(root, service, p), svc_text)
            _write_atomic(_endpoints_path(root, service, p), ep_text)
        cap = min(p.change_cap, max(5.0, cap_end - time.monotonic()))
        ok = await _until(functools.partial(_all_seen, proxies, attr, name), cap)
        got = [_seen(px, attr)[name] - t0 for px in proxies if name in _seen(px, attr)]
        samples.extend(got)
        if not ok:
            missing += len(proxies) - len(got)
            notes.append(
                f"{kind} change {r + 1}: {len(proxies) - len(got)}/{len(proxies)} proxies not "
                f"converged within {cap:.0f} s"
            )
        await _quiet(proxies)
        per_change_bytes.append(sum(px.bytes_total for px in proxies) - before)
        done += 1
        last = time.monotonic() - started
    out: dict[str, Any] = {
        "changes": done,
        "samples": len(samples),
        "not_converged": missing,
        "complete": done == p.changes and missing == 0,
        "server_cpu_s": round(cpu_seconds(pid) - cpu0, 2),
    }
    if samples:
        out.update(_ms(samples))
    if per_change_bytes:
        total = sum(per_change_bytes) / len(per_change_bytes)
        out["bytes_total_per_change"] = round(total)
        out["bytes_per_proxy_per_change"] = round(total / len(proxies))
    return out


async def _one_config(mode: str, n: int, p: Params, cap_end: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lateen-bench-") as tmp:
        root = Path(tmp) / "config"
        logs = Path(tmp) / "logs"
        logs.mkdir()
        write_config(root, p)
        xds_port, mon_port = free_port(), free_port()
        with Processes(logs) as procs:
            proc = procs.start(
                "discovery",
                [
                    sys.executable,
                    "-m",
                    "lateen.cli._main",
                    "discovery",
                    "--config-dir",
                    str(root),
                    "--xds-port",
                    str(xds_port),
                    "--monitoring-port",
                    str(mon_port),
                    "--log-level",
                    "warning",
                ],
            )
            try:
                await asyncio.to_thread(
                    wait_for,
                    lambda: (
                        proc.poll() is None
                        and http_get(f"http://127.0.0.1:{mon_port}/metrics", timeout=1)[0] == 200
                    ),
                    60.0,
                    0.1,
                    "lateen discovery to serve /metrics",
                )
            except TimeoutError:
                raise RuntimeError(
                    f"lateen discovery did not start:\n{procs.log('discovery')}"
                ) from None
            result = await _measure(mode, n, p, root, proc.pid, f"127.0.0.1:{xds_port}", cap_end)
            if proc.poll() is None:
                result["xds_cache_reads"] = await asyncio.to_thread(_cache_reads, mon_port)
            else:
                result["notes"].append(f"control plane exited with {proc.returncode}")
                result["status"] = "failed"
            return result


def _cache_reads(mon_port: int) -> dict[str, float]:
    """The control plane's resource-cache hits and misses (``pilot_xds_cache_reads``)."""
    out: dict[str, float] = {}
    try:
        status, text = http_get(f"http://127.0.0.1:{mon_port}/metrics", timeout=10)
    except OSError:
        return out
    if status != 200:
        return out
    for line in text.splitlines():
        if line.startswith("pilot_xds_cache_reads{"):
            labels, _, value = line.rpartition(" ")
            kind = labels.split('type="', 1)[1].split('"', 1)[0]
            out[kind] = float(value)
    return out


def _table(results: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    cols = [
        "mode",
        "proxies",
        "synced",
        "sync s",
        "RSS before MB",
        "RSS after MB",
        "RSS/proxy KB",
        "EDS p50 ms",
        "EDS p99 ms",
        "EDS max ms",
        "EDS B/proxy",
        "EDS B total",
        "CDS p50 ms",
        "CDS p99 ms",
        "CDS max ms",
        "full B/proxy",
        "full B total",
        "status",
    ]
    rows: list[list[Any]] = []
    notes: list[str] = []
    for r in results:
        eds, full = r.get("eds") or {}, r.get("full") or {}
        rows.append(
            [
                r["mode"],
                r["proxies"],
                r.get("synced"),
                r.get("sync_s"),
                r.get("rss_before_mb"),
                r.get("rss_after_mb"),
                r.get("rss_per_proxy_kb"),
                eds.get("p50_ms"),
                eds.get("p99_ms"),
                eds.get("max_ms"),
                eds.get("bytes_per_proxy_per_change"),
                eds.get("bytes_total_per_change"),
                full.get("p50_ms"),
                full.get("p99_ms"),
                full.get("max_ms"),
                full.get("bytes_per_proxy_per_change"),
                full.get("bytes_total_per_change"),
                r.get("status"),
            ]
        )
        notes.extend(f"{r['mode']} N={r['proxies']}: {n}" for n in r.get("notes", []))
    title = f"xds-convergence: {p.services} services, {p.changes} change(s) of each kind per row"
    return {"title": title, "columns": cols, "rows": rows, "notes": notes}


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    start = time.monotonic()
    end = start + p.budget
    results: list[dict[str, Any]] = []
    for n, config_cap in zip(p.proxies, p.config_caps, strict=True):
        for mode in p.modes:
            if time.monotonic() + 10 > end:
                results.append(
                    {
                        "mode": mode,
                        "proxies": n,
                        "services": p.services,
                        "status": "skipped",
                        "notes": [f"skipped: scenario time budget ({p.budget:.0f} s) used up"],
                    }
                )
                continue
            print(f"xds-convergence: {mode} N={n} ...", flush=True)
            try:
                r = asyncio.run(_one_config(mode, n, p, min(end, time.monotonic() + config_cap)))
            except Exception as e:  # report and go on with the next configuration
                r = {
                    "mode": mode,
                    "proxies": n,
                    "services": p.services,
                    "status": "failed",
                    "notes": [f"failed: {e!r}"],
                }
            r["elapsed_s"] = round(time.monotonic() - start, 1)
            print(
                f"  -> {r.get('status')} sync_s={r.get('sync_s')} notes={r.get('notes')}",
                flush=True,
            )
            results.append(r)
    return {
        "params": {
            "namespaces": p.namespaces,
            "services": p.services,
            "endpoints_per_service": 2,
            "proxies": list(p.proxies),
            "modes": list(p.modes),
            "changes": p.changes,
            "config_caps_s": list(p.config_caps),
            "change_cap_s": p.change_cap,
            "budget_s": p.budget,
            "proxies_per_channel": PROXIES_PER_CHANNEL,
        },
        "results": results,
        "wall_s": round(time.monotonic() - start, 1),
        "table": _table(results, p),
    }
