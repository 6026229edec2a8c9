"""VirtualService translation, field by field, as Istio's pilot/pkg/networking/core/route does
it: retries, fault, CORS, headers, matches, redirects, delegation, gateway names, tcp/tls
routes, and the HTTP filters the routes need in every HTTP connection manager."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from lateen.api import load_yaml
from lateen.api.networking import CorsPolicy, Headers, HTTPFaultInjection, HTTPRetry, HTTPRoute
from lateen.model import MeshConfig, Proxy, ProxyType, build_push_context
from lateen.testing.golden import message_to_data, resources_data
from lateen.xds import default_generators, names
from lateen.xds.route import (
    cors_policy,
    effective_http_routes,
    fault_config,
    header_operations,
    is_catch_all,
    jwt_claim_path,
    resolve_gateway_name,
    retry_policy,
    route_match,
    virtual_service_routes,
)
from lateen.xds.route._delegate import merge_http_route

DEFAULT_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


def _sub(data: dict[str, Any], want: dict[str, Any]) -> None:
    """Every key of ``want`` is in ``data`` with that value (absent keys: ``None`` in want)."""
    for k, v in want.items():
        assert data.get(k) == v, (k, data.get(k), v)


# ---------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    ("retries", "want"),
    [
        (None, {"num_retries": 2, "retry_on": DEFAULT_ON, "retriable_status_codes": [503]}),
        ({"attempts": 0}, None),
        (
            {"attempts": 3},
            {"num_retries": 3, "retry_on": DEFAULT_ON, "retriable_status_codes": [503]},
        ),
        (
            {"attempts": 3, "retryOn": "5xx,connect-failure"},
            {"retry_on": "5xx,connect-failure", "retriable_status_codes": None},
        ),
        (
            {"attempts": 3, "retryOn": "503,gateway-error,418"},
            {
                "retry_on": "gateway-error,retriable-status-codes",
                "retriable_status_codes": [503, 418],
            },
        ),
        (
            {"attempts": 1, "retryOn": "retriable-status-codes,500"},
            {"retry_on": "retriable-status-codes", "retriable_status_codes": [500]},
        ),
        (
            {"attempts": 2, "retryOn": "cancelled,deadline-exceeded,internal,unavailable"},
            {"retry_on": "cancelled,deadline-exceeded,internal,unavailable"},
        ),
        ({"attempts": 2, "perTryTimeout": "1.5s"}, {"per_try_timeout": "1.500s"}),
        ({"attempts": 2, "backoff": "100ms"}, {"retry_back_off": {"base_interval": "0.100s"}}),
        ({"attempts": 2, "retryIgnorePreviousHosts": False}, {"retry_host_predicate": None}),
        (
            {"attempts": 2, "retryRemoteLocalities": True},
            {
                "retry_priority": {
                    "name": "envoy.retry_priorities.previous_priorities",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.retry.priority."
                        "previous_priorities.v3.PreviousPrioritiesConfig",
                        "update_frequency": 2,
                    },
                }
            },
        ),
        ({"attempts": 2, "retryRemoteLocalities": False}, {"retry_priority": None}),
    ],
    ids=[
        "unset-default",
        "attempts-0-none",
        "attempts",
        "retry-on-no-codes",
        "retry-on-codes-adds-condition",
        "retry-on-condition-already-there",
        "grpc-conditions",
        "per-try-timeout",
        "backoff",
        "ignore-previous-hosts-false",
        "remote-localities",
        "remote-localities-false",
    ],
)
def test_retry_policy(retries: dict[str, Any] | None, want: dict[str, Any] | None) -> None:
    model = HTTPRetry.model_validate(retries) if retries is not None else None
    policy = retry_policy(model)
    if want is None:
        assert policy is None
        return
    assert policy is not None
    data = message_to_data(policy)
    assert data["host_selection_retry_max_attempts"] == "5"
    if "retry_host_predicate" not in want:
        assert data["retry_host_predicate"][0]["name"] == (
            "envoy.retry_host_predicates.previous_hosts"
        )
    _sub(data, want)


# ---------------------------------------------------------------------------- fault


MILLION = "MILLION"


@pytest.mark.parametrize(
    ("fault", "want"),
    [
        (
            {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}},
            {
                "delay": {
                    "fixed_delay": "7s",
                    "percentage": {"numerator": 1000000, "denominator": MILLION},
                }
            },
        ),
        (
            {"delay": {"fixedDelay": "2s", "percent": 50}},
            {"delay": {"fixed_delay": "2s", "percentage": {"numerator": 50}}},
        ),
        ({"delay": {"fixedDelay": "2s"}}, {"delay": {"fixed_delay": "2s", "percentage": {}}}),
        (
            {"abort": {"httpStatus": 500, "percentage": {"value": 0.1}}},
            {
                "abort": {
                    "http_status": 500,
                    "percentage": {"numerator": 1000, "denominator": MILLION},
                }
            },
        ),
        ({"abort": {"httpStatus": 503}}, {"abort": {"http_status": 503}}),
        (
            {"abort": {"grpcStatus": "NOT_FOUND", "percentage": {"value": 100}}},
            {
                "abort": {
                    "grpc_status": 5,
                    "percentage": {"numerator": 1000000, "denominator": MILLION},
                }
            },
        ),
        (
            {"abort": {"grpcStatus": "OK"}, "delay": {"fixedDelay": "1s", "percent": 100}},
            {
                "abort": {"grpc_status": 0},
                "delay": {"fixed_delay": "1s", "percentage": {"numerator": 100}},
            },
        ),
    ],
    ids=[
        "delay-percentage",
        "delay-legacy-percent",
        "delay-no-percentage-none",
        "abort-fraction",
        "abort-no-percentage-none",
        "abort-grpc",
        "abort-grpc-ok-and-delay",
    ],
)
def test_fault_config(fault: dict[str, Any], want: dict[str, Any]) -> None:
    cfg = fault_config(HTTPFaultInjection.model_validate(fault))
    assert cfg is not None
    assert message_to_data(cfg) == want


def test_fault_config_without_a_supported_fault_is_none() -> None:
    assert (
        fault_config(HTTPFaultInjection.model_validate({"abort": {"percentage": {"value": 5}}}))
        is None
    )
    assert fault_config(HTTPFaultInjection.model_validate({"delay": {"percent": 5}})) is None


# ---------------------------------------------------------------------------- CORS


@pytest.mark.parametrize(
    ("cors", "want"),
    [
        (
            {"allowOrigins": [{"exact": "https://a.example.com"}, {"prefix": "https://b"}]},
            {
                "allow_origin_string_match": [
                    {"exact": "https://a.example.com"},
                    {"prefix": "https://b"},
                ],
                "forward_not_matching_preflights": True,
            },
        ),
        (
            {"allowOrigins": [{"regex": ".*\\.example\\.com"}], "unmatchedPreflights": "IGNORE"},
            {
                "allow_origin_string_match": [{"safe_regex": {"regex": ".*\\.example\\.com"}}],
                "forward_not_matching_preflights": False,
            },
        ),
        (
            {"allowOrigin": ["https://legacy.example.com"]},
            {"allow_origin_string_match": [{"exact": "https://legacy.example.com"}]},
        ),
        (
            {"allowMethods": ["GET", "POST"], "allowHeaders": ["a", "b"], "exposeHeaders": ["c"]},
            {"allow_methods": "GET,POST", "allow_headers": "a,b", "expose_headers": "c"},
        ),
        ({"maxAge": "90m"}, {"max_age": "5400"}),
        ({"allowCredentials": False}, {"allow_credentials": False}),
        ({"unmatchedPreflights": "FORWARD"}, {"forward_not_matching_preflights": True}),
    ],
    ids=[
        "origins-exact-prefix",
        "origins-regex-ignore-preflights",
        "deprecated-allow-origin",
        "lists-joined",
        "max-age-seconds",
        "credentials-false-kept",
        "forward-preflights",
    ],
)
def test_cors_policy(cors: dict[str, Any], want: dict[str, Any]) -> None:
    data = message_to_data(cors_policy(CorsPolicy.model_validate(cors)))
    assert data["filter_enabled"] == {"default_value": {"numerator": 100}}
    _sub(data, want)


# ---------------------------------------------------------------------------- headers


def _hvo(key: str, value: str, overwrite: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"header": {"key": key, "value": value}}
    if overwrite:
        out["append_action"] = "OVERWRITE_IF_EXISTS_OR_ADD"
    return out


@pytest.mark.parametrize(
    ("headers", "add", "remove", "resp_add", "resp_remove", "authority"),
    [
        (
            {"request": {"set": {"b": "2", "a": "1"}, "add": {"c": "3"}}},
            [_hvo("a", "1", True), _hvo("b", "2", True), _hvo("c", "3", False)],
            [],
            [],
            [],
            "",
        ),
        (
            {"request": {"set": {":authority": "x.example.com", "host": "y.example.com"}}},
            [],
            [],
            [],
            [],
            "y.example.com",
        ),
        (
            {"request": {"add": {"Host": "added.example.com"}, "remove": ["x-a", ":path"]}},
            [],
            ["x-a"],
            [],
            [],
            "added.example.com",
        ),
        (
            {"response": {"set": {"x-s": "1"}, "add": {"x-a": "2"}, "remove": ["server"]}},
            [],
            [],
            [_hvo("x-s", "1", True), _hvo("x-a", "2", False)],
            ["server"],
            "",
        ),
    ],
    ids=["set-before-add-sorted", "authority-from-set", "authority-from-add", "response"],
)
def test_header_operations(
    headers: dict[str, Any],
    add: list[Any],
    remove: list[str],
    resp_add: list[Any],
    resp_remove: list[str],
    authority: str,
) -> None:
    ops = header_operations(Headers.model_validate(headers))
    assert [message_to_data(h) for h in ops.request_add] == add
    assert ops.request_remove == remove
    assert [message_to_data(h) for h in ops.response_add] == resp_add
    assert ops.response_remove == resp_remove
    assert ops.authority == authority


# ---------------------------------------------------------------------------- matches


@pytest.mark.parametrize(
    ("name", "claims"),
    [
        ("@request.auth.claims.groups", ["groups"]),
        ("@request.auth.claims.a.b", ["a", "b"]),
        ("@request.auth.claims[a][b.c]", ["a", "b.c"]),
        ("@request.auth.claims", None),
        ("@request.auth.claims.", None),
        ("x-user", None),
    ],
    ids=["dot", "dot-nested", "brackets", "no-claim", "empty-claim", "header"],
)
def test_jwt_claim_path(name: str, claims: list[str] | None) -> None:
    assert jwt_claim_path(name) == claims


@pytest.mark.parametrize(
    ("match", "want"),
    [
        (
            {"withoutHeaders": {"x": {"regex": "*"}}},
            [{"name": "x", "present_match": True, "invert_match": True}],
        ),
        (
            {"withoutHeaders": {"x": {"exact": "1"}}},
            [
                {
                    "name": "x",
                    "string_match": {"exact": "1"},
                    "invert_match": True,
                    "treat_missing_header_as_empty": True,
                }
            ],
        ),
        (
            {"headers": {"b": {}, "a": {"prefix": "p"}}, "scheme": {"exact": "https"}},
            [
                {"name": "a", "string_match": {"prefix": "p"}},
                {"name": "b", "present_match": True},
                {"name": ":scheme", "string_match": {"exact": "https"}},
            ],
        ),
        (
            {"authority": {"exact": "a"}, "method": {"exact": "GET"}},
            [
                {"name": ":method", "string_match": {"exact": "GET"}},
                {"name": ":authority", "string_match": {"exact": "a"}},
            ],
        ),
    ],
    ids=["without-star-present", "without-missing-as-empty", "sorted-then-pseudo", "pseudo-order"],
)
def test_route_match_headers(match: dict[str, Any], want: list[dict[str, Any]]) -> None:
    from lateen.api.networking import HTTPMatchRequest

    data = message_to_data(route_match(HTTPMatchRequest.model_validate(match)))
    assert data["headers"] == want


def test_route_match_jwt_claims_are_dynamic_metadata() -> None:
    from lateen.api.networking import HTTPMatchRequest

    m = HTTPMatchRequest.model_validate(
        {"headers": {"@request.auth.claims.groups": {"exact": "dev"}, "x": {}}}
    )
    data = message_to_data(route_match(m))
    assert [h["name"] for h in data["headers"]] == ["x"]
    (dm,) = data["dynamic_metadata"]
    assert dm["filter"] == "envoy.filters.http.jwt_authn"
    assert dm["path"] == [{"key": "payload"}, {"key": "groups"}]
    one_of, plain = dm["value"]["or_match"]["value_matchers"]
    assert one_of == {"list_match": {"one_of": {"string_match": {"exact": "dev"}}}}
    assert plain == {"string_match": {"exact": "dev"}}


@pytest.mark.parametrize(
    ("match", "catch_all"),
    [
        (None, True),
        ({"uri": {"prefix": "/"}}, True),
        ({"uri": {"regex": ".*"}}, True),
        ({"uri": {"prefix": "/"}, "ignoreUriCase": True}, True),
        ({"uri": {"prefix": "/a"}}, False),
        ({"headers": {"x": {}}}, False),
        ({"queryParams": {"q": {}}}, False),
        ({"headers": {"@request.auth.claims.sub": {"exact": "a"}}}, False),
        ({"uri": {"exact": "/"}}, False),
    ],
    ids=[
        "no-match",
        "prefix-slash",
        "regex-any",
        "ignore-case",
        "prefix",
        "header",
        "query",
        "claim",
        "exact-slash",
    ],
)
def test_is_catch_all(match: dict[str, Any] | None, catch_all: bool) -> None:
    from envoy.config.route.v3 import route_components_pb2 as rc

    from lateen.api.networking import HTTPMatchRequest

    m = HTTPMatchRequest.model_validate(match) if match is not None else None
    assert is_catch_all(rc.Route(match=route_match(m))) is catch_all


@pytest.mark.parametrize(
    ("gateway", "namespace", "want"),
    [
        ("mesh", "default", "mesh"),
        ("gw", "default", "default/gw"),
        ("./gw", "default", "default/gw"),
        ("istio-system/gw", "default", "istio-system/gw"),
        ("gw.istio-system.svc.cluster.local", "default", "istio-system/gw"),
        ("gw.istio-system", "default", "istio-system/gw"),
    ],
    ids=["mesh", "short", "dot-slash", "ns-slash", "legacy-fqdn", "legacy-short"],
)
def test_resolve_gateway_name(gateway: str, namespace: str, want: str) -> None:
    assert resolve_gateway_name(gateway, namespace) == want


# ---------------------------------------------------------------------------- whole routes

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 198.18.60.1
  ports: [{name: http, port: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec:
  clusterIP: 198.18.60.2
  ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]
"""

SIDECAR = Proxy(
    ProxyType.SIDECAR,
    ("198.18.6.1",),
    "curl-1.default",
    "default.svc.cluster.local",
    "default",
    labels={"app": "curl"},
)
ROUTER = Proxy(
    ProxyType.ROUTER,
    ("198.18.6.2",),
    "gw-1.istio-system",
    "istio-system.svc.cluster.local",
    "istio-system",
    labels={"istio": "ingressgateway"},
)


def _routes(
    http: list[dict[str, Any]],
    *,
    proxy: Proxy = SIDECAR,
    gateway: str = "mesh",
    port: int = 8000,
    extra: str = "",
) -> list[dict[str, Any]]:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs", "namespace": "default"},
        "spec": {"hosts": ["httpbin"], "http": http},
    }
    text = SERVICES + "---\n" + yaml.safe_dump(vs) + ("---\n" + extra if extra else "")
    result = load_yaml(text)
    assert result.ok, [str(e) for e in result.errors]
    push = build_push_context(result.objects, MeshConfig())
    obj = next(o for o in result.objects if o.kind == "VirtualService" and o.name == "vs")
    return resources_data(virtual_service_routes(obj, proxy, push, port, gateway))


@pytest.mark.parametrize(
    ("redirect", "port", "want"),
    [
        ({"uri": "/new"}, 8000, {"path_redirect": "/new"}),
        (
            {"authority": "a.example.com", "redirectCode": 302},
            8000,
            {"host_redirect": "a.example.com", "path_redirect": "", "response_code": "FOUND"},
        ),
        (
            {"uri": "/x", "scheme": "https", "port": 443},
            8000,
            {"path_redirect": "/x", "scheme_redirect": "https"},
        ),
        ({"uri": "/x", "port": 80}, 8000, {"path_redirect": "/x"}),
        ({"uri": "/x", "port": 8443}, 8000, {"path_redirect": "/x", "port_redirect": 8443}),
        (
            {"uri": "/x", "derivePort": "FROM_REQUEST_PORT"},
            9090,
            {"path_redirect": "/x", "port_redirect": 9090},
        ),
        ({"uri": "/x", "derivePort": "FROM_PROTOCOL_DEFAULT"}, 9090, {"path_redirect": "/x"}),
        (
            {"uri": "/x", "redirectCode": 308},
            8000,
            {"path_redirect": "/x", "response_code": "PERMANENT_REDIRECT"},
        ),
    ],
    ids=[
        "uri-301",
        "authority-302",
        "https-443-dropped",
        "http-80-dropped",
        "port",
        "from-request-port",
        "from-protocol-default",
        "308",
    ],
)
def test_redirect(redirect: dict[str, Any], port: int, want: dict[str, Any]) -> None:
    (route,) = _routes([{"redirect": redirect}], port=port)
    assert route["redirect"] == want


def test_redirect_code_envoy_cannot_send_drops_the_route() -> None:
    routes = _routes(
        [
            {"match": [{"uri": {"prefix": "/a"}}], "redirect": {"uri": "/b", "redirectCode": 300}},
            {"route": _dest()},
        ]
    )
    assert [r.get("redirect") for r in routes] == [None]


def _dest(**kw: Any) -> list[dict[str, Any]]:
    return [{"destination": {"host": "httpbin", **kw}}]


def test_direct_response_bytes_are_decoded() -> None:
    (route,) = _routes([{"directResponse": {"status": 200, "body": {"bytes": "aGk="}}}])
    assert route["direct_response"] == {"status": 200, "body": {"inline_bytes": "aGk="}}


@pytest.mark.parametrize(
    ("rewrite", "match", "want"),
    [
        ({"uri": "/b"}, {"uri": {"prefix": "/a"}}, {"prefix_rewrite": "/b"}),
        ({"uri": "/b"}, {"uri": {"exact": "/a"}}, {"prefix_rewrite": "/b"}),
        ({"authority": "h.example.com"}, None, {"host_rewrite_literal": "h.example.com"}),
        (
            {"uriRegexRewrite": {"match": "^/a/(.*)", "rewrite": "/\\1"}},
            {"uri": {"prefix": "/a"}},
            {"regex_rewrite": {"pattern": {"regex": "^/a/(.*)"}, "substitution": "/\\1"}},
        ),
    ],
    ids=["prefix", "exact-also-prefix-rewrite", "authority", "regex"],
)
def test_rewrite(
    rewrite: dict[str, Any], match: dict[str, Any] | None, want: dict[str, Any]
) -> None:
    http: dict[str, Any] = {"rewrite": rewrite, "route": _dest()}
    if match is not None:
        http["match"] = [match]
    (route,) = _routes([http])
    _sub(route["route"], want)


def test_rewrite_authority_wins_over_header_authority() -> None:
    (route,) = _routes(
        [
            {
                "rewrite": {"authority": "rw.example.com"},
                "route": [
                    {
                        "destination": {"host": "httpbin"},
                        "headers": {"request": {"set": {"host": "dest.example.com"}}},
                    }
                ],
            }
        ]
    )
    assert route["route"]["host_rewrite_literal"] == "rw.example.com"


@pytest.mark.parametrize(
    ("dest", "port", "cluster"),
    [
        ({"host": "httpbin"}, 8000, "outbound|8000||httpbin.default.svc.cluster.local"),
        ({"host": "multi"}, 8080, "outbound|8080||multi.default.svc.cluster.local"),
        (
            {"host": "multi", "port": {"number": 80}},
            8080,
            "outbound|80||multi.default.svc.cluster.local",
        ),
        (
            {"host": "httpbin", "subset": "v1"},
            9999,
            "outbound|8000|v1|httpbin.default.svc.cluster.local",
        ),
        ({"host": "external.example.com"}, 8000, "outbound|8000||external.example.com"),
    ],
    ids=["only-port", "multi-port-listener-port", "explicit-port", "subset", "unknown-host"],
)
def test_destination_cluster(dest: dict[str, Any], port: int, cluster: str) -> None:
    (route,) = _routes([{"route": [{"destination": dest}]}], port=port)
    assert route["route"]["cluster"] == cluster


def test_weighted_clusters_keep_one_left_after_zero_weights() -> None:
    (route,) = _routes(
        [
            {
                "route": [
                    {"destination": {"host": "httpbin", "subset": "a"}, "weight": 100},
                    {"destination": {"host": "httpbin", "subset": "b"}, "weight": 0},
                ]
            }
        ]
    )
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "outbound|8000|a|httpbin.default.svc.cluster.local", "weight": 100}
    ]


@pytest.mark.parametrize(
    ("match", "proxy", "gateway", "applies"),
    [
        ({"port": 8000}, SIDECAR, "mesh", True),
        ({"port": 9000}, SIDECAR, "mesh", False),
        ({"sourceLabels": {"app": "curl"}}, SIDECAR, "mesh", True),
        ({"sourceLabels": {"app": "other"}}, SIDECAR, "mesh", False),
        ({"sourceLabels": {"app": "curl"}}, ROUTER, "default/gw", False),
        ({"sourceLabels": {"istio": "ingressgateway"}}, ROUTER, "default/gw", True),
        ({"sourceNamespace": "default"}, SIDECAR, "mesh", True),
        ({"sourceNamespace": "other"}, SIDECAR, "mesh", False),
        ({"gateways": ["mesh"]}, SIDECAR, "mesh", True),
        ({"gateways": ["gw"]}, SIDECAR, "mesh", False),
        ({"gateways": ["gw"]}, ROUTER, "default/gw", True),
        ({"gateways": ["default/gw"]}, ROUTER, "default/gw", True),
        ({"gateways": ["other/gw"]}, ROUTER, "default/gw", False),
        ({"gateways": ["gw"], "sourceLabels": {"app": "nobody"}}, ROUTER, "default/gw", True),
    ],
    ids=[
        "port",
        "other-port",
        "labels",
        "other-labels",
        "gateway-labels-other",
        "gateway-labels",
        "namespace",
        "other-namespace",
        "mesh",
        "gateway-on-sidecar",
        "gateway-short",
        "gateway-ns-name",
        "gateway-other-ns",
        "gateways-decide-alone",
    ],
)
def test_static_match_predicates(
    match: dict[str, Any], proxy: Proxy, gateway: str, applies: bool
) -> None:
    routes = _routes([{"match": [match], "route": _dest()}], proxy=proxy, gateway=gateway)
    assert bool(routes) is applies


def test_route_names_and_catch_all_cut() -> None:
    routes = _routes(
        [
            {"name": "r1", "match": [{"name": "m1", "uri": {"prefix": "/a"}}], "route": _dest()},
            {"match": [{"name": "m2", "uri": {"prefix": "/b"}}], "route": _dest()},
            {
                "name": "all",
                "match": [{"uri": {"prefix": "/"}}, {"uri": {"prefix": "/c"}}],
                "route": _dest(),
            },
            {"name": "never", "route": _dest()},
        ]
    )
    assert [r.get("name", "") for r in routes] == ["r1.m1", ".m2", "all"]


# ---------------------------------------------------------------------------- delegation


def _http(data: dict[str, Any]) -> HTTPRoute:
    return HTTPRoute.model_validate(data)


@pytest.mark.parametrize(
    ("root", "leaf", "want_matches"),
    [
        ({"match": [{"uri": {"prefix": "/a"}}]}, {}, [{"uri": {"prefix": "/a"}}]),
        ({}, {"match": [{"uri": {"prefix": "/b"}}]}, [{"uri": {"prefix": "/b"}}]),
        (
            {"match": [{"uri": {"prefix": "/a"}}]},
            {"match": [{"uri": {"prefix": "/a/b"}}]},
            [{"uri": {"prefix": "/a/b"}}],
        ),
        ({"match": [{"uri": {"prefix": "/a"}}]}, {"match": [{"uri": {"prefix": "/b"}}]}, None),
        (
            {"match": [{"uri": {"prefix": "/a"}}]},
            {"match": [{"uri": {"exact": "/a/x"}}]},
            [{"uri": {"exact": "/a/x"}}],
        ),
        ({"match": [{"uri": {"exact": "/a"}}]}, {"match": [{"uri": {"prefix": "/a"}}]}, None),
        (
            {"match": [{"uri": {"prefix": "/a"}, "headers": {"h": {"exact": "1"}}}]},
            {"match": [{"queryParams": {"q": {"exact": "2"}}}]},
            [
                {
                    "uri": {"prefix": "/a"},
                    "headers": {"h": {"exact": "1"}},
                    "queryParams": {"q": {"exact": "2"}},
                }
            ],
        ),
        (
            {"match": [{"headers": {"h": {"exact": "1"}}}]},
            {"match": [{"headers": {"h": {"exact": "2"}}}]},
            None,
        ),
        ({"match": [{"uri": {"regex": "/a.*"}}]}, {"match": [{"uri": {"prefix": "/a"}}]}, None),
        (
            {"match": [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}]},
            {"match": [{"uri": {"prefix": "/b/c"}}]},
            [{"uri": {"prefix": "/b/c"}}],
        ),
        (
            {"match": [{"name": "r", "port": 80, "sourceNamespace": "x"}]},
            {"match": [{"name": "l", "uri": {"prefix": "/"}, "sourceNamespace": "x"}]},
            [{"name": "r-l", "uri": {"prefix": "/"}, "port": 80, "sourceNamespace": "x"}],
        ),
        ({"match": [{"port": 80}]}, {"match": [{"port": 81}]}, None),
        ({"match": [{"sourceNamespace": "x"}]}, {"match": [{"uri": {"prefix": "/"}}]}, None),
        ({"match": [{"gateways": ["a"]}]}, {"match": [{"gateways": ["a", "b"]}]}, None),
    ],
    ids=[
        "root-only",
        "leaf-only",
        "leaf-narrower-prefix",
        "leaf-outside-prefix",
        "exact-inside-prefix",
        "prefix-inside-exact",
        "maps-merged",
        "header-conflict",
        "regex-conflicts",
        "one-root-match-enough",
        "names-port-namespace",
        "port-conflict",
        "source-namespace-must-repeat",
        "more-gateways-conflict",
    ],
)
def test_merge_http_route(
    root: dict[str, Any], leaf: dict[str, Any], want_matches: list[dict[str, Any]] | None
) -> None:
    merged = merge_http_route(_http({**root}), _http({**leaf}))
    if want_matches is None:
        assert merged is None
        return
    assert merged is not None
    got = [m.model_dump(by_alias=True, exclude_defaults=True) for m in merged.match]
    assert got == want_matches


def test_merge_http_route_inherits_unset_fields() -> None:
    root = _http(
        {
            "name": "root",
            "timeout": "3s",
            "retries": {"attempts": 1},
            "fault": {"abort": {"httpStatus": 500}},
            "corsPolicy": {"allowMethods": ["GET"]},
            "headers": {"request": {"set": {"a": "1"}}},
            "mirror": {"host": "m"},
            "mirrors": [],
        }
    )
    leaf = _http({"name": "leaf", "timeout": "1s", "route": _dest()})
    merged = merge_http_route(root, leaf)
    assert merged is not None
    assert merged.name == "root-leaf"
    assert merged.timeout == "1s"
    assert merged.retries == root.retries
    assert merged.fault == root.fault
    assert merged.cors_policy == root.cors_policy
    assert merged.headers == root.headers
    assert merged.mirror == root.mirror
    assert merged.delegate is None


DELEGATES = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: default}
spec:
  hosts: [httpbin]
  http:
  - match: [{uri: {prefix: /a}}]
    delegate: {name: same-ns}
  - match: [{uri: {prefix: /b}}]
    delegate: {name: other, namespace: other}
  - match: [{uri: {prefix: /c}}]
    delegate: {name: hidden, namespace: other}
  - match: [{uri: {prefix: /d}}]
    delegate: {name: has-hosts}
  - route: [{destination: {host: httpbin}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: same-ns, namespace: default}
spec:
  http:
  - name: a1
    route: [{destination: {host: httpbin, subset: a}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: other}
spec:
  exportTo: [default]
  http:
  - name: b1
    route: [{destination: {host: httpbin.default.svc.cluster.local, subset: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hidden, namespace: other}
spec:
  exportTo: ["."]
  http:
  - name: c1
    route: [{destination: {host: httpbin.default.svc.cluster.local, subset: c}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: has-hosts, namespace: default}
spec:
  hosts: [other-host]
  http:
  - name: d1
    route: [{destination: {host: httpbin}}]
"""


def test_effective_http_routes_resolves_delegates() -> None:
    result = load_yaml(SERVICES + "---\n" + DELEGATES)
    assert result.ok, [str(e) for e in result.errors]
    push = build_push_context(result.objects, MeshConfig())
    root = next(o for o in result.objects if o.name == "root")
    got = [
        (r.name, r.match[0].uri.prefix if r.match else None)
        for r in effective_http_routes(root, push)
    ]
    # same-namespace default, exported delegate; hidden one and a VS with hosts are skipped
    assert got == [("a1", "/a"), ("b1", "/b"), ("", None)]


# ---------------------------------------------------------------------------- filters, L4

CASE = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: default}
    spec:
      clusterIP: 198.18.61.1
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: web, namespace: default}
    subsets:
    - addresses: [{ip: 198.18.6.1}]
      ports: [{name: http, port: 8080}]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw, namespace: default}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 8080, name: http, protocol: HTTP}
        hosts: ["*"]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: web, namespace: default}
    spec:
      hosts: ["*"]
      gateways: [gw]
      http:
      - route: [{destination: {host: web}}]
    """
)


def _hcm_filters(listener: dict[str, Any]) -> list[list[str]]:
    out = []
    chains = list(listener.get("filter_chains", []))
    if "default_filter_chain" in listener:
        chains.append(listener["default_filter_chain"])
    for chain in chains:
        for f in chain["filters"]:
            if f["name"] == "envoy.filters.network.http_connection_manager":
                out.append([h["name"] for h in f["typed_config"]["http_filters"]])
    return out


@pytest.mark.parametrize("proxy", [SIDECAR, ROUTER], ids=["sidecar", "gateway"])
def test_every_hcm_has_fault_then_cors_before_the_router(proxy: Proxy) -> None:
    result = load_yaml(CASE)
    assert result.ok
    push = build_push_context(result.objects, MeshConfig())
    listeners = resources_data(default_generators()[names.LISTENER_TYPE].generate(proxy, push))
    chains = [fs for lis in listeners for fs in _hcm_filters(lis)]
    assert chains, "no HTTP connection manager built"
    for fs in chains:
        assert fs[-1] == "envoy.filters.http.router"
        assert fs.index("envoy.filters.http.fault") < fs.index("envoy.filters.http.cors")
        assert fs.index("envoy.filters.http.cors") < fs.index("envoy.filters.http.router")
