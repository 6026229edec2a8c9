"""``lateen proxy-config`` / ``proxy-status`` tables, golden-tested against real Envoy
output captured by tests/testdata/cli/capture.py (UPDATE_GOLDEN=1 rewrites the goldens),
and the pieces of istioctl's formatting as tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lateen.cli._common import format_table, human_age
from lateen.cli._proxy import envoy_version, find_pod
from lateen.cli._proxy_tables import (
    PADDING,
    ClusterFilter,
    ConfigQuery,
    EndpointFilter,
    ListenerFilter,
    cluster_rows,
    config_ref,
    describe_chain_match,
    describe_filters,
    describe_route_domains,
    describe_route_match,
    endpoint_rows,
    listener_rows,
    render_proxy_config,
    route_rows,
    secret_rows,
    status_rows,
    sync_status,
)
from lateen.testing.golden import assert_golden

DATA = Path(__file__).parent.parent / "testdata" / "cli"
PROXIES = ["sidecar", "sidecar-redirect", "gateway"]
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # the captured workload certificate is valid then


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def dump(proxy: str) -> dict[str, Any]:
    data: dict[str, Any] = load(f"config_dump-{proxy}.json")
    return data


def clusters(proxy: str) -> dict[str, Any]:
    data: dict[str, Any] = load(f"clusters-{proxy}.json")
    return data


def table(kind: str, rows: list[list[str]]) -> str:
    return format_table(rows, padding=PADDING[kind])


@pytest.mark.parametrize("proxy", PROXIES)
def test_tables_golden(proxy: str) -> None:
    d, c = dump(proxy), clusters(proxy)
    assert_golden(DATA / f"{proxy}.golden.yaml", {
        "cluster": table("cluster", cluster_rows(d)),
        "listener": table("listener", listener_rows(d)),
        "route": table("route", route_rows(d)),
        "endpoint": table("endpoint", endpoint_rows(c)),
        "secret": table("secret", secret_rows(d, NOW)),
    })


def test_proxy_status_golden() -> None:
    assert_golden(DATA / "proxy-status.golden.yaml",
                  table("status", status_rows(load("syncz.json"), "lateen")))


def names(rows: list[list[str]], *cols: int) -> list[tuple[str, ...]]:
    return [tuple(r[c] for c in cols) for r in rows[1:]]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ClusterFilter(fqdn="reviews"), [("reviews.default.svc.cluster.local", s) for s in ("-", "v1", "v2", "v3")]),
        (ClusterFilter(fqdn="reviews", subset="v2"), [("reviews.default.svc.cluster.local", "v2")]),
        (ClusterFilter(direction="inbound"), [("", "-")]),
        (ClusterFilter(port=9080, subset="mysql"),
         [("ratings.default.svc.cluster.local", "v2-mysql"), ("ratings.default.svc.cluster.local", "v2-mysql-vm")]),
        (ClusterFilter(port=15001), []),
    ],
    ids=["fqdn", "fqdn-subset", "inbound", "port-subset-substring", "no-such-port"],
)
def test_cluster_filters(flt: ClusterFilter, expected: list[tuple[str, str]]) -> None:
    assert names(cluster_rows(dump("sidecar"), flt), 0, 2) == expected


def test_cluster_rows_special_clusters_as_istioctl_shows_them() -> None:
    rows = {r[0]: r for r in cluster_rows(dump("sidecar-redirect"))[1:]}
    assert rows["BlackHoleCluster"] == ["BlackHoleCluster", "-", "-", "-", "STATIC", "-"]
    assert rows["PassthroughCluster"] == ["PassthroughCluster", "-", "-", "-", "ORIGINAL_DST", "-"]
    assert rows["InboundPassthroughCluster"][4] == "ORIGINAL_DST"
    assert rows[""] == ["", "9080", "-", "inbound", "STATIC", "-"]  # inbound|9080||


@pytest.mark.parametrize(
    ("proxy", "flt", "expected"),
    [
        ("sidecar-redirect", ListenerFilter(port=15006),
         [("0.0.0.0", "15006", "ALL", "InboundPassthroughCluster"),
          ("0.0.0.0", "15006", "Addr: *:9080", "Cluster: inbound|9080||")]),
        ("sidecar-redirect", ListenerFilter(type="http"), [("0.0.0.0", "9080", "ALL", "Route: 9080")]),
        ("sidecar-redirect", ListenerFilter(type="HTTP+TCP"),
         [("0.0.0.0", "15006", "ALL", "InboundPassthroughCluster"),
          ("0.0.0.0", "15006", "Addr: *:9080", "Cluster: inbound|9080||")]),
        ("sidecar-redirect", ListenerFilter(type="TCP"), [("0.0.0.0", "15001", "ALL", "PassthroughCluster")]),
        ("sidecar", ListenerFilter(address="127.42.0.10", port=15001),
         [("127.42.0.10", "15001", "ALL", "Route: 15001")]),
        ("gateway", ListenerFilter(), [("127.42.0.2", "18080", "ALL", "Route: http.8080")]),
    ],
    ids=["virtual-inbound", "http", "http-and-tcp", "tcp", "explicit-http-proxy", "gateway"],
)
def test_listener_filters(proxy: str, flt: ListenerFilter, expected: list[tuple[str, ...]]) -> None:
    assert names(listener_rows(dump(proxy), flt), 0, 1, 2, 3) == expected


def test_route_name_filter_and_gateway_routes() -> None:
    rows = route_rows(dump("gateway"), "http.8080")
    assert names(rows, 0, 1, 2, 3) == [
        ("http.8080", "*:8080", "*", m) for m in ("/productpage", "/static*", "/login", "/logout", "/api/v1/products*")
    ]
    assert route_rows(dump("gateway"), "nope") == [rows[0]]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (EndpointFilter(cluster="outbound|9080|v2|reviews.default.svc.cluster.local"),
         [("127.42.0.14:9080", "HEALTHY", "OK")]),
        (EndpointFilter(address="127.42.0.11"),
         [("127.42.0.11:9080", "HEALTHY", "OK"), ("127.42.0.11:9080", "HEALTHY", "OK")]),
        (EndpointFilter(status="unhealthy"), []),
    ],
    ids=["cluster", "address", "status"],
)
def test_endpoint_filters(flt: EndpointFilter, expected: list[tuple[str, ...]]) -> None:
    assert names(endpoint_rows(clusters("sidecar"), flt), 0, 1, 2) == expected


def test_secret_validity_depends_on_now() -> None:
    d = dump("sidecar")
    assert names(secret_rows(d, NOW), 0, 1, 3) == [("default", "Cert Chain", "true"), ("ROOTCA", "CA", "true")]
    later = datetime(2026, 6, 1, tzinfo=UTC)
    assert names(secret_rows(d, later), 0, 3) == [("default", "false"), ("ROOTCA", "true")]
    assert secret_rows(dump("gateway"), NOW)[1:] == []


@pytest.mark.parametrize(
    ("q", "check"),
    [
        (ConfigQuery("cluster", "json", clusters=ClusterFilter(fqdn="details", subset="v1")),
         lambda out: [c["name"] for c in json.loads(out)] == ["outbound|9080|v1|details.default.svc.cluster.local"]),
        (ConfigQuery("listener", "yaml", listeners=ListenerFilter(port=9080)),
         lambda out: [x["name"] for x in yaml.safe_load(out)] == ["127.42.0.10_9080"]),
        (ConfigQuery("route", "json", route_name="15001"),
         lambda out: [r["name"] for r in json.loads(out)] == ["15001"]),
        (ConfigQuery("endpoint", "json", endpoints=EndpointFilter(cluster="inbound|9080||")),
         lambda out: [c["name"] for c in json.loads(out)] == ["inbound|9080||"]),
        (ConfigQuery("bootstrap"),
         lambda out: json.loads(out)["bootstrap"]["node"]["id"].startswith("sidecar~127.42.0.10~productpage")),
        (ConfigQuery("secret", "json"),
         lambda out: [s["name"] for s in json.loads(out)["static_secrets"]] == ["default", "ROOTCA"]),
        (ConfigQuery("all", "json"), lambda out: len(json.loads(out)["configs"]) == 6),
        (ConfigQuery("all"),
         lambda out: [line.split()[0] for line in out.splitlines() if line.isupper() or line.startswith(("SERVICE", "ADDRESSES", "NAME", "ENDPOINT", "RESOURCE"))]
         == ["SERVICE", "ADDRESSES", "NAME", "ENDPOINT", "RESOURCE"]),
    ],
    ids=["cluster-json", "listener-yaml", "route-json", "endpoint-json", "bootstrap", "secret-json", "all-json", "all-tables"],
)
def test_render(q: ConfigQuery, check: Any) -> None:
    assert check(render_proxy_config(q, dump("sidecar"), clusters("sidecar"), NOW))


# -- istioctl's formatting, piece by piece ----------------------------------------------------------

@pytest.mark.parametrize(
    ("match", "text"),
    [
        (None, "ALL"),
        ({"destination_port": 9080}, "Addr: *:9080"),
        ({"transport_protocol": "tls", "application_protocols": ["istio-peer-exchange", "istio"]},
         "Trans: tls; App: TCP TLS"),
        ({"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c"]},
         "Trans: raw_buffer; App: http/1.1,h2c"),
        ({"application_protocols": ["http/1.0", "http/1.1", "h2c"]}, "App: HTTP"),
        ({"server_names": ["a.example.com", "b.example.com"], "transport_protocol": "tls"},
         "SNI: a.example.com,b.example.com; Trans: tls"),
        ({"prefix_ranges": [{"address_prefix": "127.44.0.12", "prefix_len": 32}], "destination_port": 9080},
         "Addr: 127.44.0.12/32:9080"),
    ],
    ids=["all", "port", "tcp-tls", "other-alpn", "http", "sni", "prefix-and-port"],
)
def test_describe_chain_match(match: Any, text: str) -> None:
    assert describe_chain_match(match) == text


HCM = "envoy.filters.network.http_connection_manager"
TCP = "envoy.filters.network.tcp_proxy"


@pytest.mark.parametrize(
    ("filters", "text"),
    [
        ([{"name": HCM, "typed_config": {"rds": {"route_config_name": "9080"}}}], "Route: 9080"),
        ([{"name": HCM, "typed_config": {"route_config": {"virtual_hosts": [
            {"domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "inbound|9080||"}}]}]}}}],
         "Cluster: inbound|9080||"),
        ([{"name": HCM, "typed_config": {"route_config": {"virtual_hosts": [
            {"domains": ["*"], "routes": [{"match": {"prefix": "/stats/prometheus"}, "route": {"cluster": "prometheus_stats"}}]}]}}}],
         "Inline Route: /stats/prometheus*"),
        ([{"name": HCM, "typed_config": {"route_config": {"virtual_hosts": [
            {"domains": ["a", "b"], "routes": [{"match": {"path": "/x"}}, {"match": {"prefix": "/y"}}]}]}}}],
         "Inline Route: a/b /x, /y*"),
        ([{"name": HCM, "typed_config": {}}], "HTTP"),
        ([{"name": TCP, "typed_config": {"cluster": "PassthroughCluster"}}], "PassthroughCluster"),
        ([{"name": TCP, "typed_config": {"cluster": "outbound|9000||tcp-echo.default.svc.cluster.local"}}],
         "Cluster: outbound|9000||tcp-echo.default.svc.cluster.local"),
        ([{"name": TCP, "typed_config": {"cluster": "BlackHoleCluster"}}], "Non-HTTP/Non-TCP"),
        ([{"name": TCP, "typed_config": {"weighted_clusters": {"clusters": [{"name": "a", "weight": 80}, {"name": "b", "weight": 20}]}}}],
         "Cluster: a(80),b(20)"),
    ],
    ids=["rds", "inline-match-all", "inline-one-route", "inline-several", "hcm-bare", "passthrough", "tcp",
         "blackhole", "weighted"],
)
def test_describe_filters(filters: list[dict[str, Any]], text: str) -> None:
    assert describe_filters(filters) == text


@pytest.mark.parametrize(
    ("match", "text"),
    [
        ({"prefix": "/"}, "/*"),
        ({"path": "/productpage"}, "/productpage"),
        ({"path_separated_prefix": "/api"}, "PathPrefix:/api"),
        ({"safe_regex": {"regex": "^/v[0-9]+"}}, "regex ^/v[0-9]+"),
        ({"prefix": "/", "headers": [{"name": "end-user"}]}, "/*"),
        ({"connect_matcher": {}}, "CONNECT"),
    ],
    ids=["prefix", "path", "path-separated-prefix", "regex", "headers-ignored", "connect"],
)
def test_describe_route_match(match: dict[str, Any], text: str) -> None:
    assert describe_route_match(match) == text


@pytest.mark.parametrize(
    ("domains", "text"),
    [
        ([], ""),
        (["*"], "*"),
        (["reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080", "reviews",
          "reviews:9080", "reviews.default.svc", "reviews.default.svc:9080", "reviews.default",
          "reviews.default:9080", "127.44.0.12", "127.44.0.12:9080"],
         "reviews, reviews.default + 1 more..."),
        (["details.default.svc.cluster.local:9080", "details.default.svc:9080", "details.default:9080", "details:9080"],
         "details.default:9080, details:9080"),
        (["httpbin.org", "httpbin.org:80"], "httpbin.org"),
    ],
    ids=["none", "star", "istio-sidecar-route", "http-proxy-route-with-ports", "two"],
)
def test_describe_route_domains(domains: list[str], text: str) -> None:
    assert describe_route_domains(domains) == text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/apis/networking.istio.io/v1alpha3/namespaces/default/destination-rule/reviews", "reviews.default"),
        ("/apis/networking.istio.io/v1/namespaces/bookinfo/virtual-service/ratings", "ratings.bookinfo"),
        ("something else", "<unknown>"),
    ],
)
def test_config_ref(path: str, text: str) -> None:
    assert config_ref(path) == text


@pytest.mark.parametrize(
    ("sent", "acked", "status"),
    [("", "", "NOT SENT"), ("n1", "n1", "SYNCED"), ("n2", "", "STALE (Never Acknowledged)"), ("n2", "n1", "STALE")],
)
def test_sync_status(sent: str, acked: str, status: str) -> None:
    assert sync_status(sent, acked) == status


def test_status_rows_per_type_and_version_fallback() -> None:
    syncz = [
        {"proxy": "b.default", "cluster_id": "Kubernetes", "istio_version": "",
         "types": {"cds": {"sent_nonce": "2", "acked_nonce": "1"}, "lds": {"sent_nonce": "3", "acked_nonce": ""},
                   "eds": {"sent_nonce": "4", "acked_nonce": "4"}}},
        {"proxy": "a.default", "cluster_id": "Kubernetes", "istio_version": "1.24.0",
         "cluster_sent": "x", "cluster_acked": "x", "types": {}},
    ]
    assert status_rows(syncz, "host", {"b.default": "1.36.2"})[1:] == [
        ["a.default", "Kubernetes", "SYNCED", "NOT SENT", "NOT SENT", "NOT SENT", "NOT SENT", "host", "1.24.0"],
        ["b.default", "Kubernetes", "STALE", "STALE (Never Acknowledged)", "SYNCED", "NOT SENT", "NOT SENT", "host",
         "1.36.2*"],
    ]


def test_envoy_version() -> None:
    assert envoy_version({"version": "0123abc/1.36.2/Clean/RELEASE/BoringSSL"}) == "1.36.2"


def test_find_pod_accepts_pod_dot_namespace() -> None:
    pods = [{"name": "gw-1", "namespace": "istio-system"}, {"name": "a.b", "namespace": "default"}]
    assert find_pod(pods, "gw-1.istio-system", "default")[0] == pods[0]
    assert find_pod(pods, "a.b", "default")[0] == pods[1]
    assert find_pod(pods, "gw-1.other", "default")[0] is None


# -- shared table helpers ----------------------------------------------------------------------------

def test_format_table_like_go_tabwriter() -> None:
    rows = [["NAME", "READY", "AGE"], ["reviews-v1", "2/2", "5s"], ["a", "", "10m"]]
    assert format_table(rows, padding=3, minwidth=6) == (
        "NAME         READY   AGE\n"
        "reviews-v1   2/2     5s\n"
        "a                    10m\n"
    )
    assert format_table([["A", "B"], ["x", ""]], padding=1) == "A B\nx\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (125, "2m5s"), (600, "10m"),
     (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
     (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (3 * 365 * 86400 + 86400, "3y1d"),
     (9 * 365 * 86400, "9y")],
)
def test_human_age_like_kubectl(seconds: float, text: str) -> None:
    assert human_age(seconds) == text
