"""``python -m bench startup --quick`` (in the session's ``all --quick`` run) runs end to end
and writes its numbers."""

from __future__ import annotations

import os

import pytest
from bench_support import QuickRun

pytestmark = pytest.mark.e2e


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_startup_quick(quick_all: QuickRun) -> None:
    data = quick_all.result("startup")
    for key in ("scenario", "command", "cpu_count", "date", "git_commit", "params", "targets"):
        assert key in data, key
    assert data["scenario"] == "startup"
    assert data["quick"] is True
    assert "--quick" in data["command"]
    assert data["cpu_count"] == os.cpu_count()
    assert data["status"] == "ok", data["notes"]

    # 1: per-sidecar start -> ready
    sc = data["sidecars"]
    n = data["params"]["sidecars"]
    assert n == 10
    assert sc["count"] == sc["ready"] == n
    assert 100 <= sc["loopback_block"] <= 198 and sc["loopback_block"] % 2 == 0
    ready = sc["ready_ms"]
    assert ready["n"] == n
    for key in ("p50", "p90", "p99", "max", "mean"):
        assert _positive(ready[key]), (key, ready)
    assert ready["p50"] <= ready["p90"] <= ready["p99"] <= ready["max"]
    for phase in (
        "spawn_to_bootstrap_written",
        "bootstrap_written_to_envoy_started",
        "envoy_started_to_xds_connected",
        "xds_connected_to_ready",
    ):
        assert sc["phases_ms"][phase]["n"] == n, phase
    assert len(sc["samples"]) == n
    assert all(_positive(s["ready_ms"]) for s in sc["samples"])

    # 2: idle memory, per agent and per Envoy (VmRSS and PSS)
    idle = sc["idle_memory"]
    assert idle["processes"] == n
    for key in (
        "agent_rss_mb",
        "agent_pss_mb",
        "agent_anon_mb",
        "envoy_rss_mb",
        "envoy_pss_mb",
        "envoy_anon_mb",
        "sidecar_rss_mb",
        "sidecar_pss_mb",
    ):
        assert idle[key]["n"] == n, key
        assert _positive(idle[key]["mean"]) and _positive(idle[key]["max"]), (key, idle[key])
        assert idle[key]["mean"] <= idle[key]["max"]

    # 3: lateen up samples/bookinfo -d -> all ready, the page, lateen down
    up = data["up"]
    assert len(up["runs"]) == data["params"]["up_runs"] == 1
    for run in up["runs"]:
        assert run["status"] == "ok", run
        assert run["page_ok"] is True
        for key in ("up_s", "first_page_s", "down_s"):
            assert _positive(run[key]), (key, run)
    for key in ("up_s", "first_page_s", "down_s"):
        assert _positive(up[key]["max"]), (key, up[key])

    table = data["table"]
    assert len(table["rows"]) >= 10
    assert all(len(row) == len(table["columns"]) for row in table["rows"])
