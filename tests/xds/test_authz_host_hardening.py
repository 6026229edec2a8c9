"""``hosts`` matching against what Envoy really puts in ``:authority``: case, ``host:port``,
the root dot (``host.``) and duplicate ``Host`` headers joined as ``a,b``. A match that
refuses the request (DENY ``hosts``, ALLOW ``notHosts``) catches a list holding the host; a
match that lets it in (ALLOW ``hosts``, DENY ``notHosts``) never matches a list."""

from __future__ import annotations

import re

import pytest

from lateen.xds.authz._matchers import host_matcher
from lateen.xds.authz._rules import RuleContext, _permission


def _matches(value: str, any_element: bool, authority: str) -> bool:
    m = host_matcher(value, any_element=any_element)
    if m.present_match:
        return bool(authority)
    sm = m.string_match
    if sm.prefix:
        return authority.lower().startswith(sm.prefix.lower())
    expr = sm.safe_regex.regex
    flags = 0
    if expr.startswith("(?i)"):
        expr, flags = expr[4:], re.IGNORECASE
    return re.fullmatch(expr, authority, flags) is not None  # Envoy's safe_regex: full match


@pytest.mark.parametrize(
    ("value", "any_element", "authority", "expected"),
    [
        ("admin.example.com", False, "admin.example.com", True),
        ("admin.example.com", False, "ADMIN.Example.com", True),
        ("admin.example.com", False, "admin.example.com:8000", True),
        ("admin.example.com", False, "admin.example.com.", True),
        ("admin.example.com", False, "admin.example.com.:80", True),
        ("admin.example.com", False, "adminxexample.com", False),
        ("admin.example.com", False, "admin.example.com.evil", False),
        ("admin.example.com", False, "other,admin.example.com", False),
        ("admin.example.com", True, "other,admin.example.com", True),
        ("admin.example.com", True, "admin.example.com, other", True),
        ("admin.example.com", True, "a,ADMIN.example.com.:80,b", True),
        ("admin.example.com", True, "other,xadmin.example.com", False),
        ("admin.example.com", True, "admin.example.com", True),
        ("*.example.com", False, "a.example.com", True),
        ("*.example.com", False, "x,a.example.com", False),
        ("*.example.com", True, "x,a.example.com", True),
        ("*.example.com", True, "a.example.org", False),
        ("admin.*", False, "admin.example.com", True),
        ("admin.*", True, "x, admin.example.com", True),
        ("admin.*", True, "x,other", False),
    ],
    ids=lambda v: str(v),
)
def test_host_matcher(value: str, any_element: bool, authority: str, expected: bool) -> None:
    assert _matches(value, any_element, authority) is expected


@pytest.mark.parametrize(
    ("allow", "negated", "lenient"),
    [(False, False, True), (True, False, False), (True, True, True), (False, True, False)],
    ids=["deny-hosts", "allow-hosts", "allow-nothosts", "deny-nothosts"],
)
def test_refusing_matches_are_lenient(allow: bool, negated: bool, lenient: bool) -> None:
    ctx = RuleContext("default", for_tcp=False, allow=allow, negated=negated)
    perm = _permission("hosts", "admin.example.com", ctx)
    assert perm.header.string_match.safe_regex.regex.startswith("(?i)(.*,") is lenient
