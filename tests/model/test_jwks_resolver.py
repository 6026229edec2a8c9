"""JwksResolver: the control plane's jwksUri cache (fetch on first use, refresh every 20 min,
retry sooner after a failure, fail closed, push on change), with a fake clock and source."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.model import (
    DEFAULT_JWKS_TIMEOUT,
    FAIL_CLOSED_JWKS,
    JWKS_REFRESH_INTERVAL,
    JwksFetchError,
    JwksResolver,
    jwks_uris,
)
from lateen.testing.clock import FakeClock
from lateen.testing.jwt import FakeJwksSource, jwks_json, make_ec_key, make_rsa_key

URI = "http://127.0.0.1:9/jwks.json"
OTHER = "http://127.0.0.2:9/jwks.json"
KEYS_A = jwks_json(make_ec_key("a"))
KEYS_B = jwks_json(make_ec_key("b"))
SINGLE_JWK = json.dumps(make_rsa_key("k").jwk())


def _resolver(responses: dict[str, Any]) -> tuple[JwksResolver, FakeJwksSource, FakeClock]:
    clock = FakeClock()
    source = FakeJwksSource(responses=dict(responses))
    return JwksResolver(source, clock), source, clock


# (id, first answer, expected snapshot value after the first sync)
FIRST_FETCH = [
    ("ok", KEYS_A, KEYS_A),
    ("connection-refused", None, FAIL_CLOSED_JWKS),
    ("http-error", JwksFetchError("HTTP 503"), FAIL_CLOSED_JWKS),
    ("timeout", TimeoutError(), FAIL_CLOSED_JWKS),
    ("not-json", "<html>", FAIL_CLOSED_JWKS),
    ("json-not-a-key-set", json.dumps(["x"]), FAIL_CLOSED_JWKS),
    ("single-jwk", SINGLE_JWK, SINGLE_JWK),
]


@pytest.mark.parametrize(("answer", "expected"), [c[1:] for c in FIRST_FETCH], ids=[c[0] for c in FIRST_FETCH])
async def test_first_sync_fetches_or_fails_closed(answer: Any, expected: str) -> None:
    resolver, source, _ = _resolver({URI: answer} if answer is not None else {})
    changed = await resolver.sync({URI: 2.5})
    assert changed
    assert source.calls == [(URI, 2.5)]
    assert resolver.snapshot()[URI] == expected


def test_fail_closed_jwks_is_a_real_key_set() -> None:
    doc = json.loads(FAIL_CLOSED_JWKS)
    (key,) = doc["keys"]
    assert key["kty"] == "RSA" and len(key["n"]) > 300


async def test_sync_forgets_unused_uris_and_fetches_new_ones_once() -> None:
    resolver, source, _ = _resolver({URI: KEYS_A, OTHER: KEYS_B})
    await resolver.sync({URI: 5.0})
    assert not await resolver.sync({URI: 5.0})  # nothing new: no fetch, no change
    assert await resolver.sync({OTHER: 5.0})
    assert dict(resolver.snapshot()) == {OTHER: KEYS_B}
    assert [c[0] for c in source.calls] == [URI, OTHER]


# (id, refresh answers in order, seconds to advance before each, expected snapshot after each)
REFRESH = [
    ("unchanged-no-push", [KEYS_A], [JWKS_REFRESH_INTERVAL], [KEYS_A], [False]),
    ("rotated-key-pushes", [KEYS_B], [JWKS_REFRESH_INTERVAL], [KEYS_B], [True]),
    ("not-due-yet", [KEYS_B], [JWKS_REFRESH_INTERVAL - 1], [KEYS_A], [False]),
    ("failure-keeps-last-good", [JwksFetchError("down")], [JWKS_REFRESH_INTERVAL], [KEYS_A], [False]),
    (
        "retry-after-failure-is-sooner",
        [JwksFetchError("down"), KEYS_B],
        [JWKS_REFRESH_INTERVAL, 1.0],
        [KEYS_A, KEYS_B],
        [False, True],
    ),
]


@pytest.mark.parametrize(
    ("answers", "advances", "expected", "pushes"),
    [c[1:] for c in REFRESH],
    ids=[c[0] for c in REFRESH],
)
async def test_refresh(answers: list[Any], advances: list[float], expected: list[str], pushes: list[bool]) -> None:
    resolver, source, clock = _resolver({URI: KEYS_A})
    await resolver.sync({URI: 5.0})
    for answer, advance, want, push in zip(answers, advances, expected, pushes, strict=True):
        source.responses[URI] = answer
        clock.advance(advance)
        changed = await resolver.refresh_due()
        assert resolver.snapshot()[URI] == want
        assert bool(changed) is push


async def test_failed_uri_retries_with_backoff_then_recovers() -> None:
    resolver, source, clock = _resolver({})
    await resolver.sync({URI: 5.0})
    start = clock.now()
    dues = []
    for _ in range(7):
        due = resolver.next_due()
        assert due is not None
        dues.append(due - start)
        clock.advance(due - clock.now())
        assert not await resolver.refresh_due()
        start = clock.now()
    assert dues == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # doubling, capped at 30 s
    assert resolver.snapshot()[URI] == FAIL_CLOSED_JWKS
    source.responses[URI] = KEYS_A
    clock.advance(30.0)
    assert await resolver.refresh_due() == frozenset({URI})
    assert resolver.snapshot()[URI] == KEYS_A
    assert resolver.next_due() == clock.now() + JWKS_REFRESH_INTERVAL


async def test_run_calls_back_when_a_refreshed_key_set_changes() -> None:
    resolver, source, clock = _resolver({URI: KEYS_A})
    await resolver.sync({URI: 5.0})
    changes: list[frozenset[str]] = []
    task = asyncio.get_running_loop().create_task(resolver.run(changes.append))
    try:
        await clock.advance_and_settle(JWKS_REFRESH_INTERVAL)  # same keys: no callback
        assert changes == []
        source.responses[URI] = KEYS_B
        await clock.advance_and_settle(JWKS_REFRESH_INTERVAL)
        assert changes == [frozenset({URI})]
        assert len(source.calls) == 3
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


RA = """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: %s, namespace: default}
spec:
  jwtRules: %s
"""

URIS = [
    ("inline-jwks-not-fetched", [{"issuer": "a", "jwks": KEYS_A}], {}),
    ("uri-default-timeout", [{"issuer": "a", "jwksUri": URI}], {URI: DEFAULT_JWKS_TIMEOUT}),
    ("uri-rule-timeout", [{"issuer": "a", "jwksUri": URI, "timeout": "1.5s"}], {URI: 1.5}),
    (
        "shared-uri-shortest-timeout",
        [{"issuer": "a", "jwksUri": URI, "timeout": "9s"}, {"issuer": "b", "jwksUri": URI, "timeout": "2s"}],
        {URI: 2.0},
    ),
    ("issuer-only", [{"issuer": "https://example.com"}], {}),
]


@pytest.mark.parametrize(("rules", "expected"), [c[1:] for c in URIS], ids=[c[0] for c in URIS])
def test_jwks_uris(rules: list[dict[str, Any]], expected: dict[str, float]) -> None:
    result = load_yaml(RA % ("ra", json.dumps(rules)), "ra.yaml")
    assert not result.errors
    assert jwks_uris(result.objects) == expected
