"""RequestAuthentication -> jwt_authn: which policies select a workload, the provider each
rule becomes, how several rules merge, fail-closed key sets, and where the filter goes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.json_format import MessageToDict

from lateen.api import load_yaml
from lateen.model import FAIL_CLOSED_JWKS, Proxy, ProxyType, build_push_context
from lateen.model._push_context import PushContext
from lateen.xds._authn import build_jwt_authn, jwt_rules_for_proxy
from lateen.xds.listener import DEFAULT_HCM_CONFIGURERS, Direction, HcmContext, build_hcm
from lateen.xds.names import JWT_AUTHN_FILTER

JWKS = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "eA", "y": "eQ", "kid": "k"}]}'
URI = "http://127.0.0.1:8123/jwks.json"


def _ra(name: str, ns: str, spec: dict[str, Any], created: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if created:
        meta["creationTimestamp"] = created
    return {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication", "metadata": meta, "spec": spec}


def _push(docs: list[dict[str, Any]], jwks: dict[str, str] | None = None) -> PushContext:
    result = load_yaml("\n---\n".join(json.dumps(d) for d in docs), "test.yaml")
    assert not result.errors, result.errors
    return build_push_context(result.objects, jwks=jwks)


def _proxy(ns: str = "foo", labels: dict[str, str] | None = None, type_: str = "sidecar") -> Proxy:
    return Proxy(
        type=ProxyType(type_),
        ip_addresses=("198.18.0.9",),
        id=f"w.{ns}",
        dns_domain=f"{ns}.svc.cluster.local",
        namespace=ns,
        labels=labels or {"app": "httpbin"},
    )


RULE = {"issuer": "iss", "jwks": JWKS}
GW_REF = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}

# (id, policies, proxy namespace, proxy labels, expected policy names in order)
SELECTION = [
    ("namespace-wide", [_ra("a", "foo", {"jwtRules": [RULE]})], "foo", {}, ["a"]),
    ("other-namespace", [_ra("a", "bar", {"jwtRules": [RULE]})], "foo", {}, []),
    ("root-namespace-mesh-wide", [_ra("a", "istio-system", {"jwtRules": [RULE]})], "foo", {}, ["a"]),
    (
        "selector-match",
        [_ra("a", "foo", {"selector": {"matchLabels": {"app": "httpbin"}}, "jwtRules": [RULE]})],
        "foo",
        {"app": "httpbin", "version": "v1"},
        ["a"],
    ),
    (
        "selector-mismatch",
        [_ra("a", "foo", {"selector": {"matchLabels": {"app": "other"}}, "jwtRules": [RULE]})],
        "foo",
        {"app": "httpbin"},
        [],
    ),
    (
        "namespace-first-then-root-oldest-first",
        [
            _ra("root", "istio-system", {"jwtRules": [RULE]}, "2024-01-01T00:00:00Z"),
            _ra("newer", "foo", {"jwtRules": [RULE]}, "2024-01-03T00:00:00Z"),
            _ra("older", "foo", {"jwtRules": [RULE]}, "2024-01-02T00:00:00Z"),
        ],
        "foo",
        {},
        ["older", "newer", "root"],
    ),
    ("target-ref-ignored-by-sidecars", [_ra("a", "foo", {"targetRef": GW_REF, "jwtRules": [RULE]})], "foo", {}, []),
    (
        "target-refs-select-gateway-api-instance",
        [_ra("a", "foo", {"targetRefs": [GW_REF], "jwtRules": [RULE]})],
        "foo",
        {"gateway.networking.k8s.io/gateway-name": "gw"},
        ["a"],
    ),
    (
        "target-ref-other-gateway",
        [_ra("a", "foo", {"targetRefs": [{**GW_REF, "name": "other"}], "jwtRules": [RULE]})],
        "foo",
        {"gateway.networking.k8s.io/gateway-name": "gw"},
        [],
    ),
    (
        "target-ref-from-root-namespace-not-attached",
        [_ra("a", "istio-system", {"targetRefs": [GW_REF], "jwtRules": [RULE]})],
        "foo",
        {"gateway.networking.k8s.io/gateway-name": "gw"},
        [],
    ),
]


@pytest.mark.parametrize(
    ("policies", "ns", "labels", "expected"), [c[1:] for c in SELECTION], ids=[c[0] for c in SELECTION]
)
def test_selection(policies: list[dict[str, Any]], ns: str, labels: dict[str, str], expected: list[str]) -> None:
    push = _push(policies)
    assert [p.name for p in push.request_authentications_for(_proxy(ns, labels))] == expected


def test_selector_policies_make_output_label_sensitive() -> None:
    sel = _ra("a", "foo", {"selector": {"matchLabels": {"app": "x"}}, "jwtRules": [RULE]})
    assert _push([sel]).selects_on_labels
    assert not _push([_ra("a", "foo", {"jwtRules": [RULE]})]).selects_on_labels


def _provider(rule: dict[str, Any], jwks: dict[str, str] | None = None) -> dict[str, Any]:
    push = _push([_ra("a", "foo", {"jwtRules": [rule]})], jwks)
    config = build_jwt_authn(jwt_rules_for_proxy(_proxy(), push), push.jwks)
    assert config is not None
    data = MessageToDict(config, preserving_proto_field_name=True)
    (provider,) = data["providers"].values()
    return dict(provider)


BASE = {
    "issuer": "iss",
    "payload_in_metadata": "payload",
    "normalize_payload_in_metadata": {"space_delimited_claims": ["permission", "scope"]},
}

# (id, rule, jwks fetched by the control plane, expected provider)
PROVIDERS = [
    ("inline-jwks-defaults", RULE, None, {**BASE, "local_jwks": {"inline_string": JWKS}}),
    (
        "every-field",
        {
            **RULE,
            "audiences": ["a1", "a2"],
            "fromHeaders": [{"name": "x-jwt", "prefix": "Token "}, {"name": "x-raw"}],
            "fromParams": ["tok"],
            "fromCookies": ["session"],
            "forwardOriginalToken": True,
            "outputPayloadToHeader": "x-jwt-payload",
            "outputClaimToHeaders": [{"header": "x-sub", "claim": "sub"}, {"header": "x-grp", "claim": "nested.groups"}],
            "timeout": "3s",
        },
        None,
        {
            **BASE,
            "audiences": ["a1", "a2"],
            "from_headers": [{"name": "x-jwt", "value_prefix": "Token "}, {"name": "x-raw"}],
            "from_params": ["tok"],
            "from_cookies": ["session"],
            "forward": True,
            "forward_payload_header": "x-jwt-payload",
            "claim_to_headers": [
                {"header_name": "x-sub", "claim_name": "sub"},
                {"header_name": "x-grp", "claim_name": "nested.groups"},
            ],
            "local_jwks": {"inline_string": JWKS},
        },
    ),
    (
        "jwks-uri-fetched",
        {"issuer": "iss", "jwksUri": URI},
        {URI: JWKS},
        {**BASE, "local_jwks": {"inline_string": JWKS}},
    ),
    (
        "jwks-uri-not-fetched-fails-closed",
        {"issuer": "iss", "jwksUri": URI},
        {},
        {**BASE, "local_jwks": {"inline_string": FAIL_CLOSED_JWKS}},
    ),
    (
        "issuer-only-fails-closed",
        {"issuer": "iss"},
        None,
        {**BASE, "local_jwks": {"inline_string": FAIL_CLOSED_JWKS}},
    ),
]


@pytest.mark.parametrize(("rule", "jwks", "expected"), [c[1:] for c in PROVIDERS], ids=[c[0] for c in PROVIDERS])
def test_provider(rule: dict[str, Any], jwks: dict[str, str] | None, expected: dict[str, Any]) -> None:
    assert _provider(rule, jwks) == expected


def _names(req: jwt_pb2.JwtRequirement) -> Any:
    kind = req.WhichOneof("requires_type")
    if kind == "provider_name":
        return req.provider_name
    if kind == "allow_missing":
        return "allow_missing"
    if kind == "requires_any":
        return ("any", [_names(r) for r in req.requires_any.requirements])
    if kind == "requires_all":
        return ("all", [_names(r) for r in req.requires_all.requirements])
    raise AssertionError(kind)


# (id, policies, expected issuers by provider, expected requirement)
MERGE = [
    ("none", [], None, None),
    ("empty-rules", [_ra("a", "foo", {})], None, None),
    (
        "one-rule",
        [_ra("a", "foo", {"jwtRules": [RULE]})],
        {"origins-0": "iss"},
        ("any", ["origins-0", "allow_missing"]),
    ),
    (
        "two-policies-sorted-by-issuer",
        [
            _ra("a", "foo", {"jwtRules": [{"issuer": "zeta", "jwks": JWKS}]}, "2024-01-01T00:00:00Z"),
            _ra("b", "istio-system", {"jwtRules": [{"issuer": "alpha", "jwks": JWKS}]}),
        ],
        {"origins-0": "alpha", "origins-1": "zeta"},
        (
            "any",
            [
                "origins-0",
                "origins-1",
                ("all", [("any", ["origins-0", "allow_missing"]), ("any", ["origins-1", "allow_missing"])]),
            ],
        ),
    ),
]


@pytest.mark.parametrize(
    ("policies", "issuers", "requirement"), [c[1:] for c in MERGE], ids=[c[0] for c in MERGE]
)
def test_merge(policies: list[dict[str, Any]], issuers: dict[str, str] | None, requirement: Any) -> None:
    push = _push(policies)
    config = build_jwt_authn(jwt_rules_for_proxy(_proxy(), push), push.jwks)
    if issuers is None:
        assert config is None
        return
    assert config is not None
    assert {n: p.issuer for n, p in config.providers.items()} == issuers
    (rule,) = config.rules
    assert rule.match.prefix == "/"
    assert _names(rule.requires) == requirement
    assert config.bypass_cors_preflight


# (id, direction, expects the filter)
PLACEMENT = [
    ("sidecar-inbound", Direction.INBOUND, True),
    ("gateway", Direction.GATEWAY, True),
    ("sidecar-outbound", Direction.OUTBOUND, False),
]


@pytest.mark.parametrize(("direction", "present"), [c[1:] for c in PLACEMENT], ids=[c[0] for c in PLACEMENT])
def test_filter_placement(direction: Direction, present: bool) -> None:
    push = _push([_ra("a", "foo", {"jwtRules": [RULE]})])
    hcm: hcm_pb2.HttpConnectionManager = build_hcm(
        HcmContext(_proxy(), push, direction, 8000, "x", route_config_name="8000"),
        DEFAULT_HCM_CONFIGURERS,
    )
    names = [f.name for f in hcm.http_filters]
    if not present:
        assert JWT_AUTHN_FILTER not in names
        return
    # after ext_authz (CUSTOM), before RBAC (AuthorizationPolicy), fault and cors, as Istio
    assert names == [JWT_AUTHN_FILTER, "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"]
