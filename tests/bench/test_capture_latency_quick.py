"""The ``capture-latency`` scenario of the session's ``python -m bench all --quick`` (two real
``lateen up`` meshes, transparent and explicit, real Envoy sidecars, the C generator run inside
the client pods) wrote the fields docs/benchmarks.md documents."""

from __future__ import annotations

import pytest
from bench_support import REPO, QuickRun

pytestmark = pytest.mark.e2e

PATHS = ("no-mesh", "transparent", "explicit")
PCTS = ("p50", "p90", "p99", "p999")


def test_capture_latency_quick(quick_all: QuickRun) -> None:
    data = quick_all.result("capture-latency")
    assert data["scenario"] == "capture-latency" and data["quick"] is True
    assert "--quick" in data["command"]
    assert data["status"] == "ok", (data["notes"], quick_all.output[-3000:])
    p = data["params"]
    assert p["paths"] == list(PATHS) and p["connections"] == [4] and p["rate"] == 1000
    cells = {(c["connections"], c["path"]): c for c in data["cells"]}
    assert set(cells) == {(4, path) for path in PATHS}
    for c in cells.values():
        # every request sent on schedule and answered 200
        assert (
            c["failed"] == 0 and c["ok"] == c["sent"] == c["scheduled"] == c["latency"]["n"] > 0
        ), c
        assert c["all_sent"] is True and c["min_send_rate"] > 0, c
        assert c["on_rate"] is (c["min_send_rate"] >= p["rate_tolerance"] * p["rate"]), c
        lat = c["latency"]
        assert c["median_slice_p99_ms"] == c["slices"][0]["p99_ms"]  # one round in --quick
        assert (
            0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["p999_ms"] <= lat["max_ms"]
        )
        assert (
            set(c["added_ms"])
            == set(c["ratio_to_no_mesh"])
            == set(c["ratio_to_explicit"])
            == set(PCTS)
        )
        assert c["curve"][0][0] == 0.0 and c["curve"][-1] == [
            100.0,
            pytest.approx(lat["max_ms"], abs=0.001),
        ]
    # two proxies cost something on both meshed paths
    base = cells[(4, "no-mesh")]["latency"]["p50_ms"]
    for path in ("transparent", "explicit"):
        assert cells[(4, path)]["latency"]["p50_ms"] > base
        assert cells[(4, path)]["added_ms"]["p50"] > 0
    # the meshed requests went through the client sidecar (outbound) and the server sidecar
    for path in ("transparent", "explicit"):
        seen = data["sidecar_requests"][path]
        assert seen["client_outbound"] >= seen["generator_sent"] >= cells[(4, path)]["sent"], seen
        assert seen["server_inbound"] >= seen["generator_sent"], seen
    assert data["wall_s"] < 40
    assert len(data["table"]["rows"]) == 3
    assert (REPO / data["plot_png"]).read_bytes()[:4] == b"\x89PNG"
