"""Explicit mode (INTERCEPTION_MODE NONE): domains, routes shared with the per-port route
configurations, bound listeners and port bindings, cache keys; capture modes unchanged."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.model import (
    FULL_PUSH,
    MeshConfig,
    Proxy,
    ProxyType,
    PushContext,
    PushRequest,
    TriggerReason,
    build_push_context,
)
from lateen.registry import Protocol, Service, ServicePort
from lateen.testing.golden import load_xds_case, resources_data
from lateen.xds import default_generators, names
from lateen.xds.route import explicit_proxy_domains, service_domains

DATA = Path(__file__).parent.parent / "testdata" / "xds"
CAPTURE_CASES = sorted(
    p.name.removesuffix(".input.yaml")
    for p in DATA.glob("*.input.yaml")
    if "explicit" not in p.name
)
EXPLICIT = {"INTERCEPTION_MODE": "NONE"}


def _service(name: str, ns: str, port: int, addresses: tuple[str, ...] = ()) -> Service:
    return Service(
        hostname=f"{name}.{ns}.svc.cluster.local",
        name=name,
        namespace=ns,
        ports=(ServicePort("http", port, Protocol.HTTP),),
        addresses=addresses,
    )


@pytest.mark.parametrize(
    ("svc", "port", "proxy_ns", "expected"),
    [
        (
            _service("reviews", "default", 9080, ("127.44.0.12",)),
            9080,
            "default",
            [
                "reviews.default.svc.cluster.local:9080",
                "reviews.default.svc:9080",
                "reviews.default:9080",
                "reviews:9080",
                "127.44.0.12:9080",
            ],
        ),
        (
            _service("reviews", "default", 9080),
            9080,
            "other",
            [
                "reviews.default.svc.cluster.local:9080",
                "reviews.default.svc:9080",
                "reviews.default:9080",
            ],
        ),
        (
            _service("httpbin", "default", 80, ("127.44.0.14",)),
            80,
            "default",
            [
                "httpbin.default.svc.cluster.local",
                "httpbin.default.svc.cluster.local:80",
                "httpbin.default.svc",
                "httpbin.default.svc:80",
                "httpbin.default",
                "httpbin.default:80",
                "httpbin",
                "httpbin:80",
                "127.44.0.14",
                "127.44.0.14:80",
            ],
        ),
        (
            Service(
                hostname="api.example.com",
                name="api.example.com",
                namespace="default",
                ports=(ServicePort("https", 443, Protocol.HTTPS),),
            ),
            443,
            "default",
            ["api.example.com:443"],
        ),
        (
            Service(
                hostname="api.example.com",
                name="api.example.com",
                namespace="default",
                ports=(ServicePort("http", 80, Protocol.HTTP),),
            ),
            80,
            "default",
            ["api.example.com", "api.example.com:80"],
        ),
    ],
    ids=["same-namespace", "other-namespace", "port-80-bare-too", "external-443", "external-80"],
)
def test_explicit_proxy_domains(svc: Service, port: int, proxy_ns: str, expected: list[str]) -> None:
    got = explicit_proxy_domains(svc, port, proxy_ns, "cluster.local")
    assert got == expected
    # the same names as the per-port route configuration, minus the bare ones off port 80
    per_port = service_domains(svc, port, proxy_ns, "cluster.local")
    assert got == [d for d in per_port if port == 80 or d.endswith(f":{port}")]


def _case(name: str) -> tuple[Proxy, PushContext]:
    case = load_xds_case((DATA / f"{name}.input.yaml").read_text(), name)
    return case.proxy, build_push_context(case.objects, case.mesh, version="t")


def _with_metadata(proxy: Proxy, metadata: dict[str, Any]) -> Proxy:
    return dataclasses.replace(proxy, metadata=metadata)


def _generate(proxy: Proxy, push: PushContext) -> dict[str, list[dict[str, Any]]]:
    return {
        url: resources_data(gen.generate(proxy, push))
        for url, gen in default_generators().items()
    }


@pytest.mark.parametrize("mode", ["REDIRECT", "TPROXY", "bogus"])
@pytest.mark.parametrize("name", CAPTURE_CASES)
def test_capture_modes_generate_what_no_metadata_generates(name: str, mode: str) -> None:
    proxy, push = _case(name)
    plain = _generate(_with_metadata(proxy, {}), push)
    assert _generate(_with_metadata(proxy, {"INTERCEPTION_MODE": mode}), push) == plain


def _vhosts(routes: list[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    (rc,) = [r for r in routes if r["name"] == name]
    return {v["name"]: v for v in rc["virtual_hosts"]}


def test_15001_routes_are_the_per_port_routes() -> None:
    """Every HTTP vhost of a per-port route configuration appears in ``15001`` with the same
    routes (VirtualService split, retries, default routes); auto-detected ports add CONNECT."""
    explicit, push = _case("10-explicit-sidecar")
    capture = _with_metadata(explicit, {})
    gen = default_generators()[names.ROUTE_TYPE]
    capture_routes = resources_data(gen.generate(capture, push))
    explicit_routes = resources_data(gen.generate(explicit, push))
    assert [r["name"] for r in explicit_routes] == ["15001"]
    proxy_vhosts = _vhosts(explicit_routes, "15001")
    compared = 0
    for rc in capture_routes:
        for vh_name, vh in _vhosts(capture_routes, rc["name"]).items():
            if vh_name == "allow_any":
                continue
            got = proxy_vhosts[vh_name]
            routes = [r for r in got["routes"] if r.get("name") != "connect"]
            assert routes == vh["routes"], vh_name
            port = int(rc["name"])
            assert got["domains"] == [
                d for d in vh["domains"] if port == 80 or d.endswith(f":{port}")
            ]
            compared += 1
    assert compared == 5  # details, productpage, reviews (9080), httpbin (80), mystery (7000)
    split = proxy_vhosts["reviews.default.svc.cluster.local:9080"]["routes"][0]["route"]
    assert [c["weight"] for c in split["weighted_clusters"]["clusters"]] == [50, 50]
    connect = proxy_vhosts["tcp-echo.default.svc.cluster.local:9000"]["routes"]
    assert [r["name"] for r in connect] == ["connect"]
    assert connect[0]["match"] == {"connect_matcher": {}}
    assert connect[0]["route"]["upgrade_configs"] == [
        {"upgrade_type": "CONNECT", "connect_config": {}}
    ]
    assert [
        (c["name"], c["weight"]) for c in connect[0]["route"]["weighted_clusters"]["clusters"]
    ] == [
        ("outbound|9000|v1|tcp-echo.default.svc.cluster.local", 80),
        ("outbound|9000|v2|tcp-echo.default.svc.cluster.local", 20),
    ]
    mystery = proxy_vhosts["mystery.default.svc.cluster.local:7000"]["routes"]
    assert [r["name"] for r in mystery] == ["connect", "default"]
    assert list(proxy_vhosts)[-1] == "allow_any"


def _names(proxy: Proxy, push: PushContext, url: str) -> list[str]:
    return [r.name for r in default_generators()[url].generate(proxy, push)]


def _addresses(proxy: Proxy, push: PushContext) -> dict[str, tuple[str, int]]:
    out = {}
    for r in default_generators()[names.LISTENER_TYPE].generate(proxy, push):
        sa = r.message.address.socket_address  # type: ignore[attr-defined]
        out[r.name] = (sa.address, sa.port_value)
    return out


def test_explicit_sidecar_listeners_and_clusters() -> None:
    proxy, push = _case("10-explicit-sidecar")
    assert _addresses(proxy, push) == {
        "127.42.0.7_15001": ("127.42.0.7", 15001),
        "127.42.0.7_9080": ("127.42.0.7", 9080),
    }
    clusters = {
        r.name: r.message for r in default_generators()[names.CLUSTER_TYPE].generate(proxy, push)
    }
    inbound = clusters["inbound|9080||"].load_assignment.endpoints[0].lb_endpoints[0]  # type: ignore[attr-defined]
    assert inbound.endpoint.address.socket_address.address == "127.43.0.7"
    passthrough = clusters[names.PASSTHROUGH_CLUSTER]
    assert passthrough.original_dst_lb_config.use_http_header  # type: ignore[attr-defined]
    assert passthrough.original_dst_lb_config.http_header_name == ":authority"  # type: ignore[attr-defined]
    # capture mode: the same proxy keeps virtual listeners, 127.0.0.1 and a plain passthrough
    capture = _with_metadata(proxy, {"LATEEN_APP_ADDRESS": "127.43.0.7"})
    assert "virtualOutbound" in _names(capture, push, names.LISTENER_TYPE)
    cap_clusters = {
        r.name: r.message
        for r in default_generators()[names.CLUSTER_TYPE].generate(capture, push)
    }
    cap_inbound = cap_clusters["inbound|9080||"].load_assignment.endpoints[0].lb_endpoints[0]  # type: ignore[attr-defined]
    assert cap_inbound.endpoint.address.socket_address.address == "127.0.0.1"
    assert not cap_clusters[names.PASSTHROUGH_CLUSTER].HasField("original_dst_lb_config")


def _push(text: str, mesh: MeshConfig | None = None) -> PushContext:
    result = load_yaml(textwrap.dedent(text), "test")
    assert result.ok, result.errors
    return build_push_context(result.objects, mesh or MeshConfig(), version="v1")


WORKLOAD = """
apiVersion: v1
kind: Service
metadata: {name: a, namespace: default}
spec:
  clusterIP: 127.44.0.1
  ports: [{name: http, port: 80, targetPort: 8080}, {name: tcp, port: 15001}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: a, namespace: default}
subsets:
- addresses: [{ip: 127.42.0.1}, {ip: 127.42.0.2}]
  ports: [{name: http, port: 8080}, {name: tcp, port: 15001}]
"""


def _sidecar(ip: str, **metadata: Any) -> Proxy:
    return Proxy(
        ProxyType.SIDECAR,
        (ip,),
        f"a-{ip}.default",
        "default.svc.cluster.local",
        "default",
        metadata=metadata,
    )


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            EXPLICIT,
            {"127.42.0.1_15001": ("127.42.0.1", 15001), "127.42.0.1_8080": ("127.42.0.1", 8080)},
        ),
        (
            {**EXPLICIT, "LATEEN_PORT_BINDINGS": {"8080": "127.0.0.1:18080"}},
            {"127.42.0.1_15001": ("127.42.0.1", 15001), "127.0.0.1_8080": ("127.0.0.1", 18080)},
        ),
        (
            {**EXPLICIT, "LATEEN_PORT_BINDINGS": {"15001": "127.0.0.1:25001"}},
            {"127.0.0.1_15001": ("127.0.0.1", 25001), "127.42.0.1_8080": ("127.42.0.1", 8080)},
        ),
        (
            {**EXPLICIT, "LATEEN_PORT_BINDINGS": {"8080": "127.42.0.1:15001"}},
            {"127.42.0.1_15001": ("127.42.0.1", 15001)},
        ),
        (
            {"LATEEN_PORT_BINDINGS": {"15001": "127.0.0.1:25001"}},
            {
                "virtualInbound": ("0.0.0.0", 15006),
                "virtualOutbound": ("0.0.0.0", 15001),
                "0.0.0.0_80": ("0.0.0.0", 80),
                "127.44.0.1_15001": ("127.44.0.1", 15001),
            },
        ),
    ],
    ids=[
        "explicit",
        "inbound-bound-elsewhere",
        "proxy-bound-elsewhere",
        "collision-first-listener-wins",
        "capture-sidecar-ignores-bindings",
    ],
)
def test_sidecar_bound_listeners(metadata: dict[str, Any], expected: dict[str, Any]) -> None:
    # the workload also serves 15001: in explicit mode the HTTP proxy listener keeps that
    # address (bound or not) and the inbound listener for the same port is left out
    push = _push(WORKLOAD)
    assert _addresses(_sidecar("127.42.0.1", **metadata), push) == expected


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
"""


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, {"0.0.0.0_8080": ("0.0.0.0", 8080)}),
        (EXPLICIT, {"127.42.0.2_8080": ("127.42.0.2", 8080)}),
        (
            {"LATEEN_PORT_BINDINGS": '{"8080": "127.0.0.1:18080"}'},
            {"127.0.0.1_8080": ("127.0.0.1", 18080)},
        ),
        (
            {**EXPLICIT, "LATEEN_PORT_BINDINGS": {"8080": "127.0.0.1:18080"}},
            {"127.0.0.1_8080": ("127.0.0.1", 18080)},
        ),
        (
            {**EXPLICIT, "LATEEN_PORT_BINDINGS": {"9999": "127.0.0.1:19999"}},
            {"127.42.0.2_8080": ("127.42.0.2", 8080)},
        ),
    ],
    ids=["capture", "explicit", "binding", "explicit-binding", "binding-for-another-port"],
)
def test_gateway_bound_listeners(metadata: dict[str, Any], expected: dict[str, Any]) -> None:
    push = _push(GATEWAY)
    gw = Proxy(
        ProxyType.ROUTER,
        ("127.42.0.2",),
        "gw-1.istio-system",
        "istio-system.svc.cluster.local",
        "istio-system",
        labels={"istio": "ingressgateway"},
        metadata=metadata,
    )
    assert _addresses(gw, push) == expected
    # the route configuration keeps Istio's name whatever the bind address
    assert _names(gw, push, names.ROUTE_TYPE) == ["http.8080"]
    lis = default_generators()[names.LISTENER_TYPE].generate(gw, push)[0].message
    assert "http.8080" in str(lis.filter_chains[0].filters[0].typed_config.value)  # type: ignore[attr-defined]


def test_service_entry_without_resolution_reads_authority_in_explicit_mode() -> None:
    push = _push(
        """
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: ext, namespace: default}
        spec:
          hosts: [ext.example.com]
          addresses: [127.45.0.1]
          ports: [{number: 8000, name: http, protocol: HTTP}]
          resolution: NONE
          location: MESH_EXTERNAL
        """
    )
    name = "outbound|8000||ext.example.com"
    for metadata, expected in ((EXPLICIT, True), ({}, False)):
        clusters = {
            r.name: r.message
            for r in default_generators()[names.CLUSTER_TYPE].generate(
                _sidecar("127.42.0.9", **metadata), push
            )
        }
        assert clusters[name].HasField("original_dst_lb_config") is expected  # type: ignore[attr-defined]


def test_route_generator_serves_15001_to_explicit_proxies_on_full_pushes() -> None:
    push = _push(WORKLOAD)
    rds = default_generators()[names.ROUTE_TYPE]
    explicit = _sidecar("127.42.0.1", **EXPLICIT)
    assert [r.name for r in rds.generate(explicit, push)] == [names.EXPLICIT_PROXY_ROUTE]
    assert [r.name for r in rds.generate(_sidecar("127.42.0.1"), push)] == ["80"]
    assert rds.needs_push(explicit, FULL_PUSH)
    eds_only = PushRequest(full=False, reasons=frozenset({TriggerReason.ENDPOINT}))
    assert not rds.needs_push(explicit, eds_only)


def test_cache_keys_keep_explicit_proxies_apart() -> None:
    push = _push(WORKLOAD)
    gens = default_generators()
    one = _sidecar("127.42.0.1", **EXPLICIT, LATEEN_APP_ADDRESS="127.43.0.1")
    two = _sidecar("127.42.0.2", **EXPLICIT, LATEEN_APP_ADDRESS="127.43.0.2")
    same_ip_other_app = _sidecar("127.42.0.1", **EXPLICIT, LATEEN_APP_ADDRESS="127.43.0.9")
    bound = _sidecar(
        "127.42.0.1",
        **EXPLICIT,
        LATEEN_APP_ADDRESS="127.43.0.1",
        LATEEN_PORT_BINDINGS={"8080": "127.0.0.1:18080"},
    )
    capture_one, capture_two = _sidecar("127.42.0.1"), _sidecar("127.42.0.2")
    tproxy_one = _sidecar("127.42.0.1", INTERCEPTION_MODE="TPROXY")
    for url in (names.LISTENER_TYPE, names.CLUSTER_TYPE):
        key = gens[url].cache_key
        assert key(one, push) != key(two, push), url
        assert key(one, push) != key(same_ip_other_app, push), url
        assert key(one, push) != key(bound, push), url
        assert key(one, push) != key(capture_one, push), url
        # replicas of a captured workload still share, whatever the capture mode
        assert key(capture_one, push) == key(capture_two, push) == key(tproxy_one, push), url
    rds = gens[names.ROUTE_TYPE].cache_key
    assert rds(one, push) == rds(two, push)  # "15001" does not depend on the address
    assert rds(one, push) != rds(capture_one, push)
    assert rds(capture_one, push) == rds(tproxy_one, push)
    # and the outputs behind distinct keys do differ
    for url in (names.LISTENER_TYPE, names.CLUSTER_TYPE):
        gen = gens[url]
        assert resources_data(gen.generate(one, push)) != resources_data(gen.generate(two, push))
