"""Host name helpers with Istio's semantics: short names, wildcards, most specific match,
and ``exportTo`` visibility."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "host_matches",
    "hosts_intersect",
    "is_visible",
    "most_specific_host",
    "resolve_short_name",
]


def resolve_short_name(host: str, namespace: str, domain_suffix: str = "cluster.local") -> str:
    """Istio's ``ResolveShortnameToFQDN``: ``reviews`` in namespace ``default`` ->
    ``reviews.default.svc.cluster.local``; names with a dot and ``*`` stay as they are."""
    if host == "*" or "." in host or not host:
        return host
    return f"{host}.{namespace}.svc.{domain_suffix}"


def host_matches(pattern: str, host: str) -> bool:
    """Does ``pattern`` (possibly ``*`` or ``*.suffix``) cover the concrete or wildcard ``host``?"""
    pattern = pattern.lower()
    host = host.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        suffix = pattern[1:]  # ".example.com"
        if host.startswith("*"):
            return host[1:].endswith(suffix)
        return host.endswith(suffix)
    return pattern == host


def hosts_intersect(a: str, b: str) -> bool:
    return host_matches(a, b) or host_matches(b, a)


def most_specific_host(host: str, candidates: Iterable[str]) -> str | None:
    """Istio's ``MostSpecificHostMatch``: the exact name if present, else the longest
    wildcard that matches."""
    cands = list(candidates)
    if host in cands:
        return host
    best: str | None = None
    for c in cands:
        if c.startswith("*") and host_matches(c, host) and (best is None or len(c) > len(best)):
            best = c
    return best


def is_visible(export_to: Iterable[str], owner_namespace: str, namespace: str) -> bool:
    """``exportTo`` visibility of an object from ``owner_namespace`` to ``namespace``
    (empty = ``*``; ``.`` = own namespace; ``~`` = nowhere)."""
    values = [v for v in export_to if v]
    if not values:
        return True
    for v in values:
        if v == "*":
            return True
        if v == "." and namespace == owner_namespace:
            return True
        if v == namespace:
            return True
    return False
