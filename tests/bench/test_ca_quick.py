"""``python -m bench.ca --quick`` runs end to end (real CA server and client processes, real
gRPC over TLS) and writes its numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RESULT = REPO / "bench" / "results" / "ca.json"


def test_ca_quick() -> None:
    started = RESULT.stat().st_mtime if RESULT.exists() else 0.0
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ca", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert RESULT.stat().st_mtime >= started
    data = json.loads(RESULT.read_text())
    assert data["scenario"] == "ca" and data["quick"] is True and "--quick" in data["command"]
    assert data["status"] == "ok", data["notes"]
    assert set(data["sign_only"]) == {"ecdsa", "rsa"}
    assert all(v["per_s"] > 0 for v in data["sign_only"].values())
    assert [(r["key_type"], r["workers"]) for r in data["runs"]] == [("ecdsa", 0), ("rsa", 0)]
    for r in data["runs"]:
        assert r["errors"] == 0 and r["ok"] > 0, r
        assert r["per_s"] == pytest.approx(r["ok"] / data["params"]["duration_s"], rel=0.01)
        assert 0 < r["p50_ms"] <= r["p99_ms"]
        assert r["server_cpu_ms_per_csr"] > 0 and 0 < r["our_cpus"] <= data["cpu_count"] + 0.2
    table = data["table"]
    assert len(table["rows"]) == 2 and all(len(row) == len(table["columns"]) for row in table["rows"])
