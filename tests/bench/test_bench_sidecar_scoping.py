"""The ``sidecar-scoping`` scenario: the generation half on a small mesh (fast, real
generators), and the session's ``python -m bench all --quick`` JSON (real control plane,
simulated Envoys over SotW)."""

from __future__ import annotations

import pytest
from bench.sidecar_scoping import Params, _generation
from bench_support import QuickRun

SMALL = Params(services=100, generation_runs=1, proxies=1, sync_cap=5.0)


@pytest.mark.parametrize(
    "sidecar,clusters,endpoints",
    [(False, 100 + 4, 100), (True, 10 + 2 + 4, 12)],  # ns-0's 10 + 2 hosts; + 4 fixed clusters
    ids=["no-sidecar", "sidecar"],
)
def test_generation_counts(sidecar: bool, clusters: int, endpoints: int) -> None:
    out = _generation(SMALL, sidecar)
    assert out["CDS"]["resources"] == clusters
    assert out["EDS"]["resources"] == endpoints
    assert out["total_bytes"] == sum(out[k]["bytes"] for k in ("CDS", "EDS", "LDS", "RDS", "NDS"))


@pytest.mark.e2e
def test_sidecar_scoping_quick(quick_all: QuickRun) -> None:
    data = quick_all.result("sidecar-scoping")
    assert data["scenario"] == "sidecar-scoping" and data["quick"] is True
    assert data["status"] == "ok", (data["push"], quick_all.output[-3000:])
    none, scoped = data["generation"]["none"], data["generation"]["sidecar"]
    assert none["CDS"]["resources"] == 1004 and scoped["CDS"]["resources"] == 106
    assert scoped["total_bytes"] < none["total_bytes"] / 5
    push = data["push"]
    assert push["sidecar"]["bytes_per_proxy"] < push["none"]["bytes_per_proxy"] / 5
    assert push["none"]["clusters_per_proxy"] == 1004 and push["sidecar"]["clusters_per_proxy"] == 106
    assert push["sidecar"]["sync_s"] > 0 and push["sidecar"]["full_push_s"] > 0
