"""``python -m bench xds-convergence --quick`` (in the session's ``all --quick`` run) runs end
to end and writes its numbers."""

from __future__ import annotations

import os

import pytest
from bench_support import QuickRun

pytestmark = pytest.mark.e2e


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_xds_convergence_quick(quick_all: QuickRun) -> None:
    data = quick_all.result("xds-convergence")
    for key in ("scenario", "command", "cpu_count", "date", "git_commit", "params", "results"):
        assert key in data, key
    assert data["scenario"] == "xds-convergence"
    assert data["quick"] is True
    assert "--quick" in data["command"]
    assert data["cpu_count"] == os.cpu_count()
    assert {(r["mode"], r["proxies"]) for r in data["results"]} == {("sotw", 50), ("delta", 50)}
    for r in data["results"]:
        assert r["status"] == "ok", r
        assert r["synced"] == r["proxies"]
        for key in ("sync_s", "rss_before_mb", "rss_after_mb", "init_kb_per_proxy"):
            assert _positive(r[key]), (key, r)
        for kind in ("eds", "full"):
            change = r[kind]
            assert change["changes"] == data["params"]["changes"]
            assert change["samples"] == r["proxies"] * change["changes"]
            for key in (
                "p50_ms",
                "p99_ms",
                "max_ms",
                "bytes_per_proxy_per_change",
                "bytes_total_per_change",
            ):
                assert _positive(change[key]), (kind, key, change)
            assert change["p50_ms"] <= change["p99_ms"] <= change["max_ms"]
