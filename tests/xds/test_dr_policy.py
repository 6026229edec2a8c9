"""DestinationRule traffic policy, unit tables: how policies merge (subset, port level), which
rule a proxy gets (workloadSelector, merging, exportTo), the route hash key, locality
(proxy locality, priorities, weights) and the cache keys that carry it. The full Envoy output
of each field group is golden-tested (tests/testdata/xds/2N-*)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from lateen.api import load_yaml
from lateen.api.networking import DestinationRule, LocalityLoadBalancerSetting
from lateen.model import MeshConfig, Proxy, ProxyType, build_push_context
from lateen.registry import Endpoint
from lateen.testing.golden import message_to_data
from lateen.xds._locality import (
    apply_locality_lb,
    lb_priority,
    locality_lb_setting,
    locality_match,
    parse_locality,
    proxy_locality,
)
from lateen.xds.cluster import build_clusters
from lateen.xds.cluster._policy import effective_traffic_policy, istio_mutual_tls_context
from lateen.xds.endpoint import EndpointGenerator, build_endpoints
from lateen.xds.route import build_routes
from lateen.xds.route._hash import consistent_hash_for, hash_policy

# ---------------------------------------------------------------------------- merging

DR = DestinationRule.model_validate(
    {
        "host": "reviews",
        "trafficPolicy": {
            "outlierDetection": {"consecutive5xxErrors": 3},
            "loadBalancer": {"simple": "ROUND_ROBIN"},
            "tls": {"mode": "SIMPLE"},
            "proxyProtocol": {"version": "V1"},
            "portLevelSettings": [
                {"port": {"number": 81}, "loadBalancer": {"simple": "RANDOM"}},
            ],
        },
        "subsets": [
            {"name": "plain", "labels": {"v": "1"}},
            {
                "name": "lb",
                "labels": {"v": "2"},
                "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
            },
            {
                "name": "ported",
                "labels": {"v": "3"},
                "trafficPolicy": {
                    "connectionPool": {"tcp": {"maxConnections": 5}},
                    "portLevelSettings": [
                        {"port": {"number": 80}, "connectionPool": {"tcp": {"maxConnections": 7}}}
                    ],
                },
            },
        ],
    }
)


def _summary(tp: Any) -> dict[str, Any]:
    if tp is None:
        return {}
    out: dict[str, Any] = {}
    if tp.load_balancer is not None:
        out["lb"] = tp.load_balancer.simple
    if tp.outlier_detection is not None:
        out["od"] = tp.outlier_detection.consecutive_5xx_errors
    if tp.connection_pool is not None and tp.connection_pool.tcp is not None:
        out["max"] = tp.connection_pool.tcp.max_connections
    if tp.tls is not None:
        out["tls"] = tp.tls.mode
    if tp.proxy_protocol is not None:
        out["pp"] = tp.proxy_protocol.version
    return out


@pytest.mark.parametrize(
    ("port", "subset", "expected"),
    [
        (80, "", {"lb": "ROUND_ROBIN", "od": 3, "tls": "SIMPLE", "pp": "V1"}),
        (81, "", {"lb": "RANDOM"}),
        (80, "plain", {"lb": "ROUND_ROBIN", "od": 3, "tls": "SIMPLE", "pp": "V1"}),
        (80, "lb", {"lb": "LEAST_REQUEST", "od": 3, "tls": "SIMPLE", "pp": "V1"}),
        (81, "lb", {"lb": "LEAST_REQUEST"}),
        (80, "ported", {"max": 7, "pp": "V1"}),
        (81, "ported", {"lb": "RANDOM", "max": 5}),
        (80, "missing", {"lb": "ROUND_ROBIN", "od": 3, "tls": "SIMPLE", "pp": "V1"}),
    ],
    ids=[
        "top-level",
        "port-level-replaces-all",
        "subset-without-policy",
        "subset-field-overrides",
        "subset-over-port-level",
        "subset-port-level-replaces-all",
        "subset-other-port",
        "unknown-subset",
    ],
)
def test_effective_traffic_policy(port: int, subset: str, expected: dict[str, Any]) -> None:
    assert _summary(effective_traffic_policy(DR, port, subset)) == expected


def test_no_rule_no_policy() -> None:
    assert effective_traffic_policy(None, 80, "") is None


# ---------------------------------------------------------------------------- helpers


def push_of(text: str, mesh: MeshConfig | None = None) -> Any:
    result = load_yaml(textwrap.dedent(text), "test")
    assert result.ok, result.errors
    return build_push_context(result.objects, mesh or MeshConfig(), version="v1")


def proxy(
    labels: dict[str, str] | None = None, ns: str = "default", ip: str = "198.18.0.1"
) -> Proxy:
    return Proxy(
        ProxyType.SIDECAR, (ip,), f"client.{ns}", f"{ns}.svc.cluster.local", ns, labels or {}
    )


SVC = """
apiVersion: v1
kind: Service
metadata: {name: NAME, namespace: NS}
spec: {clusterIP: 198.19.0.1, ports: [{name: http, port: 80}]}
---
"""


def svc(name: str = "api", ns: str = "default") -> str:
    return SVC.replace("NAME", name).replace("NS", ns)


def dr(name: str, ns: str, host: str, extra: str = "", created: str = "") -> str:
    ts = f", creationTimestamp: '{created}'" if created else ""
    body = textwrap.indent(textwrap.dedent(extra).strip(), "  ") if extra else ""
    return (
        f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: {name}, namespace: {ns}{ts}}}\nspec:\n  host: {host}\n{body}\n---\n"
    )


def cluster(push: Any, p: Proxy, name: str) -> dict[str, Any]:
    for c in build_clusters(p, push):
        if c.name == name:
            return message_to_data(c)
    raise AssertionError(f"no cluster {name}")


API = "outbound|80||api.default.svc.cluster.local"

# ---------------------------------------------------------------------------- rule selection


@pytest.mark.parametrize(
    ("rules", "labels", "lb", "rule", "subsets"),
    [
        (
            [dr("a", "default", "api", "trafficPolicy: {loadBalancer: {simple: RANDOM}}")],
            {},
            "RANDOM",
            "a",
            [],
        ),
        (
            [
                dr("a", "default", "api", "trafficPolicy: {loadBalancer: {simple: RANDOM}}"),
                dr(
                    "sel",
                    "default",
                    "api",
                    "workloadSelector: {matchLabels: {app: client}}\n"
                    "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}",
                ),
            ],
            {"app": "client"},
            None,  # ROUND_ROBIN is the enum's zero value
            "sel",
            [],
        ),
        (
            [
                dr("a", "default", "api", "trafficPolicy: {loadBalancer: {simple: RANDOM}}"),
                dr(
                    "sel",
                    "default",
                    "api",
                    "workloadSelector: {matchLabels: {app: other}}\n"
                    "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}",
                ),
            ],
            {"app": "client"},
            "RANDOM",
            "a",
            [],
        ),
        (
            [
                dr(
                    "first",
                    "default",
                    "api",
                    "trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
                    "subsets: [{name: v1, labels: {v: '1'}}]",
                    "2025-01-01T00:00:00Z",
                ),
                dr(
                    "second",
                    "default",
                    "api",
                    "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n"
                    "subsets: [{name: v1, labels: {v: x}}, {name: v2, labels: {v: '2'}}]",
                    "2025-01-02T00:00:00Z",
                ),
            ],
            {},
            "RANDOM",
            "first",
            ["v1", "v2"],
        ),
        (
            [
                dr(
                    "first",
                    "default",
                    "api",
                    "subsets: [{name: v1, labels: {v: '1'}}]",
                    "2025-01-01T00:00:00Z",
                ),
                dr(
                    "second",
                    "default",
                    "api",
                    "trafficPolicy: {loadBalancer: {simple: RANDOM}}",
                    "2025-01-02T00:00:00Z",
                ),
            ],
            {},
            "RANDOM",
            "first",
            ["v1"],
        ),
        (
            [
                dr(
                    "sel",
                    "other",
                    "api.default.svc.cluster.local",
                    "workloadSelector: {matchLabels: {app: client}}\n"
                    "trafficPolicy: {loadBalancer: {simple: RANDOM}}",
                )
            ],
            {"app": "client"},
            "LEAST_REQUEST",
            None,
            [],
        ),
    ],
    ids=[
        "catch-all",
        "selector-wins",
        "selector-not-matching",
        "merge-subsets-first-policy",
        "merge-policy-from-later",
        "selector-in-other-namespace",
    ],
)
def test_rule_for_proxy(
    rules: list[str], labels: dict[str, str], lb: str | None, rule: str | None, subsets: list[str]
) -> None:
    push = push_of(svc() + "".join(rules))
    p = proxy(labels)
    c = cluster(push, p, API)
    assert c.get("lb_policy") == lb
    config = c["metadata"]["filter_metadata"]["istio"].get("config", "")
    assert (config.rsplit("/", 1)[-1] if config else None) == rule
    got = sorted(
        n.split("|")[2]
        for n in (x.name for x in build_clusters(p, push))
        if n.endswith("api.default.svc.cluster.local") and n.split("|")[2]
    )
    assert got == subsets


# ---------------------------------------------------------------------------- hash key

HASH_DR = DestinationRule.model_validate(
    {
        "host": "api",
        "trafficPolicy": {
            "loadBalancer": {"consistentHash": {"httpHeaderName": "top"}},
            "portLevelSettings": [
                {
                    "port": {"number": 81},
                    "loadBalancer": {"consistentHash": {"httpHeaderName": "port"}},
                }
            ],
        },
        "subsets": [
            {
                "name": "s",
                "labels": {"v": "1"},
                "trafficPolicy": {
                    "loadBalancer": {"consistentHash": {"httpHeaderName": "subset"}},
                    "portLevelSettings": [
                        {
                            "port": {"number": 82},
                            "loadBalancer": {"consistentHash": {"httpHeaderName": "subset-port"}},
                        }
                    ],
                },
            },
            {"name": "plain", "labels": {"v": "2"}},
        ],
    }
)


class _Rule:
    spec = HASH_DR


@pytest.mark.parametrize(
    ("port", "subset", "header"),
    [
        (None, "", "top"),
        (80, "", "top"),
        (81, "", "port"),
        (81, "plain", "port"),
        (81, "s", "subset"),
        (82, "s", "subset-port"),
        (None, "s", "subset"),
    ],
    ids=[
        "no-port",
        "other-port",
        "port-level",
        "plain-subset",
        "subset-beats-port",
        "subset-port",
        "subset",
    ],
)
def test_consistent_hash_for(port: int | None, subset: str, header: str) -> None:
    assert consistent_hash_for(_Rule(), port, subset).http_header_name == header


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ({"httpHeaderName": "x-user"}, {"header": {"header_name": "x-user"}}),
        ({"httpCookie": {"name": "s"}}, {"cookie": {"name": "s"}}),
        (
            {"httpCookie": {"name": "s", "path": "/a", "ttl": "0s"}},
            {"cookie": {"name": "s", "path": "/a", "ttl": "0s"}},
        ),
        ({"useSourceIp": True}, {"connection_properties": {"source_ip": True}}),
        ({"httpQueryParameterName": "u"}, {"query_parameter": {"name": "u"}}),
        ({"ringHash": {"minimumRingSize": 8}}, None),
    ],
    ids=["header", "cookie", "session-cookie", "source-ip", "query", "no-key"],
)
def test_hash_policy(key: dict[str, Any], expected: dict[str, Any] | None) -> None:
    ch = DestinationRule.model_validate(
        {"host": "a", "trafficPolicy": {"loadBalancer": {"consistentHash": key}}}
    ).traffic_policy.load_balancer.consistent_hash
    hp = hash_policy(ch)
    assert (message_to_data(hp) if hp is not None else None) == expected


VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - route: [{destination: {host: api}}]
    RETRIES
---
"""


@pytest.mark.parametrize(
    ("retries", "hash_dr", "predicates"),
    [
        ("", True, []),
        ("", False, ["envoy.retry_host_predicates.previous_hosts"]),
        (
            "retries: {attempts: 3, retryIgnorePreviousHosts: true}",
            True,
            ["envoy.retry_host_predicates.previous_hosts"],
        ),
        ("retries: {attempts: 3}", True, []),
    ],
    ids=["hash-drops-previous-hosts", "no-hash-keeps-it", "explicit-keep", "custom-retries"],
)
def test_single_hashing_destination_retries_same_host(
    retries: str, hash_dr: bool, predicates: list[str]
) -> None:
    policy = (
        "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}" if hash_dr else ""
    )
    rules = dr("api", "default", "api", policy) if hash_dr else ""
    push = push_of(svc() + VS.replace("RETRIES", retries) + rules)
    (rc,) = [r for r in build_routes(proxy(), push) if r.name == "80"]
    route = next(vh for vh in rc.virtual_hosts if vh.name.startswith("api.")).routes[0]
    assert [p.name for p in route.route.retry_policy.retry_host_predicate] == predicates
    assert len(route.route.hash_policy) == (1 if hash_dr else 0)


# ---------------------------------------------------------------------------- locality


@pytest.mark.parametrize(
    ("rule", "loc", "ok"),
    [
        ("r1", ("r1", "z1", "s1"), True),
        ("r1/z1", ("r1", "z1", ""), True),
        ("r1/z2", ("r1", "z1", ""), False),
        ("r1/*", ("r1", "z9", "s9"), True),
        ("*", ("r5", "", ""), True),
        ("r1/z1/s2", ("r1", "z1", "s1"), False),
        ("r2", ("r1", "", ""), False),
    ],
    ids=[
        "region",
        "zone",
        "other-zone",
        "wildcard-zone",
        "wildcard",
        "other-subzone",
        "other-region",
    ],
)
def test_locality_match(rule: str, loc: tuple[str, str, str], ok: bool) -> None:
    assert locality_match(loc, rule) is ok


@pytest.mark.parametrize(
    ("ep", "priority"),
    [("r1/z1/s1", 0), ("r1/z1/s2", 1), ("r1/z2/s1", 2), ("r2/z1/s1", 3), ("", 3)],
    ids=["same", "subzone", "zone", "region", "unknown"],
)
def test_lb_priority(ep: str, priority: int) -> None:
    assert lb_priority(("r1", "z1", "s1"), parse_locality(ep)) == priority


@pytest.mark.parametrize(
    ("dr_setting", "mesh_setting", "on"),
    [
        (None, None, True),
        ({"enabled": False}, None, False),
        ({}, {"enabled": False}, True),
        (None, {"enabled": False}, False),
        ({"enabled": True}, None, True),
    ],
    ids=["mesh-default-on", "rule-off", "rule-beats-mesh", "mesh-off", "rule-on"],
)
def test_locality_lb_setting(dr_setting: Any, mesh_setting: Any, on: bool) -> None:
    def model(raw: Any) -> Any:
        return LocalityLoadBalancerSetting.model_validate(raw) if raw is not None else None

    assert (locality_lb_setting(model(dr_setting), model(mesh_setting)) is not None) is on


POD = """
apiVersion: v1
kind: Pod
metadata: {name: @NAME, namespace: default, labels: {app: api, @LABELS}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: @IP}
---
"""


def pod(name: str, ip: str, labels: str) -> str:
    return POD.replace("@NAME", name).replace("@IP", ip).replace("@LABELS", labels)


SELECTOR_SVC = """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {clusterIP: 198.19.0.1, selector: {app: api}, ports: [{name: http, port: 80}]}
---
"""


@pytest.mark.parametrize(
    ("labels", "objects", "ip", "expected"),
    [
        (
            {"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1"},
            "",
            "198.18.0.1",
            ("r1", "z1", ""),
        ),
        ({"topology.istio.io/subzone": "s1"}, "", "198.18.0.1", ("", "", "s1")),
        ({"istio-locality": "r2.z2.s2"}, "", "198.18.0.1", ("r2", "z2", "s2")),
        ({}, pod("me", "198.18.0.9", "istio-locality: r3.z3"), "198.18.0.9", ("r3", "z3", "")),
        (
            {},
            pod("me", "198.18.0.9", "topology.kubernetes.io/region: r4"),
            "198.18.0.9",
            ("r4", "", ""),
        ),
        ({}, "", "198.18.0.1", ("", "", "")),
    ],
    ids=[
        "topology-labels",
        "subzone-only",
        "istio-locality",
        "own-endpoint",
        "own-endpoint-topology",
        "unknown",
    ],
)
def test_proxy_locality(
    labels: dict[str, str], objects: str, ip: str, expected: tuple[str, str, str]
) -> None:
    push = push_of(SELECTOR_SVC + objects)
    assert proxy_locality(proxy(labels, ip=ip), push) == expected


def _cla(
    localities: list[str], weights: list[int] | None = None
) -> endpoint_pb2.ClusterLoadAssignment:
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name="c")
    for i, loc in enumerate(localities):
        region, zone, sub = parse_locality(loc)
        g = cla.endpoints.add()
        g.locality.region, g.locality.zone, g.locality.sub_zone = region, zone, sub
        g.load_balancing_weight.value = weights[i] if weights else 1
        g.lb_endpoints.append(endpoint_components_pb2.LbEndpoint())
    return cla


LOCS = ["r1/z1", "r1/z2", "r2/z3", "r3/z4"]


def _setting(raw: dict[str, Any]) -> Any:
    return LocalityLoadBalancerSetting.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "failover", "priorities"),
    [
        ({}, True, [0, 1, 2, 2]),
        ({}, False, [0, 0, 0, 0]),
        ({"failover": [{"from": "r1", "to": "r3"}]}, True, [0, 1, 3, 2]),
        ({"failover": [{"from": "r9", "to": "r3"}]}, True, [0, 1, 2, 2]),
    ],
    ids=["default-failover", "no-outlier-detection", "failover-to-region", "failover-other-source"],
)
def test_failover_priorities(raw: dict[str, Any], failover: bool, priorities: list[int]) -> None:
    cla = _cla(LOCS)
    apply_locality_lb(cla, None, ("r1", "z1", ""), {}, _setting(raw), failover)
    assert [g.priority for g in cla.endpoints] == priorities


@pytest.mark.parametrize(
    ("to", "weights", "emptied"),
    [
        ({"r1/z1": 80, "r2/*": 20}, [80, 1, 20, 1], [1, 3]),
        ({"r1/*": 60, "r2/*": 30, "r3/*": 10}, [30, 30, 30, 10], []),
        ({"*": 100}, [25, 25, 25, 25], []),
    ],
    ids=["named-and-wildcard", "split-over-zones", "everything"],
)
def test_distribute_weights(to: dict[str, int], weights: list[int], emptied: list[int]) -> None:
    cla = _cla(LOCS)
    setting = _setting(
        {"distribute": [{"from": "r9", "to": {"*": 100}}, {"from": "r1/*", "to": to}]}
    )
    apply_locality_lb(cla, None, ("r1", "z1", ""), {}, setting, True)
    assert [g.load_balancing_weight.value for g in cla.endpoints] == weights
    assert [i for i, g in enumerate(cla.endpoints) if not g.lb_endpoints] == emptied
    assert {g.priority for g in cla.endpoints} == {0}


def test_distribute_rule_for_other_locality_changes_nothing() -> None:
    cla = _cla(LOCS)
    apply_locality_lb(
        cla,
        None,
        ("r5", "", ""),
        {},
        _setting({"distribute": [{"from": "r1", "to": {"r1": 100}}]}),
        True,
    )
    assert [g.load_balancing_weight.value for g in cla.endpoints] == [1, 1, 1, 1]


def _ep(address: str, **labels: str) -> Endpoint:
    return Endpoint(address, 80, "http", 80, labels=labels)


@pytest.mark.parametrize(
    ("priority_labels", "expected"),
    [
        (["version"], [("r1", 0, ["a", "b"]), ("r1", 1, ["c"])]),
        (["version", "track"], [("r1", 0, ["a"]), ("r1", 1, ["b"]), ("r1", 2, ["c"])]),
        (["version=v2"], [("r1", 0, ["c"]), ("r1", 1, ["a", "b"])]),
    ],
    ids=["one-label", "two-labels", "fixed-value"],
)
def test_failover_priority_splits_localities(
    priority_labels: list[str], expected: list[tuple[str, int, list[str]]]
) -> None:
    eps = [
        _ep("a", version="v1", track="x"),
        _ep("b", version="v1", track="y"),
        _ep("c", version="v2"),
    ]
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name="c")
    g = cla.endpoints.add()
    g.locality.region = "r1"
    for e in eps:
        lb = g.lb_endpoints.add()
        lb.endpoint.address.socket_address.address = e.address
    setting = _setting({"failoverPriority": priority_labels})
    apply_locality_lb(cla, [eps], ("r1", "", ""), {"version": "v1", "track": "x"}, setting, True)
    got = [
        (
            x.locality.region,
            x.priority,
            [e.endpoint.address.socket_address.address for e in x.lb_endpoints],
        )
        for x in cla.endpoints
    ]
    assert got == expected
    assert [x.load_balancing_weight.value for x in cla.endpoints] == [len(e[2]) for e in expected]


LOCALITY_MESH = (
    """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {clusterIP: 198.19.0.1, selector: {app: api}, ports: [{name: http, port: 80}]}
---
"""
    + "".join(
        pod(n, ip, f"topology.kubernetes.io/region: {r}, topology.kubernetes.io/zone: {z}")
        for n, ip, r, z in (
            ("a", "198.18.0.11", "r1", "z1"),
            ("b", "198.18.0.12", "r1", "z2"),
            ("c", "198.18.0.13", "r2", "z3"),
        )
    )
    + dr("api", "default", "api", "trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1}}")
)


@pytest.mark.parametrize(
    ("labels", "priorities"),
    [
        ({"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1"}, [0, 1, 2]),
        ({"topology.kubernetes.io/region": "r2", "topology.kubernetes.io/zone": "z3"}, [1, 1, 0]),
        ({}, [0, 0, 0]),
    ],
    ids=["in-z1", "in-r2", "nowhere"],
)
def test_eds_priorities_follow_the_proxy(labels: dict[str, str], priorities: list[int]) -> None:
    push = push_of(LOCALITY_MESH)
    (cla,) = [c for c in build_endpoints(proxy(labels), push) if c.cluster_name == API]
    assert [g.priority for g in cla.endpoints] == priorities


def test_eds_cache_key_carries_the_locality() -> None:
    push = push_of(LOCALITY_MESH)
    gen = EndpointGenerator()
    z1 = proxy({"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1"})
    z1_again = proxy(
        {"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1"},
        ip="198.18.0.2",
    )
    r2 = proxy({"topology.kubernetes.io/region": "r2", "topology.kubernetes.io/zone": "z3"})
    assert gen.cache_key(z1, push) == gen.cache_key(z1_again, push)
    assert gen.cache_key(z1, push) != gen.cache_key(r2, push)


@pytest.mark.parametrize(
    ("labels", "locality"),
    [
        ("istio-locality: r1.z1.s1", "r1/z1/s1"),
        ("topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z1", "r1/z1"),
        ("istio-locality: r9, topology.kubernetes.io/region: r1", "r9"),
        ("version: v1", ""),
    ],
    ids=["istio-locality", "topology-labels", "istio-locality-wins", "none"],
)
def test_endpoint_locality_from_pod_labels(labels: str, locality: str) -> None:
    push = push_of(SELECTOR_SVC + pod("a", "198.18.0.11", labels))
    (svc_,) = [s for s in push.services if s.name == "api"]
    assert [e.locality for e in push.endpoints(svc_)] == [locality]


# ---------------------------------------------------------------------------- ISTIO_MUTUAL hook


@pytest.mark.parametrize(
    ("sni", "h2", "want_sni", "alpn"),
    [
        ("", False, "outbound|80||api.default.svc.cluster.local", ["istio-peer-exchange", "istio"]),
        ("api.example.com", True, "api.example.com", ["istio-peer-exchange", "istio", "h2"]),
    ],
    ids=["http1-default-sni", "h2-explicit-sni"],
)
def test_istio_mutual_shape(sni: str, h2: bool, want_sni: str, alpn: list[str]) -> None:
    ctx = message_to_data(
        istio_mutual_tls_context(API, sni, ["spiffe://cluster.local/ns/default/sa/api"], h2)
    )
    common = ctx["common_tls_context"]
    assert ctx["sni"] == want_sni
    assert common["alpn_protocols"] == alpn
    assert common["tls_certificate_sds_secret_configs"][0]["name"] == "default"
    combined = common["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    assert combined["default_validation_context"]["match_subject_alt_names"] == [
        {"exact": "spiffe://cluster.local/ns/default/sa/api"}
    ]
    sds = combined["validation_context_sds_secret_config"]["sds_config"]["api_config_source"]
    assert sds["grpc_services"][0]["envoy_grpc"]["cluster_name"] == "sds-grpc"


def test_istio_mutual_stays_plaintext_until_sds() -> None:
    push = push_of(
        svc() + dr("api", "default", "api", "trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}")
    )
    assert "transport_socket" not in cluster(push, proxy(), API)


def test_mesh_locality_setting_off() -> None:
    mesh = MeshConfig.from_dict({"localityLbSetting": {"enabled": False}})
    push = push_of(LOCALITY_MESH, mesh)
    p = proxy({"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1"})
    (cla,) = [c for c in build_endpoints(p, push) if c.cluster_name == API]
    assert [g.priority for g in cla.endpoints] == [0, 0, 0]


@pytest.mark.parametrize(
    ("policy", "differ"),
    [
        ("trafficPolicy: {outlierDetection: {}}", False),
        (
            "trafficPolicy:\n  outlierDetection: {}\n"
            "  loadBalancer: {localityLbSetting: {failoverPriority: [version]}}",
            True,
        ),
    ],
    ids=["labels-do-not-matter", "failover-priority-reads-labels"],
)
def test_eds_cache_key_carries_labels_for_failover_priority(policy: str, differ: bool) -> None:
    push = push_of(svc() + dr("api", "default", "api", policy))
    gen = EndpointGenerator()
    v1, v2 = proxy({"version": "v1"}), proxy({"version": "v2"})
    assert (gen.cache_key(v1, push) != gen.cache_key(v2, push)) is differ
