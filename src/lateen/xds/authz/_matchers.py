"""Envoy matchers for AuthorizationPolicy values, pure.

A user value is matched literally: ``*`` alone means "any non-empty value", a leading ``*``
a suffix, a trailing ``*`` a prefix (Istio's rule). A regular expression is only built from
constant text and :func:`re2_escape`d user text, so a value with regex metacharacters never
widens a match."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from envoy.config.core.v3 import address_pb2, extension_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.path.match.uri_template.v3 import uri_template_match_pb2
from envoy.type.matcher.v3 import metadata_pb2, path_pb2, regex_pb2, string_pb2, value_pb2
from google.protobuf import wrappers_pb2

from lateen.xds._util import pack
from lateen.xds.names import JWT_AUTHN_FILTER, JWT_PAYLOAD_METADATA_KEY

__all__ = [
    "SPIFFE_PREFIX",
    "cidr_range",
    "header_matcher",
    "host_matcher",
    "jwt_claim_matcher",
    "path_permission",
    "re2_escape",
    "regex",
    "string_matcher",
]

SPIFFE_PREFIX = "spiffe://"
_RE2_META = frozenset("\\.+*?()|[]{}^$")
URI_TEMPLATE_EXTENSION = "envoy.path.match.uri_template.uri_template_matcher"


def re2_escape(text: str) -> str:
    """``text`` as a literal inside an RE2 expression (every metacharacter backslashed)."""
    return "".join(f"\\{c}" if c in _RE2_META else c for c in text)


def regex(expr: str) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=expr))


def string_matcher(value: str, prefix: str = "", ignore_case: bool = False) -> string_pb2.StringMatcher:
    """Istio's value rule with an optional constant ``prefix`` in front of the value."""
    if value == "*":
        if prefix:
            return string_pb2.StringMatcher(prefix=prefix, ignore_case=ignore_case)
        return regex(".+")
    if value.startswith("*"):
        if prefix:
            return regex(re2_escape(prefix) + ".*" + re2_escape(value[1:]))
        return string_pb2.StringMatcher(suffix=value[1:], ignore_case=ignore_case)
    if value.endswith("*"):
        return string_pb2.StringMatcher(prefix=prefix + value[:-1], ignore_case=ignore_case)
    return string_pb2.StringMatcher(exact=prefix + value, ignore_case=ignore_case)


def header_matcher(name: str, value: str) -> rc.HeaderMatcher:
    if value == "*":
        return rc.HeaderMatcher(name=name, present_match=True)
    return rc.HeaderMatcher(name=name, string_match=string_matcher(value))


def host_matcher(value: str, *, any_element: bool = False) -> rc.HeaderMatcher:
    """``:authority`` against a ``hosts`` value: case-insensitive, and ``host`` also matches
    ``host:port`` and the fully qualified ``host.`` (its root dot: the same name).

    Envoy joins duplicate ``Host`` headers into one ``a,b`` value. Where a match refuses the
    request (DENY ``hosts``, ALLOW ``notHosts``: ``any_element``), the value matches when any
    element of such a list does; elsewhere the whole value must match, so a list never
    matches (both fail closed)."""
    name = ":authority"
    if value == "*":
        return rc.HeaderMatcher(name=name, present_match=True)
    if value.endswith("*") and not value.startswith("*"):
        if any_element:
            expr = f"(?i)(.*,\\s*)?{re2_escape(value[:-1])}.*"
            return rc.HeaderMatcher(name=name, string_match=regex(expr))
        return rc.HeaderMatcher(
            name=name, string_match=string_pb2.StringMatcher(prefix=value[:-1], ignore_case=True)
        )
    suffix_form = value.startswith("*")  # "*.example.com": any name in the list element
    body = re2_escape((value[1:] if suffix_form else value).removesuffix("."))
    one = ("[^,]*" if suffix_form else "") + body + "\\.?(:[0-9]+)?"
    if any_element:
        return rc.HeaderMatcher(name=name, string_match=regex(f"(?i)(.*,\\s*)?{one}(\\s*,.*)?"))
    return rc.HeaderMatcher(name=name, string_match=regex(f"(?i){one}"))


def cidr_range(value: str) -> address_pb2.CidrRange:
    net = ipaddress.ip_network(value, strict=False)
    return address_pb2.CidrRange(
        address_prefix=str(net.network_address),
        prefix_len=wrappers_pb2.UInt32Value(value=net.prefixlen),
    )


def path_permission(value: str) -> rbac_pb2.Permission:
    """``paths`` value: ``{*}``/``{**}`` templates as Envoy's uri_template matcher, else
    exact, prefix ``/a*``, suffix ``*.b`` or any ``*`` on the path without its query."""
    if "{*}" in value or "{**}" in value:
        template = value.replace("{**}", "**").replace("{*}", "*")
        return rbac_pb2.Permission(
            uri_template=extension_pb2.TypedExtensionConfig(
                name=URI_TEMPLATE_EXTENSION,
                typed_config=pack(uri_template_match_pb2.UriTemplateMatchConfig(path_template=template)),
            )
        )
    return rbac_pb2.Permission(url_path=path_pb2.PathMatcher(path=string_matcher(value)))


def _either_string_or_list(m: string_pb2.StringMatcher) -> value_pb2.ValueMatcher:
    """A claim is a string or a list of strings in the JWT payload: match either."""
    one = value_pb2.ValueMatcher(string_match=m)
    return value_pb2.ValueMatcher(
        or_match=value_pb2.OrMatcher(
            value_matchers=[one, value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=one))]
        )
    )


def jwt_claim_matcher(
    claims: Sequence[str], m: string_pb2.StringMatcher, *, list_too: bool = True
) -> metadata_pb2.MetadataMatcher:
    """The verified JWT payload (``envoy.filters.http.jwt_authn`` metadata ``payload``) at
    ``claims`` (nested names) matched by ``m`` (a list claim: any element)."""
    path = [
        metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in (JWT_PAYLOAD_METADATA_KEY, *claims)
    ]
    value = _either_string_or_list(m) if list_too else value_pb2.ValueMatcher(string_match=m)
    return metadata_pb2.MetadataMatcher(filter=JWT_AUTHN_FILTER, path=path, value=value)
