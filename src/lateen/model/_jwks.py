"""JWKS for RequestAuthentication ``jwksUri``: fetched by the control plane, as istiod does by
default, and inlined into each proxy's ``jwt_authn`` filter as ``local_jwks``.

Fetching is I/O, so it sits behind :class:`JwksSource` (an HTTP implementation is wired by
the platform, a fake lives in :mod:`lateen.testing`). :class:`JwksResolver` keeps the cache:
a new URI is fetched before the push that first needs it, a fetched key set is fetched
again every 20 minutes (Istio's ``JwtPubKeyRefreshInterval``), a failed one sooner (1 s,
doubling up to 30 s). Each push context carries the frozen ``uri -> jwks`` mapping of
:meth:`JwksResolver.snapshot`. Fail closed: a URI that was never fetched successfully maps
to :data:`FAIL_CLOSED_JWKS`, a key set nobody holds the private key of, so every token is
rejected (401), as Istio's fake JWKS does. After a success, a failed refresh keeps the last
key set until a refresh succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from lateen.api import ConfigObject
from lateen.api._base import parse_duration

__all__ = [
    "DEFAULT_JWKS_TIMEOUT",
    "FAIL_CLOSED_JWKS",
    "JWKS_REFRESH_INTERVAL",
    "JwksClock",
    "JwksFetchError",
    "JwksResolver",
    "JwksSource",
    "jwks_uris",
]

log = logging.getLogger(__name__)

JWKS_REFRESH_INTERVAL = 20 * 60.0  # Istio's JwtPubKeyRefreshInterval
JWKS_RETRY_MIN = 1.0
JWKS_RETRY_MAX = 30.0
DEFAULT_JWKS_TIMEOUT = 5.0  # Istio's default JWTRule timeout

# An RSA public key made for this purpose; its private key was thrown away, so no token
# verifies against it (what a provider gets while its jwksUri cannot be fetched).
FAIL_CLOSED_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "RSA",
                "alg": "RS256",
                "kid": "lateen-fail-closed",
                "e": "AQAB",
                "n": "Z7DTnouJYO7-_hdP98AcdtdS4B3VW4L8mriTBrevEZOGLxkgW2pSMDdQLqhAdk_OPkI48D9Jopn"
                "XcA47GXDL10321Kxj9zdx0pb-yvFFglwFNzk3NRH8HH-UsFfulC9tTTeUTfEpn82tyL3LdeAmiZXZZb"
                "CXebt-SqdwVFSEXy_I9BKW7ce3RY7VYy8zZsfi73hR9wdkIkYHz0gTf25l4PzJhL1MCq8pWdHOKSRpW"
                "5HCKdoA-X1YwK5nWGThgIGCajFZUSQSoDyNeyDUPfoB1zbR12AHH0UqzY5QPvMSUWunutHkDoGlaMJ"
                "SBOleX0vfEN7Mc4SHNTYxhXtu9V7mEw",
            }
        ]
    },
    separators=(",", ":"),
    sort_keys=True,
)


class JwksFetchError(Exception):
    """A JWKS could not be fetched (network, HTTP status, refused address, bad content)."""


class JwksSource(Protocol):
    """Fetches the key set at ``uri`` (text) within ``timeout`` seconds or raises
    :class:`JwksFetchError`. Implementations must refuse link-local/metadata addresses
    after DNS resolution (see :func:`lateen.api.security.jwks_address_refused`)."""

    async def fetch(self, uri: str, timeout: float) -> str: ...


class JwksClock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


def _rule_timeout(timeout: str | None) -> float:
    if not timeout:
        return DEFAULT_JWKS_TIMEOUT
    try:
        seconds = parse_duration(timeout)
    except ValueError:
        return DEFAULT_JWKS_TIMEOUT
    return seconds if seconds and seconds > 0 else DEFAULT_JWKS_TIMEOUT


def jwks_uris(objects: Iterable[ConfigObject]) -> dict[str, float]:
    """Every ``jwksUri`` of the RequestAuthentications among ``objects`` (rules with inline
    ``jwks`` need no fetch) with its fetch timeout (the rule's ``timeout``, else 5 s; the
    shortest when several rules share a URI)."""
    out: dict[str, float] = {}
    for o in objects:
        if (o.group, o.kind) != ("security.istio.io", "RequestAuthentication"):
            continue
        for rule in o.spec.jwt_rules:
            if rule.jwks_uri and not rule.jwks:
                t = _rule_timeout(rule.timeout)
                out[rule.jwks_uri] = min(t, out.get(rule.jwks_uri, t))
    return out


def _valid_jwks(text: str) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    keys = doc.get("keys")
    return (isinstance(keys, list) and all(isinstance(k, dict) for k in keys)) or "kty" in doc


@dataclass(slots=True)
class _Entry:
    timeout: float
    jwks: str | None = None  # the last key set fetched successfully
    next_fetch: float = 0.0
    failures: int = 0


class JwksResolver:
    """The control plane's JWKS cache (see the module doc)."""

    def __init__(
        self,
        source: JwksSource,
        clock: JwksClock,
        *,
        refresh_interval: float = JWKS_REFRESH_INTERVAL,
        retry_min: float = JWKS_RETRY_MIN,
        retry_max: float = JWKS_RETRY_MAX,
    ) -> None:
        self.source = source
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._entries: dict[str, _Entry] = {}
        self._wake = asyncio.Event()
        self.fetches = 0  # fetch attempts (tests, metrics)

    # ---- what a push reads -----------------------------------------------------------------

    def snapshot(self) -> Mapping[str, str]:
        """Frozen ``uri -> jwks``: the last key set fetched, else :data:`FAIL_CLOSED_JWKS`."""
        return MappingProxyType(
            {u: (e.jwks if e.jwks is not None else FAIL_CLOSED_JWKS) for u, e in sorted(self._entries.items())}
        )

    # ---- fetching ----------------------------------------------------------------------------

    async def sync(self, wanted: Mapping[str, float]) -> bool:
        """Track exactly the URIs of ``wanted`` (uri -> timeout): forget the others and fetch
        the new ones now (concurrently). Returns whether :meth:`snapshot` changed."""
        changed = False
        for uri in [u for u in self._entries if u not in wanted]:
            del self._entries[uri]
            changed = True
        new = [u for u in wanted if u not in self._entries]
        for uri, timeout in wanted.items():
            entry = self._entries.get(uri)
            if entry is None:
                self._entries[uri] = _Entry(timeout)
            else:
                entry.timeout = timeout
        if new:
            await asyncio.gather(*(self._fetch(u) for u in new))
            changed = True
            self._wake.set()  # the refresh loop recomputes its next deadline
        return changed

    async def refresh_due(self) -> frozenset[str]:
        """Fetch every URI whose refresh (or retry) is due; the URIs whose key set changed."""
        now = self.clock.now()
        due = [u for u, e in self._entries.items() if e.next_fetch <= now]
        results = await asyncio.gather(*(self._fetch(u) for u in due))
        return frozenset(u for u, changed in zip(due, results, strict=True) if changed)

    def next_due(self) -> float | None:
        return min((e.next_fetch for e in self._entries.values()), default=None)

    async def _fetch(self, uri: str) -> bool:
        """Fetch one URI and schedule its next fetch; whether its snapshot value changed."""
        entry = self._entries[uri]
        before = entry.jwks
        self.fetches += 1
        try:
            text = await self.source.fetch(uri, entry.timeout)
            if not _valid_jwks(text):
                raise JwksFetchError(f"{uri}: the response is not a JSON Web Key Set")
        except (JwksFetchError, OSError, TimeoutError) as e:
            entry.failures += 1
            delay = min(self.retry_max, self.retry_min * 2 ** (entry.failures - 1))
            entry.next_fetch = self.clock.now() + delay
            log.warning(
                "jwksUri %s: fetch failed (%s); %s; retrying in %.0fs",
                uri,
                e,
                "keeping the last key set" if before is not None else "every token is rejected",
                delay,
            )
            return False
        if self._entries.get(uri) is not entry:  # forgotten while fetching
            return False
        entry.jwks = text
        entry.failures = 0
        entry.next_fetch = self.clock.now() + self.refresh_interval
        if text != before:
            log.info("jwksUri %s: key set %s", uri, "fetched" if before is None else "changed")
        return text != before

    async def run(self, on_change: Callable[[frozenset[str]], None]) -> None:
        """Refresh due URIs until cancelled; ``on_change(uris)`` after a key set changed."""
        while True:
            self._wake.clear()
            due = self.next_due()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self.clock.now()
            if delay > 0:
                sleeper = asyncio.ensure_future(self.clock.sleep(delay))
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waker.cancel()
                if self.clock.now() < due:
                    continue  # woken by sync(): recompute the deadline
            changed = await self.refresh_due()
            if changed:
                on_change(changed)
