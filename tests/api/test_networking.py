"""Table tests for the networking models and their validation."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from lateen.api import IstioModel, ValidationContext
from lateen.api import networking as net
from lateen.api._net_checks import (
    fqdn,
    host_matches,
    host_subset_of,
    ip_subnet,
    namespace_slash_hostname,
    parse_protocol,
    regex_error,
    wildcard_domain,
)
from lateen.api.kinds import ISTIO_KINDS

# --------------------------------------------------------------------------- models


def test_kind_table_resolves_every_networking_kind() -> None:
    for info in ISTIO_KINDS:
        if info.group != "networking.istio.io":
            continue
        assert info.model().__name__ == info.kind
        assert callable(info.validator())


@pytest.mark.parametrize(
    ("model", "data", "attr_path", "want"),
    [
        (net.OutlierDetection, {"consecutive5xxErrors": 3}, ("consecutive_5xx_errors",), 3),
        (
            net.HTTPSettings,
            {"http1MaxPendingRequests": 1},
            ("http1_max_pending_requests",),
            1,
        ),
        (
            net.LocalityLoadBalancerSettingDistribute,
            {"from": "r/z/*", "to": {"r/z/*": 100}},
            ("from_",),
            "r/z/*",
        ),
        (net.ClientTLSSettings, {"mode": 2}, ("mode",), "MUTUAL"),
        (net.ServiceEntry, {"resolution": "DNS"}, ("resolution",), "DNS"),
        (net.ServiceEntry, {}, ("location",), "MESH_EXTERNAL"),
        (
            net.HTTPMatchRequest,
            {"ignoreUriCase": True, "withoutHeaders": {"x": {}}},
            ("ignore_uri_case",),
            True,
        ),
        (net.HTTPRoute, {"mirrorPercentage": {"value": 5}}, ("mirror_percentage", "value"), 5.0),
        (net.Destination, {"host": "a", "port": {"number": 80}}, ("port", "number"), 80),
        (net.Patch, {"operation": "MERGE", "value": {"a": [1]}}, ("value",), {"a": [1]}),
        (
            net.DestinationRule,
            {"workloadSelector": {"matchLabels": {"a": "b"}}},
            ("workload_selector", "match_labels"),
            {"a": "b"},
        ),
        (
            net.Sidecar,
            {"workloadSelector": {"labels": {"a": "b"}}},
            ("workload_selector", "labels"),
            {"a": "b"},
        ),
        (
            net.WorkloadGroup,
            {"probe": {"exec": {"command": ["x"]}}},
            ("probe", "exec", "command"),
            ["x"],
        ),
        (
            net.ProxyConfig,
            {"concurrency": 2, "image": {"imageType": "debug"}},
            ("image", "image_type"),
            "debug",
        ),
    ],
    ids=[
        "consecutive5xxErrors",
        "http1MaxPendingRequests",
        "from-keyword",
        "enum-by-number",
        "enum-by-name",
        "enum-default",
        "ignoreUriCase",
        "percent",
        "port-selector",
        "struct-value",
        "dr-matchLabels",
        "sidecar-labels",
        "probe-exec",
        "proxyconfig-image",
    ],
)
def test_model_fields(
    model: type[IstioModel], data: dict[str, Any], attr_path: tuple[str, ...], want: Any
) -> None:
    obj: Any = model.model_validate(data)
    for a in attr_path:
        obj = getattr(obj, a)
    assert obj == want


def test_to_dict_round_trips_camel_case() -> None:
    data = {
        "hosts": ["reviews"],
        "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 100}]}],
        "exportTo": ["."],
    }
    assert net.VirtualService.model_validate(data).to_dict() == data
    od = {"consecutive5xxErrors": 1, "interval": "1s"}
    assert net.OutlierDetection.model_validate(od).to_dict() == od


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (net.VirtualService, {"host": ["a"]}),
        (net.ServiceEntry, {"resolution": "ROUND_ROBIN"}),
        (net.HTTPRouteDestination, {"weight": "heavy"}),
        (net.ServicePort, {"number": -1}),
        (net.Gateway, {"servers": [{"port": {"number": 80, "nam": "x"}}]}),
    ],
    ids=["unknown-field", "bad-enum", "bad-int", "negative-uint32", "nested-unknown"],
)
def test_model_rejects(model: type[IstioModel], data: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        model.model_validate(data)


def test_models_are_frozen() -> None:
    vs = net.VirtualService(hosts=["a"])
    with pytest.raises(pydantic.ValidationError):
        vs.hosts = ["b"]  # type: ignore[misc]


# --------------------------------------------------------------------------- field checks


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("reviews", True),
        ("reviews.default.svc.cluster.local", True),
        ("*.example.com", True),
        ("*", True),
        ("istio.io.", True),
        ("Reviews.Example.COM", True),
        ("*foo.example.com", True),
        ("foo.*.example.com", False),
        ("foo_bar.com", False),
        ("", False),
        ("1.2.3.4", False),
        ("a" * 64 + ".com", False),
        ("x." * 130 + "com", False),
    ],
    ids=lambda v: str(v)[:20],
)
def test_wildcard_domain(host: str, ok: bool) -> None:
    assert (wildcard_domain(host) is None) is ok


@pytest.mark.parametrize(
    ("host", "ok"),
    [("foo.bar.com", True), ("*.bar.com", False), ("bar", True), ("198.18.0.1", False)],
    ids=["fqdn", "wildcard", "short", "ip"],
)
def test_fqdn(host: str, ok: bool) -> None:
    assert (fqdn(host) is None) is ok


@pytest.mark.parametrize(
    ("host", "gateway", "errors"),
    [
        ("ns1/foo.example.com", False, 0),
        ("*/*", False, 0),
        ("./*", False, 0),
        ("~/*", False, 0),
        ("istio-system/*", True, 0),
        ("*.example.com", True, 0),
        ("*", True, 0),
        ("198.18.0.1", True, 0),
        ("~/*", True, 1),
        ("foo.example.com", False, 1),
        ("ns1/foo", False, 1),
        ("Bad_NS/foo.com", False, 1),
        ("/foo.com", False, 2),
        ("ns/foo*.com", True, 2),
    ],
    ids=lambda v: str(v),
)
def test_namespace_slash_hostname(host: str, gateway: bool, errors: int) -> None:
    assert len(namespace_slash_hostname(host, gateway)) == errors


@pytest.mark.parametrize(
    ("a", "b", "matches", "subset"),
    [
        ("foo.com", "foo.com", True, True),
        ("*.foo.com", "bar.foo.com", True, False),
        ("bar.foo.com", "*.foo.com", True, True),
        ("*.foo.com", "*.com", True, True),
        ("*.com", "*.foo.com", True, False),
        ("foo.com", "bar.com", False, False),
    ],
    ids=["equal", "wild-first", "wild-second", "wild-both", "wild-both-rev", "different"],
)
def test_host_relations(a: str, b: str, matches: bool, subset: bool) -> None:
    assert host_matches(a, b) is matches
    assert host_subset_of(a, b) is subset


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("^/api/v[0-9]+/.*$", True),
        ("(?i)foo", True),
        ("(?P<name>a+)", True),
        ("\\pL+", True),
        ("(foo", False),
        ("(?=foo)bar", False),
        ("(a)\\1", False),
        ("a++", False),
        ("x" * 1025, False),
    ],
    ids=[
        "plain",
        "flags",
        "named-group",
        "unicode-class",
        "unbalanced",
        "lookahead",
        "backref",
        "possessive",
        "too-long",
    ],
)
def test_regex(expr: str, ok: bool) -> None:
    assert (regex_error(expr) is None) is ok


@pytest.mark.parametrize(
    ("subnet", "ok"),
    [
        ("198.18.0.0/15", True),
        ("198.18.0.0/15", True),
        ("2001:db8::/32", True),
        ("1.2.3.4", True),
        ("198.18.0.0/33", False),
        ("a/b/c", False),
    ],
    ids=["cidr", "host-bits", "v6", "ip", "bad-prefix", "garbage"],
)
def test_ip_subnet(subnet: str, ok: bool) -> None:
    assert (ip_subnet(subnet) is None) is ok


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("http", "HTTP"),
        ("GRPC-Web", "GRPC-Web"),
        ("grpc-web", "GRPC-Web"),
        ("Mongo", "Mongo"),
        ("tls", "TLS"),
        ("", "Unsupported"),
        ("smtp", "Unsupported"),
    ],
    ids=lambda v: str(v) or "empty",
)
def test_parse_protocol(name: str, want: str) -> None:
    assert parse_protocol(name) == want


# --------------------------------------------------------------------------- validators


def _run(kind: str, spec: dict[str, Any], namespace: str = "default") -> ValidationContext:
    info = next(i for i in ISTIO_KINDS if i.kind == kind)
    model = info.model().model_validate(spec)
    ctx = ValidationContext(namespace=namespace)
    validator = info.validator()
    assert validator is not None
    validator(model, ctx)
    return ctx


def _route(host: str = "reviews", **extra: Any) -> dict[str, Any]:
    return {"route": [{"destination": {"host": host}}], **extra}


CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str]], list[tuple[str, str]]]] = [
    # (id, kind, spec, expected errors (path, substring), expected warnings)
    ("vs-ok", "VirtualService", {"hosts": ["reviews"], "http": [_route()]}, [], []),
    (
        "vs-every-error-reported",
        "VirtualService",
        {
            "hosts": ["reviews", "bad_host"],
            "http": [
                {"route": [{"destination": {"host": "*"}, "weight": -1}], "timeout": "0s"},
                {"redirect": {"scheme": "ftp"}, "directResponse": {"status": 200}},
            ],
        },
        [
            ("spec.hosts[1]", "invalid"),
            ("spec.http[0].route[0].destination.host", "invalid destination host *"),
            ("spec.http[0].route[0].weight", "< 0"),
            ("spec.http[0].timeout", "greater than 1ms"),
            ("spec.http[1]", "both direct_response and redirect"),
            ("spec.http[1].redirect.scheme", "invalid redirect scheme"),
        ],
        [],
    ),
    (
        "vs-weights-may-exceed-100",
        "VirtualService",
        {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}, "weight": 200}]}]},
        [],
        [],
    ),
    (
        "vs-gateway-host-star-ok",
        "VirtualService",
        {"hosts": ["*"], "gateways": ["istio-system/gw"], "http": [_route()]},
        [],
        [],
    ),
    (
        "vs-mesh-and-gateway-star-rejected",
        "VirtualService",
        {"hosts": ["*"], "gateways": ["gw", "mesh"], "http": [_route()]},
        [("spec.hosts[0]", "mesh gateway")],
        [],
    ),
    (
        "vs-duplicate-hosts",
        "VirtualService",
        {"hosts": ["*.foo.com", "a.foo.com"], "http": [_route()]},
        [("spec.hosts[0]", "duplicate hosts in virtual service: *.foo.com & a.foo.com")],
        [],
    ),
    (
        "vs-legacy-gateway-name-warns",
        "VirtualService",
        {"hosts": ["a.com"], "gateways": ["gw.istio-system"], "http": [_route()]},
        [],
        [("spec.gateways[0]", "prefer the <namespace>/<name> format: 'istio-system/gw'")],
    ),
    (
        "vs-jwt-claim-needs-gateway",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [
                {"match": [{"headers": {"@request.auth.claims.group": {"exact": "x"}}}], **_route()}
            ],
        },
        [
            (
                "spec.http[0].match[0].headers.@request.auth.claims.group",
                "only supported for gateway",
            )
        ],
        [],
    ),
    (
        "vs-unreachable-rules",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [
                {"match": [{"uri": {"prefix": "/a"}}], **_route()},
                {"match": [{"name": "dup", "uri": {"prefix": "/a"}}], **_route()},
                _route(),
                _route(),
            ],
        },
        [],
        [
            ("spec.http[1].match[0]", "is not used (duplicate/overlapping match in rule #0)"),
            ("spec.http[1]", "all matches used by prior rules"),
            ("spec.http[3]", "only the last rule can have no matches"),
        ],
    ),
    (
        "vs-retries-with-zero-attempts",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(retries={"attempts": 0, "perTryTimeout": "1s"})]},
        [("spec.http[0].retries", "attempts are set to 0")],
        [],
    ),
    (
        "vs-retry-on-status-codes",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [_route(retries={"attempts": 2, "retryOn": "503,retriable-4xx,cancelled"})],
        },
        [],
        [],
    ),
    (
        "vs-fault-needs-abort-or-delay",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(fault={})]},
        [("spec.http[0].fault", "must have an abort and/or a delay")],
        [],
    ),
    (
        "vs-fault-grpc-status",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(fault={"abort": {"grpcStatus": "NOPE"}})]},
        [("spec.http[0].fault.abort.grpcStatus", "is not supported")],
        [],
    ),
    (
        "vs-abort-without-type-warns",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(fault={"abort": {"percentage": {"value": 1}}})]},
        [],
        [("spec.http[0].fault.abort", "error type not set")],
    ),
    (
        "vs-rewrite-uri-and-regex",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [
                _route(rewrite={"uri": "/x", "uriRegexRewrite": {"match": "a", "rewrite": "b"}})
            ],
        },
        [("spec.http[0].rewrite", "only contain one of URI or UriRegexRewrite")],
        [],
    ),
    (
        "vs-authority-rewritten-twice",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [
                _route(
                    rewrite={"authority": "x"}, headers={"request": {"set": {":authority": "y"}}}
                )
            ],
        },
        [("spec.http[0].headers.request.set.:authority", "cannot be set multiple times")],
        [],
    ),
    (
        "vs-bad-header-value",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(headers={"request": {"add": {"x": "100%"}}})]},
        [("spec.http[0].headers.request.add.x", "header value configuration")],
        [],
    ),
    (
        "vs-cors",
        "VirtualService",
        {
            "hosts": ["a"],
            "http": [
                _route(
                    corsPolicy={
                        "allowOrigins": [{"exact": ""}],
                        "allowMethods": ["FETCH"],
                        "maxAge": "1.5s",
                    }
                )
            ],
        },
        [
            ("spec.http[0].corsPolicy.allowOrigins[0]", "not a valid match type"),
            ("spec.http[0].corsPolicy.allowMethods[0]", "not a supported HTTP method"),
            ("spec.http[0].corsPolicy.maxAge", "seconds precision"),
        ],
        [],
    ),
    (
        "vs-root-route-with-route",
        "VirtualService",
        {"hosts": ["a"], "http": [{"delegate": {"name": "d", "namespace": "ns"}, **_route()}]},
        [("spec.http[0].route", "root HTTP route  must not specify route")],
        [],
    ),
    (
        "vs-delegate-regex",
        "VirtualService",
        {"http": [{"match": [{"uri": {"regex": "/a.*"}}], **_route()}]},
        [("spec.http[0].match[0].uri", "does not support regex match for delegating")],
        [],
    ),
    (
        "vs-tls-route-needs-match-and-route",
        "VirtualService",
        {"hosts": ["a.com"], "tls": [{}]},
        [
            ("spec.tls[0].match", "at least one match condition"),
            ("spec.tls[0].route", "TLS route is required"),
        ],
        [],
    ),
    (
        "vs-tcp-bad-subnet",
        "VirtualService",
        {
            "hosts": ["a"],
            "tcp": [
                {"match": [{"destinationSubnets": ["198.18.0.0/40"], "port": 70000}], **_route()}
            ],
        },
        [
            ("spec.tcp[0].match[0].destinationSubnets[0]", "not a valid CIDR"),
            ("spec.tcp[0].match[0].port", "1..65535"),
        ],
        [],
    ),
    (
        "vs-export-to",
        "VirtualService",
        {"hosts": ["a"], "http": [_route()], "exportTo": ["default", ".", "*", "bad_ns"]},
        [
            ("spec.exportTo[1]", "duplicate entries in exportTo: . and current namespace default"),
            ("spec.exportTo[3]", "valid DNS 1123 label"),
            ("spec.exportTo", "both public (*) and non-public"),
        ],
        [],
    ),
    (
        "vs-mirror-percent-deprecated",
        "VirtualService",
        {"hosts": ["a"], "http": [_route(mirror={"host": "b"}, mirrorPercent=150)]},
        [("spec.http[0].mirrorPercent", "max value of 100")],
        [("spec.http[0].mirrorPercent", "deprecated")],
    ),
    (
        "dr-ok",
        "DestinationRule",
        {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]},
        [],
        [],
    ),
    (
        "dr-tls-credential-with-certs",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "tls": {"mode": "SIMPLE", "credentialName": "c", "caCertificates": "/ca"}
            },
        },
        [("spec.trafficPolicy.tls", "If credentialName is set")],
        [],
    ),
    (
        "dr-mutual-with-credential-ok",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"tls": {"mode": "MUTUAL", "credentialName": "c"}}},
        [],
        [],
    ),
    (
        "dr-insecure-skip-verify",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "tls": {"mode": "SIMPLE", "insecureSkipVerify": True, "subjectAltNames": ["x"]}
            },
        },
        [("spec.trafficPolicy.tls", "InsecureSkipVerify")],
        [],
    ),
    (
        "dr-durations",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "connectionPool": {
                    "tcp": {"connectTimeout": "0.5ms"},
                    "http": {"idleTimeout": "1.0001s"},
                }
            },
        },
        [
            ("spec.trafficPolicy.connectionPool.tcp.connectTimeout", "greater than 1ms"),
            ("spec.trafficPolicy.connectionPool.http.idleTimeout", "ms precision"),
        ],
        [],
    ),
    (
        "dr-h2-upgrade-with-client-protocol",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "connectionPool": {
                    "http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}
                }
            },
        },
        [("spec.trafficPolicy.connectionPool.http.useClientProtocol", "must not be true")],
        [],
    ),
    (
        "dr-empty-connection-pool",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"connectionPool": {}}},
        [("spec.trafficPolicy.connectionPool", "at least one field")],
        [],
    ),
    (
        "dr-outlier-local-origin",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "outlierDetection": {"consecutiveLocalOriginFailures": 3, "consecutiveErrors": 2}
            },
        },
        [
            (
                "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
                "split external local origin errors is set to false",
            )
        ],
        [("spec.trafficPolicy.outlierDetection.consecutiveErrors", "deprecated")],
    ),
    (
        "dr-failover-without-outlier-warns",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "loadBalancer": {"localityLbSetting": {"failover": [{"from": "r1", "to": "r1"}]}}
            },
        },
        [("spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]", "different regions")],
        [
            (
                "spec.trafficPolicy.loadBalancer.localityLbSetting",
                "outlier detection policy must be provided",
            )
        ],
    ),
    (
        "dr-distribute-and-failover",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "loadBalancer": {
                    "localityLbSetting": {
                        "distribute": [{"from": "r1/*", "to": {"r1/*": 100}}],
                        "failover": [{"from": "r1", "to": "r2"}],
                    }
                }
            },
        },
        [
            (
                "spec.trafficPolicy.loadBalancer.localityLbSetting",
                "can not simultaneously specify 'distribute' and 'failover'",
            )
        ],
        [],
    ),
    (
        "dr-locality-overlap",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "loadBalancer": {
                    "localityLbSetting": {
                        "distribute": [
                            {"from": "r1/*", "to": {"r1/*": 100}},
                            {"from": "r1/z1/*", "to": {"r1/*": 100}},
                        ]
                    }
                }
            },
        },
        [
            (
                "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute",
                "overlap with previous specified ones",
            )
        ],
        [],
    ),
    (
        "dr-port-level-needs-port",
        "DestinationRule",
        {"host": "a", "trafficPolicy": {"portLevelSettings": [{"tls": {"mode": "ISTIO_MUTUAL"}}]}},
        [("spec.trafficPolicy.portLevelSettings[0].port", "must have valid port")],
        [],
    ),
    (
        "dr-tunnel-and-proxy-protocol",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "tunnel": {"targetHost": "x.com", "targetPort": 1},
                "proxyProtocol": {},
            },
        },
        [("spec.trafficPolicy", "tunnel and proxyProtocol must not be set together")],
        [],
    ),
    (
        "dr-bad-tunnel",
        "DestinationRule",
        {
            "host": "a",
            "trafficPolicy": {
                "tunnel": {"protocol": "GET", "targetHost": "bad host", "targetPort": 0}
            },
        },
        [
            ("spec.trafficPolicy.tunnel.protocol", "CONNECT"),
            ("spec.trafficPolicy.tunnel.targetHost", "valid FQDN or IP"),
            ("spec.trafficPolicy.tunnel.targetPort", "tunnel target port is invalid"),
        ],
        [],
    ),
    (
        "dr-selector-export-beyond-namespace",
        "DestinationRule",
        {"host": "a", "workloadSelector": {"matchLabels": {"app": "x"}}, "exportTo": ["other"]},
        [("spec.exportTo", "cannot have exportTo beyond current namespace")],
        [],
    ),
    (
        "dr-empty-selector-warns",
        "DestinationRule",
        {"host": "a", "workloadSelector": {}},
        [],
        [("spec.workloadSelector", "without labels")],
    ),
    (
        "gw-ok-http-redirect",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": ["a.com"],
                    "tls": {"httpsRedirect": True},
                }
            ]
        },
        [],
        [],
    ),
    (
        "gw-tls-on-tcp-port",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 31400, "name": "tcp", "protocol": "TCP"},
                    "hosts": ["*"],
                    "tls": {"mode": "SIMPLE", "credentialName": "c"},
                }
            ]
        },
        [("spec.servers[0].tls", "non HTTPS/TLS ports")],
        [],
    ),
    (
        "gw-certs-on-http-port",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": ["*"],
                    "tls": {"mode": "SIMPLE", "credentialName": "c"},
                }
            ]
        },
        [("spec.servers[0].tls", "plain text HTTP ports")],
        [],
    ),
    (
        "gw-mutual-needs-ca",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": ["*"],
                    "tls": {"mode": "MUTUAL", "serverCertificate": "/c", "privateKey": "/k"},
                }
            ]
        },
        [("spec.servers[0].tls.caCertificates", "client CA bundle")],
        [],
    ),
    (
        "gw-crl-with-simple",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": ["*"],
                    "tls": {
                        "mode": "SIMPLE",
                        "serverCertificate": "/c",
                        "privateKey": "/k",
                        "caCrl": "/crl",
                    },
                }
            ]
        },
        [("spec.servers[0].tls.caCrl", "not supported with SIMPLE TLS")],
        [],
    ),
    (
        "gw-passthrough-with-certs-warns",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 443, "name": "tls", "protocol": "TLS"},
                    "hosts": ["*"],
                    "tls": {"mode": "PASSTHROUGH", "credentialName": "c"},
                }
            ]
        },
        [],
        [("spec.servers[0].tls", "does not use certificates")],
    ),
    (
        "gw-old-tls-without-ciphers-warns",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": ["*"],
                    "tls": {
                        "mode": "SIMPLE",
                        "credentialName": "c",
                        "minProtocolVersion": "TLSV1_0",
                        "cipherSuites": [],
                    },
                }
            ]
        },
        [],
        [("spec.servers[0].tls.minProtocolVersion", "below TLSV1_2")],
    ),
    (
        "gw-bad-bind-and-target-port",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080},
                    "hosts": ["*"],
                    "bind": "not-an-ip",
                }
            ]
        },
        [
            ("spec.servers[0].port.targetPort", "no impact on Gateways"),
            ("spec.servers[0].bind", "not a valid IP"),
        ],
        [],
    ),
    (
        "gw-uds-bind",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 0, "name": "uds", "protocol": "HTTP"},
                    "hosts": ["*"],
                    "bind": "unix:///var/run/gw.sock",
                }
            ]
        },
        [],
        [],
    ),
    (
        "gw-short-host",
        "Gateway",
        {
            "servers": [
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": ["ns/reviews"],
                }
            ]
        },
        [("spec.servers[0].hosts[0]", "short names (non FQDN) are not allowed")],
        [],
    ),
    (
        "se-ok",
        "ServiceEntry",
        {
            "hosts": ["a.com"],
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
            "resolution": "DNS",
        },
        [],
        [],
    ),
    (
        "se-tcp-without-addresses-warns",
        "ServiceEntry",
        {
            "hosts": ["db.example.com"],
            "ports": [{"number": 5432, "name": "pg", "protocol": "TCP"}],
            "resolution": "NONE",
        },
        [],
        [("spec.ports[0]", "addresses are required for ports serving TCP")],
    ),
    (
        "se-dns-wildcard-without-endpoints",
        "ServiceEntry",
        {
            "hosts": ["*.example.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS",
        },
        [("spec.hosts[0]", "hosts must be FQDN if no endpoints are provided")],
        [],
    ),
    (
        "se-dns-round-robin-endpoints",
        "ServiceEntry",
        {
            "hosts": ["a.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS_ROUND_ROBIN",
            "endpoints": [{"address": "a1.com"}, {"address": "a2.com"}],
        },
        [("spec.endpoints", "0 or 1 endpoint")],
        [],
    ),
    (
        "se-target-port-with-none-warns",
        "ServiceEntry",
        {
            "hosts": ["a.com"],
            "addresses": ["198.18.0.1"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080}],
        },
        [],
        [("spec.ports[0].targetPort", "no effect when resolution mode is NONE")],
    ),
    (
        "se-export-to-none-ok",
        "ServiceEntry",
        {
            "hosts": ["a.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS",
            "exportTo": ["~"],
        },
        [],
        [],
    ),
    (
        "se-export-to-none-and-someone",
        "ServiceEntry",
        {
            "hosts": ["a.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS",
            "exportTo": ["~", "ns1"],
        },
        [("spec.exportTo", "cannot export service entry to no one (~) and someone")],
        [],
    ),
    (
        "se-partial-wildcard-warns",
        "ServiceEntry",
        {"hosts": ["*foo.com"], "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]},
        [],
        [("spec.hosts[0]", "partial wildcard")],
    ),
    (
        "se-unix-endpoint-needs-one-port",
        "ServiceEntry",
        {
            "hosts": ["a.local"],
            "ports": [
                {"number": 80, "name": "http", "protocol": "HTTP"},
                {"number": 81, "name": "http2", "protocol": "HTTP"},
            ],
            "resolution": "STATIC",
            "endpoints": [{"address": "unix:///s.sock"}],
        },
        [("spec.endpoints[0]", "exactly 1 service port required for unix endpoints")],
        [],
    ),
    ("sc-ok", "Sidecar", {"egress": [{"hosts": ["./*", "istio-system/*"]}]}, [], []),
    (
        "sc-duplicate-egress-host-warns",
        "Sidecar",
        {"egress": [{"hosts": ["ns1/*", "ns1/a.com"]}]},
        [],
        [("spec.egress[0].hosts[1]", "duplicated egress host: ns1/a.com")],
    ),
    (
        "sc-star-star-with-others-warns",
        "Sidecar",
        {"egress": [{"hosts": ["*/*", "ns1/a.com"]}]},
        [],
        [("spec.egress[0].hosts", "`*/*` host select all resources")],
    ),
    (
        "sc-two-catch-all",
        "Sidecar",
        {"egress": [{"hosts": ["./*"]}, {"hosts": ["./*"]}]},
        [("spec.egress[0].port", "should be the last listener")],
        [],
    ),
    (
        "sc-uds-egress",
        "Sidecar",
        {
            "egress": [
                {
                    "port": {"number": 0, "protocol": "HTTP", "name": "uds"},
                    "bind": "127.0.0.1",
                    "captureMode": "IPTABLES",
                    "hosts": ["./*"],
                }
            ]
        },
        [
            ("spec.egress[0].bind", "unix domain socket bind address"),
            ("spec.egress[0].captureMode", "DEFAULT/NONE"),
        ],
        [],
    ),
    (
        "sc-ingress-tls-rules",
        "Sidecar",
        {
            "ingress": [
                {
                    "port": {"number": 8443, "protocol": "HTTPS", "name": "https"},
                    "tls": {
                        "mode": "ISTIO_MUTUAL",
                        "httpsRedirect": True,
                        "subjectAltNames": ["a"],
                    },
                }
            ]
        },
        [
            ("spec.ingress[0].tls.mode", "cannot set mode to ISTIO_MUTUAL"),
            ("spec.ingress[0].tls.httpsRedirect", "not supported"),
            ("spec.ingress[0].tls.subjectAltNames", "not supported in ingress tls"),
        ],
        [],
    ),
    (
        "sc-http-pool-on-tcp-port-warns",
        "Sidecar",
        {
            "ingress": [
                {
                    "port": {"number": 3306, "protocol": "TCP", "name": "tcp"},
                    "connectionPool": {"http": {"maxRetries": 1}},
                }
            ]
        },
        [],
        [("spec.ingress[0].connectionPool.http", "only TCP settings will apply")],
    ),
    (
        "sc-egress-proxy-ok",
        "Sidecar",
        {
            "outboundTrafficPolicy": {
                "mode": "ALLOW_ANY",
                "egressProxy": {"host": "egress.example.com", "port": {"number": 443}},
            }
        },
        [],
        [],
    ),
    (
        "sc-egress-proxy-without-port",
        "Sidecar",
        {
            "outboundTrafficPolicy": {
                "mode": "ALLOW_ANY",
                "egressProxy": {"host": "egress.example.com"},
            }
        },
        [("spec.outboundTrafficPolicy.egressProxy.port", "must be non-nil")],
        [],
    ),
    (
        "sc-empty-selector-warns",
        "Sidecar",
        {"workloadSelector": {}, "egress": [{"hosts": ["./*"]}]},
        [],
        [("spec.workloadSelector", "will be applied to all services in namespace")],
    ),
    ("we-ok", "WorkloadEntry", {"address": "2.2.2.2", "ports": {"http": 8080}}, [], []),
    (
        "we-network-only-warns",
        "WorkloadEntry",
        {"network": "vpc1"},
        [],
        [("spec.address", "address is unset with network")],
    ),
    (
        "we-bad-port-name-and-label",
        "WorkloadEntry",
        {"address": "vm.example.com", "ports": {"Bad_Name": 80}, "labels": {"bad key!": "v"}},
        [("spec.ports.Bad_Name", "invalid port name"), ("spec.labels.bad key!", "invalid tag key")],
        [],
    ),
    (
        "wg-ok",
        "WorkloadGroup",
        {"template": {"serviceAccount": "sa"}, "probe": {"grpc": {"port": 9000}}},
        [],
        [],
    ),
    (
        "wg-probe-without-method",
        "WorkloadGroup",
        {"template": {}, "probe": {"periodSeconds": 3}},
        [("spec.probe", "health check method")],
        [],
    ),
    (
        "wg-bad-metadata-label",
        "WorkloadGroup",
        {"template": {}, "metadata": {"labels": {"app": "has space"}}},
        [("spec.metadata.labels.app", "invalid tag value")],
        [],
    ),
    (
        "ef-always-warns",
        "EnvoyFilter",
        {"configPatches": [{"applyTo": "CLUSTER", "patch": {"operation": "REMOVE"}}]},
        [],
        [("spec", "EnvoyFilter exposes internal implementation details")],
    ),
    (
        "ef-subfilter-needs-hcm",
        "EnvoyFilter",
        {
            "configPatches": [
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {
                        "listener": {
                            "filterChain": {
                                "filter": {
                                    "name": "envoy.filters.network.tcp_proxy",
                                    "subFilter": {"name": "x"},
                                }
                            }
                        }
                    },
                    "patch": {"operation": "REMOVE"},
                }
            ]
        },
        [
            (
                "spec.configPatches[0].match.listener.filterChain.filter.subFilter",
                "requires filter match with envoy.filters.network.http_connection_manager",
            )
        ],
        [],
    ),
    (
        "ef-filter-match-without-name",
        "EnvoyFilter",
        {
            "configPatches": [
                {
                    "applyTo": "NETWORK_FILTER",
                    "match": {"listener": {"filterChain": {"filter": {}}}},
                    "patch": {"operation": "REMOVE"},
                }
            ]
        },
        [("spec.configPatches[0].match.listener.filterChain.filter.name", "no name to match on")],
        [],
    ),
    (
        "ef-deprecated-filter-name-warns",
        "EnvoyFilter",
        {
            "configPatches": [
                {
                    "applyTo": "NETWORK_FILTER",
                    "match": {
                        "listener": {
                            "filterChain": {"filter": {"name": "envoy.http_connection_manager"}}
                        }
                    },
                    "patch": {"operation": "REMOVE"},
                }
            ]
        },
        [],
        [
            (
                "spec.configPatches[0].match.listener.filterChain.filter.name",
                "deprecated filter name",
            )
        ],
    ),
    (
        "ef-cluster-applyto-listener-match",
        "EnvoyFilter",
        {
            "configPatches": [
                {
                    "applyTo": "CLUSTER",
                    "match": {"listener": {"portNumber": 80}},
                    "patch": {"operation": "REMOVE"},
                }
            ]
        },
        [("spec.configPatches[0].match", "cannot have non cluster match")],
        [],
    ),
    (
        "ef-selector-and-target-refs",
        "EnvoyFilter",
        {
            "workloadSelector": {"labels": {"a": "b"}},
            "targetRefs": [{"kind": "Pod", "name": ""}],
            "configPatches": [],
        },
        [
            ("spec", "only one of targetRefs or workloadSelector"),
            ("spec.targetRefs[0].name", "must be set"),
            ("spec.targetRefs[0]", "targetRef must be to one of"),
        ],
        [],
    ),
    ("pc-ok", "ProxyConfig", {"concurrency": 0, "selector": {"matchLabels": {"app": "x"}}}, [], []),
    (
        "pc-empty-selector-warns",
        "ProxyConfig",
        {"selector": {}},
        [],
        [("spec.selector", "without labels")],
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "errors", "warnings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validator(
    kind: str,
    spec: dict[str, Any],
    errors: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
) -> None:
    ctx = _run(kind, spec)
    got_errors = [(d.path, d.message) for d in ctx.errors]
    got_warnings = [(d.path, d.message) for d in ctx.diagnostics if d not in ctx.errors]
    if not errors:
        assert got_errors == []
    for path, sub in errors:
        assert any(p == path and sub in m for p, m in got_errors), (path, sub, got_errors)
    for path, sub in warnings:
        assert any(p == path and sub in m for p, m in got_warnings), (path, sub, got_warnings)
    for p, _m in got_errors + got_warnings:
        assert p == "spec" or p.startswith("spec.")


def test_sidecar_dot_namespace_is_the_object_namespace() -> None:
    ctx = _run("Sidecar", {"egress": [{"hosts": ["./*", "prod/a.com"]}]}, namespace="prod")
    assert [d.message for d in ctx.diagnostics] == ["duplicated egress host: prod/a.com"]
