"""The ``ca`` scenario of the session's ``python -m bench all --quick`` (real CA server and
client processes, real gRPC over TLS) wrote its numbers."""

from __future__ import annotations

import pytest
from bench_support import QuickRun

pytestmark = pytest.mark.e2e


def test_ca_quick(quick_all: QuickRun) -> None:
    data = quick_all.result("ca")  # from the session's `python -m bench all --quick`
    assert data["scenario"] == "ca" and data["quick"] is True and "--quick" in data["command"]
    assert data["status"] == "ok", (data["notes"], quick_all.output[-3000:])
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
