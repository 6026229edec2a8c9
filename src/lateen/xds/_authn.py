"""RequestAuthentication -> Envoy ``jwt_authn`` (Istio's ``pilot/pkg/security/authn``), pure.

Every policy that selects the workload (:meth:`PushContext.request_authentications_for`)
contributes its ``jwtRules``; the rules are merged into one filter, sorted by issuer, one
provider ``origins-<i>`` each. A token that is present must verify with some provider
(bad signature, expired, wrong audience, unknown issuer, ``alg: none`` -> 401); a request
without a token passes (``allow_missing``), so requiring one is AuthorizationPolicy's job
(``requestPrincipals``). The verified payload is written to the filter's dynamic metadata
under ``payload`` (``envoy.filters.http.jwt_authn`` -> ``payload``), where RBAC reads
``request.auth.*``. Key sets are inline: a rule's ``jwks``, else what the control plane
fetched from its ``jwksUri`` (``push.jwks``), else a key set that verifies nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from google.protobuf import empty_pb2

from lateen.api import ConfigObject
from lateen.api.security import JWTRule
from lateen.model._jwks import FAIL_CLOSED_JWKS
from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds.names import JWT_PAYLOAD_METADATA_KEY

__all__ = [
    "JWT_PAYLOAD_METADATA_KEY",
    "SPACE_DELIMITED_CLAIMS",
    "build_jwt_authn",
    "jwt_rules_for_proxy",
    "provider_name",
]

# claims Envoy splits on spaces in the metadata (so ``scope: "a b"`` matches ``a``), as Istio
SPACE_DELIMITED_CLAIMS = ("permission", "scope")


def provider_name(index: int) -> str:
    return f"origins-{index}"


def jwt_rules_for_proxy(proxy: Proxy, push: PushContext) -> list[JWTRule]:
    """The merged rules of every policy selecting the proxy, sorted by issuer (stable)."""
    policies: Sequence[ConfigObject] = push.request_authentications_for(proxy)
    rules: list[JWTRule] = [r for p in policies for r in p.spec.jwt_rules]
    rules.sort(key=lambda r: r.issuer)
    return rules


def _jwks_for(rule: JWTRule, jwks: Mapping[str, str]) -> str:
    if rule.jwks:
        return rule.jwks
    if rule.jwks_uri:
        return jwks.get(rule.jwks_uri, FAIL_CLOSED_JWKS)
    return FAIL_CLOSED_JWKS  # OpenID discovery from the issuer is not supported


def _provider(rule: JWTRule, jwks: Mapping[str, str]) -> jwt_pb2.JwtProvider:
    p = jwt_pb2.JwtProvider(
        issuer=rule.issuer,
        audiences=rule.audiences,
        forward=rule.forward_original_token,
        forward_payload_header=rule.output_payload_to_header,
        payload_in_metadata=JWT_PAYLOAD_METADATA_KEY,
        from_params=rule.from_params,
        from_cookies=rule.from_cookies,
    )
    p.normalize_payload_in_metadata.space_delimited_claims.extend(SPACE_DELIMITED_CLAIMS)
    for h in rule.from_headers:
        p.from_headers.append(jwt_pb2.JwtHeader(name=h.name, value_prefix=h.prefix))
    for c in rule.output_claim_to_headers:
        p.claim_to_headers.append(jwt_pb2.JwtClaimToHeader(header_name=c.header, claim_name=c.claim))
    p.local_jwks.CopyFrom(base_pb2.DataSource(inline_string=_jwks_for(rule, jwks)))
    return p


def _requires_provider(name: str) -> jwt_pb2.JwtRequirement:
    return jwt_pb2.JwtRequirement(provider_name=name)


def build_jwt_authn(
    rules: Sequence[JWTRule], jwks: Mapping[str, str]
) -> jwt_pb2.JwtAuthentication | None:
    """The filter config for ``rules`` (None without rules). One provider: ``requires_any
    [provider, allow_missing]``. Several: ``requires_any [P1, ..., Pn, requires_all
    [requires_any [Pi, allow_missing] ...]]`` - every token present must be valid for its
    provider, and the outer alternatives cover providers that read the same location."""
    if not rules:
        return None
    out = jwt_pb2.JwtAuthentication(bypass_cors_preflight=True)
    inner: list[jwt_pb2.JwtRequirement] = []
    outer: list[jwt_pb2.JwtRequirement] = []
    for i, rule in enumerate(rules):
        name = provider_name(i)
        out.providers[name].CopyFrom(_provider(rule, jwks))
        inner.append(
            jwt_pb2.JwtRequirement(
                requires_any=jwt_pb2.JwtRequirementOrList(
                    requirements=[
                        _requires_provider(name),
                        jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()),
                    ]
                )
            )
        )
        outer.append(_requires_provider(name))
    if len(inner) == 1:
        requires = inner[0]
    else:
        outer.append(
            jwt_pb2.JwtRequirement(requires_all=jwt_pb2.JwtRequirementAndList(requirements=inner))
        )
        requires = jwt_pb2.JwtRequirement(
            requires_any=jwt_pb2.JwtRequirementOrList(requirements=outer)
        )
    out.rules.append(
        jwt_pb2.RequirementRule(
            match=route_components_pb2.RouteMatch(prefix="/"), requires=requires
        )
    )
    return out
