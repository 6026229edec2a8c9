"""The new scenarios in the session's ``python -m bench all --quick`` run (real Envoy, real
Lateen sidecars, the C generator, wrk, the xDS simulator): each JSON holds the fields
docs/benchmarks.md documents, and ``all`` reports every scenario."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest
from bench_support import REPO, RESULTS, QuickRun

pytestmark = pytest.mark.e2e

SCENARIOS = ("dataplane-latency", "proxy-cost", "throughput", "churn")
COMMON = ("scenario", "quick", "command", "cpu_count", "date", "git_commit", "params", "status",
          "load_average_at_start", "load_average_at_end")  # fmt: skip


@pytest.fixture(scope="module")
def results(quick_all: QuickRun) -> dict[str, dict[str, Any]]:
    return {s: quick_all.result(s) for s in SCENARIOS}


def test_all_runs_every_scenario(quick_all: QuickRun) -> None:
    assert quick_all.returncode == 0, quick_all.output[-6000:]
    summary = json.loads((RESULTS / "all.json").read_text())
    assert summary["quick"] is True
    scenarios = summary["scenarios"]
    others = ("startup", "xds-convergence", "ca", "sidecar-scoping", "capture-latency")
    assert set(scenarios) == {*SCENARIOS, *others}
    for name in (*SCENARIOS, *others):
        assert scenarios[name]["status"] in ("ok", "unavailable"), (name, scenarios[name])


def _positive(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIOS)
def test_common_fields(results: dict[str, dict[str, Any]], scenario: str) -> None:
    data = results[scenario]
    for key in COMMON:
        assert key in data, key
    assert data["scenario"] == scenario and data["quick"] is True
    assert "--quick" in data["command"] and data["cpu_count"] == os.cpu_count()
    if scenario == "throughput" and shutil.which("wrk") is None:
        assert data["status"] == "unavailable"
        return
    assert data["status"] == "ok", data.get("notes")
    table = data["table"]
    assert table["rows"] and all(len(r) == len(table["columns"]) for r in table["rows"])


def test_dataplane_latency(results: dict[str, dict[str, Any]]) -> None:
    data = results["dataplane-latency"]
    assert data["istio_anchor"] == {"version": "1.20", "added_p90_ms": 0.228,
                                    "added_p99_ms": 0.298, "connections": 16}  # fmt: skip
    cells = {(c["connections"], c["path"]): c for c in data["cells"]}
    paths = ("no-mesh", "lateen", "lateen-plaintext", "limit", "limit-plaintext")
    assert set(cells) == {(n, p) for n in (1, 4, 16) for p in paths}
    for c in cells.values():
        assert c["failed"] == 0 and c["ok"] == c["sent"] == c["latency"]["n"] > 0, c
        lat = c["latency"]
        for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"):
            assert _positive(lat[k]), (k, c)
        assert lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["p999_ms"] <= lat["max_ms"]
        assert set(c["added_ms"]) == set(c["ratio_to_limit"]) == {"p50", "p90", "p99"}
        assert c["curve"][0][0] == 0.0 and c["curve"][-1][0] == 100.0
        assert c["curve"][-1][1] == pytest.approx(lat["max_ms"], abs=0.001)
    # two proxies cost something: every meshed p50 is above the no-mesh p50
    for n in (1, 4, 16):
        base = cells[(n, "no-mesh")]["latency"]["p50_ms"]
        for path in paths[1:]:
            assert cells[(n, path)]["latency"]["p50_ms"] > base, (n, path)
    # mTLS / plaintext at p50/p90/p99 for both mTLS paths at every connection count
    ratios = {(r["connections"], r["path"]): r for r in data["mtls_over_plaintext"]}
    assert set(ratios) == {(n, p) for n in (1, 4, 16) for p in ("lateen", "limit")}
    for (n, path), r in ratios.items():
        assert all(_positive(r[k]) for k in ("p50", "p90", "p99")), r
        assert cells[(n, path)]["ratio_to_plaintext"] == {k: r[k] for k in ("p50", "p90", "p99")}
    # the Envoys' counters: both mTLS hops did TLS handshakes on both sides, with the same
    # version and cipher; the plaintext hops none
    tls = data["tls"]
    for path in ("lateen", "limit"):
        assert tls[path]["client_handshakes"] > 0 and tls[path]["server_handshakes"] > 0, tls
        assert tls[path]["tls"] is True and tls[path]["as_expected"] is True
    assert set(tls["lateen"]["server_negotiated"]) == set(tls["limit"]["server_negotiated"]), tls
    for path in ("lateen-plaintext", "limit-plaintext"):
        assert tls[path]["client_handshakes"] == tls[path]["server_handshakes"] == 0, tls
    png = REPO / data["plot_png"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_proxy_cost(results: dict[str, dict[str, Any]]) -> None:
    data = results["proxy-cost"]
    assert data["istio_anchor"]["sidecar_vcpu_at_1000_rps"] == 0.20
    runs = {(r["path"], r["rate"]) for r in data["runs"]}
    assert runs == {(p, r) for p in ("lateen", "limit") for r in (100, 500, 1000, 2000)}
    for r in data["runs"]:
        assert r["failed"] == 0 and r["ok"] == r["sent"] > 0, r
        for role, proc in r["processes"].items():
            for k in ("cpu_s", "vcpu", "cpu_ms_per_1000_req", "cpu_ms_per_1000_req_over_idle"):
                assert proc[k] is not None and proc[k] >= 0, (role, k, proc)
            for k in ("rss_mb", "rss_anon_mb", "pss_mb"):
                assert _positive(proc[k]), (role, k, proc)
        envoys = [k for k in r["processes"] if k.endswith("envoy")]
        assert len(envoys) == 2
        # the Envoys carry the requests: each used CPU during every run
        assert all(_positive(r["processes"][e]["cpu_s"]) for e in envoys), r
    assert set(data["idle_vcpu"]) >= {"client-envoy", "server-agent", "limit-client-envoy"}


def test_throughput(results: dict[str, dict[str, Any]]) -> None:
    data = results["throughput"]
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: .ci/run installs it (apt-get install -y wrk)")
    assert set(data["paths"]) == {"no-mesh", "lateen", "limit"}
    for path, v in data["paths"].items():
        assert _positive(v["rps"]) and v["non_2xx"] == v["socket_errors"] == 0, (path, v)
    for k in ("lateen_over_no_mesh", "limit_over_no_mesh", "lateen_over_limit"):
        assert _positive(data["ratios"][k]), k


def test_churn(results: dict[str, dict[str, Any]]) -> None:
    data = results["churn"]
    assert data["params"]["target_p99_ms"] == 1000
    (res,) = data["results"]
    assert res["synced"] == res["proxies"] == data["params"]["proxies"]
    steps = res["steps"]
    assert steps and [s["rate"] for s in steps] == data["params"]["rates"][: len(steps)]
    first = steps[0]
    assert first["status"] == "ok" and first["samples"] == first["changes"] * res["proxies"]
    assert first["p50_ms"] <= first["p99_ms"] <= first["max_ms"]
    assert "max_rate_p99_under_1s" in res
    assert data["max_rate_p99_under_1s"] == {"sotw": res["max_rate_p99_under_1s"]}
