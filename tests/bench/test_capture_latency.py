"""Unit tests of the capture-latency scenario's pure parts: the manifests it gives ``lateen up``
(what the local platform makes of them), the per-cell statistics (added latency, ratios,
on-rate check) and the access-log count that proves the meshed paths went through both
sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench._native import binary
from bench._podload import manifests
from bench.capture_latency import INBOUND, OUTBOUND, PATHS, Params, _cells, _sidecar_counts

from lateen.api import load_yaml
from lateen.platform.local import ProxyRole, builtin_objects, pods_from_objects
from lateen.testing.localmesh import Mesh


def _pods(tmp_path: Path) -> dict[str, Any]:
    src = manifests(tmp_path)
    loaded = load_yaml((src / "bench.yaml").read_text(), str(src / "bench.yaml"))
    assert loaded.errors == []
    ours = {o.key for o in loaded.objects}
    objects = [o for o in builtin_objects("127.0.0.1", 8080) if o.key not in ours] + loaded.objects
    pods, errors = pods_from_objects(objects, base_dir=src)
    assert errors == []
    return {p.owner: p for p in pods}


@pytest.mark.parametrize(
    ("deployment", "proxy", "argv0"),
    [
        ("server", ProxyRole.SIDECAR, "sh"),
        ("client", ProxyRole.SIDECAR, "sleep"),
        ("server-plain", None, "sh"),
        ("client-plain", None, "sleep"),
    ],
    ids=[
        "server-injected",
        "client-injected",
        "server-plain-no-sidecar",
        "client-plain-no-sidecar",
    ],
)
def test_manifests_give_the_platform_four_pods(
    tmp_path: Path, deployment: str, proxy: ProxyRole | None, argv0: str
) -> None:
    pods = _pods(tmp_path)
    pod = pods[f"Deployment/{deployment}"]
    assert pod.proxy == proxy and pod.namespace == "default"
    (app,) = pod.containers
    assert app.argv[0] == argv0
    if argv0 == "sh":  # the C server on $LISTEN_ADDRESS:9080, 1 KB answers
        assert (
            str(binary("server")) in app.argv[2]
            and '"${LISTEN_ADDRESS:-0.0.0.0}" 9080 1024' in app.argv[2]
        )


def test_manifests_scale_the_ingress_gateway_to_zero(tmp_path: Path) -> None:
    assert set(_pods(tmp_path)) == {
        f"Deployment/{d}" for d in ("server", "client", "server-plain", "client-plain")
    }


P = Params(rate=1000, connections=(4,), rounds=2, slice_s=1.0, warmup_s=0.1)


def _inputs(
    lat_ms: dict[str, float], send_rates: dict[str, list[float]], never_sent: int = 0
) -> tuple[Any, ...]:
    samples = {(4, p): [lat_ms[p] * 1000] * 2000 for p in PATHS}
    lags = {(4, p): [10.0] * 2000 for p in PATHS}
    counts = {(4, p): {"scheduled": 2000, "sent": 2000 - (never_sent if p == "transparent" else 0),
                       "ok": 2000, "failed": 0} for p in PATHS}  # fmt: skip
    slices = {
        (4, p): [
            {"round": i + 1, "send_rate": r, "p99_ms": 5.0 * (i + 1)}
            for i, r in enumerate(send_rates[p])
        ]
        for p in PATHS
    }
    return samples, lags, counts, slices


ON_RATE = {p: [1000.0, 999.9] for p in PATHS}


@pytest.mark.parametrize(
    ("lat_ms", "send_rates", "never_sent", "want"),
    [
        (
            {"no-mesh": 0.1, "transparent": 0.5, "explicit": 0.4},
            ON_RATE,
            0,
            {
                "transparent": {
                    "added": 0.4,
                    "to_no_mesh": 5.0,
                    "to_explicit": 1.25,
                    "on_rate": True,
                },
                "explicit": {"added": 0.3, "to_no_mesh": 4.0, "to_explicit": 1.0, "on_rate": True},
                "no-mesh": {"added": 0.0, "to_no_mesh": 1.0, "to_explicit": 0.25, "on_rate": True},
            },
        ),
        (
            {"no-mesh": 0.1, "transparent": 0.5, "explicit": 0.4},
            {**ON_RATE, "explicit": [1000.0, 900.0]},
            0,
            {"explicit": {"on_rate": False}, "transparent": {"on_rate": True}},
        ),
        (
            {"no-mesh": 0.1, "transparent": 0.5, "explicit": 0.4},
            ON_RATE,
            3,
            {"transparent": {"all_sent": False}, "no-mesh": {"all_sent": True}},
        ),
    ],
    ids=["ratios-and-added", "one-slow-slice-is-off-rate", "unsent-requests-are-flagged"],
)
def test_cells(
    lat_ms: dict[str, float],
    send_rates: dict[str, list[float]],
    never_sent: int,
    want: dict[str, Any],
) -> None:
    cells = {c["path"]: c for c in _cells(P, *_inputs(lat_ms, send_rates, never_sent))}
    assert set(cells) == set(PATHS)
    for path, w in want.items():
        c = cells[path]
        assert c["on_rate"] is w.get("on_rate", True), path
        assert c["all_sent"] is w.get("all_sent", True), path
        assert c["min_send_rate"] == min(send_rates[path])
        assert c["median_slice_p99_ms"] == 5.0  # of [5.0, 10.0]: the lower middle
        if "added" in w:
            assert c["added_ms"] == {k: w["added"] for k in ("p50", "p90", "p99", "p999")}
            assert c["ratio_to_no_mesh"]["p99"] == w["to_no_mesh"]
            assert c["ratio_to_explicit"]["p50"] == w["to_explicit"]
            assert c["latency"]["p50_ms"] == lat_ms[path] and c["latency"]["n"] == 2000


MARK = "/capture-latency/abc"


def _line(path: str, cluster: str) -> str:
    return f'[2025-01-01T00:00:00.000Z] "GET {path} HTTP/1.1" 200 - via_upstream - "-" 0 1024 0 0 "-" "-" "-" "server:9080" "198.18.0.3:9080" {cluster} -\n'


@pytest.mark.parametrize(
    ("client_log", "server_log", "want"),
    [
        ([_line(MARK, OUTBOUND)] * 3, [_line(MARK, INBOUND)] * 3, (3, 3)),
        ([_line("/", OUTBOUND), _line(MARK, OUTBOUND)], [_line("/", INBOUND)], (1, 0)),
        ([_line(MARK, "PassthroughCluster")], [_line(MARK, INBOUND)] * 2, (0, 2)),
        ([], [], (0, 0)),
    ],
    ids=["both-sidecars", "other-paths-do-not-count", "passthrough-does-not-count", "empty"],
)
def test_sidecar_counts_read_the_access_logs(
    tmp_path: Path, client_log: list[str], server_log: list[str], want: tuple[int, int]
) -> None:
    pods = []
    for name, lines in (("client-h-a", client_log), ("server-h-b", server_log)):
        log = tmp_path / f"{name}.log"
        log.write_text("".join(lines))
        pods.append({"name": name, "containers": [{"name": "istio-proxy", "log": str(log)}]})
    mesh = Mesh(tmp_path / "state", "http://127.0.0.1:1", 1, "transparent")
    got = _sidecar_counts(mesh, pods, MARK)
    assert (got["client_outbound"], got["server_inbound"]) == want
