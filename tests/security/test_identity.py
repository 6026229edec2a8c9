"""SPIFFE identities: spiffe://<trust domain>/ns/<ns>/sa/<sa>, and names that cannot be one."""

from __future__ import annotations

import pytest

from lateen.security import Identity, parse_spiffe_id


@pytest.mark.parametrize(
    ("ns", "sa", "td", "uri"),
    [
        ("default", "bookinfo-productpage", "cluster.local",
         "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
        ("istio-system", "istio-ingressgateway-service-account", "cluster.local",
         "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"),
        ("foo", "default", "example.com", "spiffe://example.com/ns/foo/sa/default"),
        ("a", "sa.with.dots", "td-1", "spiffe://td-1/ns/a/sa/sa.with.dots"),
    ],
    ids=["bookinfo", "gateway", "trust-domain", "dotted-sa"],
)
def test_spiffe_id_round_trip(ns: str, sa: str, td: str, uri: str) -> None:
    ident = Identity(ns, sa)
    assert ident.spiffe_id(td) == uri
    assert parse_spiffe_id(uri) == (td, ident)


@pytest.mark.parametrize(
    ("ns", "sa"),
    [("", "default"), ("Default", "x"), ("ns/../x", "sa"), ("ns", "sa/evil"), ("ns", ""),
     ("ns", "-x"), ("a" * 64, "sa")],
    ids=["empty-ns", "upper", "slash-ns", "slash-sa", "empty-sa", "leading-dash", "long-ns"],
)
def test_invalid_names_rejected(ns: str, sa: str) -> None:
    with pytest.raises(ValueError):
        Identity(ns, sa)


@pytest.mark.parametrize(
    "uri",
    ["http://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/a", "spiffe:///ns/a/sa/b",
     "spiffe://td/sa/a/ns/b", "spiffe://td/ns/a/sa/b/extra"],
    ids=["scheme", "short", "no-td", "swapped", "extra"],
)
def test_parse_rejects(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_spiffe_id(uri)
