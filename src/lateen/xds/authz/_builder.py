"""AuthorizationPolicies of a proxy -> Envoy RBAC and ext_authz filters, pure (Istio's
``pilot/pkg/security/authz/builder``).

HTTP filter order (after jwt_authn): CUSTOM (an RBAC filter in shadow mode marking the
requests a CUSTOM rule matches, then ext_authz enabled for those only), then one RBAC
filter per action: AUDIT (Envoy action LOG), DENY, ALLOW. TCP chains get the same as
network filters in front of tcp_proxy (CUSTOM only with a gRPC provider, as Istio).

Each rule is an Envoy policy named ``ns[<ns>]-policy[<name>]-rule[<i>]`` (CUSTOM:
``istio-ext-authz-`` in front). A policy without rules is a policy that never matches: an
ALLOW one then denies everything (``spec: {}`` is allow-nothing), a DENY one is a no-op.
Policies annotated ``istio.io/dry-run: "true"`` become shadow rules: evaluated, logged in
the filter's stats and dynamic metadata, never enforced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as tcp_rbac

from lateen.api._object import ConfigObject
from lateen.model._authz import AuthorizationPolicies
from lateen.model._push_context import PushContext
from lateen.xds._util import pack
from lateen.xds.authz._extauthz import (
    EXT_AUTHZ_HTTP_FILTER,
    EXT_AUTHZ_MATCH_PREFIX,
    EXT_AUTHZ_SHADOW_STAT_PREFIX,
    EXT_AUTHZ_TCP_FILTER,
    RBAC_HTTP_FILTER,
    RBAC_TCP_FILTER,
    BuiltExtAuthz,
    ExtensionProviderError,
    build_ext_authz,
)
from lateen.xds.authz._rules import RuleContext, rule_policy

__all__ = [
    "DRY_RUN_ANNOTATION",
    "RBAC_HTTP_FILTER",
    "RBAC_TCP_FILTER",
    "custom_http_filters",
    "rbac_http_filters",
    "tcp_authz_filters",
]

DRY_RUN_ANNOTATION = "istio.io/dry-run"
TCP_STAT_PREFIX = "tcp."
_DRY_RUN_PREFIX = {
    rbac_pb2.RBAC.ALLOW: "istio_dry_run_allow_",
    rbac_pb2.RBAC.DENY: "istio_dry_run_deny_",
    rbac_pb2.RBAC.LOG: "istio_dry_run_audit_",
}
_BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"

_MATCH_NEVER = rbac_pb2.Policy(
    permissions=[rbac_pb2.Permission(not_rule=rbac_pb2.Permission(any=True))],
    principals=[rbac_pb2.Principal(not_id=rbac_pb2.Principal(any=True))],
)


@dataclass(frozen=True, slots=True)
class _Built:
    rules: rbac_pb2.RBAC | None  # enforced
    shadow: rbac_pb2.RBAC | None  # dry run


def is_dry_run(policy: ConfigObject) -> bool:
    return str(policy.meta.annotations.get(DRY_RUN_ANNOTATION, "")).strip().lower() in (
        "true", "1", "t",
    )  # fmt: skip


def policy_name(policy: ConfigObject, rule: int, custom: bool = False) -> str:
    prefix = f"{EXT_AUTHZ_MATCH_PREFIX}-" if custom else ""
    return f"{prefix}ns[{policy.namespace}]-policy[{policy.name}]-rule[{rule}]"


def _build(
    policies: Sequence[ConfigObject],
    action: rbac_pb2.RBAC.Action.ValueType,
    for_tcp: bool,
    custom: bool = False,
) -> _Built | None:
    if not policies:
        return None
    enforce = rbac_pb2.RBAC(action=action)
    shadow = rbac_pb2.RBAC(action=action)
    has_enforce = has_shadow = False
    for p in policies:
        dry = is_dry_run(p) and not custom
        target = shadow if dry else enforce
        has_shadow = has_shadow or dry
        has_enforce = has_enforce or not dry
        ctx = RuleContext(p.namespace, for_tcp, allow=action == rbac_pb2.RBAC.ALLOW)
        for i, rule in enumerate(p.spec.rules):
            generated = rule_policy(rule, ctx)
            if generated is not None:
                target.policies[policy_name(p, i, custom)].CopyFrom(generated)
        if not p.spec.rules:
            target.policies[policy_name(p, 0, custom)].CopyFrom(_MATCH_NEVER)
    return _Built(enforce if has_enforce else None, shadow if has_shadow else None)


def _http_rbac(built: _Built) -> hcm_pb2.HttpFilter:
    cfg = http_rbac.RBAC()
    if built.rules is not None:
        cfg.rules.CopyFrom(built.rules)
    if built.shadow is not None:
        cfg.shadow_rules.CopyFrom(built.shadow)
        cfg.shadow_rules_stat_prefix = _DRY_RUN_PREFIX[built.shadow.action]
    return hcm_pb2.HttpFilter(name=RBAC_HTTP_FILTER, typed_config=pack(cfg))


def _tcp_rbac(built: _Built) -> lc.Filter:
    cfg = tcp_rbac.RBAC(stat_prefix=TCP_STAT_PREFIX)
    if built.rules is not None:
        cfg.rules.CopyFrom(built.rules)
    if built.shadow is not None:
        cfg.shadow_rules.CopyFrom(built.shadow)
        cfg.shadow_rules_stat_prefix = _DRY_RUN_PREFIX[built.shadow.action]
    return lc.Filter(name=RBAC_TCP_FILTER, typed_config=pack(cfg))


def _actions(policies: AuthorizationPolicies) -> list[tuple[rbac_pb2.RBAC.Action.ValueType, tuple[ConfigObject, ...]]]:
    return [
        (rbac_pb2.RBAC.LOG, policies.audit),
        (rbac_pb2.RBAC.DENY, policies.deny),
        (rbac_pb2.RBAC.ALLOW, policies.allow),
    ]


def rbac_http_filters(policies: AuthorizationPolicies) -> list[hcm_pb2.HttpFilter]:
    """The AUDIT, DENY and ALLOW RBAC filters (each only when some policy has the action)."""
    out = []
    for action, pols in _actions(policies):
        built = _build(pols, action, for_tcp=False)
        if built is not None:
            out.append(_http_rbac(built))
    return out


def _bad_custom(built: _Built) -> rbac_pb2.RBAC:
    """Requests a CUSTOM rule matches are denied when its provider is unusable."""
    deny = rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    if built.rules is not None:
        for name, pol in built.rules.policies.items():
            deny.policies[name + _BAD_CUSTOM_SUFFIX].CopyFrom(pol)
    return deny


def _custom(
    push: PushContext, proxy_ns: str, policies: AuthorizationPolicies, for_tcp: bool
) -> tuple[_Built, BuiltExtAuthz | None] | None:
    """The CUSTOM rules (enforced ones only) and the provider's filters (None: unusable)."""
    enforced = [p for p in policies.custom if not is_dry_run(p)]
    built = _build(enforced, rbac_pb2.RBAC.DENY, for_tcp, custom=True)
    if built is None:
        return None
    names = sorted({p.spec.provider.name for p in enforced if p.spec.provider is not None})
    if len(names) != 1:
        return built, None  # Istio: one provider per workload
    try:
        return built, build_ext_authz(push, proxy_ns, names[0])
    except ExtensionProviderError:
        return built, None


def custom_http_filters(
    push: PushContext, proxy_ns: str, policies: AuthorizationPolicies
) -> list[hcm_pb2.HttpFilter]:
    """CUSTOM: an RBAC filter whose shadow rules mark matching requests, then ext_authz."""
    found = _custom(push, proxy_ns, policies, for_tcp=False)
    if found is None:
        return []
    built, ext = found
    if ext is None:
        cfg = http_rbac.RBAC(rules=_bad_custom(built))
        return [hcm_pb2.HttpFilter(name=RBAC_HTTP_FILTER, typed_config=pack(cfg))]
    assert built.rules is not None
    cfg = http_rbac.RBAC(shadow_rules=built.rules, shadow_rules_stat_prefix=EXT_AUTHZ_SHADOW_STAT_PREFIX)
    return [
        hcm_pb2.HttpFilter(name=RBAC_HTTP_FILTER, typed_config=pack(cfg)),
        hcm_pb2.HttpFilter(name=EXT_AUTHZ_HTTP_FILTER, typed_config=pack(ext.http)),
    ]


def tcp_authz_filters(
    push: PushContext, proxy_ns: str, policies: AuthorizationPolicies
) -> list[lc.Filter]:
    """Network filters for a TCP chain, in front of tcp_proxy: CUSTOM (gRPC providers
    only; an HTTP provider is ignored on TCP, as Istio), AUDIT, DENY, ALLOW."""
    if not policies:
        return []
    out: list[lc.Filter] = []
    found = _custom(push, proxy_ns, policies, for_tcp=True)
    if found is not None:
        built, ext = found
        if ext is None:
            cfg = tcp_rbac.RBAC(stat_prefix=TCP_STAT_PREFIX, rules=_bad_custom(built))
            out.append(lc.Filter(name=RBAC_TCP_FILTER, typed_config=pack(cfg)))
        elif ext.tcp is not None:
            assert built.rules is not None
            cfg = tcp_rbac.RBAC(
                stat_prefix=TCP_STAT_PREFIX,
                shadow_rules=built.rules,
                shadow_rules_stat_prefix=EXT_AUTHZ_SHADOW_STAT_PREFIX,
            )
            out.append(lc.Filter(name=RBAC_TCP_FILTER, typed_config=pack(cfg)))
            out.append(lc.Filter(name=EXT_AUTHZ_TCP_FILTER, typed_config=pack(ext.tcp)))
    for action, pols in _actions(policies):
        built_action = _build(pols, action, for_tcp=True)
        if built_action is not None:
            out.append(_tcp_rbac(built_action))
    return out
