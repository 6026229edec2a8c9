"""One AuthorizationPolicy rule -> one Envoy RBAC ``Policy``, pure (Istio's authz model).

A rule becomes a policy whose permissions are its ``to`` operations (any one of them; none:
any request) and whose principals are its ``from`` sources (any one of them; none: anyone).
Inside an operation or a source every field must match (AND); a field matches when one of
its values does (OR) and none of its ``not`` values do. ``when`` conditions join every
permission (destination.*, connection.sni, experimental.*) or every principal (the rest).

On a TCP filter chain HTTP-only attributes cannot be evaluated (:class:`HttpOnly`): for an
ALLOW rule the whole rule is dropped (it matches nothing); for DENY, AUDIT and CUSTOM only
that value is dropped, so the rule matches more (fail closed), as Istio does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission, Principal
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2

from lateen.api.security import Condition, Operation, Rule, Source
from lateen.xds.authz._matchers import (
    SPIFFE_PREFIX,
    cidr_range,
    header_matcher,
    host_matcher,
    jwt_claim_matcher,
    path_permission,
    re2_escape,
    regex,
    string_matcher,
)

__all__ = ["HttpOnly", "RuleContext", "rule_policy"]



class HttpOnly(Exception):
    """An attribute that only exists on HTTP, met on a TCP filter chain."""


@dataclass(frozen=True, slots=True)
class RuleContext:
    policy_namespace: str
    for_tcp: bool
    allow: bool  # ALLOW action: an HTTP-only attribute on TCP drops the whole rule
    negated: bool = False  # building a ``not*`` value (its match is inverted)


# ---------------------------------------------------------------------------- principals


def _authenticated(m: string_pb2.StringMatcher) -> Principal:
    return Principal(authenticated=Principal.Authenticated(principal_name=m))


def _source_principal(value: str) -> Principal:
    """``principals`` / ``source.principal``: the peer certificate's SPIFFE id is
    ``spiffe://<value>`` (mTLS only: a plaintext caller has none)."""
    if value.startswith("*") and value != "*":
        return Principal(
            and_ids=Principal.Set(
                ids=[
                    _authenticated(string_pb2.StringMatcher(prefix=SPIFFE_PREFIX)),
                    _authenticated(string_pb2.StringMatcher(suffix=value[1:])),
                ]
            )
        )
    return _authenticated(string_matcher(value, SPIFFE_PREFIX))


def _wildcard_regex(value: str) -> str:
    """RE2 for a value whose ``*`` match anything and everything else is literal."""
    return ".*".join(re2_escape(part) for part in value.split("*"))


def _source_namespace(value: str) -> Principal:
    """``namespaces`` / ``source.namespace``: ``/ns/<value>/`` in the peer's SPIFFE id."""
    if "*" not in value:
        return _authenticated(string_pb2.StringMatcher(contains=f"/ns/{value}/"))
    return _authenticated(regex(f".*/ns/{_wildcard_regex(value)}/.*"))


def _source_service_account(policy_ns: str, value: str) -> Principal:
    """``serviceAccounts`` / ``source.serviceAccount``: ``sa`` or ``ns/sa`` (default: the
    policy's namespace)."""
    ns, sep, sa = value.partition("/")
    if not sep:
        ns, sa = policy_ns, value
    expr = f"spiffe://.+/ns/{re2_escape(ns)}/(.+/|)sa/{re2_escape(sa)}(/.+)?"
    return _authenticated(regex(expr))


def _trust_domain(value: str) -> Principal:
    if value == "*":
        return _authenticated(string_pb2.StringMatcher(prefix=SPIFFE_PREFIX))
    return _authenticated(regex(f"spiffe://{_wildcard_regex(value)}/.*"))


def _request_principal(value: str) -> Principal:
    """``requestPrincipals`` / ``request.auth.principal``: ``<iss>/<sub>`` of the verified
    JWT. An issuer may hold ``/`` (a URL): an exact value matches any way of splitting it;
    wildcard forms split at the last ``/`` as Istio does."""

    def both(iss: string_pb2.StringMatcher, sub: string_pb2.StringMatcher) -> Principal:
        return Principal(
            and_ids=Principal.Set(
                ids=[
                    Principal(metadata=jwt_claim_matcher(["iss"], iss, list_too=False)),
                    Principal(metadata=jwt_claim_matcher(["sub"], sub, list_too=False)),
                ]
            )
        )

    any_ = regex(".+")
    cut = value.rfind("/")
    iss, sub = (value[:cut], value[cut + 1 :]) if cut >= 0 else (value, "")
    if value == "*":
        return both(any_, any_)
    if value.startswith("*"):
        if cut < 0:
            return both(any_, string_pb2.StringMatcher(suffix=value[1:]))
        iss_m = any_ if iss == "*" else string_pb2.StringMatcher(suffix=iss[1:])
        return both(iss_m, string_pb2.StringMatcher(exact=sub))
    if value.endswith("*"):
        if cut < 0:
            return both(string_pb2.StringMatcher(prefix=value[:-1]), any_)
        sub_m = any_ if sub == "*" else string_pb2.StringMatcher(prefix=sub[:-1])
        return both(string_pb2.StringMatcher(exact=iss), sub_m)
    splits = [i for i, c in enumerate(value) if c == "/"]
    if not splits:
        return both(string_pb2.StringMatcher(exact=value), string_pb2.StringMatcher(exact=""))
    alternatives = [
        both(string_pb2.StringMatcher(exact=value[:i]), string_pb2.StringMatcher(exact=value[i + 1 :]))
        for i in splits
    ]
    if len(alternatives) == 1:
        return alternatives[0]
    return Principal(or_ids=Principal.Set(ids=alternatives))


def _bracket_names(key: str, prefix: str) -> list[str]:
    """``request.auth.claims[a][b]`` -> ``["a", "b"]`` (``[a.b]`` is the single claim
    ``a.b``)."""
    inner = key[len(prefix) :]
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ValueError(f"bad key {key}")
    return inner[1:-1].split("][")


def _principal(key: str, value: str, ctx: RuleContext) -> Principal:
    if key in ("principals", "source.principal"):
        return _source_principal(value)
    if key in ("namespaces", "source.namespace"):
        return _source_namespace(value)
    if key in ("serviceAccounts", "source.serviceAccount"):
        return _source_service_account(ctx.policy_namespace, value)
    if key == "trustDomains":
        return _trust_domain(value)
    if key in ("ipBlocks", "source.ip"):
        return Principal(direct_remote_ip=cidr_range(value))
    if key in ("remoteIpBlocks", "remote.ip"):
        return Principal(remote_ip=cidr_range(value))
    # HTTP-only from here
    if ctx.for_tcp:
        raise HttpOnly(key)
    if key in ("requestPrincipals", "request.auth.principal"):
        return _request_principal(value)
    if key == "request.auth.audiences":
        return Principal(metadata=jwt_claim_matcher(["aud"], string_matcher(value)))
    if key == "request.auth.presenter":
        return Principal(metadata=jwt_claim_matcher(["azp"], string_matcher(value)))
    if key.startswith("request.auth.claims["):
        claims = _bracket_names(key, "request.auth.claims")
        return Principal(metadata=jwt_claim_matcher(claims, string_matcher(value)))
    if key.startswith("request.headers["):
        return Principal(header=header_matcher(key[len("request.headers[") : -1], value))
    raise ValueError(f"unknown principal attribute {key}")


# ---------------------------------------------------------------------------- permissions


def _envoy_filter_metadata(key: str, value: str) -> Permission:
    """``experimental.envoy.filters.<filter>[<key>]``: a string (or ``[v]``: a list
    element) in that filter's dynamic metadata."""
    filt, _, rest = key.removeprefix("experimental.").partition("[")
    path = [metadata_pb2.MetadataMatcher.PathSegment(key=rest.removesuffix("]"))]
    if value.startswith("[") and value.endswith("]"):
        one = value_pb2.ValueMatcher(string_match=string_matcher(value[1:-1]))
        vm = value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=one))
    else:
        vm = value_pb2.ValueMatcher(string_match=string_matcher(value))
    return Permission(metadata=metadata_pb2.MetadataMatcher(filter=filt, path=path, value=vm))


def _permission(key: str, value: str, ctx: RuleContext) -> Permission:
    if key in ("ports", "destination.port"):
        return Permission(destination_port=int(value))
    if key == "destination.ip":
        return Permission(destination_ip=cidr_range(value))
    if key == "connection.sni":
        return Permission(requested_server_name=string_matcher(value))
    # HTTP-only from here
    if ctx.for_tcp:
        raise HttpOnly(key)
    if key == "hosts":
        # a match that refuses the request (DENY hosts, ALLOW notHosts) also catches a
        # duplicate-Host list with the value in it
        return Permission(header=host_matcher(value, any_element=ctx.allow == ctx.negated))
    if key == "methods":
        return Permission(header=header_matcher(":method", value))
    if key == "paths":
        return path_permission(value)
    if key.startswith("experimental.envoy.filters."):
        return _envoy_filter_metadata(key, value)
    raise ValueError(f"unknown permission attribute {key}")


# ---------------------------------------------------------------------------- assembly

# (key, values, not values)
_Attr = tuple[str, Sequence[str], Sequence[str]]
_M = TypeVar("_M", Permission, Principal)
_PERMISSION_KEYS = ("destination.ip", "destination.port", "connection.sni")


def _is_permission_key(key: str) -> bool:
    return key in _PERMISSION_KEYS or key.startswith("experimental.envoy.filters.")


def _operation_attrs(op: Operation) -> list[_Attr]:
    return [
        ("hosts", op.hosts, op.not_hosts),
        ("ports", op.ports, op.not_ports),
        ("methods", op.methods, op.not_methods),
        ("paths", op.paths, op.not_paths),
    ]


def _source_attrs(src: Source) -> list[_Attr]:
    return [
        ("principals", src.principals, src.not_principals),
        ("requestPrincipals", src.request_principals, src.not_request_principals),
        ("namespaces", src.namespaces, src.not_namespaces),
        ("serviceAccounts", src.service_accounts, src.not_service_accounts),
        ("trustDomains", src.trust_domains, src.not_trust_domains),
        ("ipBlocks", src.ip_blocks, src.not_ip_blocks),
        ("remoteIpBlocks", src.remote_ip_blocks, src.not_remote_ip_blocks),
    ]


def _condition_attr(c: Condition) -> _Attr:
    return (c.key, c.values, c.not_values)


def _matches(
    key: str, values: Sequence[str], make: Callable[[str, str, RuleContext], _M], ctx: RuleContext
) -> list[_M]:
    """The matchers of ``values``; an HTTP-only value on TCP is dropped, except in an ALLOW
    rule, where it drops the rule (:class:`HttpOnly` goes up)."""
    out: list[_M] = []
    for v in values:
        try:
            out.append(make(key, v, ctx))
        except HttpOnly:
            if ctx.allow:
                raise
    return out


def _permission_set(attrs: Sequence[_Attr], ctx: RuleContext) -> Permission:
    """AND over the attributes: each ``values`` -> OR, each ``not values`` -> NOT(OR)."""

    def any_of(ms: list[Permission]) -> Permission:
        return ms[0] if len(ms) == 1 else Permission(or_rules=Permission.Set(rules=ms))

    parts: list[Permission] = []
    for key, values, not_values in attrs:
        pos = _matches(key, values, _permission, ctx)
        if pos:
            parts.append(any_of(pos))
        neg = _matches(key, not_values, _permission, dataclasses.replace(ctx, negated=True))
        if neg:
            parts.append(Permission(not_rule=any_of(neg)))
    if not parts:
        return Permission(any=True)
    return Permission(and_rules=Permission.Set(rules=parts))


def _principal_set(attrs: Sequence[_Attr], ctx: RuleContext) -> Principal:
    def any_of(ms: list[Principal]) -> Principal:
        return ms[0] if len(ms) == 1 else Principal(or_ids=Principal.Set(ids=ms))

    parts: list[Principal] = []
    for key, values, not_values in attrs:
        pos = _matches(key, values, _principal, ctx)
        if pos:
            parts.append(any_of(pos))
        neg = _matches(key, not_values, _principal, ctx)
        if neg:
            parts.append(Principal(not_id=any_of(neg)))
    if not parts:
        return Principal(any=True)
    return Principal(and_ids=Principal.Set(ids=parts))


def rule_policy(rule: Rule, ctx: RuleContext) -> rbac_pb2.Policy | None:
    """The Envoy policy of one rule; None when the rule can never match on this chain (an
    ALLOW rule with an HTTP-only attribute on TCP)."""
    perm_when = [_condition_attr(c) for c in rule.when if _is_permission_key(c.key)]
    prin_when = [_condition_attr(c) for c in rule.when if not _is_permission_key(c.key)]
    ops = [t.operation for t in rule.to if t.operation is not None]
    srcs = [f.source for f in rule.from_ if f.source is not None]
    try:
        permissions = [
            _permission_set([*_operation_attrs(op), *perm_when], ctx) for op in ops
        ] or [_permission_set(perm_when, ctx)]
        principals = [
            _principal_set([*_source_attrs(src), *prin_when], ctx) for src in srcs
        ] or [_principal_set(prin_when, ctx)]
    except HttpOnly:
        return None
    return rbac_pb2.Policy(permissions=permissions, principals=principals)
