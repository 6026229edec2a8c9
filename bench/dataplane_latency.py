"""dataplane-latency: what two Lateen sidecars add to a request's latency, open loop.

The testbed (``bench/_testbed.py``) serves one C HTTP server (1 KB responses) three ways: no
mesh (client -> server), Lateen (client -> client sidecar -> server sidecar -> server, real
``lateen agent`` sidecars in explicit mode, no mTLS yet) and the limit (the same two hops
through two Envoys with a static bootstrap, router filter only). The C open-loop generator
(``bench/_native/loadgen.c``) sends 1000 requests per second over 1, 4 and 16 keep-alive
HTTP/1.1 connections and times each request from its *scheduled* send time.

The three paths are interleaved: each round runs one slice of every (connections, path)
cell, the path order rotating from round to round, so a noisy neighbour on the machine hits
all three alike. Per cell: p50/p90/p99/p99.9/max over the pooled slices, the latency added
over no mesh at p50/p90/p99, and the ratio Lateen/limit. Anchor: Istio 1.20 adds +0.228 ms at
p90 and +0.298 ms at p99 with two sidecars (1000 rps, 1 KB, 16 connections, mTLS on).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import latency_summary, percentile_curve, ratio, run_open_loop
from bench._plot import connection_panels
from bench._testbed import PATHS, testbed

__all__ = ["ISTIO_ANCHOR", "Params", "run"]

# Istio 1.20, two sidecars, 1000 rps, 1 KB, 16 connections, mTLS (istio.io performance page)
ISTIO_ANCHOR = {"version": "1.20", "added_p90_ms": 0.228, "added_p99_ms": 0.298, "connections": 16}


@dataclass(frozen=True)
class Params:
    rate: float
    connections: tuple[int, ...]
    rounds: int
    slice_s: float  # seconds of recorded load per cell and round
    warmup_s: float  # sent before each slice, not recorded


QUICK = Params(rate=1000, connections=(1, 4, 16), rounds=1, slice_s=1.5, warmup_s=0.3)
FULL = Params(rate=1000, connections=(1, 4, 16), rounds=6, slice_s=5.0, warmup_s=0.5)


def _added(cell: dict[str, Any], base: dict[str, Any], key: str) -> float | None:
    a, b = cell["latency"].get(key), base["latency"].get(key)
    return None if a is None or b is None else round(a - b, 3)



def measure(p: Params) -> dict[str, Any]:
    samples: dict[tuple[int, str], list[float]] = {}
    lags: dict[tuple[int, str], list[float]] = {}
    counts: dict[tuple[int, str], dict[str, int]] = {}
    slices: dict[tuple[int, str], list[dict[str, Any]]] = {}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lateen-bench-dataplane-") as tmp,
        testbed(Path(tmp)) as bed,
    ):
        setup_s = round(time.monotonic() - started, 1)
        for r in range(p.rounds):
            order = PATHS[r % len(PATHS) :] + PATHS[: r % len(PATHS)]
            for conns in p.connections:
                for path in order:
                    t = bed.targets[path]
                    res = run_open_loop(
                        t.address, t.port, rate=p.rate, connections=conns,
                        duration=p.slice_s, warmup=p.warmup_s, host=t.host,
                    )  # fmt: skip
                    key = (conns, path)
                    samples.setdefault(key, []).extend(res.latencies_us)
                    one = latency_summary(res.latencies_us)
                    slices.setdefault(key, []).append(
                        {"round": r + 1, **{k: one[k] for k in ("p50_ms", "p99_ms", "max_ms")}}
                    )
                    lags.setdefault(key, []).extend(res.send_lags_us)
                    n = counts.setdefault(key, {"sent": 0, "ok": 0, "failed": 0})
                    n["sent"] += int(res.summary["sent"])
                    n["ok"] += int(res.summary["ok"])
                    n["failed"] += res.failed
            print(f"dataplane-latency: round {r + 1}/{p.rounds} done", flush=True)
        bed.group.check()
    cells: list[dict[str, Any]] = []
    for conns in p.connections:
        for path in PATHS:
            key = (conns, path)
            lag = latency_summary(lags[key])
            cells.append(
                {
                    "connections": conns,
                    "path": path,
                    **counts[key],
                    "latency": latency_summary(samples[key]),
                    "send_lag": {k: lag[k] for k in ("p50_ms", "p99_ms", "max_ms")},
                    "curve": percentile_curve(samples[key]),
                    "slices": slices[key],  # per round: a stall shows in one slice or in all
                }
            )
    by = {(c["connections"], c["path"]): c for c in cells}
    for c in cells:
        base, limit = by[(c["connections"], "no-mesh")], by[(c["connections"], "limit")]
        c["added_ms"] = {k: _added(c, base, f"{k}_ms") for k in ("p50", "p90", "p99")}
        c["ratio_to_limit"] = {
            k: ratio(c["latency"][f"{k}_ms"], limit["latency"][f"{k}_ms"], 2)
            for k in ("p50", "p90", "p99")
        }
    return {"cells": cells, "setup_s": setup_s, "wall_s": round(time.monotonic() - started, 1)}


def _table(cells: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    cols = [
        "conns", "path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        "+p90 ms", "+p99 ms", "p90 / limit", "p99 / limit", "Istio 1.20 +p90/+p99",
        "send lag p99 ms", "failed",
    ]  # fmt: skip
    rows = []
    for c in cells:
        lat, add, rat = c["latency"], c["added_ms"], c["ratio_to_limit"]
        mesh = c["path"] != "no-mesh"
        anchor = "+0.228 / +0.298 (16 conns)" if c["path"] == "lateen" else ""
        rows.append(
            [
                c["connections"], c["path"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"],
                lat["p999_ms"], lat["max_ms"],
                add["p90"] if mesh else None, add["p99"] if mesh else None,
                rat["p90"] if mesh else None, rat["p99"] if mesh else None,
                anchor, c["send_lag"]["p99_ms"], c["failed"],
            ]
        )  # fmt: skip
    n = p.rounds * p.slice_s
    return {
        "title": f"dataplane-latency: {p.rate:.0f} rps open loop, 1 KB, {n:g} s per cell "
        f"({p.rounds} interleaved round(s))",
        "columns": cols,
        "rows": rows,
        "notes": [
            "+p90/+p99: added over no mesh at the same connections; "
            "p90/limit: Lateen (or limit) latency over the static two-Envoy limit's",
            "Lateen has no mTLS yet: the sidecar-to-sidecar hop is plain HTTP/1.1 "
            "(Istio's anchor has mTLS on)",
            "send lag: how late requests left the generator (its own delay plus waiting behind "
            "the previous response on the connection); a large one means the path fell behind",
        ],
    }



def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    res = measure(p)
    failed = sum(c["failed"] for c in res["cells"])
    return {
        "params": {
            "rate": p.rate,
            "connections": list(p.connections),
            "rounds": p.rounds,
            "slice_s": p.slice_s,
            "warmup_s": p.warmup_s,
            "response_bytes": 1024,
            "paths": list(PATHS),
        },
        "istio_anchor": ISTIO_ANCHOR,
        "status": "ok" if failed == 0 else "incomplete",
        **res,
        "table": _table(res["cells"], p),
        "plot": connection_panels(res["cells"], p.connections, f"dataplane-latency: {p.rate:.0f} rps, 1 KB, open loop"),
    }
