"""``python -m bench xds-convergence --quick`` runs end to end and writes its numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RESULT = REPO / "bench" / "results" / "xds-convergence.json"


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_xds_convergence_quick() -> None:
    started = RESULT.stat().st_mtime if RESULT.exists() else 0.0
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "xds-convergence", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert RESULT.stat().st_mtime >= started
    data = json.loads(RESULT.read_text())
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
