"""capture-latency: latency at a fixed request rate through transparent capture, through
explicit mode and with no mesh, on real ``lateen up`` meshes.

Two meshes run side by side from the same manifests (``bench/_podload.py``): the C 1 KB server
as Deployment ``server`` behind Service ``server:9080``, a sleeping ``client``, and the same
two without a sidecar (``server-plain``, ``client-plain``). The C open-loop generator runs
*inside* a client pod (``lateen exec``), so requests take the pod's own path:

* ``transparent`` (``lateen up --mode transparent``): the generator in ``client`` sends to
  the Service VIP ``198.19.x.y:9080``; the pod's iptables rules redirect it to its sidecar
  (15001), which routes to the server pod, whose rules redirect it to its sidecar (15006),
  which hands it to the server.
* ``explicit`` (``lateen up --mode explicit``): the generator in ``client`` sends to its
  sidecar's HTTP proxy listener (pod address:15001) with ``Host: server:9080``; that sidecar
  routes to the server pod's inbound listener, which forwards to the server.
* ``no-mesh`` (the transparent mesh's pods without a sidecar): ``client-plain`` sends to
  ``server-plain``'s pod address, across the same bridge, no proxy at all.

Each round runs one slice of every (connections, path) cell at the same rate, the path order
rotating between rounds. Per cell: p50/p90/p99/p99.9/max over the pooled slices, what each
mesh path adds over no mesh, the ratios transparent/explicit and transparent/no-mesh, and the
generator's sent count and achieved send rate (every scheduled request must be sent; a slice
whose send rate fell short, because a stall on the path held back the next request of its
connection, is flagged). The
sidecars' access logs (client outbound, server inbound) confirm that the meshed traffic went
through both proxies.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import latency_summary, percentile_curve, ratio
from bench._plot import connection_panels
from bench._podload import (
    APP_PORT,
    HOST,
    RESPONSE_BYTES,
    deployment_pod,
    pod_load,
    up_meshes,
    wait_path,
)
from lateen.testing.localmesh import Mesh, container_log

__all__ = ["PATHS", "Params", "run"]

PATHS = ("no-mesh", "transparent", "explicit")
MESH_PATHS = ("transparent", "explicit")
PERCENTILES = ("p50", "p90", "p99", "p999")
RATE_TOLERANCE = 0.98  # a slice counts as on rate when it sent >= 98 % of the rate
# what the sidecars' access logs (mesh accessLogFile: /dev/stdout) name for our requests
OUTBOUND = f"outbound|{APP_PORT}||server.default.svc.cluster.local"
INBOUND = f"inbound|{APP_PORT}||"
LOG_FLUSH_S = 1.5  # Envoy flushes access logs every second


@dataclass(frozen=True)
class Params:
    rate: float
    connections: tuple[int, ...]
    rounds: int
    slice_s: float  # seconds of recorded load per cell and round
    warmup_s: float  # sent before each slice, not recorded


QUICK = Params(rate=1000, connections=(4,), rounds=1, slice_s=1.5, warmup_s=0.3)
FULL = Params(rate=1000, connections=(1, 4, 16), rounds=5, slice_s=5.0, warmup_s=0.5)


@dataclass(frozen=True)
class Route:
    """How one path is driven: which mesh, which pod runs the generator, where it sends."""

    mesh: Mesh
    pod: str  # deploy/NAME
    address: str
    port: int


def _routes(meshes: dict[str, Mesh], pods: dict[str, list[dict[str, Any]]]) -> dict[str, Route]:
    t, e = meshes["transparent"], meshes["explicit"]
    svc = json.loads(t.lateen("get", "svc", "server", "-o", "json").stdout)
    plain = deployment_pod(t, "server-plain", pods["transparent"])
    return {
        "no-mesh": Route(t, "deploy/client-plain", plain["ip"], APP_PORT),
        "transparent": Route(t, "deploy/client", svc["spec"]["clusterIP"], APP_PORT),
        "explicit": Route(
            e, "deploy/client", deployment_pod(e, "client", pods["explicit"])["ip"], 15001
        ),
    }


def _sidecar_counts(mesh: Mesh, pods: list[dict[str, Any]], marker: str) -> dict[str, int]:
    """Requests for ``marker`` (the measured slices' path) in the sidecars' access logs: the
    client sidecar's to ``server`` (outbound) and the server sidecar's (inbound)."""
    out = {}
    for role, deployment, cluster in (("client_outbound", "client", OUTBOUND),
                                      ("server_inbound", "server", INBOUND)):  # fmt: skip
        log = container_log(deployment_pod(mesh, deployment, pods))
        out[role] = sum(1 for line in log.splitlines() if cluster in line and marker in line)
    return out



def measure(p: Params) -> dict[str, Any]:
    samples: dict[tuple[int, str], list[float]] = {}
    lags: dict[tuple[int, str], list[float]] = {}
    counts: dict[tuple[int, str], dict[str, int]] = {}
    slices: dict[tuple[int, str], list[dict[str, Any]]] = {}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lateen-bench-capture-") as tmp,
        up_meshes(Path(tmp), MESH_PATHS) as meshes,
    ):
        up_s = round(time.monotonic() - started, 1)
        pods = {m: meshes[m].status()["pods"] for m in MESH_PATHS}
        routes = _routes(meshes, pods)
        marker = f"/capture-latency/{uuid.uuid4().hex[:12]}"
        with ThreadPoolExecutor(len(routes)) as pool:
            waits = {path: pool.submit(wait_path, r.mesh, r.pod, r.address, r.port)
                     for path, r in routes.items()}  # fmt: skip
            ready_s = {path: f.result() for path, f in waits.items()}
        for r in range(p.rounds):
            order = PATHS[r % len(PATHS) :] + PATHS[: r % len(PATHS)]
            for conns in p.connections:
                for path in order:
                    route = routes[path]
                    res = pod_load(
                        route.mesh, route.pod, route.address, route.port, rate=p.rate,
                        connections=conns, duration=p.slice_s, warmup=p.warmup_s, host=HOST, path=marker,
                    )  # fmt: skip
                    key = (conns, path)
                    samples.setdefault(key, []).extend(res.latencies_us)
                    lags.setdefault(key, []).extend(res.send_lags_us)
                    one = latency_summary(res.latencies_us)
                    slices.setdefault(key, []).append({
                        "round": r + 1, "send_rate": res.send_rate,
                        **{k: one[k] for k in ("p50_ms", "p99_ms", "max_ms")},
                    })  # fmt: skip
                    n = counts.setdefault(key, {"scheduled": 0, "sent": 0, "ok": 0, "failed": 0})
                    n["scheduled"] += int(res.summary["scheduled"])
                    n["sent"] += int(res.summary["sent"])
                    n["ok"] += int(res.summary["ok"])
                    n["failed"] += res.failed
            print(f"capture-latency: round {r + 1}/{p.rounds} done", flush=True)
        time.sleep(LOG_FLUSH_S)
        logged = {m: _sidecar_counts(meshes[m], pods[m], marker) for m in MESH_PATHS}
        measured_s = round(time.monotonic() - started, 1)
    warm = round(p.warmup_s * p.rate) * p.rounds * len(p.connections)  # sent, not recorded
    sidecars = {
        m: logged[m] | {"generator_sent": sum(counts[(c, m)]["sent"] for c in p.connections) + warm}
        for m in MESH_PATHS
    }
    cells = _cells(p, samples, lags, counts, slices)
    return {
        "cells": cells,
        "sidecar_requests": sidecars,
        "up_s": up_s,
        "ready_s": ready_s,
        "wall_s": round(time.monotonic() - started, 1),
        "measured_s": measured_s,
    }


def _cells(
    p: Params,
    samples: dict[tuple[int, str], list[float]],
    lags: dict[tuple[int, str], list[float]],
    counts: dict[tuple[int, str], dict[str, int]],
    slices: dict[tuple[int, str], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = []
    for conns in p.connections:
        for path in PATHS:
            key = (conns, path)
            lag = latency_summary(lags[key])
            rates = [s["send_rate"] for s in slices[key]]
            cells.append({
                "connections": conns,
                "path": path,
                **counts[key],
                "min_send_rate": round(min(rates), 1),
                "all_sent": counts[key]["sent"] == counts[key]["scheduled"],
                "on_rate": all(r >= RATE_TOLERANCE * p.rate for r in rates),
                "latency": latency_summary(samples[key]),
                # the middle slice's p99: a stall that hits one slice moves the pooled p99 only
                "median_slice_p99_ms": statistics.median_low([s["p99_ms"] for s in slices[key]]),
                "send_lag": {k: lag[k] for k in ("p50_ms", "p99_ms", "max_ms")},
                "curve": percentile_curve(samples[key]),
                "slices": slices[key],
            })  # fmt: skip
    by = {(c["connections"], c["path"]): c["latency"] for c in cells}
    for c in cells:
        lat, base = c["latency"], by[(c["connections"], "no-mesh")]
        expl = by[(c["connections"], "explicit")]
        c["added_ms"] = {
            k: None if lat[f"{k}_ms"] is None or base[f"{k}_ms"] is None
            else round(lat[f"{k}_ms"] - base[f"{k}_ms"], 3)
            for k in PERCENTILES
        }  # fmt: skip
        c["ratio_to_no_mesh"] = {k: ratio(lat[f"{k}_ms"], base[f"{k}_ms"]) for k in PERCENTILES}
        c["ratio_to_explicit"] = {k: ratio(lat[f"{k}_ms"], expl[f"{k}_ms"]) for k in PERCENTILES}
    return cells


def _table(cells: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    cols = [
        "conns", "path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        "median slice p99 ms", "+p50 ms", "+p90 ms", "+p99 ms", "p50 / explicit", "p99 / explicit",
        "p50 / no-mesh", "p99 / no-mesh", "min send rate", "sent / scheduled", "failed",
    ]  # fmt: skip
    rows = []
    for c in cells:
        lat, add = c["latency"], c["added_ms"]
        mesh, tr = c["path"] != "no-mesh", c["path"] == "transparent"
        rows.append([
            c["connections"], c["path"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"],
            lat["p999_ms"], lat["max_ms"], c["median_slice_p99_ms"],
            add["p50"] if mesh else None, add["p90"] if mesh else None, add["p99"] if mesh else None,
            c["ratio_to_explicit"]["p50"] if tr else None, c["ratio_to_explicit"]["p99"] if tr else None,
            c["ratio_to_no_mesh"]["p50"] if mesh else None, c["ratio_to_no_mesh"]["p99"] if mesh else None,
            round(c["min_send_rate"]), f"{c['sent']}/{c['scheduled']}", c["failed"],
        ])  # fmt: skip
    n = p.rounds * p.slice_s
    return {
        "title": f"capture-latency: {p.rate:.0f} rps open loop from inside the client pod, 1 KB, "
        f"{n:g} s per cell ({p.rounds} interleaved round(s))",
        "columns": cols,
        "rows": rows,
        "notes": [
            "transparent: client pod -> Service VIP, iptables capture into both sidecars; "
            "explicit: client pod -> its sidecar's HTTP proxy (15001), Host: server:9080; "
            "no-mesh: client-plain -> server-plain pod address on the same bridge",
            "+pNN: added over no mesh at the same connections; median slice p99: the middle "
            "round's p99 (a stall in one round moves only the pooled p99); min send rate: the "
            "slowest slice's achieved send rate (requests/s)",
            "sidecar-to-sidecar hop: auto mTLS in both modes when the mesh runs the CA "
            "(lateen up does); the generator-to-sidecar hop is plaintext",
        ],
    }



def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    res = measure(p)
    failed = sum(c["failed"] for c in res["cells"])
    unsent = [f"{c['connections']}/{c['path']}" for c in res["cells"] if not c["all_sent"]]
    off_rate = [f"{c['connections']}/{c['path']}" for c in res["cells"] if not c["on_rate"]]
    through_sidecars = all(
        v["client_outbound"] >= v["generator_sent"] and v["server_inbound"] >= v["generator_sent"]
        for v in res["sidecar_requests"].values()
    )
    notes = []
    if unsent:
        notes.append(f"the generator did not send every scheduled request in: {', '.join(unsent)}")
    if off_rate:  # a stall on the path holds back the next send on its connection
        notes.append(
            f"a slice's send rate fell below {RATE_TOLERANCE:.0%} of the rate (the path stalled "
            f"and requests queued behind the stall; their latency counts from schedule) in: "
            f"{', '.join(off_rate)}"
        )
    if not through_sidecars:
        notes.append("the sidecars counted fewer requests than the generator sent")
    return {
        "params": {
            "rate": p.rate,
            "connections": list(p.connections),
            "rounds": p.rounds,
            "slice_s": p.slice_s,
            "warmup_s": p.warmup_s,
            "response_bytes": RESPONSE_BYTES,
            "paths": list(PATHS),
            "rate_tolerance": RATE_TOLERANCE,
        },
        "status": "ok" if failed == 0 and not unsent and through_sidecars else "incomplete",
        "notes": notes,
        **res,
        "table": _table(res["cells"], p),
        "plot": connection_panels(res["cells"], p.connections, f"capture-latency: {p.rate:.0f} rps, 1 KB, open loop"),
    }
