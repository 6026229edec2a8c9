"""Open-loop load: the C generator (``bench/_native/loadgen.c``) driven from Python.

:func:`run_open_loop` sends RATE requests per second for DURATION seconds over N keep-alive
HTTP/1.1 connections on a fixed schedule (request k at t0 + k/RATE, on connection k % N) and
measures each latency from the request's *scheduled* send time, so a stall is charged to
every request queued behind it (no coordinated omission). :func:`start_server` runs the C HTTP server
(1 KB responses). Statistics use the nearest-rank percentile.
"""

from __future__ import annotations

import array
import json
import math
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._native import binary
from bench._procs import ProcGroup

__all__ = [
    "CURVE_PERCENTILES",
    "LoadResult",
    "latency_summary",
    "percentile",
    "percentile_curve",
    "ratio",
    "run_open_loop",
    "start_server",
]

# the x-axis of the percentile plots: 0 .. 99.99
CURVE_PERCENTILES: tuple[float, ...] = (
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99,
)  # fmt: skip


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    """``a / b`` rounded, None when either is missing or ``b`` is not positive."""
    return None if a is None or b is None or b <= 0 else round(a / b, digits)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0..100)."""
    if not sorted_values:
        raise ValueError("no values")
    k = max(0, math.ceil(round(q * len(sorted_values) / 100, 9)) - 1)  # round: 99.9 * 1000
    return sorted_values[min(k, len(sorted_values) - 1)]


def latency_summary(latencies_us: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50/p90/p99/p99.9, max and mean in milliseconds (rounded to the microsecond)."""
    s = sorted(latencies_us)
    if not s:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "p999_ms": None,
                "max_ms": None, "mean_ms": None}  # fmt: skip

    def ms(v: float) -> float:
        return round(v / 1000, 3)

    return {
        "n": len(s),
        "p50_ms": ms(percentile(s, 50)),
        "p90_ms": ms(percentile(s, 90)),
        "p99_ms": ms(percentile(s, 99)),
        "p999_ms": ms(percentile(s, 99.9)),
        "max_ms": ms(s[-1]),
        "mean_ms": ms(sum(s) / len(s)),
    }


def percentile_curve(latencies_us: Sequence[float]) -> list[list[float]]:
    """``[[percentile, ms], ...]`` at :data:`CURVE_PERCENTILES` and 100 (the max)."""
    s = sorted(latencies_us)
    if not s:
        return []
    out = [[q, round(percentile(s, q) / 1000, 4)] for q in CURVE_PERCENTILES if q > 0]
    out.insert(0, [0.0, round(s[0] / 1000, 4)])
    out.append([100.0, round(s[-1] / 1000, 4)])
    return out


@dataclass
class LoadResult:
    """One run of the generator: its counters and the per-request samples."""

    summary: dict[str, Any]  # the generator's JSON line (see loadgen.c)
    latencies_us: list[float] = field(default_factory=list)  # answered 2xx, from schedule
    send_lags_us: list[float] = field(default_factory=list)  # sent requests

    @property
    def send_rate(self) -> float:
        """Requests sent per second, first to last send."""
        return float(self.summary["send_rate"])

    @property
    def failed(self) -> int:
        """Requests without a 2xx answer: errors, non-2xx, unanswered, never sent."""
        s = self.summary
        return int(s["errors"] + s["non_2xx"] + s["unfinished"] + s["never_sent"])


def run_open_loop(
    address: str,
    port: int,
    *,
    rate: float,
    connections: int,
    duration: float,
    warmup: float = 0.5,
    host: str | None = None,
    path: str = "/",
    drain: float = 5.0,
) -> LoadResult:
    """Run the generator once against ``address:port`` and return what it measured."""
    argv = [
        str(binary("loadgen")),
        "-a", address, "-p", str(port),
        "-r", str(rate), "-c", str(connections),
        "-d", str(duration), "-w", str(warmup), "-t", str(drain), "-u", path,
    ]  # fmt: skip
    if host:
        argv += ["-H", host]
    with tempfile.NamedTemporaryFile(prefix="lateen-loadgen-", suffix=".bin") as out:
        argv += ["-o", out.name]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=warmup + duration + drain + 60
        )
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen exited {proc.returncode}: {proc.stderr.strip()}")
        summary: dict[str, Any] = json.loads(proc.stdout)
        rec = array.array("q")
        rec.frombytes(Path(out.name).read_bytes())
    lat, lag, status = rec[0::3], rec[1::3], rec[2::3]
    return LoadResult(
        summary=summary,
        latencies_us=[v / 1000 for v, st in zip(lat, status, strict=True) if v >= 0 and 200 <= st < 300],
        send_lags_us=[v / 1000 for v in lag if v >= 0],
    )


def start_server(
    group: ProcGroup, name: str, address: str, port: int, *, size: int = 1024, threads: int = 1
) -> subprocess.Popen[bytes]:
    """Start the C HTTP server on ``address:port`` (every request: 200 with ``size`` bytes) in
    ``group``, which stops it; returns once it listens."""
    proc = group.start(name, [str(binary("server")), address, str(port), str(size), str(threads)])
    log = group.logdir / f"{name}.log"
    deadline = time.monotonic() + 10
    while "listening" not in (log.read_text() if log.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {group.log(name)}")
        time.sleep(0.01)
    return proc
