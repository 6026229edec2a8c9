"""Table tests for the security.istio.io models and validators."""

from __future__ import annotations

from typing import Any

import pytest

from lateen.api import ValidationContext
from lateen.api.security import (
    AuthorizationPolicy,
    PeerAuthentication,
    RequestAuthentication,
    validate_authorization_policy,
    validate_peer_authentication,
    validate_request_authentication,
)

JWKS = '{"keys": [{"kty": "RSA", "e": "AQAB", "n": "xAE7eB6qugXyCAG3yhh7pkDkT65pHymX"}]}'


def _errors(validator: Any, model: Any, spec: dict[str, Any], ns: str = "foo") -> list[str]:
    ctx = ValidationContext(namespace=ns)
    validator(model.model_validate(spec), ctx)
    return [str(d) for d in ctx.errors]


def _warnings(validator: Any, model: Any, spec: dict[str, Any], ns: str = "foo") -> list[str]:
    ctx = ValidationContext(namespace=ns)
    validator(model.model_validate(spec), ctx)
    return [str(d) for d in ctx.diagnostics if d not in ctx.errors]


# --------------------------------------------------------------------------- AuthorizationPolicy

AP_VALID: list[tuple[str, dict[str, Any]]] = [
    ("allow-nothing", {}),
    ("allow-all", {"rules": [{}]}),
    ("deny-with-empty-rule", {"action": "DENY", "rules": [{}]}),
    (
        "custom-with-provider",
        {
            "action": "CUSTOM",
            "provider": {"name": "ext"},
            "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}],
        },
    ),
    (
        "all-source-fields",
        {
            "rules": [
                {
                    "from": [
                        {
                            "source": {
                                "principals": ["cluster.local/ns/a/sa/b", "*"],
                                "notPrincipals": ["*/sa/admin"],
                                "requestPrincipals": ["iss/sub"],
                                "notRequestPrincipals": ["iss/*"],
                                "namespaces": ["prod*"],
                                "notNamespaces": ["test"],
                                "ipBlocks": ["198.18.0.0/15", "198.19.1.1", "2001:db8::/32"],
                                "notIpBlocks": ["198.19.0.0/16"],
                                "remoteIpBlocks": ["203.0.113.4"],
                                "notRemoteIpBlocks": ["::1"],
                                "trustDomains": ["cluster.local"],
                            }
                        },
                        {
                            "source": {
                                "serviceAccounts": ["sleep", "bar/sleep"],
                                "notServiceAccounts": ["x/y"],
                            }
                        },
                    ],
                    "to": [
                        {
                            "operation": {
                                "hosts": ["*.example.com"],
                                "notHosts": ["admin.example.com"],
                                "ports": ["0", "8080", "65535"],
                                "notPorts": ["9090"],
                                "methods": ["GET"],
                                "notMethods": ["DELETE"],
                                "paths": ["/api/{*}/items/{**}", "/static*"],
                                "notPaths": ["/admin"],
                            }
                        }
                    ],
                    "when": [
                        {"key": "request.headers[x-user]", "values": ["alice"]},
                        {"key": "request.experimental.inline.headers[x-a]", "values": ["b"]},
                        {"key": "remote.ip", "notValues": ["1.2.3.4"]},
                        {"key": "source.principal", "values": ["*"]},
                        {"key": "source.serviceAccount", "values": ["ns/sa"]},
                        {"key": "request.auth.principal", "values": ["iss/sub"]},
                        {"key": "request.auth.presenter", "values": ["client"]},
                        {"key": "destination.ip", "values": ["198.18.0.1"]},
                    ],
                }
            ]
        },
    ),
    (
        "target-ref-gateway",
        {
            "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"},
            "rules": [{}],
        },
    ),
    (
        "target-refs-service",
        {"targetRefs": [{"kind": "Service", "name": "reviews"}], "rules": [{}]},
    ),
    (
        "target-refs-core-group",
        {"targetRefs": [{"group": "core", "kind": "Service", "name": "reviews"}]},
    ),
    ("audit", {"action": "AUDIT", "rules": [{"to": [{"operation": {"paths": ["/x"]}}]}]}),
]


@pytest.mark.parametrize("spec", [s for _, s in AP_VALID], ids=[i for i, _ in AP_VALID])
def test_authorization_policy_valid(spec: dict[str, Any]) -> None:
    assert _errors(validate_authorization_policy, AuthorizationPolicy, spec) == []


AP_INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("deny-without-rules", {"action": "DENY"}, "spec.rules", "DENY action without `rules`"),
    (
        "deny-with-empty-rules-list",
        {"action": "DENY", "rules": []},
        "spec.rules",
        "DENY action without `rules`",
    ),
    (
        "custom-without-rules",
        {"action": "CUSTOM", "provider": {"name": "x"}},
        "spec.rules",
        "CUSTOM action without",
    ),
    (
        "custom-without-provider",
        {"action": "CUSTOM", "rules": [{}]},
        "spec.provider",
        "`provider.name` must not be empty",
    ),
    (
        "custom-empty-provider-name",
        {"action": "CUSTOM", "provider": {}, "rules": [{}]},
        "spec.provider.name",
        "must not be empty",
    ),
    (
        "provider-with-allow",
        {"provider": {"name": "x"}, "rules": [{}]},
        "spec.provider",
        "must not be with non CUSTOM action, found ALLOW",
    ),
    (
        "provider-with-deny",
        {"action": "DENY", "provider": {"name": "x"}, "rules": [{}]},
        "spec.provider",
        "found DENY",
    ),
    (
        "custom-namespaces",
        {
            "action": "CUSTOM",
            "provider": {"name": "x"},
            "rules": [{"from": [{"source": {"namespaces": ["a"]}}]}],
        },
        "spec.rules[0].from[0].source.namespaces",
        "From.Namespaces is currently not supported with CUSTOM action",
    ),
    (
        "custom-request-principals",
        {
            "action": "CUSTOM",
            "provider": {"name": "x"},
            "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}],
        },
        "spec.rules[0].from[0].source.notRequestPrincipals",
        "not supported with CUSTOM action",
    ),
    (
        "custom-source-principal-key",
        {
            "action": "CUSTOM",
            "provider": {"name": "x"},
            "rules": [{"when": [{"key": "source.principal", "values": ["a"]}]}],
        },
        "spec.rules[0].when[0].key",
        "source.principal is currently not supported with CUSTOM action",
    ),
    ("empty-from", {"rules": [{"from": []}]}, "spec.rules[0].from", "`from` must not be empty"),
    ("empty-to", {"rules": [{"to": []}]}, "spec.rules[0].to", "`to` must not be empty"),
    ("empty-when", {"rules": [{"when": []}]}, "spec.rules[0].when", "`when` must not be empty"),
    (
        "nil-source",
        {"rules": [{"from": [{}]}]},
        "spec.rules[0].from[0].source",
        "`from.source` must not be nil",
    ),
    (
        "empty-source",
        {"rules": [{"from": [{"source": {}}]}]},
        "spec.rules[0].from[0].source",
        "`from.source` must not be empty",
    ),
    (
        "nil-operation",
        {"rules": [{"to": [{}]}]},
        "spec.rules[0].to[0].operation",
        "`to.operation` must not be nil",
    ),
    (
        "empty-operation",
        {"rules": [{"to": [{"operation": {}}]}]},
        "spec.rules[0].to[0].operation",
        "`to.operation` must not be empty",
    ),
    (
        "empty-principal",
        {"rules": [{"from": [{"source": {"principals": ["a", ""]}}]}]},
        "spec.rules[0].from[0].source.principals[1]",
        "empty value not allowed",
    ),
    (
        "empty-host",
        {"rules": [{"to": [{"operation": {"notHosts": [""]}}]}]},
        "spec.rules[0].to[0].operation.notHosts[0]",
        "empty value not allowed",
    ),
    (
        "bad-ip",
        {"rules": [{"from": [{"source": {"ipBlocks": ["1.2.3"]}}]}]},
        "spec.rules[0].from[0].source.ipBlocks[0]",
        "bad IP address (1.2.3)",
    ),
    (
        "bad-cidr",
        {"rules": [{"from": [{"source": {"notRemoteIpBlocks": ["198.18.0.0/99"]}}]}]},
        "spec.rules[0].from[0].source.notRemoteIpBlocks[0]",
        "bad CIDR range (198.18.0.0/99)",
    ),
    (
        "sa-with-namespaces",
        {"rules": [{"from": [{"source": {"namespaces": ["a"], "notServiceAccounts": ["b"]}}]}]},
        "spec.rules[0].from[0].source.notServiceAccounts",
        "cannot set serviceAccounts with namespaces or principals",
    ),
    (
        "sa-wildcard",
        {"rules": [{"from": [{"source": {"serviceAccounts": ["ns/*"]}}]}]},
        "spec.rules[0].from[0].source.serviceAccounts[0]",
        "wildcard not allowed",
    ),
    (
        "sa-too-many-segments",
        {"rules": [{"from": [{"source": {"serviceAccounts": ["a/b/c"]}}]}]},
        "spec.rules[0].from[0].source.serviceAccounts[0]",
        "expected format",
    ),
    (
        "sa-empty-namespace",
        {"rules": [{"from": [{"source": {"serviceAccounts": ["/sa"]}}]}]},
        "spec.rules[0].from[0].source.serviceAccounts[0]",
        "empty namespace",
    ),
    (
        "sa-more-than-16",
        {"rules": [{"from": [{"source": {"serviceAccounts": [f"sa{n}" for n in range(17)]}}]}]},
        "spec.rules[0].from[0].source.serviceAccounts",
        "may not have more than 16 values",
    ),
    (
        "bad-port-name",
        {"rules": [{"to": [{"operation": {"ports": ["http"]}}]}]},
        "spec.rules[0].to[0].operation.ports[0]",
        "bad port (http)",
    ),
    (
        "port-too-large",
        {"rules": [{"to": [{"operation": {"notPorts": ["65536"]}}]}]},
        "spec.rules[0].to[0].operation.notPorts[0]",
        "bad port (65536)",
    ),
    (
        "negative-port",
        {"rules": [{"to": [{"operation": {"ports": ["-1"]}}]}]},
        "spec.rules[0].to[0].operation.ports[0]",
        "bad port",
    ),
    (
        "path-any-not-last",
        {"rules": [{"to": [{"operation": {"paths": ["/{**}/x/{*}"]}}]}]},
        "spec.rules[0].to[0].operation.paths[0]",
        "{**} is not the last operator",
    ),
    (
        "path-named-variable",
        {"rules": [{"to": [{"operation": {"notPaths": ["/{id}"]}}]}]},
        "spec.rules[0].to[0].operation.notPaths[0]",
        "beyond a supported path template",
    ),
    (
        "path-template-star-literal",
        {"rules": [{"to": [{"operation": {"paths": ["/{*}/a*"]}}]}]},
        "spec.rules[0].to[0].operation.paths[0]",
        "invalid string literal",
    ),
    (
        "when-empty-key",
        {"rules": [{"when": [{"values": ["a"]}]}]},
        "spec.rules[0].when[0].key",
        "`key` must not be empty",
    ),
    (
        "when-no-values",
        {"rules": [{"when": [{"key": "source.ip"}]}]},
        "spec.rules[0].when[0]",
        "at least one of `values` or `notValues` must be set for key source.ip",
    ),
    (
        "when-unknown-key",
        {"rules": [{"when": [{"key": "source.user", "values": ["a"]}]}]},
        "spec.rules[0].when[0].key",
        "unknown attribute: source.user",
    ),
    (
        "when-bad-map-key",
        {"rules": [{"when": [{"key": "request.headers[]", "values": ["a"]}]}]},
        "spec.rules[0].when[0].key",
        "should have format a[b]",
    ),
    (
        "when-bad-claim-key",
        {"rules": [{"when": [{"key": "request.auth.claims", "values": ["a"]}]}]},
        "spec.rules[0].when[0].key",
        "should have format a[b]",
    ),
    (
        "when-destination-name",
        {"rules": [{"when": [{"key": "destination.name", "values": ["a"]}]}]},
        "spec.rules[0].when[0].key",
        "only supported in v1alpha1",
    ),
    (
        "when-bad-ip-value",
        {"rules": [{"when": [{"key": "source.ip", "notValues": ["x"]}]}]},
        "spec.rules[0].when[0].notValues[0]",
        "invalid `notValue` for `key` source.ip: bad IP address (x)",
    ),
    (
        "when-bad-port-value",
        {"rules": [{"when": [{"key": "destination.port", "values": ["80", "abc"]}]}]},
        "spec.rules[0].when[0].values[1]",
        "bad port (abc)",
    ),
    (
        "when-empty-value",
        {"rules": [{"when": [{"key": "connection.sni", "values": [""]}]}]},
        "spec.rules[0].when[0].values[0]",
        "empty value not allowed",
    ),
    (
        "selector-and-target-ref",
        {"selector": {"matchLabels": {"a": "b"}}, "targetRef": {"kind": "Service", "name": "x"}},
        "spec.targetRef",
        "only one of targetRefs or workloadSelector can be set",
    ),
    (
        "target-ref-and-target-refs",
        {
            "targetRef": {"kind": "Service", "name": "x"},
            "targetRefs": [{"kind": "Service", "name": "y"}],
        },
        "spec.targetRefs",
        "only one of targetRefs or workloadSelector can be set",
    ),
    (
        "target-ref-no-name",
        {"targetRef": {"kind": "Service"}},
        "spec.targetRef.name",
        "targetRef name must be set",
    ),
    (
        "target-ref-namespace",
        {"targetRef": {"kind": "Service", "name": "x", "namespace": "bar"}},
        "spec.targetRef.namespace",
        "cross namespace referencing is not supported",
    ),
    (
        "target-ref-bad-kind",
        {"targetRefs": [{"group": "apps", "kind": "Deployment", "name": "x"}]},
        "spec.targetRefs[0].kind",
        "targetRef must be to one of",
    ),
    (
        "target-ref-gateway-wrong-group",
        {"targetRef": {"kind": "Gateway", "name": "x"}},
        "spec.targetRef.kind",
        "targetRef must be to one of",
    ),
    (
        "selector-wildcard-value",
        {"selector": {"matchLabels": {"app": "*"}}},
        "spec.selector.matchLabels.app",
        "wildcard is not supported in selector",
    ),
    (
        "selector-empty-key",
        {"selector": {"matchLabels": {"": "x"}}},
        "spec.selector.matchLabels",
        "empty key is not supported in selector",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [(s, p, m) for _, s, p, m in AP_INVALID],
    ids=[i for i, *_ in AP_INVALID],
)
def test_authorization_policy_invalid(spec: dict[str, Any], path: str, message: str) -> None:
    errors = _errors(validate_authorization_policy, AuthorizationPolicy, spec)
    assert any(e.startswith(f"{path}: ") and message in e for e in errors), errors


def test_authorization_policy_collects_every_error() -> None:
    spec = {
        "action": "DENY",
        "provider": {"name": "x"},
        "rules": [
            {"from": [{"source": {}}], "to": [{"operation": {"ports": ["x"]}}]},
            {"when": [{"key": "bogus", "values": ["v"]}, {"key": "source.ip", "values": ["nope"]}]},
        ],
    }
    errors = _errors(validate_authorization_policy, AuthorizationPolicy, spec)
    paths = [e.split(": ", 1)[0] for e in errors]
    assert paths == [
        "spec.provider",
        "spec.rules[0].from[0].source",
        "spec.rules[0].to[0].operation.ports[0]",
        "spec.rules[1].when[0].key",
        "spec.rules[1].when[1].values[0]",
    ]


AP_WARNINGS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "deny-http-only",
        {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]},
        "spec.rules[0]",
        "will deny all traffic to TCP ports",
    ),
    (
        "deny-request-principals-only",
        {"action": "DENY", "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]},
        "spec.rules[0]",
        "will deny all traffic to TCP ports",
    ),
    (
        "selector-without-labels",
        {"selector": {}},
        "spec.selector",
        "workload selector specified without labels",
    ),
    (
        "wildcard-in-middle",
        {"rules": [{"from": [{"source": {"principals": ["cluster.local/ns/*/sa/x"]}}]}]},
        "spec.rules[0].from[0].source.principals[0]",
        "only supported as a prefix, a suffix or alone",
    ),
    (
        "gateway-class-outside-root",
        {
            "targetRef": {
                "group": "gateway.networking.k8s.io",
                "kind": "GatewayClass",
                "name": "istio",
            }
        },
        "spec.targetRef.kind",
        "only takes effect in the root namespace",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [(s, p, m) for _, s, p, m in AP_WARNINGS],
    ids=[i for i, *_ in AP_WARNINGS],
)
def test_authorization_policy_warnings(spec: dict[str, Any], path: str, message: str) -> None:
    assert _errors(validate_authorization_policy, AuthorizationPolicy, spec) == []
    warnings = _warnings(validate_authorization_policy, AuthorizationPolicy, spec)
    assert any(w.startswith(f"{path}: ") and message in w for w in warnings), warnings


def test_deny_with_port_has_no_tcp_warning() -> None:
    spec = {
        "action": "DENY",
        "rules": [{"to": [{"operation": {"methods": ["GET"], "ports": ["80"]}}]}],
    }
    assert _warnings(validate_authorization_policy, AuthorizationPolicy, spec) == []


def test_from_is_a_keyword_alias() -> None:
    ap = AuthorizationPolicy.model_validate(
        {"rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]}
    )
    assert ap.rules[0].from_[0].source is not None
    assert ap.to_dict() == {"rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]}


# --------------------------------------------------------------------------- PeerAuthentication

PA_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("namespace-strict", {"mtls": {"mode": "STRICT"}}, "", ""),
    ("empty", {}, "", ""),
    (
        "port-level-with-selector",
        {
            "selector": {"matchLabels": {"app": "a"}},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {8080: {"mode": "DISABLE"}},
        },
        "",
        "",
    ),
    (
        "port-level-without-selector",
        {"portLevelMtls": {8080: {"mode": "DISABLE"}}},
        "spec.portLevelMtls",
        "cannot have port level mTLS",
    ),
    (
        "port-level-empty-labels",
        {"selector": {"matchLabels": {}}, "portLevelMtls": {8080: {"mode": "DISABLE"}}},
        "spec.portLevelMtls",
        "cannot have port level mTLS",
    ),
    (
        "port-level-empty-map",
        {"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {}},
        "spec.portLevelMtls",
        "must have at least one element",
    ),
    (
        "port-zero",
        {"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {0: {"mode": "DISABLE"}}},
        "spec.portLevelMtls[0]",
        "port must be in range 1..65535",
    ),
    (
        "port-too-large",
        {"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {65536: {"mode": "DISABLE"}}},
        "spec.portLevelMtls[65536]",
        "port must be in range 1..65535",
    ),
    (
        "selector-wildcard",
        {"selector": {"matchLabels": {"app*": "a"}}},
        "spec.selector.matchLabels.app*",
        "wildcard",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [(s, p, m) for _, s, p, m in PA_CASES],
    ids=[i for i, *_ in PA_CASES],
)
def test_peer_authentication(spec: dict[str, Any], path: str, message: str) -> None:
    errors = _errors(validate_peer_authentication, PeerAuthentication, spec)
    if not path:
        assert errors == []
    else:
        assert any(e.startswith(f"{path}: ") and message in e for e in errors), errors


def test_peer_authentication_port_keys_are_ints() -> None:
    pa = PeerAuthentication.model_validate(
        {"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}
    )
    assert pa.port_level_mtls[8080].mode == "DISABLE"


def test_peer_authentication_bad_mode_is_a_model_error() -> None:
    with pytest.raises(ValueError, match="STRICT"):
        PeerAuthentication.model_validate({"mtls": {"mode": "ON"}})


# --------------------------------------------------------------------------- RequestAuthentication

RA_VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "issuer-and-jwks-uri",
        {"jwtRules": [{"issuer": "a", "jwksUri": "https://a.example.com/jwks.json"}]},
    ),
    ("jwks-uri-only", {"jwtRules": [{"jwksUri": "http://a.example.com:8080/jwks.json"}]}),
    ("inline-jwks", {"jwtRules": [{"issuer": "a", "jwks": JWKS}]}),
    (
        "single-jwk",
        {
            "jwtRules": [
                {"issuer": "a", "jwks": '{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}'}
            ]
        },
    ),
    (
        "all-fields",
        {
            "selector": {"matchLabels": {"app": "x"}},
            "jwtRules": [
                {
                    "issuer": "a",
                    "audiences": ["x", "y"],
                    "jwksUri": "https://a.example.com/jwks.json",
                    "fromHeaders": [{"name": "Authorization", "prefix": "Bearer "}],
                    "fromParams": ["token"],
                    "fromCookies": ["session"],
                    "outputPayloadToHeader": "x-payload",
                    "forwardOriginalToken": True,
                    "outputClaimToHeaders": [{"header": "x-claim-sub", "claim": "sub"}],
                    "timeout": "2.5s",
                }
            ],
        },
    ),
    ("no-rules", {}),
]


@pytest.mark.parametrize("spec", [s for _, s in RA_VALID], ids=[i for i, _ in RA_VALID])
def test_request_authentication_valid(spec: dict[str, Any]) -> None:
    assert _errors(validate_request_authentication, RequestAuthentication, spec) == []


RA_INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "no-issuer-no-uri",
        {"jwtRules": [{"audiences": ["a"]}]},
        "spec.jwtRules[0].issuer",
        "issuer or jwksUri must be non-empty",
    ),
    (
        "empty-audience",
        {"jwtRules": [{"issuer": "a", "audiences": [""]}]},
        "spec.jwtRules[0].audiences[0]",
        "audience must be non-empty",
    ),
    (
        "ftp-uri",
        {"jwtRules": [{"issuer": "a", "jwksUri": "ftp://x/y"}]},
        "spec.jwtRules[0].jwksUri",
        "scheme 'ftp' is not supported",
    ),
    (
        "relative-uri",
        {"jwtRules": [{"issuer": "a", "jwksUri": "/jwks.json"}]},
        "spec.jwtRules[0].jwksUri",
        "is not supported",
    ),
    (
        "uri-without-host",
        {"jwtRules": [{"issuer": "a", "jwksUri": "https:///jwks"}]},
        "spec.jwtRules[0].jwksUri",
        "no host",
    ),
    (
        "uri-bad-port",
        {"jwtRules": [{"issuer": "a", "jwksUri": "https://a:99999/x"}]},
        "spec.jwtRules[0].jwksUri",
        "invalid URI",
    ),
    (
        "uri-link-local-v4",
        {"jwtRules": [{"issuer": "a", "jwksUri": "http://169.254.169.254/latest/meta-data"}]},
        "spec.jwtRules[0].jwksUri",
        "link-local",
    ),
    (
        "uri-link-local-v6",
        {"jwtRules": [{"issuer": "a", "jwksUri": "http://[fe80::1]/jwks"}]},
        "spec.jwtRules[0].jwksUri",
        "link-local",
    ),
    (
        "uri-link-local-v4-mapped",
        {"jwtRules": [{"issuer": "a", "jwksUri": "http://[::ffff:169.254.169.254]/jwks"}]},
        "spec.jwtRules[0].jwksUri",
        "link-local",
    ),
    (
        "uri-metadata-hostname",
        {"jwtRules": [{"issuer": "a", "jwksUri": "http://Metadata.Google.Internal./jwks"}]},
        "spec.jwtRules[0].jwksUri",
        "cloud metadata service",
    ),
    (
        "jwks-and-uri",
        {"jwtRules": [{"issuer": "a", "jwksUri": "https://a/x", "jwks": JWKS}]},
        "spec.jwtRules[0].jwks",
        "only one of jwks or jwksUri",
    ),
    (
        "jwks-not-json",
        {"jwtRules": [{"issuer": "a", "jwks": "not json"}]},
        "spec.jwtRules[0].jwks",
        "jwks parse error",
    ),
    (
        "jwks-key-without-kty",
        {"jwtRules": [{"issuer": "a", "jwks": '{"keys": [{"n": "x"}]}'}]},
        "spec.jwtRules[0].jwks",
        'has no "kty"',
    ),
    (
        "jwks-rsa-missing-n",
        {"jwtRules": [{"issuer": "a", "jwks": '{"keys": [{"kty": "RSA", "e": "AQAB"}]}'}]},
        "spec.jwtRules[0].jwks",
        "missing n",
    ),
    (
        "empty-header-name",
        {"jwtRules": [{"issuer": "a", "fromHeaders": [{"prefix": "x"}]}]},
        "spec.jwtRules[0].fromHeaders[0].name",
        "location header name",
    ),
    (
        "empty-param",
        {"jwtRules": [{"issuer": "a", "fromParams": [""]}]},
        "spec.jwtRules[0].fromParams[0]",
        "location query",
    ),
    (
        "empty-cookie",
        {"jwtRules": [{"issuer": "a", "fromCookies": [""]}]},
        "spec.jwtRules[0].fromCookies[0]",
        "cookie name",
    ),
    (
        "claim-missing",
        {"jwtRules": [{"issuer": "a", "outputClaimToHeaders": [{"header": "x-a"}]}]},
        "spec.jwtRules[0].outputClaimToHeaders[0].claim",
        "must be non-empty",
    ),
    (
        "header-missing",
        {"jwtRules": [{"issuer": "a", "outputClaimToHeaders": [{"claim": "sub"}]}]},
        "spec.jwtRules[0].outputClaimToHeaders[0].header",
        "must be non-empty",
    ),
    (
        "header-invalid",
        {
            "jwtRules": [
                {"issuer": "a", "outputClaimToHeaders": [{"header": "x:a", "claim": "sub"}]}
            ]
        },
        "spec.jwtRules[0].outputClaimToHeaders[0].header",
        "not a valid header name",
    ),
    (
        "header-underscore",
        {
            "jwtRules": [
                {"issuer": "a", "outputClaimToHeaders": [{"header": "x_a", "claim": "sub"}]}
            ]
        },
        "spec.jwtRules[0].outputClaimToHeaders[0].header",
        "not a valid header name",
    ),
    (
        "timeout-zero",
        {"jwtRules": [{"issuer": "a", "timeout": "0s"}]},
        "spec.jwtRules[0].timeout",
        "greater than 1ms",
    ),
    (
        "timeout-sub-ms",
        {"jwtRules": [{"issuer": "a", "timeout": "1.0005s"}]},
        "spec.jwtRules[0].timeout",
        "ms precision",
    ),
    (
        "timeout-garbage",
        {"jwtRules": [{"issuer": "a", "timeout": "soon"}]},
        "spec.jwtRules[0].timeout",
        "invalid duration",
    ),
    (
        "selector-and-target-refs",
        {"selector": {"matchLabels": {"a": "b"}}, "targetRefs": [{"kind": "Service", "name": "x"}]},
        "spec.targetRefs",
        "only one of",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [(s, p, m) for _, s, p, m in RA_INVALID],
    ids=[i for i, *_ in RA_INVALID],
)
def test_request_authentication_invalid(spec: dict[str, Any], path: str, message: str) -> None:
    errors = _errors(validate_request_authentication, RequestAuthentication, spec)
    assert any(e.startswith(f"{path}: ") and message in e for e in errors), errors
