"""Unit tests of the benchmarks' pure parts: statistics, wrk parsing, the churn ladder, the
static limit bootstrap, the plot writer and the runner's scenario list."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench._loadgen import latency_summary, percentile, percentile_curve
from bench._plot import percentile_position, write_percentile_png
from bench._testbed import limit_bootstrap
from bench.churn import QUICK as CHURN_QUICK
from bench.churn import endpoints_yaml, max_rate_under, service_yaml
from bench.throughput import parse_wrk

from bench import NOT_AVAILABLE, scenario_names
from lateen.agent import envoy_binary


@pytest.mark.parametrize(
    ("values", "q", "want"),
    [
        ([5.0], 50, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([float(i) for i in range(1, 1001)], 99.9, 999.0),
        ([float(i) for i in range(1, 1001)], 99, 990.0),
    ],
    ids=["one", "p50-even", "p75", "p100", "p0", "p99.9-of-1000", "p99-of-1000"],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, want: float) -> None:
    assert percentile(values, q) == want


@pytest.mark.parametrize(
    ("latencies_us", "want"),
    [
        ([], {"n": 0, "p50_ms": None, "max_ms": None}),
        ([1000.0] * 10, {"n": 10, "p50_ms": 1.0, "p99_ms": 1.0, "max_ms": 1.0, "mean_ms": 1.0}),
        (
            [100.0] * 99 + [5000.0],
            {"n": 100, "p50_ms": 0.1, "p90_ms": 0.1, "p99_ms": 0.1, "p999_ms": 5.0,
             "max_ms": 5.0, "mean_ms": 0.149},
        ),
    ],
    ids=["empty", "flat", "one-outlier"],
)
def test_latency_summary(latencies_us: list[float], want: dict[str, Any]) -> None:
    got = latency_summary(latencies_us)
    assert {k: got[k] for k in want} == want


def test_percentile_curve_rises_from_min_to_max() -> None:
    curve = percentile_curve([float(v) for v in range(1, 10001)])
    assert curve[0] == [0.0, 0.001] and curve[-1] == [100.0, 10.0]
    xs, ys = [p for p, _ in curve], [ms for _, ms in curve]
    assert xs == sorted(xs) and ys == sorted(ys)
    assert [99.0, 9.9] in curve


@pytest.mark.parametrize(
    ("p", "want"), [(0, 0.0), (90, 1.0), (99, 2.0), (99.9, 3.0)], ids=["p0", "p90", "p99", "p99.9"]
)
def test_percentile_position(p: float, want: float) -> None:
    assert percentile_position(p) == pytest.approx(want)


WRK_OK = """\
Running 1s test @ http://127.0.0.1:18081/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   439.13us    0.86ms   5.49ms   86.53%
    Req/Sec    34.72k     4.46k   47.56k    90.91%
  37946 requests in 1.10s, 39.48MB read
Requests/sec:  34526.65
Transfer/sec:     35.92MB
"""
WRK_503 = """\
Running 1s test @ http://127.0.0.1:18082/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.87ms    1.20ms  14.41ms   86.99%
    Req/Sec     1.81k   398.43     2.43k    75.00%
  1709 requests in 1.07s, 213.62KB read
  Non-2xx or 3xx responses: 1709
Requests/sec:   1598.87
Transfer/sec:    199.86KB
"""
WRK_ERRORS_MINUTES = """\
Running 1m test @ http://127.0.0.1:18081/
  2 threads and 16 connections
  120000 requests in 1.00m, 125.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
Requests/sec:   1999.50
"""


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (WRK_OK, {"requests": 37946, "duration_s": 1.1, "rps": 34526.65, "non_2xx": 0,
                  "socket_errors": 0}),
        (WRK_503, {"requests": 1709, "duration_s": 1.07, "rps": 1598.87, "non_2xx": 1709,
                   "socket_errors": 0}),
        (WRK_ERRORS_MINUTES, {"requests": 120000, "duration_s": 60.0, "rps": 1999.5,
                              "non_2xx": 0, "socket_errors": 6}),
    ],
    ids=["ok", "non-2xx", "socket-errors-minutes"],
)  # fmt: skip
def test_parse_wrk(text: str, want: dict[str, Any]) -> None:
    assert parse_wrk(text) == pytest.approx(want)


def test_parse_wrk_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="not wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def _step(rate: float, p99: float | None, status: str = "ok") -> dict[str, Any]:
    return {"rate": rate, "p99_ms": p99, "status": status}


@pytest.mark.parametrize(
    ("steps", "want"),
    [
        ([_step(1, 200), _step(10, 600), _step(50, 1500)], 10),
        ([_step(1, 200), _step(10, 600)], 10),
        ([_step(1, 1200)], None),
        ([_step(1, 999.9), _step(10, 1000.0)], 1),
        ([_step(1, 300), _step(10, 400, "incomplete"), _step(50, 100)], 1),
        ([_step(1, 300), _step(10, None)], 1),
        ([], None),
    ],
    ids=["third-misses", "all-under", "first-misses", "exactly-1s-misses", "unconverged-stops",
         "no-samples-stops", "no-steps"],
)  # fmt: skip
def test_max_rate_under(steps: list[dict[str, Any]], want: float | None) -> None:
    assert max_rate_under(steps, 1000.0) == want


def test_churn_config_is_kubernetes_yaml() -> None:
    svc = yaml.safe_load(service_yaml(7, CHURN_QUICK))
    eps = yaml.safe_load(endpoints_yaml(7, 3, CHURN_QUICK))
    assert (svc["kind"], svc["metadata"]) == ("Service", {"name": "svc-1", "namespace": "ns-2"})
    assert eps["metadata"] == svc["metadata"]
    ips = [a["ip"] for a in eps["subsets"][0]["addresses"]]
    assert len(ips) == len(set(ips)) == 3
    assert all(ip.startswith("198.18.") for ip in ips)
    # services never share endpoint addresses
    other = yaml.safe_load(endpoints_yaml(8, 3, CHURN_QUICK))["subsets"][0]["addresses"]
    assert not {a["ip"] for a in other} & set(ips)


def test_every_scenario_of_the_issue_is_available() -> None:
    names = scenario_names()
    for name in ("ca", "capture-latency", "churn", "dataplane-latency", "proxy-cost", "startup",
                 "throughput", "xds-convergence"):  # fmt: skip
        assert name in names
    assert NOT_AVAILABLE == {}


def test_plot_writes_a_png(tmp_path: Path) -> None:
    spec = {
        "title": "t",
        "panels": [
            {"title": "1 connection(s)", "series": {"a": [[0.0, 0.1], [50.0, 0.2], [99.0, 1.0],
                                                          [100.0, 3.0]]}},
            {"title": "empty", "series": {}},
        ],
    }  # fmt: skip
    out = tmp_path / "x.png"
    write_percentile_png(spec, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _limit_boots(tmp_path: Path) -> list[dict[str, Any]]:
    from bench._testbed import Hop, _issue_files, _make_ca

    ca = _make_ca(tmp_path, "127.0.0.1:15012")
    certs = _issue_files(ca, tmp_path / "certs", "default", "limit-server")
    san = "spiffe://cluster.local/ns/default/sa/limit-server"
    return [
        limit_bootstrap(node="limit-client", listen=("127.0.0.1", 15001),
                        upstream=("127.0.0.2", 9080), admin=("127.0.0.1", 15000)),
        limit_bootstrap(node="limit-client", admin=("127.0.0.1", 15000), hops=(
            Hop("limit", ("127.0.0.1", 15001), ("127.0.0.2", 9080), client_tls=certs,
                sni="outbound_.9080_._.s.default.svc.cluster.local", sans=(san,)),
            Hop("limit-plaintext", ("127.0.0.1", 15002), ("127.0.0.2", 9081)),
        )),
        limit_bootstrap(node="limit-server", admin=("127.0.0.2", 15000), hops=(
            Hop("limit", ("127.0.0.2", 9080), ("127.0.0.3", 9080), server_tls=certs),
        )),
    ]  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("which", [0, 1, 2], ids=["plaintext", "mtls-client", "mtls-server"])
def test_limit_bootstrap_is_valid_envoy_config(tmp_path: Path, which: int) -> None:
    boot = _limit_boots(tmp_path)[which]
    path = tmp_path / "boot.json"
    path.write_text(json.dumps(boot))
    proc = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for listener in boot["static_resources"]["listeners"]:
        hcm = listener["filter_chains"][0]["filters"][0]
        filters = [f["name"] for f in hcm["typed_config"]["http_filters"]]
        assert filters == ["envoy.filters.http.router"]  # the limit: nothing but the router


def test_limit_tls_is_lateens_istio_mutual_with_files(tmp_path: Path) -> None:
    """The limit's TLS contexts are the ones lateen.xds generates for ISTIO_MUTUAL, with the
    SDS secrets swapped for files (same ALPN, SNI, SAN matchers, client cert required)."""
    _, client, server = _limit_boots(tmp_path)
    up = client["static_resources"]["clusters"][0]["transport_socket"]["typed_config"]
    assert up["sni"] == "outbound_.9080_._.s.default.svc.cluster.local"
    common = up["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio"]
    certs = tmp_path / "certs"
    assert common["tls_certificates"] == [{"certificate_chain": {"filename": str(certs / "cert-chain.pem")},
                                           "private_key": {"filename": str(certs / "key.pem")}}]  # fmt: skip
    assert common["validation_context"] == {
        "match_subject_alt_names": [{"exact": "spiffe://cluster.local/ns/default/sa/limit-server"}],
        "trusted_ca": {"filename": str(certs / "root-cert.pem")},
    }
    # the files: a leaf for the SPIFFE id, issued by the CA whose root is the trusted one
    from lateen.security import load_certs, uri_sans

    (leaf,) = load_certs((certs / "cert-chain.pem").read_bytes())
    (root,) = load_certs((certs / "root-cert.pem").read_bytes())
    assert uri_sans(leaf) == ["spiffe://cluster.local/ns/default/sa/limit-server"]
    assert leaf.issuer == root.subject and (tmp_path / "ca" / "root-cert.pem").read_bytes() == (
        certs / "root-cert.pem"
    ).read_bytes()
    assert "transport_socket" not in client["static_resources"]["clusters"][1]  # plaintext hop
    down = server["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"]
    assert down["typed_config"]["require_client_certificate"] is True
    assert down["typed_config"]["common_tls_context"]["alpn_protocols"] == ["h2", "http/1.1"]
    assert "sds" not in json.dumps(client) + json.dumps(server)
