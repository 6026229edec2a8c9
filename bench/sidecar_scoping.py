"""Scenario ``sidecar-scoping``: what a Sidecar limiting egress saves one proxy in a mesh of
1000 services (10 namespaces x 100, one HTTP port, 2 endpoints each).

Two variants for a sidecar in ``ns-0``: no Sidecar (it sees all 1000 services) and a
namespace Sidecar with ``egress.hosts: ["./*", "istio-system/*", "ns-1/svc-0...",
"ns-2/svc-0..."]`` (102 services).

1. Generation (in process, the real generators): resources and serialized bytes per xDS type
   (CDS, EDS, LDS, RDS, NDS) and the time to generate them all for one proxy (median of
   several runs, each on a fresh PushContext, so the scope is computed every time).
2. Push over a real control plane (``lateen discovery`` on a config directory, SotW ADS to
   simulated Envoys from ``bench/_xds_sim.py``): time until N proxies of ``ns-0`` have
   ACKed CDS, EDS, LDS and RDS, bytes each received, and a full push (a new service in
   ``ns-0``) until every proxy has its cluster.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._xds_sim import Memo, SimProxy, Watch, cancel_all, open_channels
from lateen.api import load_yaml
from lateen.model import Proxy, ProxyType, build_push_context
from lateen.protos.nds import NAME_TABLE_TYPE
from lateen.testing.procs import Processes, free_port, http_get, wait_for
from lateen.xds import default_generators
from lateen.xds.names import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

__all__ = ["Params", "run"]

PORT = 9080
NAMESPACES = 10
NDS_TYPE = NAME_TABLE_TYPE


@dataclass(frozen=True)
class Params:
    services: int
    generation_runs: int
    proxies: int
    sync_cap: float


QUICK = Params(services=1000, generation_runs=3, proxies=10, sync_cap=20.0)
FULL = Params(services=1000, generation_runs=10, proxies=100, sync_cap=120.0)

SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ns-0}
spec:
  egress:
  - hosts:
    - "./*"
    - "istio-system/*"
    - "ns-1/svc-0.ns-1.svc.cluster.local"
    - "ns-2/svc-0.ns-2.svc.cluster.local"
"""


def _ip(prefix: str, n: int) -> str:
    return f"{prefix}.{n >> 8 & 255}.{n & 255}"


def _names(service: int) -> tuple[str, str]:
    return f"ns-{service % NAMESPACES}", f"svc-{service // NAMESPACES}"


def _service_docs(service: int) -> tuple[str, str]:
    ns, name = _names(service)
    svc = (
        "apiVersion: v1\nkind: Service\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\n"
        f"spec:\n  clusterIP: {_ip('198.19', service)}\n  selector: {{app: {name}}}\n"
        f"  ports: [{{name: http, port: {PORT}, targetPort: {PORT}}}]\n"
    )
    addrs = ", ".join(f"{{ip: {_ip('198.18', service * 4 + k)}}}" for k in range(2))
    eps = (
        "apiVersion: v1\nkind: Endpoints\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\n"
        f"subsets:\n- addresses: [{addrs}]\n  ports: [{{name: http, port: {PORT}}}]\n"
    )
    return svc, eps


def _write_config(root: Path, services: int, sidecar: bool) -> None:
    for i in range(NAMESPACES):
        (root / f"ns-{i}").mkdir(parents=True, exist_ok=True)
    for s in range(services):
        ns, name = _names(s)
        svc, eps = _service_docs(s)
        (root / ns / f"{name}.yaml").write_text(svc + "---\n" + eps)
    if sidecar:
        (root / "ns-0" / "sidecar.yaml").write_text(SIDECAR)


def _node(i: int) -> tuple[str, dict[str, Any]]:
    """Proxy ``i``: a pod of ``svc-0`` in ``ns-0``."""
    ip = _ip("198.18", 60000 + i)
    md = {
        "NAMESPACE": "ns-0",
        "LABELS": {"app": "svc-0"},
        "SERVICE_ACCOUNT": "svc-0",
        "CLUSTER_ID": "Kubernetes",
    }
    return f"sidecar~{ip}~pod-{i}.ns-0~ns-0.svc.cluster.local", md


# -- 1. generation ---------------------------------------------------------------------------


TYPES = {"CDS": CLUSTER_TYPE, "EDS": ENDPOINT_TYPE, "LDS": LISTENER_TYPE, "RDS": ROUTE_TYPE, "NDS": NDS_TYPE}


def _generation(p: Params, sidecar: bool) -> dict[str, Any]:
    docs = [d for s in range(p.services) for d in _service_docs(s)]
    if sidecar:
        docs.append(SIDECAR)
    loaded = load_yaml("---\n".join(docs), "bench")
    if loaded.errors:
        raise RuntimeError(f"bench config does not load: {loaded.errors[0]}")
    proxy = Proxy(
        type=ProxyType.SIDECAR,
        ip_addresses=(_ip("198.18", 60000),),
        id="pod-0.ns-0",
        dns_domain="ns-0.svc.cluster.local",
        namespace="ns-0",
        labels={"app": "svc-0"},
    )
    gens = default_generators()
    gen_ms: list[float] = []
    push_ms: list[float] = []
    out: dict[str, Any] = {}
    for _ in range(p.generation_runs):
        t0 = time.perf_counter()
        push = build_push_context(loaded.objects, version="bench")
        t1 = time.perf_counter()
        resources = {k: gens[url].generate(proxy, push) for k, url in TYPES.items() if url in gens}
        gen_ms.append((time.perf_counter() - t1) * 1000)
        push_ms.append((t1 - t0) * 1000)
    for k, res in resources.items():
        out[k] = {
            "resources": len(res),
            "bytes": sum(len(r.message.SerializeToString(deterministic=True)) for r in res),
        }
    out["total_bytes"] = sum(v["bytes"] for v in out.values())
    out["generate_ms_median"] = round(statistics.median(gen_ms), 1)
    out["push_context_ms_median"] = round(statistics.median(push_ms), 1)
    return out


# -- 2. push over a real control plane -------------------------------------------------------


async def _until(pred: Callable[[], bool], cap: float, interval: float = 0.02) -> bool:
    end = time.monotonic() + cap
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(interval)
    return pred()


async def _push_run(p: Params, sidecar: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"proxies": p.proxies}
    with tempfile.TemporaryDirectory(prefix="lateen-bench-") as tmp:
        root, logs = Path(tmp) / "config", Path(tmp) / "logs"
        logs.mkdir()
        _write_config(root, p.services, sidecar)
        xds_port, mon_port = free_port(), free_port()
        with Processes(logs) as procs:
            proc = procs.start(
                "discovery",
                [sys.executable, "-m", "lateen.cli._main", "discovery", "--config-dir", str(root),
                 "--xds-port", str(xds_port), "--monitoring-port", str(mon_port),
                 "--log-level", "warning"],
            )  # fmt: skip
            await asyncio.to_thread(
                wait_for,
                lambda: proc.poll() is None
                and http_get(f"http://127.0.0.1:{mon_port}/metrics", timeout=1)[0] == 200,
                60.0,
                0.1,
                "lateen discovery to serve /metrics",
            )
            await asyncio.sleep(1.0)  # the first push context is built
            memo, watch = Memo(), Watch()
            channels = open_channels(f"127.0.0.1:{xds_port}", 1)
            proxies = [
                SimProxy(channels[0], *_node(i), delta=False, memo=memo, watch=watch)
                for i in range(p.proxies)
            ]
            tasks: list[asyncio.Task[None]] = []
            try:
                t0 = time.monotonic()
                tasks = [asyncio.create_task(px.run()) for px in proxies]
                ok = await _until(lambda: all(px.synced_at or px.error for px in proxies), p.sync_cap)
                if not ok or any(px.error for px in proxies):
                    errs = [px.error for px in proxies if px.error]
                    out["status"] = f"not synced ({errs[:1]})"
                    return out
                out["sync_s"] = round(max(px.synced_at or 0.0 for px in proxies) - t0, 3)
                out["bytes_per_proxy"] = round(sum(px.bytes_total for px in proxies) / p.proxies)
                out["clusters_per_proxy"] = len(proxies[0].clusters)
                await asyncio.sleep(0.5)
                # a full push: a new service in ns-0 (in every variant's scope)
                new = p.services * 2  # namespace ns-0, never an existing name
                ns, name = _names(new)
                cluster = f"outbound|{PORT}||{name}.{ns}.svc.cluster.local"
                watch.cds.add(cluster)
                before = sum(px.bytes_total for px in proxies)
                svc, eps = _service_docs(new)
                t1 = time.monotonic()
                path = root / ns / f".{name}.tmp"
                path.write_text(svc + "---\n" + eps)
                path.rename(root / ns / f"{name}.yaml")
                ok = await _until(lambda: all(cluster in px.cds_seen for px in proxies), p.sync_cap)
                if ok:
                    out["full_push_s"] = round(max(px.cds_seen[cluster] for px in proxies) - t1, 3)
                await asyncio.sleep(0.5)
                out["full_push_bytes_per_proxy"] = round(
                    (sum(px.bytes_total for px in proxies) - before) / p.proxies
                )
                out["status"] = "ok" if ok else "full push not converged"
                return out
            finally:
                await cancel_all(tasks)
                for ch in channels:
                    await ch.close(None)


def _table(gen: dict[str, Any], push: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for k in TYPES:
        a, b = gen["none"].get(k), gen["sidecar"].get(k)
        if a is None or b is None:
            continue
        rows.append([f"{k} bytes (resources)", f"{a['bytes']:,} ({a['resources']})",
                     f"{b['bytes']:,} ({b['resources']})",
                     f"{100 * (1 - b['bytes'] / a['bytes']):.0f}%" if a["bytes"] else "-"])  # fmt: skip
    ta, tb = gen["none"]["total_bytes"], gen["sidecar"]["total_bytes"]
    rows.append(["total bytes, one proxy", f"{ta:,}", f"{tb:,}", f"{100 * (1 - tb / ta):.0f}%"])
    ga, gb = gen["none"]["generate_ms_median"], gen["sidecar"]["generate_ms_median"]
    rows.append(["generation, one proxy (ms, median)", ga, gb, f"{100 * (1 - gb / ga):.0f}%"])
    for key, label in (("sync_s", "initial push, N proxies (s)"),
                       ("bytes_per_proxy", "bytes received per proxy"),
                       ("full_push_s", "full push, N proxies (s)"),
                       ("full_push_bytes_per_proxy", "full push bytes per proxy")):  # fmt: skip
        a, b = push["none"].get(key), push["sidecar"].get(key)
        drop = f"{100 * (1 - b / a):.0f}%" if isinstance(a, int | float) and isinstance(b, int | float) and a else "-"
        rows.append([label, a, b, drop])
    return {
        "title": f"sidecar-scoping: one ns-0 proxy, 1000 services (N = {push['none'].get('proxies')} SotW proxies)",
        "columns": ["measure", "no Sidecar", "Sidecar ./* + 3 entries", "drop"],
        "rows": rows,
    }


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    start = time.monotonic()
    gen = {"none": _generation(p, False), "sidecar": _generation(p, True)}
    print(f"sidecar-scoping: generation done in {time.monotonic() - start:.1f} s", flush=True)
    push: dict[str, dict[str, Any]] = {}
    for variant in ("none", "sidecar"):
        try:
            push[variant] = asyncio.run(_push_run(p, variant == "sidecar"))
        except Exception as e:  # report, never fake a number
            push[variant] = {"status": f"failed: {e!r}", "proxies": p.proxies}
        print(f"  push {variant}: {push[variant]}", flush=True)
    statuses = [push[v].get("status") for v in ("none", "sidecar")]
    status = "ok" if statuses == ["ok", "ok"] else "incomplete"
    return {
        "status": status,
        "params": {"services": p.services, "namespaces": NAMESPACES, "endpoints_per_service": 2,
                   "generation_runs": p.generation_runs, "proxies": p.proxies,
                   "sidecar_egress_hosts": ["./*", "istio-system/*", "ns-1/svc-0...", "ns-2/svc-0..."]},
        "generation": gen,
        "push": push,
        "wall_s": round(time.monotonic() - start, 1),
        "table": _table(gen, push),
    }
