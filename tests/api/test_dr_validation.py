"""DestinationRule traffic-policy validation, field by field, as Istio's validation webhook:
every field group accepted when well-formed and rejected (or warned about) with its path."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from lateen.api import ValidationContext
from lateen.api.kinds import ISTIO_KINDS

Diag = list[tuple[str, str]]
TP = "spec.trafficPolicy"


def _run(spec: dict[str, Any]) -> ValidationContext:
    info = next(i for i in ISTIO_KINDS if i.kind == "DestinationRule")
    model = info.model().model_validate(spec)
    ctx = ValidationContext(namespace="default")
    validator = info.validator()
    assert validator is not None
    validator(model, ctx)
    return ctx


def _tp(**policy: Any) -> dict[str, Any]:
    return {"host": "reviews", "trafficPolicy": policy}


CASES: list[tuple[str, dict[str, Any], Diag, Diag]] = [
    # (id, spec, errors (path, substring), warnings (path, substring))
    # ---- load balancer
    ("lb-simple", _tp(loadBalancer={"simple": "ROUND_ROBIN"}), [], []),
    ("lb-simple-by-number", _tp(loadBalancer={"simple": 4}), [], []),
    (
        "lb-warmup-duration-secs",
        _tp(loadBalancer={"simple": "LEAST_REQUEST", "warmupDurationSecs": "60s"}),
        [],
        [],
    ),
    (
        "lb-warmup",
        _tp(loadBalancer={"warmup": {"duration": "90s", "minimumPercent": 20, "aggression": 2}}),
        [],
        [],
    ),
    (
        "lb-warmup-without-duration",
        _tp(loadBalancer={"warmup": {"minimumPercent": 120, "aggression": 0.5}}),
        [
            (f"{TP}.loadBalancer.warmup.duration", "duration is required"),
            (f"{TP}.loadBalancer.warmup.minimumPercent", "less than or equal to 100"),
            (f"{TP}.loadBalancer.warmup.aggression", "greater than or equal to 1"),
        ],
        [],
    ),
    (
        "lb-bad-warmup-duration",
        _tp(loadBalancer={"warmupDurationSecs": "10x"}),
        [(f"{TP}.loadBalancer.warmupDurationSecs", "")],
        [],
    ),
    (
        "lb-simple-and-hash",
        _tp(loadBalancer={"simple": "RANDOM", "consistentHash": {"httpHeaderName": "x"}}),
        [(f"{TP}.loadBalancer", "only one of simple or consistentHash")],
        [],
    ),
    ("hash-header", _tp(loadBalancer={"consistentHash": {"httpHeaderName": "x-user"}}), [], []),
    (
        "hash-cookie",
        _tp(
            loadBalancer={"consistentHash": {"httpCookie": {"name": "s", "path": "/", "ttl": "0s"}}}
        ),
        [],
        [],
    ),
    (
        "hash-cookie-without-name",
        _tp(loadBalancer={"consistentHash": {"httpCookie": {"ttl": "-1s"}}}),
        [
            (f"{TP}.loadBalancer.consistentHash.httpCookie.name", "name required"),
            (f"{TP}.loadBalancer.consistentHash.httpCookie.ttl", ""),
        ],
        [],
    ),
    ("hash-source-ip", _tp(loadBalancer={"consistentHash": {"useSourceIp": True}}), [], []),
    (
        "hash-query",
        _tp(loadBalancer={"consistentHash": {"httpQueryParameterName": "user"}}),
        [],
        [],
    ),
    (
        "hash-two-keys",
        _tp(loadBalancer={"consistentHash": {"httpHeaderName": "x", "useSourceIp": True}}),
        [(f"{TP}.loadBalancer.consistentHash", "only one of httpHeaderName")],
        [],
    ),
    (
        "hash-ring",
        _tp(
            loadBalancer={
                "consistentHash": {"httpHeaderName": "x", "ringHash": {"minimumRingSize": 4096}}
            }
        ),
        [],
        [],
    ),
    (
        "hash-maglev-prime",
        _tp(loadBalancer={"consistentHash": {"useSourceIp": True, "maglev": {"tableSize": 65537}}}),
        [],
        [],
    ),
    (
        "hash-maglev-bad-sizes",
        _tp(loadBalancer={"consistentHash": {"useSourceIp": True, "maglev": {"tableSize": 65536}}}),
        [(f"{TP}.loadBalancer.consistentHash.maglev.tableSize", "prime")],
        [],
    ),
    (
        "hash-maglev-zero",
        _tp(loadBalancer={"consistentHash": {"useSourceIp": True, "maglev": {}}}),
        [(f"{TP}.loadBalancer.consistentHash.maglev.tableSize", "must be set")],
        [],
    ),
    (
        "hash-ring-and-maglev",
        _tp(
            loadBalancer={
                "consistentHash": {
                    "useSourceIp": True,
                    "ringHash": {"minimumRingSize": 8},
                    "maglev": {"tableSize": 7},
                }
            }
        ),
        [(f"{TP}.loadBalancer.consistentHash", "only one of ringHash or maglev")],
        [],
    ),
    (
        "hash-deprecated-minimum-ring-size",
        _tp(loadBalancer={"consistentHash": {"httpHeaderName": "x", "minimumRingSize": 64}}),
        [],
        [(f"{TP}.loadBalancer.consistentHash.minimumRingSize", "deprecated")],
    ),
    # ---- locality
    (
        "locality-distribute",
        _tp(
            loadBalancer={
                "localityLbSetting": {
                    "distribute": [{"from": "r1/z1/*", "to": {"r1/z1/*": 80, "r2/*": 20}}]
                }
            }
        ),
        [],
        [],
    ),
    (
        "locality-distribute-weights",
        _tp(
            loadBalancer={
                "localityLbSetting": {"distribute": [{"from": "r1/*", "to": {"r1/*": 50}}]}
            }
        ),
        [(f"{TP}.loadBalancer.localityLbSetting.distribute[0].to", "total locality weight 50")],
        [],
    ),
    (
        "locality-failover",
        _tp(
            outlierDetection={"consecutive5xxErrors": 1},
            loadBalancer={"localityLbSetting": {"failover": [{"from": "r1", "to": "r2"}]}},
        ),
        [],
        [],
    ),
    (
        "locality-failover-without-outlier-detection",
        _tp(loadBalancer={"localityLbSetting": {"failover": [{"from": "r1", "to": "r2"}]}}),
        [],
        [(f"{TP}.loadBalancer.localityLbSetting", "outlier detection")],
    ),
    (
        "locality-failover-zone",
        _tp(
            outlierDetection={},
            loadBalancer={"localityLbSetting": {"failover": [{"from": "r1/z1", "to": "r2"}]}},
        ),
        [(f"{TP}.loadBalancer.localityLbSetting.failover[0]", "only specify region")],
        [],
    ),
    (
        "locality-distribute-and-failover",
        _tp(
            loadBalancer={
                "localityLbSetting": {
                    "distribute": [{"from": "r1", "to": {"r1": 100}}],
                    "failover": [{"from": "r1", "to": "r2"}],
                }
            }
        ),
        [(f"{TP}.loadBalancer.localityLbSetting", "'distribute' and 'failover'")],
        [],
    ),
    (
        "locality-failover-priority",
        _tp(
            outlierDetection={},
            loadBalancer={
                "localityLbSetting": {
                    "failoverPriority": ["version", "topology.kubernetes.io/zone"]
                }
            },
        ),
        [],
        [],
    ),
    (
        "locality-failover-and-topology-priority",
        _tp(
            outlierDetection={},
            loadBalancer={
                "localityLbSetting": {
                    "failover": [{"from": "r1", "to": "r2"}],
                    "failoverPriority": ["topology.kubernetes.io/region"],
                }
            },
        ),
        [(f"{TP}.loadBalancer.localityLbSetting.failoverPriority[0]", "topology label")],
        [],
    ),
    ("locality-disabled", _tp(loadBalancer={"localityLbSetting": {"enabled": False}}), [], []),
    # ---- connection pool
    (
        "pool-everything",
        _tp(
            connectionPool={
                "tcp": {
                    "maxConnections": 1,
                    "connectTimeout": "250ms",
                    "tcpKeepalive": {"probes": 3, "time": "600s", "interval": "75s"},
                    "maxConnectionDuration": "1h",
                    "idleTimeout": "30s",
                },
                "http": {
                    "http1MaxPendingRequests": 1,
                    "http2MaxRequests": 10,
                    "maxRequestsPerConnection": 1,
                    "maxRetries": 3,
                    "idleTimeout": "15s",
                    "h2UpgradePolicy": "UPGRADE",
                    "maxConcurrentStreams": 10,
                },
            }
        ),
        [],
        [],
    ),
    ("pool-tcp-idle-timeout-off", _tp(connectionPool={"tcp": {"idleTimeout": "0s"}}), [], []),
    (
        "pool-http-idle-timeout-zero",
        _tp(connectionPool={"http": {"idleTimeout": "0s"}}),
        [(f"{TP}.connectionPool.http.idleTimeout", "greater than 1ms")],
        [],
    ),
    (
        "pool-negative",
        _tp(
            connectionPool={
                "tcp": {"maxConnections": -1},
                "http": {
                    "http1MaxPendingRequests": -1,
                    "http2MaxRequests": -1,
                    "maxRequestsPerConnection": -1,
                    "maxRetries": -1,
                    "maxConcurrentStreams": -1,
                },
            }
        ),
        [
            (f"{TP}.connectionPool.tcp.maxConnections", "non-negative"),
            (f"{TP}.connectionPool.http.http1MaxPendingRequests", "non-negative"),
            (f"{TP}.connectionPool.http.http2MaxRequests", "non-negative"),
            (f"{TP}.connectionPool.http.maxRequestsPerConnection", "non-negative"),
            (f"{TP}.connectionPool.http.maxRetries", "non-negative"),
            (f"{TP}.connectionPool.http.maxConcurrentStreams", "non-negative"),
        ],
        [],
    ),
    (
        "pool-bad-durations",
        _tp(
            connectionPool={
                "tcp": {
                    "connectTimeout": "0.5ms",
                    "maxConnectionDuration": "1.0005s",
                    "tcpKeepalive": {"time": "soon", "interval": "0s"},
                }
            }
        ),
        [
            (f"{TP}.connectionPool.tcp.connectTimeout", "greater than 1ms"),
            (f"{TP}.connectionPool.tcp.maxConnectionDuration", "ms precision"),
            (f"{TP}.connectionPool.tcp.tcpKeepalive.time", ""),
            (f"{TP}.connectionPool.tcp.tcpKeepalive.interval", "greater than 1ms"),
        ],
        [],
    ),
    (
        "pool-upgrade-and-client-protocol",
        _tp(connectionPool={"http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}}),
        [(f"{TP}.connectionPool.http.useClientProtocol", "must not be true")],
        [],
    ),
    (
        "pool-empty",
        _tp(connectionPool={}),
        [(f"{TP}.connectionPool", "at least one field")],
        [],
    ),
    # ---- outlier detection
    (
        "outlier-everything",
        _tp(
            outlierDetection={
                "consecutive5xxErrors": 1,
                "consecutiveGatewayErrors": 2,
                "splitExternalLocalOriginErrors": True,
                "consecutiveLocalOriginFailures": 3,
                "interval": "1s",
                "baseEjectionTime": "3m",
                "maxEjectionPercent": 100,
                "minHealthPercent": 25,
            }
        ),
        [],
        [],
    ),
    ("outlier-empty", _tp(outlierDetection={}), [], []),
    (
        "outlier-deprecated-consecutive-errors",
        _tp(outlierDetection={"consecutiveErrors": 5}),
        [],
        [(f"{TP}.outlierDetection.consecutiveErrors", "deprecated")],
    ),
    (
        "outlier-local-origin-without-split",
        _tp(outlierDetection={"consecutiveLocalOriginFailures": 3}),
        [(f"{TP}.outlierDetection.consecutiveLocalOriginFailures", "split external")],
        [],
    ),
    (
        "outlier-bad-values",
        _tp(
            outlierDetection={
                "interval": "0s",
                "baseEjectionTime": "1us",
                "maxEjectionPercent": 101,
                "minHealthPercent": -1,
            }
        ),
        [
            (f"{TP}.outlierDetection.interval", "greater than 1ms"),
            (f"{TP}.outlierDetection.baseEjectionTime", ""),
            (f"{TP}.outlierDetection.maxEjectionPercent", ""),
            (f"{TP}.outlierDetection.minHealthPercent", ""),
        ],
        [],
    ),
    # ---- TLS
    ("tls-disable", _tp(tls={"mode": "DISABLE"}), [], []),
    ("tls-istio-mutual", _tp(tls={"mode": "ISTIO_MUTUAL", "sni": "a.example.com"}), [], []),
    (
        "tls-simple",
        _tp(
            tls={
                "mode": "SIMPLE",
                "sni": "a.example.com",
                "subjectAltNames": ["a.example.com"],
                "caCertificates": "/etc/certs/ca.pem",
                "caCrl": "/etc/certs/ca.crl",
            }
        ),
        [],
        [],
    ),
    ("tls-simple-skip-verify", _tp(tls={"mode": "SIMPLE", "insecureSkipVerify": True}), [], []),
    (
        "tls-skip-verify-with-ca",
        _tp(tls={"mode": "SIMPLE", "insecureSkipVerify": True, "caCertificates": "/ca.pem"}),
        [(f"{TP}.tls", "InsecureSkipVerify")],
        [],
    ),
    (
        "tls-mutual",
        _tp(
            tls={
                "mode": "MUTUAL",
                "clientCertificate": "/etc/certs/client.pem",
                "privateKey": "/etc/certs/key.pem",
            }
        ),
        [],
        [],
    ),
    (
        "tls-mutual-without-files",
        _tp(tls={"mode": "MUTUAL"}),
        [
            (f"{TP}.tls.clientCertificate", "client certificate required"),
            (f"{TP}.tls.privateKey", "private key required"),
        ],
        [],
    ),
    ("tls-credential-name", _tp(tls={"mode": "MUTUAL", "credentialName": "client"}), [], []),
    (
        "tls-credential-name-and-files",
        _tp(tls={"mode": "SIMPLE", "credentialName": "c", "caCertificates": "/ca.pem"}),
        [(f"{TP}.tls", "credentialName is set")],
        [],
    ),
    # ---- proxy protocol, port-level settings, subsets
    ("proxy-protocol", _tp(proxyProtocol={"version": "V2"}), [], []),
    (
        "port-level",
        _tp(
            portLevelSettings=[
                {"port": {"number": 9080}, "loadBalancer": {"simple": "RANDOM"}},
                {"port": {"number": 9081}, "outlierDetection": {"maxEjectionPercent": 200}},
            ]
        ),
        [(f"{TP}.portLevelSettings[1].outlierDetection.maxEjectionPercent", "")],
        [],
    ),
    (
        "port-level-without-port-or-fields",
        _tp(portLevelSettings=[{"loadBalancer": {"simple": "RANDOM"}}, {"port": {"number": 1}}]),
        [
            (f"{TP}.portLevelSettings[0].port", "must have valid port"),
            (f"{TP}.portLevelSettings[1]", "at least one field"),
        ],
        [],
    ),
    (
        "subset-policy",
        {
            "host": "reviews",
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"version": "v1"},
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": -2}}},
                }
            ],
        },
        [("spec.subsets[0].trafficPolicy.connectionPool.tcp.maxConnections", "non-negative")],
        [],
    ),
    ("empty-policy", _tp(), [(TP, "at least one field")], []),
    # ---- exportTo and workloadSelector
    (
        "selector-exported-elsewhere",
        {
            "host": "reviews",
            "workloadSelector": {"matchLabels": {"app": "a"}},
            "exportTo": ["other"],
        },
        [("spec.exportTo", "workload selector cannot have exportTo beyond")],
        [],
    ),
    (
        "selector-local",
        {"host": "reviews", "workloadSelector": {"matchLabels": {"app": "a"}}, "exportTo": ["."]},
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    ("spec", "errors", "warnings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_destination_rule_field(spec: dict[str, Any], errors: Diag, warnings: Diag) -> None:
    ctx = _run(spec)
    got_errors = [(d.path, d.message) for d in ctx.errors]
    got_warnings = [(d.path, d.message) for d in ctx.diagnostics if d not in ctx.errors]
    if not errors:
        assert got_errors == []
    for path, sub in errors:
        assert any(p == path and sub in m for p, m in got_errors), (path, sub, got_errors)
    if not warnings:
        assert got_warnings == []
    for path, sub in warnings:
        assert any(p == path and sub in m for p, m in got_warnings), (path, sub, got_warnings)


@pytest.mark.parametrize(
    "policy",
    [
        {"loadBalancer": {"simple": "FASTEST"}},
        {"tls": {"mode": "SOMETIMES"}},
        {"connectionPool": {"http": {"h2UpgradePolicy": "MAYBE"}}},
        {"proxyProtocol": {"version": "V3"}},
        {"outlierDetection": {"consecutive5xxErrors": -1}},
        {"loadBalancer": {"consistentHash": {"maglev": {"tableSize": -7}}}},
        {"connectionPool": {"tcp": {"maxConnection": 1}}},
    ],
    ids=[
        "lb",
        "tls-mode",
        "h2-upgrade",
        "proxy-protocol",
        "negative-uint",
        "negative-table",
        "unknown-field",
    ],
)
def test_model_rejects(policy: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        _run(_tp(**policy))
