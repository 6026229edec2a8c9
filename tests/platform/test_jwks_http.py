"""HttpJwksSource: fetches a JWKS from a real HTTP server on 127.0.0.1; refuses link-local and
metadata destinations, as written and after (injected) DNS resolution, without connecting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from lateen.model import JwksFetchError
from lateen.platform._jwks import HttpJwksSource
from lateen.testing.jwt import jwks_json, make_ec_key

KEYS = jwks_json(make_ec_key("k"))


@dataclass
class FakeResolver:
    answers: dict[str, list[str]]
    calls: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


@dataclass
class Server:
    port: int
    hits: list[str]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/jwks.json":
            return web.Response(text=KEYS, content_type="application/json")
        if request.path == "/redirect":
            raise web.HTTPFound("/jwks.json")
        if request.path == "/slow":
            await asyncio.sleep(1)
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Server(port, hits)
    finally:
        await runner.cleanup()


NAMES = {
    "jwks.test": ["127.0.0.1"],
    "rebind.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.1", "fe80::1"],
    "mapped.test": ["::ffff:169.254.169.254"],
}

# (id, url path template, expected error fragment or None, resolver calls, server hits)
CASES = [
    ("literal-loopback", "http://127.0.0.1:{port}/jwks.json", None, [], ["/jwks.json"]),
    ("name-resolved-and-pinned", "http://jwks.test:{port}/jwks.json", None, ["jwks.test"], ["/jwks.json"]),
    ("http-error", "http://127.0.0.1:{port}/missing", "HTTP 503", [], ["/missing"]),
    ("redirect-not-followed", "http://127.0.0.1:{port}/redirect", "HTTP 302", [], ["/redirect"]),
    ("literal-link-local", "http://169.254.169.254:{port}/latest", "link-local", [], []),
    ("literal-link-local-v6", "http://[fe80::1]:{port}/jwks", "link-local", [], []),
    ("metadata-name-not-resolved", "http://metadata.google.internal:{port}/x", "metadata", [], []),
    ("name-resolving-to-link-local", "http://rebind.test:{port}/jwks.json", "refused address", ["rebind.test"], []),
    ("one-bad-address-refuses-all", "http://mixed.test:{port}/jwks.json", "refused address", ["mixed.test"], []),
    ("v4-mapped-link-local", "http://mapped.test:{port}/jwks.json", "refused address", ["mapped.test"], []),
    ("unknown-name", "http://nowhere.test:{port}/jwks.json", "nowhere.test", ["nowhere.test"], []),
    ("not-http", "ftp://127.0.0.1:{port}/jwks.json", "invalid URI", [], []),
]


@pytest.mark.parametrize(
    ("url", "error", "resolved", "hits"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_fetch(server: Server, url: str, error: str | None, resolved: list[str], hits: list[str]) -> None:
    resolver = FakeResolver(dict(NAMES))
    source = HttpJwksSource(resolver)
    uri = url.format(port=server.port)
    if error is None:
        assert await source.fetch(uri, 5.0) == KEYS
    else:
        with pytest.raises(JwksFetchError, match=error):
            await source.fetch(uri, 5.0)
    assert resolver.calls == resolved
    assert server.hits == hits


async def test_timeout(server: Server) -> None:
    with pytest.raises(JwksFetchError, match="Timeout"):
        await HttpJwksSource(FakeResolver({})).fetch(f"http://127.0.0.1:{server.port}/slow", 0.3)
