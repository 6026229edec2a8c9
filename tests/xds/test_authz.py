"""AuthorizationPolicy translation (lateen.xds.authz), as tables: selection, every action's
filters, TCP fail-closed, CUSTOM, escaping of user values in regexes, host:port."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from google.protobuf.json_format import MessageToDict

from lateen.api.security import Rule
from lateen.model import build_push_context
from lateen.testing.golden import load_xds_case
from lateen.xds.authz import (
    RuleContext,
    custom_http_filters,
    rbac_http_filters,
    re2_escape,
    rule_policy,
    tcp_authz_filters,
)
from lateen.xds.authz._matchers import host_matcher

HEADER = """
kind: TestProxy
type: {type}
ip: 198.19.0.30
id: {pod}.{ns}
namespace: {ns}
labels: {labels}
mesh: {mesh}
---
apiVersion: v1
kind: Service
metadata: {{name: ext-authz, namespace: foo}}
spec:
  clusterIP: 198.18.5.20
  selector: {{app: ext-authz}}
  ports: [{{name: http, port: 8000}}]
"""


def _policy(name: str, ns: str, spec: str, annotations: str = "{}") -> str:
    return (
        "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata: {{name: {name}, namespace: {ns}, annotations: {annotations}}}\nspec: {spec}\n"
    )


def _push(policies: str, *, type_: str = "sidecar", ns: str = "default",
          labels: str = "{app: httpbin}", mesh: str = "{}") -> tuple[Any, Any]:  # fmt: skip
    text = HEADER.format(type=type_, pod="p-1", ns=ns, labels=labels, mesh=mesh) + policies
    case = load_xds_case(text, "authz")
    return case.proxy, build_push_context(case.objects, case.mesh)


def _d(msg: Any) -> Any:
    return MessageToDict(msg, preserving_proto_field_name=True)


def _rule(text: str) -> Rule:
    return Rule.model_validate(yaml.safe_load(text))


# ---------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("policies", "proxy_ns", "labels", "type_", "selected"),
    [
        (_policy("a", "istio-system", "{}"), "default", "{app: x}", "sidecar", ["a"]),
        (_policy("a", "default", "{}"), "default", "{app: x}", "sidecar", ["a"]),
        (_policy("a", "other", "{}"), "default", "{app: x}", "sidecar", []),
        (_policy("a", "default", "{selector: {matchLabels: {app: x}}}"), "default", "{app: x}", "sidecar", ["a"]),
        (_policy("a", "default", "{selector: {matchLabels: {app: y}}}"), "default", "{app: x}", "sidecar", []),
        (_policy("a", "istio-system", "{selector: {matchLabels: {app: x}}}"), "default", "{app: x}", "sidecar", ["a"]),
        (_policy("a", "default", "{targetRefs: [{group: '', kind: Service, name: x}]}"), "default", "{app: x}", "sidecar", []),
        (_policy("a", "default", "{targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]}"),
         "default", "{gateway.networking.k8s.io/gateway-name: gw}", "router", ["a"]),
        (_policy("a", "default", "{targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]}"),
         "default", "{gateway.networking.k8s.io/gateway-name: other}", "router", []),
    ],
    ids=["root-namespace", "namespace", "other-namespace", "selector", "selector-miss",
         "root-selector", "targetref-ignored-by-sidecar", "targetref-gateway", "targetref-other-gateway"],
)  # fmt: skip
def test_selection(policies: str, proxy_ns: str, labels: str, type_: str, selected: list[str]) -> None:
    proxy, push = _push(policies, type_=type_, ns=proxy_ns, labels=labels)
    got = push.authorization_policies(proxy)
    assert [p.name for p in (*got.custom, *got.deny, *got.allow, *got.audit)] == selected


def test_selector_makes_output_label_sensitive() -> None:
    _, push = _push(_policy("a", "default", "{selector: {matchLabels: {app: x}}}"))
    assert push.selects_on_labels
    _, push = _push(_policy("a", "default", "{}"))
    assert not push.selects_on_labels


# ---------------------------------------------------------------------------- actions


def _rbac_actions(filters: list[Any]) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for f in filters:
        cfg = _d(f)["typed_config"]
        rules = cfg.get("rules", {})
        shadow = cfg.get("shadow_rules", {})
        out.append((rules.get("action", "ALLOW" if rules else "-"),
                    sorted(rules.get("policies", {})), sorted(shadow.get("policies", {}))))  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("policies", "expect"),
    [
        (_policy("nothing", "default", "{}"),
         [("ALLOW", ["ns[default]-policy[nothing]-rule[0]"], [])]),
        (_policy("allow", "default", "{action: ALLOW}"),
         [("ALLOW", ["ns[default]-policy[allow]-rule[0]"], [])]),
        (_policy("d", "default", "{action: DENY, rules: [{}]}") + _policy("a", "default", "{rules: [{}, {}]}")
         + _policy("au", "default", "{action: AUDIT, rules: [{}]}"),
         [("LOG", ["ns[default]-policy[au]-rule[0]"], []),
          ("DENY", ["ns[default]-policy[d]-rule[0]"], []),
          ("ALLOW", ["ns[default]-policy[a]-rule[0]", "ns[default]-policy[a]-rule[1]"], [])]),
        (_policy("dry", "default", "{action: DENY, rules: [{}]}", "{istio.io/dry-run: 'true'}"),
         [("-", [], ["ns[default]-policy[dry]-rule[0]"])]),
    ],
    ids=["spec-empty-allow-nothing", "allow-without-rules", "audit-deny-allow-order", "dry-run-shadow"],
)  # fmt: skip
def test_http_rbac_filters(policies: str, expect: list[Any]) -> None:
    proxy, push = _push(policies)
    assert _rbac_actions(rbac_http_filters(push.authorization_policies(proxy))) == expect


def test_allow_nothing_policy_never_matches() -> None:
    proxy, push = _push(_policy("nothing", "default", "{}"))
    (f,) = rbac_http_filters(push.authorization_policies(proxy))
    pol = _d(f)["typed_config"]["rules"]["policies"]["ns[default]-policy[nothing]-rule[0]"]
    assert pol == {"permissions": [{"not_rule": {"any": True}}], "principals": [{"not_id": {"any": True}}]}


# ---------------------------------------------------------------------------- TCP fail closed


@pytest.mark.parametrize(
    ("rule", "allow", "expect"),
    [
        ("{to: [{operation: {methods: [GET], ports: ['9000']}}]}", True, None),
        ("{to: [{operation: {methods: [GET], ports: ['9000']}}]}", False,
         {"permissions": [{"and_rules": {"rules": [{"destination_port": 9000}]}}], "principals": [{"any": True}]}),
        ("{to: [{operation: {paths: [/a]}}]}", False,
         {"permissions": [{"any": True}], "principals": [{"any": True}]}),
        ("{from: [{source: {requestPrincipals: ['*']}}]}", True, None),
        ("{when: [{key: 'request.headers[x]', values: [a]}]}", True, None),
        ("{to: [{operation: {ports: ['9000']}}], when: [{key: destination.ip, values: [198.19.0.1]}]}", True,
         {"permissions": [{"and_rules": {"rules": [{"destination_port": 9000}, {"destination_ip": {"address_prefix": "198.19.0.1", "prefix_len": 32}}]}}],
          "principals": [{"any": True}]}),
    ],
    ids=["allow-http-field-drops-rule", "deny-drops-http-condition", "deny-only-http-denies-all",
         "allow-request-principals-drops-rule", "allow-header-condition-drops-rule", "allow-tcp-fields-kept"],
)  # fmt: skip
def test_tcp_rules(rule: str, allow: bool, expect: Any) -> None:
    got = rule_policy(_rule(rule), RuleContext("default", for_tcp=True, allow=allow))
    assert (None if got is None else _d(got)) == expect


def test_tcp_filters_have_tcp_stat_prefix() -> None:
    proxy, push = _push(_policy("a", "default", "{rules: [{to: [{operation: {ports: ['9000']}}]}]}"))
    (f,) = tcp_authz_filters(push, proxy.namespace, push.authorization_policies(proxy))
    d = _d(f)
    assert d["name"] == "envoy.filters.network.rbac" and d["typed_config"]["stat_prefix"] == "tcp."


# ---------------------------------------------------------------------------- fields


def _principal_regexes(d: Any) -> list[str]:
    found: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "regex" in x:
                found.append(x["regex"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(d)
    return found


@pytest.mark.parametrize(
    ("rule", "expect"),
    [
        ("{from: [{source: {principals: [cluster.local/ns/a/sa/b]}}]}",
         {"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/a/sa/b"}}}),
        ("{from: [{source: {principals: ['*']}}]}",
         {"authenticated": {"principal_name": {"prefix": "spiffe://"}}}),
        ("{from: [{source: {principals: ['cluster.local/ns/a/*']}}]}",
         {"authenticated": {"principal_name": {"prefix": "spiffe://cluster.local/ns/a/"}}}),
        ("{from: [{source: {principals: ['*/sa/b']}}]}",
         {"and_ids": {"ids": [{"authenticated": {"principal_name": {"prefix": "spiffe://"}}},
                              {"authenticated": {"principal_name": {"suffix": "/sa/b"}}}]}}),
        ("{from: [{source: {namespaces: [prod]}}]}",
         {"authenticated": {"principal_name": {"contains": "/ns/prod/"}}}),
        ("{from: [{source: {ipBlocks: [198.18.0.0/16]}}]}",
         {"direct_remote_ip": {"address_prefix": "198.18.0.0", "prefix_len": 16}}),
        ("{from: [{source: {remoteIpBlocks: [198.19.0.7]}}]}",
         {"remote_ip": {"address_prefix": "198.19.0.7", "prefix_len": 32}}),
        ("{when: [{key: 'request.headers[x-token]', values: ['*']}]}",
         {"header": {"name": "x-token", "present_match": True}}),
        ("{when: [{key: 'request.auth.claims[a][b]', values: [c]}]}",
         {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                       "path": [{"key": "payload"}, {"key": "a"}, {"key": "b"}],
                       "value": {"or_match": {"value_matchers": [
                           {"string_match": {"exact": "c"}},
                           {"list_match": {"one_of": {"string_match": {"exact": "c"}}}}]}}}}),
    ],
    ids=["principal-exact", "principal-any", "principal-prefix", "principal-suffix", "namespace",
         "ip-blocks", "remote-ip-blocks", "header-present", "nested-claim"],
)  # fmt: skip
def test_principal_fields(rule: str, expect: Any) -> None:
    got = _d(rule_policy(_rule(rule), RuleContext("default", for_tcp=False, allow=True)))
    assert got["principals"] == [{"and_ids": {"ids": [expect]}}]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("a.b", r"a\.b"), ("x+y*(z)|[q]{1}^$\\", r"x\+y\*\(z\)\|\[q\]\{1\}\^\$\\"), ("plain-sa_1", "plain-sa_1")],
    ids=["dot", "every-metachar", "nothing-to-escape"],
)
def test_re2_escape(value: str, escaped: str) -> None:
    assert re2_escape(value) == escaped
    assert re.fullmatch(escaped, value)


@pytest.mark.parametrize(
    ("sa", "principal", "matches"),
    [
        ("a.b", "spiffe://cluster.local/ns/default/sa/a.b", True),
        ("a.b", "spiffe://cluster.local/ns/default/sa/aXb", False),
        ("a+", "spiffe://cluster.local/ns/default/sa/aaa", False),
        ("other/a.*", "spiffe://cluster.local/ns/other/sa/a.b", False),
        ("other/svc", "spiffe://cluster.local/ns/other/sa/svc", True),
    ],
    ids=["exact-with-dot", "dot-is-literal", "plus-is-literal", "star-is-literal", "namespace-form"],
)
def test_service_account_regex_never_widens(sa: str, principal: str, matches: bool) -> None:
    rule = _rule(f"{{from: [{{source: {{serviceAccounts: ['{sa}']}}}}]}}")
    (expr,) = _principal_regexes(_d(rule_policy(rule, RuleContext("default", False, True))))
    assert bool(re.fullmatch(expr, principal)) is matches


@pytest.mark.parametrize(
    ("value", "authority", "matches"),
    [
        ("example.com", "example.com", True),
        ("example.com", "Example.COM:8080", True),
        ("example.com", "exampleXcom", False),
        ("example.com", "example.com.evil", False),
        ("*.example.com", "a.example.com:80", True),
        ("*.example.com", "example.com", False),
    ],
    ids=["exact", "case-and-port", "dot-literal", "no-suffix-extension", "suffix-with-port", "suffix-needs-label"],
)
def test_hosts_match_host_port_case_insensitively(value: str, authority: str, matches: bool) -> None:
    m = _d(host_matcher(value))
    expr = m["string_match"]["safe_regex"]["regex"]
    flags = re.IGNORECASE if expr.startswith("(?i)") else 0
    assert bool(re.fullmatch(expr.removeprefix("(?i)"), authority, flags)) is matches


def test_request_principal_with_slashes_matches_every_split() -> None:
    rule = _rule("{from: [{source: {requestPrincipals: [https://issuer.example.com/path/user1]}}]}")
    (principal,) = _d(rule_policy(rule, RuleContext("default", False, True)))["principals"]
    alternatives = principal["and_ids"]["ids"][0]["or_ids"]["ids"]
    splits = [
        tuple(i["metadata"]["value"]["string_match"]["exact"] for i in alt["and_ids"]["ids"])
        for alt in alternatives
    ]
    assert ("https://issuer.example.com/path", "user1") in splits
    assert ("https://issuer.example.com", "path/user1") in splits
    assert all(iss + "/" + sub == "https://issuer.example.com/path/user1" for iss, sub in splits)


@pytest.mark.parametrize(
    ("paths", "expect"),
    [
        ("[/a]", {"url_path": {"path": {"exact": "/a"}}}),
        ("['/a/*']", {"url_path": {"path": {"prefix": "/a/"}}}),
        ("['*.css']", {"url_path": {"path": {"suffix": ".css"}}}),
        ("['*']", {"url_path": {"path": {"safe_regex": {"regex": ".+"}}}}),
        ("['/a/{*}/b/{**}']", {"uri_template": {
            "name": "envoy.path.match.uri_template.uri_template_matcher",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                             "path_template": "/a/*/b/**"}}}),
    ],
    ids=["exact", "prefix", "suffix", "any", "template"],
)  # fmt: skip
def test_paths(paths: str, expect: Any) -> None:
    got = _d(rule_policy(_rule(f"{{to: [{{operation: {{paths: {paths}}}}}]}}"), RuleContext("d", False, True)))
    assert got["permissions"] == [{"and_rules": {"rules": [expect]}}]


# ---------------------------------------------------------------------------- CUSTOM

MESH_HTTP = "{extensionProviders: [{name: authz, envoyExtAuthzHttp: {service: ext-authz.foo.svc.cluster.local, port: 8000}}]}"
MESH_GRPC = "{extensionProviders: [{name: authz, envoyExtAuthzGrpc: {service: foo/ext-authz, port: 8000}}]}"
CUSTOM = _policy("c", "default", "{action: CUSTOM, provider: {name: authz}, rules: [{to: [{operation: {paths: [/x]}}]}]}")


@pytest.mark.parametrize(
    ("mesh", "http_filters", "tcp_filters"),
    [
        (MESH_HTTP, ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"], []),
        (MESH_GRPC, ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"],
         ["envoy.filters.network.rbac", "envoy.filters.network.ext_authz"]),
        ("{}", ["envoy.filters.http.rbac"], ["envoy.filters.network.rbac"]),
    ],
    ids=["http-provider", "grpc-provider", "missing-provider-denies"],
)  # fmt: skip
def test_custom(mesh: str, http_filters: list[str], tcp_filters: list[str]) -> None:
    proxy, push = _push(CUSTOM, mesh=mesh)
    policies = push.authorization_policies(proxy)
    hf = custom_http_filters(push, proxy.namespace, policies)
    assert [f.name for f in hf] == http_filters
    assert [f.name for f in tcp_authz_filters(push, proxy.namespace, policies)] == tcp_filters
    rbac = _d(hf[0])["typed_config"]
    if len(hf) == 2:
        assert "rules" not in rbac
        assert sorted(rbac["shadow_rules"]["policies"]) == ["istio-ext-authz-ns[default]-policy[c]-rule[0]"]
        ext = _d(hf[1])["typed_config"]
        assert ext["filter_enabled_metadata"]["path"] == [{"key": "istio_ext_authz_shadow_effective_policy_id"}]
        cluster = ext.get("http_service", {}).get("server_uri", {}).get("cluster") or ext["grpc_service"]["envoy_grpc"]["cluster_name"]
        assert cluster == "outbound|8000||ext-authz.foo.svc.cluster.local"
    else:  # unusable provider: the requests the CUSTOM rules match are denied
        assert rbac["rules"].get("action") == "DENY" and rbac["rules"]["policies"]
