"""security.istio.io: PeerAuthentication, AuthorizationPolicy, RequestAuthentication.

Models follow ``istio/api`` ``security/v1beta1/*.proto`` field for field; the validators
apply the checks of Istio's ``pkg/config/validation`` (and of the CRD schema) and report
each problem at its field path.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from lateen.api._base import IstioModel, ValidationContext
from lateen.api._type import (
    PolicyTargetReference,
    WorkloadSelector,
    check_duration,
    check_strict_header_name,
    validate_policy_scope,
    validate_workload_selector,
)

__all__ = [
    "METADATA_HOSTNAMES",
    "AuthorizationPolicy",
    "ClaimToHeader",
    "Condition",
    "ExtensionProvider",
    "JWTHeader",
    "JWTRule",
    "MutualTLS",
    "Operation",
    "PeerAuthentication",
    "RequestAuthentication",
    "Rule",
    "RuleFrom",
    "RuleTo",
    "Source",
    "jwks_address_refused",
    "jwks_host_refused",
    "validate_authorization_policy",
    "validate_peer_authentication",
    "validate_request_authentication",
]

# --------------------------------------------------------------------------- PeerAuthentication

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]


class MutualTLS(IstioModel):
    mode: MtlsMode = "UNSET"


class PeerAuthentication(IstioModel):
    selector: WorkloadSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[int, MutualTLS] = Field(default_factory=dict)


def validate_peer_authentication(spec: PeerAuthentication, ctx: ValidationContext) -> None:
    empty_selector = spec.selector is None or not spec.selector.match_labels
    if spec.port_level_mtls and empty_selector:
        ctx.error(
            "spec.portLevelMtls",
            "mesh/namespace peer authentication cannot have port level mTLS "
            "(portLevelMtls requires a selector with labels)",
        )
    if "port_level_mtls" in spec.model_fields_set and not spec.port_level_mtls:
        ctx.error(
            "spec.portLevelMtls", "port level mTLS, if defined, must have at least one element"
        )
    for port in spec.port_level_mtls:
        if not 0 < port <= 65535:
            ctx.error(f"spec.portLevelMtls[{port}]", "port must be in range 1..65535")
    validate_workload_selector(spec.selector, "spec.selector", ctx)


# --------------------------------------------------------------------------- AuthorizationPolicy

Action = Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"]


class Source(IstioModel):
    principals: list[str] = Field(default_factory=list)
    not_principals: list[str] = Field(default_factory=list)
    request_principals: list[str] = Field(default_factory=list)
    not_request_principals: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    not_namespaces: list[str] = Field(default_factory=list)
    service_accounts: list[str] = Field(default_factory=list)
    not_service_accounts: list[str] = Field(default_factory=list)
    trust_domains: list[str] = Field(default_factory=list)
    not_trust_domains: list[str] = Field(default_factory=list)
    ip_blocks: list[str] = Field(default_factory=list)
    not_ip_blocks: list[str] = Field(default_factory=list)
    remote_ip_blocks: list[str] = Field(default_factory=list)
    not_remote_ip_blocks: list[str] = Field(default_factory=list)


class Operation(IstioModel):
    hosts: list[str] = Field(default_factory=list)
    not_hosts: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    not_ports: list[str] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=list)
    not_methods: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    not_paths: list[str] = Field(default_factory=list)


class Condition(IstioModel):
    key: str = ""
    values: list[str] = Field(default_factory=list)
    not_values: list[str] = Field(default_factory=list)


class RuleFrom(IstioModel):
    """``Rule.From``: one source."""

    source: Source | None = None


class RuleTo(IstioModel):
    """``Rule.To``: one operation."""

    operation: Operation | None = None


class Rule(IstioModel):
    from_: list[RuleFrom] = Field(default_factory=list, alias="from")
    to: list[RuleTo] = Field(default_factory=list)
    when: list[Condition] = Field(default_factory=list)


class ExtensionProvider(IstioModel):
    """``AuthorizationPolicy.ExtensionProvider``: the CUSTOM action's provider."""

    name: str = ""


class AuthorizationPolicy(IstioModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    action: Action = "ALLOW"
    provider: ExtensionProvider | None = None


# Source fields as (python attribute, YAML name), in proto order.
_SOURCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("principals", "principals"),
    ("not_principals", "notPrincipals"),
    ("request_principals", "requestPrincipals"),
    ("not_request_principals", "notRequestPrincipals"),
    ("namespaces", "namespaces"),
    ("not_namespaces", "notNamespaces"),
    ("service_accounts", "serviceAccounts"),
    ("not_service_accounts", "notServiceAccounts"),
    ("trust_domains", "trustDomains"),
    ("not_trust_domains", "notTrustDomains"),
    ("ip_blocks", "ipBlocks"),
    ("not_ip_blocks", "notIpBlocks"),
    ("remote_ip_blocks", "remoteIpBlocks"),
    ("not_remote_ip_blocks", "notRemoteIpBlocks"),
)
_OPERATION_FIELDS: tuple[tuple[str, str], ...] = (
    ("hosts", "hosts"),
    ("not_hosts", "notHosts"),
    ("ports", "ports"),
    ("not_ports", "notPorts"),
    ("methods", "methods"),
    ("not_methods", "notMethods"),
    ("paths", "paths"),
    ("not_paths", "notPaths"),
)
# Source fields that only carry meaning on TCP too (anything but request principals).
_TCP_SOURCE_FIELDS = frozenset(
    attr
    for attr, _ in _SOURCE_FIELDS
    if attr not in ("request_principals", "not_request_principals")
)
# Source fields and condition keys the CUSTOM action does not support.
_CUSTOM_UNSUPPORTED_SOURCE = (
    ("namespaces", "From.Namespaces"),
    ("not_namespaces", "From.NotNamespaces"),
    ("service_accounts", "From.ServiceAccounts"),
    ("not_service_accounts", "From.NotServiceAccounts"),
    ("principals", "From.Principals"),
    ("not_principals", "From.NotPrincipals"),
    ("request_principals", "From.RequestPrincipals"),
    ("not_request_principals", "From.NotRequestPrincipals"),
)
_CUSTOM_UNSUPPORTED_KEYS = frozenset(
    {"source.namespace", "source.serviceAccount", "source.principal"}
)
# Fields whose values match with `*` as prefix, suffix or presence only.
_WILDCARD_FIELDS = frozenset(
    {"principals", "not_principals", "request_principals", "not_request_principals",
     "namespaces", "not_namespaces", "trust_domains", "not_trust_domains"}
)  # fmt: skip
_IP_FIELDS = frozenset({"ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks"})
_SA_FIELDS = frozenset({"service_accounts", "not_service_accounts"})

_PORT = re.compile(r"^[0-9]+$")
_PATH_LITERAL = re.compile(r"^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$")
_MATCH_ONE = "{*}"
_MATCH_ANY = "{**}"


def _ip_error(value: str) -> str | None:
    """Istio's IP/CIDR rule (``netip.ParseAddr`` / ``netip.ParsePrefix``)."""
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as e:
            return f"bad CIDR range ({value}): {e}"
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"bad IP address ({value})"
    return None


def _port_error(value: str) -> str | None:
    if not _PORT.match(value) or int(value) > 65535:
        return f"bad port ({value}): must be a number in 0..65535"
    return None


def _service_account_error(value: str) -> str | None:
    if "*" in value:
        return "wildcard not allowed"
    if value.count("/") > 1:
        return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found {value!r}"
    if len(value) > 320:
        return f"value cannot exceed 320 characters, found {value!r}"
    ns, sep, sa = value.partition("/")
    if sep and not ns:
        return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace {value!r}"
    if sep and not sa:
        return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount {value!r}"
    return None


def _path_template_error(path: str) -> str | None:
    """Istio's path-template rule: ``{*}`` matches one segment, ``{**}`` any number and must be
    the last operator; no other braces; segments of a template must be RFC 3986 pchars."""
    is_template = _MATCH_ONE in path or _MATCH_ANY in path
    found_any = False
    for glob in path.strip("/").split("/"):
        if glob in (_MATCH_ONE, _MATCH_ANY):
            if found_any:
                return f"invalid or unsupported path {path}: {{**}} is not the last operator"
            found_any = glob == _MATCH_ANY
            continue
        if "{" in glob or "}" in glob:
            return (
                f"invalid or unsupported path {path}: "
                "contains '{' or '}' beyond a supported path template"
            )
        if is_template and not _PATH_LITERAL.match(glob):
            return (
                f"invalid or unsupported path {path}: "
                f"contains segment {glob!r} with invalid string literal"
            )
    return None


def _map_key_error(key: str) -> str | None:
    open_ = key.find("[")
    if key.endswith("]") and 0 < open_ < len(key) - 2:
        return None
    return f"bad key ({key}): should have format a[b]"


def _attribute_key_error(key: str) -> str | None:
    """Errors about the condition key itself (unknown, badly formed, replaced attributes)."""
    if key.startswith(("request.headers", "request.experimental.inline.headers",
                       "request.auth.claims", "experimental.envoy.filters.")):  # fmt: skip
        return _map_key_error(key)
    if key in {
        "source.ip", "remote.ip", "source.namespace", "source.serviceAccount",
        "source.principal", "request.auth.principal", "request.auth.audiences",
        "request.auth.presenter", "destination.ip", "destination.port", "connection.sni",
    }:  # fmt: skip
        return None
    if key == "destination.namespace":
        return f"attribute {key} is replaced by the metadata.namespace"
    if key.startswith("destination.labels"):
        return f"attribute {key} is replaced by the workload selector"
    if key in ("destination.name", "destination.user"):
        return f"deprecated attribute {key}: only supported in v1alpha1"
    return f"unknown attribute: {key}"


def _attribute_value_error(key: str, value: str) -> str | None:
    if not value:
        return "empty value not allowed"
    if key in ("source.ip", "remote.ip", "destination.ip"):
        return _ip_error(value)
    if key == "destination.port":
        return _port_error(value)
    if key == "source.serviceAccount":
        return _service_account_error(value)
    return None


def _warn_inner_wildcard(values: Sequence[str], path: str, ctx: ValidationContext) -> None:
    for k, v in enumerate(values):
        if v != "*" and ("*" in v[1:-1] or (v.startswith("*") and v.endswith("*"))):
            ctx.warn(
                f"{path}[{k}]",
                f"{v!r}: '*' is only supported as a prefix, a suffix or alone; "
                "elsewhere it is matched literally",
            )


def _validate_source(src: Source, path: str, rule_no: int, ctx: ValidationContext) -> None:
    present = {attr for attr, _ in _SOURCE_FIELDS if getattr(src, attr)}
    if not present:
        ctx.error(path, f"`from.source` must not be empty, found at rule {rule_no}")
    if (
        present & {"principals", "not_principals", "namespaces", "not_namespaces"}
        and present & _SA_FIELDS
    ):
        ctx.error(
            f"{path}.serviceAccounts" if src.service_accounts else f"{path}.notServiceAccounts",
            f"cannot set serviceAccounts with namespaces or principals, found at rule {rule_no}",
        )
    for attr, name in _SOURCE_FIELDS:
        values: list[str] = getattr(src, attr)
        if attr in _SA_FIELDS and len(values) > 16:
            ctx.error(f"{path}.{name}", "may not have more than 16 values")
        for k, v in enumerate(values):
            vpath = f"{path}.{name}[{k}]"
            if not v:
                ctx.error(vpath, "empty value not allowed")
                continue
            err: str | None = None
            if attr in _IP_FIELDS:
                err = _ip_error(v)
            elif attr in _SA_FIELDS:
                err = _service_account_error(v)
            if err:
                ctx.error(vpath, err)
        if attr in _WILDCARD_FIELDS:
            _warn_inner_wildcard(values, f"{path}.{name}", ctx)


def _validate_operation(op: Operation, path: str, rule_no: int, ctx: ValidationContext) -> None:
    if not any(getattr(op, attr) for attr, _ in _OPERATION_FIELDS):
        ctx.error(path, f"`to.operation` must not be empty, found at rule {rule_no}")
    for attr, name in _OPERATION_FIELDS:
        for k, v in enumerate(getattr(op, attr)):
            vpath = f"{path}.{name}[{k}]"
            if not v:
                ctx.error(vpath, "empty value not allowed")
                continue
            err: str | None = None
            if attr in ("ports", "not_ports"):
                err = _port_error(v)
            elif attr in ("paths", "not_paths"):
                err = _path_template_error(v)
            if err:
                ctx.error(vpath, err)


def _validate_condition(cond: Condition, path: str, ctx: ValidationContext) -> bool:
    """Check one ``when`` entry; returns whether it uses only attributes that exist on TCP."""
    key = cond.key
    if not key:
        ctx.error(f"{path}.key", "`key` must not be empty")
        return False
    if not cond.values and not cond.not_values:
        ctx.error(path, f"at least one of `values` or `notValues` must be set for key {key}")
        return False
    key_err = _attribute_key_error(key)
    if key_err:
        ctx.error(f"{path}.key", f"invalid `key` {key}: {key_err}")
        return False
    for name, values in (("values", cond.values), ("notValues", cond.not_values)):
        if key == "source.serviceAccount" and len(values) > 16:
            ctx.error(f"{path}.{name}", "may not have more than 16 values")
        what = "value" if name == "values" else "notValue"
        for k, v in enumerate(values):
            err = _attribute_value_error(key, v)
            if err:
                ctx.error(f"{path}.{name}[{k}]", f"invalid `{what}` for `key` {key}: {err}")
    return True


def validate_authorization_policy(spec: AuthorizationPolicy, ctx: ValidationContext) -> None:
    validate_policy_scope(
        ctx, selector=spec.selector, target_ref=spec.target_ref, target_refs=spec.target_refs
    )

    if spec.action == "CUSTOM":
        if not spec.rules:
            ctx.error(
                "spec.rules",
                "CUSTOM action without `rules` is meaningless as it will never be triggered, "
                "add an empty rule `{}` if you want it be triggered for every request",
            )
        elif spec.provider is None:
            ctx.error(
                "spec.provider",
                "`provider.name` must not be empty: CUSTOM action requires a provider",
            )
        elif not spec.provider.name:
            ctx.error("spec.provider.name", "`provider.name` must not be empty")
        for i, rule in enumerate(spec.rules):
            for j, frm in enumerate(rule.from_):
                if frm.source is None:
                    continue
                for attr, label in _CUSTOM_UNSUPPORTED_SOURCE:
                    if getattr(frm.source, attr):
                        name = dict(_SOURCE_FIELDS)[attr]
                        ctx.error(
                            f"spec.rules[{i}].from[{j}].source.{name}",
                            f"{label} is currently not supported with CUSTOM action",
                        )
            for k, cond in enumerate(rule.when):
                if cond.key in _CUSTOM_UNSUPPORTED_KEYS or cond.key.startswith("request.auth."):
                    ctx.error(
                        f"spec.rules[{i}].when[{k}].key",
                        f"{cond.key} is currently not supported with CUSTOM action",
                    )
    elif spec.provider is not None:
        ctx.error(
            "spec.provider", f"`provider` must not be with non CUSTOM action, found {spec.action}"
        )

    if spec.action == "DENY" and not spec.rules:
        ctx.error(
            "spec.rules",
            "DENY action without `rules` is meaningless as it will never be triggered, "
            "add an empty rule `{}` if you want it be triggered for every request",
        )

    for i, rule in enumerate(spec.rules):
        rpath = f"spec.rules[{i}]"
        if "from_" in rule.model_fields_set and not rule.from_:
            ctx.error(f"{rpath}.from", f"`from` must not be empty, found at rule {i}")
        if "to" in rule.model_fields_set and not rule.to:
            ctx.error(f"{rpath}.to", f"`to` must not be empty, found at rule {i}")
        if "when" in rule.model_fields_set and not rule.when:
            ctx.error(f"{rpath}.when", f"`when` must not be empty, found at rule {i}")
        tcp_in_from = tcp_in_to = from_exists = to_exists = False
        for j, frm in enumerate(rule.from_):
            fpath = f"{rpath}.from[{j}].source"
            if frm.source is None:
                ctx.error(fpath, f"`from.source` must not be nil, found at rule {i}")
                continue
            from_exists = True
            _validate_source(frm.source, fpath, i, ctx)
            if any(getattr(frm.source, attr) for attr in _TCP_SOURCE_FIELDS):
                tcp_in_from = True
        for j, to in enumerate(rule.to):
            opath = f"{rpath}.to[{j}].operation"
            if to.operation is None:
                ctx.error(opath, f"`to.operation` must not be nil, found at rule {i}")
                continue
            to_exists = True
            _validate_operation(to.operation, opath, i, ctx)
            if to.operation.ports or to.operation.not_ports:
                tcp_in_to = True
        for k, cond in enumerate(rule.when):
            _validate_condition(cond, f"{rpath}.when[{k}]", ctx)
        if spec.action == "DENY" and (
            (from_exists and not to_exists and not tcp_in_from) or (to_exists and not tcp_in_to)
        ):
            ctx.warn(
                rpath,
                "configured AuthorizationPolicy will deny all traffic to TCP ports under its "
                "scope due to the use of only HTTP attributes in a DENY rule; it is recommended "
                "to explicitly specify the port",
            )


# --------------------------------------------------------------------------- RequestAuthentication


class JWTHeader(IstioModel):
    name: str = ""
    prefix: str = ""


class ClaimToHeader(IstioModel):
    header: str = ""
    claim: str = ""


class JWTRule(IstioModel):
    issuer: str = ""
    audiences: list[str] = Field(default_factory=list)
    jwks_uri: str = ""
    jwks: str = ""
    from_headers: list[JWTHeader] = Field(default_factory=list)
    from_params: list[str] = Field(default_factory=list)
    from_cookies: list[str] = Field(default_factory=list)
    output_payload_to_header: str = ""
    forward_original_token: bool = False
    output_claim_to_headers: list[ClaimToHeader] = Field(default_factory=list)
    timeout: str | None = None


class RequestAuthentication(IstioModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    jwt_rules: list[JWTRule] = Field(default_factory=list)


_JWK_REQUIRED: dict[str, tuple[str, ...]] = {
    "RSA": ("n", "e"),
    "EC": ("crv", "x", "y"),
    "oct": ("k",),
    "OKP": ("crv", "x"),
}


def _jwk_error(key: Any, where: str) -> str | None:
    if not isinstance(key, dict):
        return f"{where} is not a JSON object"
    kty = key.get("kty")
    if not isinstance(kty, str) or not kty:
        return f'{where} has no "kty"'
    required = _JWK_REQUIRED.get(kty)
    if required is None:
        return f"{where} has unsupported key type {kty!r}"
    missing = [p for p in required if not isinstance(key.get(p), str) or not key.get(p)]
    if missing:
        return f"{where} ({kty}) is missing {', '.join(missing)}"
    return None


def _jwks_error(text: str) -> str | None:
    """A JWKS is a JSON key set (``{"keys": [...]}``) or a single JSON Web Key."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return f"jwks parse error: invalid JSON: {e}"
    if isinstance(doc, dict) and "keys" in doc:
        keys = doc["keys"]
        if not isinstance(keys, list):
            return 'jwks parse error: "keys" must be a list'
        for n, key in enumerate(keys):
            err = _jwk_error(key, f"key {n}")
            if err:
                return f"jwks parse error: {err}"
        return None
    err = _jwk_error(doc, "key")
    return f"jwks parse error: {err}" if err else None


# Names of cloud instance-metadata services: a jwksUri must never make the control plane
# fetch from them (they hand out credentials to whoever asks from the machine).
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# NAT64 well-known prefix (RFC 6052): an IPv4 address embedded in its last 32 bits
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def jwks_address_refused(address: str) -> str | None:
    """Why the control plane refuses to fetch a JWKS from this IP address (link-local:
    169.254.0.0/16, fe80::/10, the cloud metadata range, also when embedded in an IPv6
    address), or None. Not an IP address: None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for c in candidates:
        if c.is_link_local:
            return f"address {address} is link-local (cloud metadata range): refused"
    return None


def jwks_host_refused(host: str) -> str | None:
    """Why a jwksUri host (a name or a literal address) is refused, or None."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        return f"host {host} is a cloud metadata service: refused"
    return jwks_address_refused(name)


def _jwks_uri_error(uri: str) -> str | None:
    if len(uri) > 2048:
        return "jwksUri must be at most 2048 characters"
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError as e:
        return f"invalid URI {uri!r}: {e}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"URI scheme {parts.scheme!r} is not supported: url must have scheme http:// or https://"
    if not parts.hostname:
        return f"invalid URI {uri!r}: no host"
    refused = jwks_host_refused(parts.hostname)
    if refused:
        return f"jwksUri {uri!r}: {refused}"
    return None


def _validate_jwt_rule(rule: JWTRule, path: str, ctx: ValidationContext) -> None:
    if not rule.issuer and not rule.jwks_uri:
        ctx.error(f"{path}.issuer", "issuer or jwksUri must be non-empty string")
    for k, aud in enumerate(rule.audiences):
        if not aud:
            ctx.error(f"{path}.audiences[{k}]", "audience must be non-empty string")
    if rule.jwks_uri and rule.jwks:
        ctx.error(f"{path}.jwks", "only one of jwks or jwksUri can be set")
    if rule.jwks_uri:
        err = _jwks_uri_error(rule.jwks_uri)
        if err:
            ctx.error(f"{path}.jwksUri", err)
    if rule.jwks:
        err = _jwks_error(rule.jwks)
        if err:
            ctx.error(f"{path}.jwks", err)
    for k, header in enumerate(rule.from_headers):
        if not header.name:
            ctx.error(
                f"{path}.fromHeaders[{k}].name", "location header name must be non-empty string"
            )
    for k, param in enumerate(rule.from_params):
        if not param:
            ctx.error(f"{path}.fromParams[{k}]", "location query must be non-empty string")
    for k, cookie in enumerate(rule.from_cookies):
        if not cookie:
            ctx.error(f"{path}.fromCookies[{k}]", "cookie name must be non-empty string")
    for k, c2h in enumerate(rule.output_claim_to_headers):
        cpath = f"{path}.outputClaimToHeaders[{k}]"
        if not c2h.claim:
            ctx.error(
                f"{cpath}.claim",
                "outputClaimToHeaders header and claim value must be non-empty string",
            )
        if not c2h.header:
            ctx.error(
                f"{cpath}.header",
                "outputClaimToHeaders header and claim value must be non-empty string",
            )
        else:
            err = check_strict_header_name(c2h.header)
            if err:
                ctx.error(f"{cpath}.header", err)
    if rule.timeout is not None:
        check_duration(rule.timeout, f"{path}.timeout", ctx)


def validate_request_authentication(spec: RequestAuthentication, ctx: ValidationContext) -> None:
    validate_policy_scope(
        ctx, selector=spec.selector, target_ref=spec.target_ref, target_refs=spec.target_refs
    )
    if len(spec.jwt_rules) > 4096:
        ctx.error("spec.jwtRules", "must have at most 4096 items")
    for i, rule in enumerate(spec.jwt_rules):
        _validate_jwt_rule(rule, f"spec.jwtRules[{i}]", ctx)
