"""Caller authentication: per-pod bearer tokens issued by the runtime, checked by the CA."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lateen.security import (
    AuthenticationError,
    Identity,
    TokenAuthenticator,
    TokenIssuer,
    bearer_token,
)


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ([("authorization", "Bearer abc")], "abc"),
        ([("authorization", "bearer abc ")], "abc"),
        ([("Authorization", b"Bearer abc")], "abc"),
        ([("x-other", "1"), ("authorization", "Bearer t2")], "t2"),
        ([("authorization", "Basic abc")], None),
        ([("authorization", "Bearer ")], None),
        ([("authorization", "abc")], None),
        ([], None),
    ],
    ids=["bearer", "case-and-space", "bytes", "among-others", "basic", "empty", "no-scheme", "none"],
)
def test_bearer_token(metadata: list[tuple[str, str | bytes]], token: str | None) -> None:
    assert bearer_token(metadata) == token


@pytest.fixture
def issued(tmp_path: Path) -> tuple[TokenIssuer, TokenAuthenticator, dict[str, str]]:
    issuer = TokenIssuer(tmp_path / "state" / "ca-tokens.json")
    tokens = {
        "productpage": issuer.issue("default", "bookinfo-productpage", "productpage-v1-7d4f-abcde"),
        "reviews": issuer.issue("default", "bookinfo-reviews", "reviews-v1-5c6d-fghij"),
        "gateway": issuer.issue("istio-system", "istio-ingressgateway", "istio-ingressgateway-1"),
    }
    return issuer, TokenAuthenticator(issuer.path), tokens


@pytest.mark.parametrize(
    ("header", "identity"),
    [
        ("Bearer {productpage}", Identity("default", "bookinfo-productpage")),
        ("Bearer {reviews}", Identity("default", "bookinfo-reviews")),
        ("Bearer {gateway}", Identity("istio-system", "istio-ingressgateway")),
        (None, "no bearer token"),
        ("Bearer not-a-token", "unknown or revoked token"),
        ("Bearer {reviews}x", "unknown or revoked token"),
        ("Basic {reviews}", "no bearer token"),
    ],
    ids=["productpage", "reviews", "gateway", "missing", "wrong", "altered", "wrong-scheme"],
)
def test_authenticate(
    issued: tuple[TokenIssuer, TokenAuthenticator, dict[str, str]],
    header: str | None,
    identity: Identity | str,
) -> None:
    _, authn, tokens = issued
    metadata = [("authorization", header.format(**tokens))] if header else []
    if isinstance(identity, Identity):
        assert authn.authenticate(metadata, "ipv4:127.0.0.1:5000") == identity
    else:
        with pytest.raises(AuthenticationError, match=identity):
            authn.authenticate(metadata, "ipv4:127.0.0.1:5000")


def test_token_file_is_private_and_holds_no_token(
    issued: tuple[TokenIssuer, TokenAuthenticator, dict[str, str]],
) -> None:
    issuer, _, tokens = issued
    assert stat.S_IMODE(os.stat(issuer.path).st_mode) == 0o600
    text = issuer.path.read_text()
    assert not any(t in text for t in tokens.values())
    assert len(json.loads(text)["tokens"]) == 3


def test_reissue_and_revoke_are_seen_by_a_running_authenticator(
    issued: tuple[TokenIssuer, TokenAuthenticator, dict[str, str]],
) -> None:
    issuer, authn, tokens = issued
    header = [("authorization", f"Bearer {tokens['reviews']}")]
    assert authn.authenticate(header, "p").service_account == "bookinfo-reviews"
    fresh = issuer.issue("default", "bookinfo-reviews", "reviews-v1-5c6d-fghij")  # pod restarted
    with pytest.raises(AuthenticationError):
        authn.authenticate(header, "p")
    assert authn.authenticate([("authorization", f"Bearer {fresh}")], "p").namespace == "default"
    assert issuer.revoke("default", "reviews-v1-5c6d-fghij") is True
    assert issuer.revoke("default", "reviews-v1-5c6d-fghij") is False
    with pytest.raises(AuthenticationError):
        authn.authenticate([("authorization", f"Bearer {fresh}")], "p")
    assert [b.pod for b in issuer.bindings()] == ["productpage-v1-7d4f-abcde", "istio-ingressgateway-1"]


@pytest.mark.parametrize("path", [None, "missing.json"], ids=["no-file-configured", "file-not-there"])
def test_no_tokens_no_caller(tmp_path: Path, path: str | None) -> None:
    authn = TokenAuthenticator(tmp_path / path if path else None)
    with pytest.raises(AuthenticationError):
        authn.authenticate([("authorization", "Bearer anything")], "p")


def test_a_broken_token_file_refuses_everyone(
    issued: tuple[TokenIssuer, TokenAuthenticator, dict[str, str]],
) -> None:
    issuer, authn, tokens = issued
    header = [("authorization", f"Bearer {tokens['reviews']}")]
    assert authn.authenticate(header, "p").service_account == "bookinfo-reviews"
    issuer.path.write_text('{"tokens": {"x": {"namespace": "default"}}}')  # no serviceAccount
    with pytest.raises(AuthenticationError):
        authn.authenticate(header, "p")


def test_issue_rejects_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TokenIssuer(tmp_path / "t.json").issue("default", "sa/../x", "pod")
