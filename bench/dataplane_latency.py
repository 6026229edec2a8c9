"""dataplane-latency: what two Lateen sidecars add to a request's latency, open loop.

The testbed (``bench/_testbed.py``) serves one C HTTP server (1 KB responses) five ways: no
mesh (client -> server); ``lateen`` (client -> client sidecar -> server sidecar -> server, real
``lateen agent`` sidecars in explicit mode with certificates from the mesh CA over SDS: the
sidecar-to-sidecar hop is Istio mTLS); ``lateen-plaintext`` (the same client sidecar to a
server sidecar in a namespace whose PeerAuthentication says DISABLE: plaintext hop); ``limit``
(the same two hops through two Envoys with a static bootstrap, router filter only, and the
same mTLS with certificates from the same CA as files) and ``limit-plaintext`` (those Envoys
without TLS). The C open-loop generator (``bench/_native/loadgen.c``) sends 1000 requests per
second over 1, 4 and 16 keep-alive HTTP/1.1 connections and times each request from its
*scheduled* send time.

The paths are interleaved: each round runs one slice of every (connections, path) cell, the
path order rotating from round to round, so a noisy neighbour on the machine hits all paths
alike. Per cell: p50/p90/p99/p99.9/max over the pooled slices, the latency added over no mesh
at p50/p90/p99, the ratio to the limit of the same kind (mTLS or plaintext) and, for the mTLS
paths, the ratio mTLS/plaintext. After the runs the Envoys' ``ssl.handshake`` counters show
which hops were TLS (``tls``). Anchor: Istio 1.20 adds +0.228 ms at p90 and +0.298 ms at p99
with two sidecars (1000 rps, 1 KB, 16 connections, mTLS on).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import latency_summary, percentile_curve, ratio, run_open_loop
from bench._plot import connection_panels
from bench._testbed import ALL_PATHS, testbed, tls_check

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
FULL = Params(rate=1000, connections=(1, 4, 16), rounds=5, slice_s=5.0, warmup_s=0.5)
PATHS = ALL_PATHS
# each path's limit (same TLS or not) and, for the mTLS paths, its plaintext twin
LIMIT_OF = {"no-mesh": "limit", "lateen": "limit", "limit": "limit",
            "lateen-plaintext": "limit-plaintext", "limit-plaintext": "limit-plaintext"}  # fmt: skip
PLAINTEXT_OF = {"lateen": "lateen-plaintext", "limit": "limit-plaintext"}
# what tls_check must find: the mTLS hops did handshakes, the plaintext ones none
EXPECT_TLS = {"lateen": True, "lateen-plaintext": False, "limit": True, "limit-plaintext": False}


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
        testbed(Path(tmp), plaintext=True) as bed,
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
        tls = tls_check(bed)
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
    mtls_over_plaintext: list[dict[str, Any]] = []
    for c in cells:
        n = c["connections"]
        base, limit = by[(n, "no-mesh")], by[(n, LIMIT_OF[c["path"]])]
        c["added_ms"] = {k: _added(c, base, f"{k}_ms") for k in ("p50", "p90", "p99")}
        c["ratio_to_limit"] = _ratios(c, limit)
        twin = PLAINTEXT_OF.get(c["path"])
        c["ratio_to_plaintext"] = _ratios(c, by[(n, twin)]) if twin else None
        if twin:
            mtls_over_plaintext.append({"connections": n, "path": c["path"], **c["ratio_to_plaintext"]})
    for path, want in EXPECT_TLS.items():
        tls[path]["as_expected"] = tls[path]["tls"] is want
    return {
        "cells": cells,
        "mtls_over_plaintext": mtls_over_plaintext,
        "tls": tls,
        "setup_s": setup_s,
        "wall_s": round(time.monotonic() - started, 1),
    }


def _ratios(cell: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    return {
        k: ratio(cell["latency"][f"{k}_ms"], other["latency"][f"{k}_ms"], 2)
        for k in ("p50", "p90", "p99")
    }


def _table(cells: list[dict[str, Any]], p: Params, tls: dict[str, Any]) -> dict[str, Any]:
    cols = [
        "conns", "path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        "+p90 ms", "+p99 ms", "p90 / limit", "p99 / limit",
        "mTLS / plaintext p50", "p90", "p99", "Istio 1.20 +p90/+p99",
        "send lag p99 ms", "failed",
    ]  # fmt: skip
    rows = []
    for c in cells:
        lat, add, rat = c["latency"], c["added_ms"], c["ratio_to_limit"]
        mesh = c["path"] != "no-mesh"
        anchor = "+0.228 / +0.298 (16 conns)" if c["path"] == "lateen" else ""
        tp = c["ratio_to_plaintext"] or {}
        rows.append(
            [
                c["connections"], c["path"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"],
                lat["p999_ms"], lat["max_ms"],
                add["p90"] if mesh else None, add["p99"] if mesh else None,
                rat["p90"] if mesh else None, rat["p99"] if mesh else None,
                tp.get("p50"), tp.get("p90"), tp.get("p99"),
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
            "p90/limit: the path's latency over the static two-Envoy limit's of the same kind "
            "(mTLS or plaintext)",
            "lateen and limit: the hop between the two Envoys is Istio mTLS (certificates of the "
            "same CA; Istio's anchor has mTLS on); *-plaintext: the same Envoys without TLS "
            "(PeerAuthentication DISABLE for Lateen); mTLS / plaintext: the mTLS path's "
            "latency over its plaintext twin's",
            "send lag: how late requests left the generator (its own delay plus waiting behind "
            "the previous response on the connection); a large one means the path fell behind",
            "TLS check (ssl.handshake, client cluster / server listener): "
            + "; ".join(
                f"{path} {t['client_handshakes']}/{t['server_handshakes']}"
                + (f" {', '.join(t['server_negotiated'])}" if t["server_negotiated"] else "")
                + ("" if t["as_expected"] else " (NOT AS EXPECTED)")
                for path, t in tls.items()
            ),
        ],
    }



def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    res = measure(p)
    failed = sum(c["failed"] for c in res["cells"])
    tls_ok = all(t["as_expected"] for t in res["tls"].values())
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
        "status": "ok" if failed == 0 and tls_ok else "incomplete",
        **res,
        "table": _table(res["cells"], p, res["tls"]),
        "plot": connection_panels(res["cells"], p.connections, f"dataplane-latency: {p.rate:.0f} rps, 1 KB, open loop"),
    }
