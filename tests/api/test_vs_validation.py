"""VirtualService validation, field by field (Istio's pkg/config/validation rules): each row is
a spec, the field path of the expected error (or warning), and a piece of its message; rows
without a path must validate cleanly."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from lateen.api import load_yaml

ROUTE = [{"destination": {"host": "reviews"}}]


def _vs(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "vs", "namespace": "default"},
            "spec": {"hosts": ["reviews"], **spec},
        }
    )


def _http(**kw: Any) -> dict[str, Any]:
    return {"http": [{"route": ROUTE, **kw}]}


CASES: list[tuple[str, dict[str, Any], str | None, str]] = [
    # ---- fault
    (
        "fault-delay-ok",
        _http(fault={"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}),
        None,
        "",
    ),
    (
        "fault-abort-ok",
        _http(fault={"abort": {"httpStatus": 500, "percentage": {"value": 0.1}}}),
        None,
        "",
    ),
    ("fault-grpc-ok", _http(fault={"abort": {"grpcStatus": "UNAVAILABLE"}}), None, ""),
    ("fault-empty", _http(fault={}), "spec.http[0].fault", "abort and/or a delay"),
    (
        "fault-abort-status",
        _http(fault={"abort": {"httpStatus": 99}}),
        "spec.http[0].fault.abort.httpStatus",
        "not in range 200-599",
    ),
    (
        "fault-abort-grpc-unknown",
        _http(fault={"abort": {"grpcStatus": "NOPE"}}),
        "spec.http[0].fault.abort.grpcStatus",
        "is not supported",
    ),
    (
        "fault-abort-http2",
        _http(fault={"abort": {"http2Error": "x"}}),
        "spec.http[0].fault.abort.http2Error",
        "not supported yet",
    ),
    (
        "fault-abort-percentage",
        _http(fault={"abort": {"httpStatus": 500, "percentage": {"value": 101}}}),
        "spec.http[0].fault.abort.percentage.value",
        "",
    ),
    (
        "fault-delay-percent",
        _http(fault={"delay": {"fixedDelay": "1s", "percent": 101}}),
        "spec.http[0].fault.delay.percent",
        "",
    ),
    (
        "fault-delay-duration",
        _http(fault={"delay": {"fixedDelay": "soon"}}),
        "spec.http[0].fault.delay.fixedDelay",
        "",
    ),
    (
        "fault-exponential",
        _http(fault={"delay": {"exponentialDelay": "1s"}}),
        "spec.http[0].fault.delay.exponentialDelay",
        "not supported yet",
    ),
    # ---- mirrors
    (
        "mirror-ok",
        _http(mirror={"host": "reviews", "subset": "v2"}, mirrorPercentage={"value": 50}),
        None,
        "",
    ),
    (
        "mirror-percentage-over",
        _http(mirror={"host": "reviews"}, mirrorPercentage={"value": 150}),
        "spec.http[0].mirrorPercentage.value",
        "max value of 100",
    ),
    (
        "mirror-percent-over",
        _http(mirror={"host": "reviews"}, mirrorPercent=101),
        "spec.http[0].mirrorPercent",
        "max value of 100",
    ),
    (
        "mirror-and-mirrors",
        _http(mirror={"host": "a"}, mirrors=[{"destination": {"host": "b"}}]),
        "spec.http[0]",
        "both mirror and mirrors",
    ),
    (
        "mirrors-no-destination",
        _http(mirrors=[{"percentage": {"value": 5}}]),
        "spec.http[0].mirrors[0].destination",
        "required",
    ),
    (
        "mirrors-percentage",
        _http(mirrors=[{"destination": {"host": "b"}, "percentage": {"value": -1}}]),
        "spec.http[0].mirrors[0].percentage.value",
        "min value of 0",
    ),
    ("mirror-bad-host", _http(mirror={"host": "*"}), "spec.http[0].mirror.host", "invalid destination host"),
    # ---- CORS
    (
        "cors-ok",
        _http(
            corsPolicy={
                "allowOrigins": [{"exact": "https://a.example.com"}],
                "allowMethods": ["GET"],
                "maxAge": "24h",
            }
        ),
        None,
        "",
    ),
    (
        "cors-empty-origin",
        _http(corsPolicy={"allowOrigins": [{"exact": ""}]}),
        "spec.http[0].corsPolicy.allowOrigins[0]",
        "not a valid match type",
    ),
    (
        "cors-bad-regex",
        _http(corsPolicy={"allowOrigins": [{"regex": "(?=a)"}]}),
        "spec.http[0].corsPolicy.allowOrigins[0].regex",
        "",
    ),
    (
        "cors-method",
        _http(corsPolicy={"allowMethods": ["FETCH"]}),
        "spec.http[0].corsPolicy.allowMethods[0]",
        "not a supported HTTP method",
    ),
    (
        "cors-header",
        _http(corsPolicy={"allowHeaders": ["bad header"]}),
        "spec.http[0].corsPolicy.allowHeaders[0]",
        "",
    ),
    (
        "cors-max-age-fraction",
        _http(corsPolicy={"maxAge": "1.5s"}),
        "spec.http[0].corsPolicy.maxAge",
        "seconds precision",
    ),
    # ---- retries, timeout
    (
        "retries-ok",
        _http(retries={"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,503,cancelled"}),
        None,
        "",
    ),
    (
        "retries-negative",
        _http(retries={"attempts": -1}),
        "spec.http[0].retries.attempts",
        "cannot be negative",
    ),
    (
        "retries-zero-with-policy",
        _http(retries={"attempts": 0, "retryOn": "5xx"}),
        "spec.http[0].retries",
        "attempts are set to 0",
    ),
    (
        "retries-retry-on",
        _http(retries={"attempts": 1, "retryOn": "5xx,999,sometimes"}),
        "spec.http[0].retries.retryOn",
        "'999' is not a valid retryOn policy",
    ),
    (
        "retries-per-try",
        _http(retries={"attempts": 1, "perTryTimeout": "0.1ms"}),
        "spec.http[0].retries.perTryTimeout",
        "",
    ),
    (
        "retries-backoff",
        _http(retries={"attempts": 1, "backoff": "x"}),
        "spec.http[0].retries.backoff",
        "",
    ),
    ("timeout", _http(timeout="never"), "spec.http[0].timeout", ""),
    # ---- matches
    (
        "match-all-fields-ok",
        _http(
            match=[
                {
                    "name": "m",
                    "uri": {"prefix": "/a"},
                    "scheme": {"exact": "http"},
                    "method": {"exact": "GET"},
                    "authority": {"regex": "a.*"},
                    "headers": {"x": {"exact": "1"}},
                    "withoutHeaders": {"y": {"regex": "*"}},
                    "queryParams": {"q": {"prefix": "a"}},
                    "port": 9080,
                    "sourceLabels": {"app": "a"},
                    "sourceNamespace": "default",
                    "gateways": ["mesh"],
                    "ignoreUriCase": True,
                    "statPrefix": "s",
                }
            ]
        ),
        None,
        "",
    ),
    (
        "match-string-oneof",
        _http(match=[{"uri": {"exact": "/a", "prefix": "/a"}}]),
        "spec.http[0].match[0].uri",
        "only one of",
    ),
    (
        "match-empty-prefix-header",
        _http(match=[{"headers": {"x": {"prefix": ""}}}]),
        "spec.http[0].match[0].headers.x.prefix",
        "should not be empty",
    ),
    (
        "match-header-name",
        _http(match=[{"headers": {"bad header": {"exact": "1"}}}]),
        "spec.http[0].match[0].headers.bad header",
        "",
    ),
    (
        "match-header-star-is-regex",
        _http(match=[{"headers": {"x": {"regex": "*"}}}]),
        "spec.http[0].match[0].headers.x.regex",
        "",
    ),
    (
        "match-query-regex",
        _http(match=[{"queryParams": {"q": {"regex": "(?!a)"}}}]),
        "spec.http[0].match[0].queryParams.q.regex",
        "",
    ),
    ("match-port", _http(match=[{"port": 70000}]), "spec.http[0].match[0].port", ""),
    (
        "match-source-labels",
        _http(match=[{"sourceLabels": {"bad key!": "a"}}]),
        "spec.http[0].match[0].sourceLabels.bad key!",
        "invalid tag key",
    ),
    (
        "match-source-namespace",
        _http(match=[{"sourceNamespace": "Bad_NS"}]),
        "spec.http[0].match[0].sourceNamespace",
        "is invalid",
    ),
    (
        "match-gateway",
        _http(match=[{"gateways": ["ns/"]}]),
        "spec.http[0].match[0].gateways[0]",
        "",
    ),
    (
        "match-jwt-claim-on-mesh",
        _http(match=[{"headers": {"@request.auth.claims.sub": {"exact": "a"}}}]),
        "spec.http[0].match[0].headers.@request.auth.claims.sub",
        "only supported for gateway",
    ),
    (
        "match-jwt-claim-on-gateway",
        {
            "gateways": ["gw"],
            "http": [
                {
                    "match": [{"headers": {"@request.auth.claims.sub": {"exact": "a"}}}],
                    "route": ROUTE,
                }
            ],
        },
        None,
        "",
    ),
    # ---- headers
    (
        "headers-ok",
        _http(
            headers={
                "request": {
                    "set": {"x": "1", ":authority": "a"},
                    "add": {"y": "%REQ(x)%"},
                    "remove": ["z"],
                },
                "response": {"set": {"r": "1"}},
            }
        ),
        None,
        "",
    ),
    (
        "headers-request-pseudo",
        _http(headers={"request": {"set": {":path": "/x"}}}),
        "spec.http[0].headers.request.set.:path",
        "cannot have",
    ),
    (
        "headers-request-remove-host",
        _http(headers={"request": {"remove": ["host"]}}),
        "spec.http[0].headers.request.remove[0]",
        "cannot set Host",
    ),
    (
        "headers-response-host",
        _http(headers={"response": {"set": {"host": "a"}}}),
        "spec.http[0].headers.response.set.host",
        "cannot set Host",
    ),
    (
        "headers-bad-variable",
        _http(headers={"request": {"set": {"x": "%NOPE"}}}),
        "spec.http[0].headers.request.set.x",
        "unterminated",
    ),
    (
        "headers-destination",
        {
            "http": [
                {
                    "route": [
                        {
                            "destination": {"host": "a"},
                            "headers": {"request": {"set": {":method": "GET"}}},
                        }
                    ]
                }
            ]
        },
        "spec.http[0].route[0].headers.request.set.:method",
        "",
    ),
    (
        "headers-authority-twice",
        _http(rewrite={"authority": "a"}, headers={"request": {"set": {"host": "b"}}}),
        "spec.http[0].headers.request.set.host",
        "cannot be set multiple times",
    ),
    # ---- redirect, rewrite, direct response, destinations
    (
        "redirect-ok",
        {
            "http": [
                {"redirect": {"uri": "/a", "redirectCode": 308, "derivePort": "FROM_REQUEST_PORT"}}
            ]
        },
        None,
        "",
    ),
    (
        "redirect-empty",
        {"http": [{"redirect": {"redirectCode": 301}}]},
        "spec.http[0].redirect",
        "must specify",
    ),
    (
        "redirect-code",
        {"http": [{"redirect": {"uri": "/a", "redirectCode": 200}}]},
        "spec.http[0].redirect.redirectCode",
        "must be 3xx",
    ),
    (
        "redirect-port-and-derive",
        {"http": [{"redirect": {"uri": "/a", "port": 1, "derivePort": "FROM_REQUEST_PORT"}}]},
        "spec.http[0].redirect",
        "only one of",
    ),
    (
        "redirect-scheme",
        {"http": [{"redirect": {"scheme": "ftp"}}]},
        "spec.http[0].redirect.scheme",
        "must be",
    ),
    (
        "redirect-and-route",
        {"http": [{"redirect": {"uri": "/a"}, "route": ROUTE}]},
        "spec.http[0]",
        "both route and redirect",
    ),
    (
        "redirect-and-fault",
        {"http": [{"redirect": {"uri": "/a"}, "fault": {"abort": {"httpStatus": 500}}}]},
        "spec.http[0]",
        "both fault and redirect",
    ),
    ("rewrite-empty", _http(rewrite={}), "spec.http[0].rewrite", "at least one of"),
    (
        "rewrite-uri-and-regex",
        _http(rewrite={"uri": "/a", "uriRegexRewrite": {"match": "a", "rewrite": "b"}}),
        "spec.http[0].rewrite",
        "only contain one of",
    ),
    (
        "rewrite-regex-half",
        _http(rewrite={"uriRegexRewrite": {"match": "a"}}),
        "spec.http[0].rewrite.uriRegexRewrite",
        "requires both",
    ),
    (
        "direct-ok",
        {"http": [{"directResponse": {"status": 418, "body": {"string": "teapot"}}}]},
        None,
        "",
    ),
    (
        "direct-status",
        {"http": [{"directResponse": {"status": 99}}]},
        "spec.http[0].directResponse.status",
        "not in range",
    ),
    (
        "direct-body-both",
        {"http": [{"directResponse": {"status": 200, "body": {"string": "a", "bytes": "YQ=="}}}]},
        "spec.http[0].directResponse.body",
        "only one of",
    ),
    (
        "direct-and-route",
        {"http": [{"directResponse": {"status": 200}, "route": ROUTE}]},
        "spec.http[0]",
        "both route and direct_response",
    ),
    ("nothing-to-do", {"http": [{"timeout": "1s"}]}, "spec.http[0].route", "required"),
    (
        "weight-negative",
        {"http": [{"route": [{"destination": {"host": "a"}, "weight": -1}]}]},
        "spec.http[0].route[0].weight",
        "",
    ),
    (
        "weights-zero",
        {"http": [{"route": [{"destination": {"host": "a"}}, {"destination": {"host": "b"}}]}]},
        "spec.http[0].route",
        "total destination weight = 0",
    ),
    (
        "destination-subset",
        {"http": [{"route": [{"destination": {"host": "a", "subset": "Bad_Subset"}}]}]},
        "spec.http[0].route[0].destination.subset",
        "subset name is invalid",
    ),
    # ---- delegate
    (
        "delegate-root-ok",
        {
            "http": [
                {
                    "match": [{"uri": {"prefix": "/a"}}],
                    "delegate": {"name": "d", "namespace": "other"},
                }
            ]
        },
        None,
        "",
    ),
    (
        "delegate-root-with-route",
        {"http": [{"delegate": {"name": "d"}, "route": ROUTE}]},
        "spec.http[0].route",
        "must not specify route",
    ),
    (
        "delegate-root-regex",
        {"http": [{"match": [{"uri": {"regex": "/a.*"}}], "delegate": {"name": "d"}}]},
        "spec.http[0].match[0].uri",
        "does not support regex",
    ),
    (
        "delegate-name",
        {"http": [{"delegate": {"name": ""}}]},
        "spec.http[0].delegate.name",
        "required",
    ),
    (
        "delegate-namespace",
        {"http": [{"delegate": {"name": "d", "namespace": "Bad_NS"}}]},
        "spec.http[0].delegate.namespace",
        "",
    ),
    (
        "delegate-vs-gateways",
        {"hosts": [], "gateways": ["gw"], "http": [{"route": ROUTE}]},
        "spec.gateways",
        "no gateways",
    ),
    (
        "delegate-vs-nested",
        {"hosts": [], "http": [{"delegate": {"name": "d"}}]},
        "spec.http[0].delegate",
        "cannot contain delegate",
    ),
    # ---- tcp, tls, exportTo, gateways, hosts
    (
        "tcp-ok",
        {
            "tcp": [
                {
                    "match": [
                        {
                            "port": 9000,
                            "destinationSubnets": ["198.18.0.0/16"],
                            "sourceLabels": {"app": "a"},
                        }
                    ],
                    "route": [
                        {"destination": {"host": "a"}, "weight": 80},
                        {"destination": {"host": "b"}, "weight": 20},
                    ],
                }
            ]
        },
        None,
        "",
    ),
    (
        "tcp-subnet",
        {"tcp": [{"match": [{"destinationSubnets": ["nope"]}], "route": ROUTE}]},
        "spec.tcp[0].match[0].destinationSubnets[0]",
        "",
    ),
    (
        "tcp-source-subnet",
        {"tcp": [{"match": [{"sourceSubnet": "198.18.0.0/99"}], "route": ROUTE}]},
        "spec.tcp[0].match[0].sourceSubnet",
        "",
    ),
    (
        "tcp-no-route",
        {"tcp": [{"match": [{"port": 1}]}]},
        "spec.tcp[0].route",
        "TCP route is required",
    ),
    (
        "tls-ok",
        {
            "hosts": ["*.example.com"],
            "tls": [{"match": [{"sniHosts": ["a.example.com"], "port": 443}], "route": ROUTE}],
        },
        None,
        "",
    ),
    ("tls-no-match", {"tls": [{"route": ROUTE}]}, "spec.tls[0].match", "at least one match"),
    (
        "tls-no-sni",
        {"tls": [{"match": [{"port": 443}], "route": ROUTE}]},
        "spec.tls[0].match[0].sniHosts",
        "at least one SNI host",
    ),
    (
        "tls-sni-not-subset",
        {
            "hosts": ["a.example.com"],
            "tls": [{"match": [{"sniHosts": ["b.example.com"]}], "route": ROUTE}],
        },
        "spec.tls[0].match[0].sniHosts[0]",
        "not a compatible subset",
    ),
    ("export-to-ok", {**_http(), "exportTo": [".", "other"]}, None, ""),
    ("export-to-bad", {**_http(), "exportTo": ["Bad_NS"]}, "spec.exportTo[0]", "exportto entry"),
    ("gateways-bad", {**_http(), "gateways": ["a/b/c"]}, "spec.gateways[0]", ""),
    ("mesh-wildcard-host", {"hosts": ["*"], **_http()}, "spec.hosts[0]", "not allowed"),
    ("nothing", {}, "spec", "http, tcp or tls must be provided"),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_virtual_service_validation(spec: dict[str, Any], path: str | None, message: str) -> None:
    result = load_yaml(_vs(spec))
    found = [(e.path, e.message.lower()) for e in result.errors]
    if path is None:
        assert result.ok, found
        assert [o.kind for o in result.objects] == ["VirtualService"]
        return
    assert any(p == path and message.lower() in m for p, m in found), (path, message, found)


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"http": [{"route": ROUTE}, {"route": ROUTE}]}, "spec.http[1]", "only the last rule"),
        (
            {"http": [{"match": [{"uri": {"prefix": "/a"}}], "route": ROUTE}] * 2},
            "spec.http[1].match[0]",
            "duplicate/overlapping match",
        ),
        (_http(mirror={"host": "a"}, mirrorPercent=5), "spec.http[0].mirrorPercent", "deprecated"),
    ],
    ids=["second-catch-all", "duplicate-match", "mirror-percent-deprecated"],
)
def test_warnings_keep_the_object(spec: dict[str, Any], path: str, message: str) -> None:
    result = load_yaml(_vs(spec))
    assert result.ok and [o.kind for o in result.objects] == ["VirtualService"]
    found = [(w.path, w.message.lower()) for w in result.warnings]
    assert any(p == path and message.lower() in m for p, m in found), found
