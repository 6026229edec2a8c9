"""Readiness (``/healthz/ready``) against a fake Envoy admin API."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from lateen.agent import Readiness, StatusServer, readiness
from lateen.agent._status import READY_STATS_PATH
from lateen.testing.fake_envoy import FakeEnvoyAdmin

LIVE = json.dumps({"state": "LIVE"})


def _stats(cds: int, lds: int, cds_rej: int = 0, lds_rej: int = 0) -> str:
    return (
        f"cluster_manager.cds.update_rejected: {cds_rej}\n"
        f"cluster_manager.cds.update_success: {cds}\n"
        f"listener_manager.lds.update_rejected: {lds_rej}\n"
        f"listener_manager.lds.update_success: {lds}\n"
    )


@pytest.mark.parametrize(
    ("stats", "info", "ready", "reason"),
    [
        (_stats(1, 1), LIVE, True, ""),
        (_stats(3, 2, 1, 0), LIVE, True, ""),
        ("", LIVE, False, "cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected"),
        (_stats(1, 0), LIVE, False, "lds updates: 0 successful"),
        (_stats(0, 1, 2, 0), LIVE, False, "cds updates: 0 successful, 2 rejected"),
        (_stats(1, 1), json.dumps({"state": "INITIALIZING"}), False, "current state is: INITIALIZING"),
        (_stats(1, 1), json.dumps({"state": "DRAINING"}), False, "current state is: DRAINING"),
        (_stats(1, 1), "not json", False, "current state is: UNKNOWN"),
        (None, LIVE, True, ""),  # once ready, only LIVE is checked
        (None, json.dumps({"state": "PRE_INITIALIZING"}), False, "PRE_INITIALIZING"),
    ],
    ids=["ready", "ready-after-a-reject", "nothing", "no-lds", "cds-rejected", "initializing",
         "draining", "garbage-info", "once-ready", "once-ready-not-live"],
)
def test_readiness(stats: str | None, info: str, ready: bool, reason: str) -> None:
    result = readiness(stats, info)
    assert result.ready is ready
    assert reason in result.reason
    if ready:
        assert result == Readiness(True)


def test_the_stats_query_is_istios() -> None:
    assert READY_STATS_PATH == (
        "/stats?usedonly&filter=^(cluster_manager\\.cds|listener_manager\\.lds)\\."
        "(update_success|update_rejected)$"
    )


async def test_check_walks_envoy_from_down_to_ready() -> None:
    admin = FakeEnvoyAdmin()
    status = StatusServer(admin, "127.0.0.1", 0)
    admin.up = False
    r = await status.check()
    assert not r.ready and "not reachable" in r.reason
    admin.up = True
    assert "config not received" in (await status.check()).reason
    admin.set_updates(cds_success=1)
    assert "lds updates: 0 successful" in (await status.check()).reason
    admin.set_updates(cds_success=1, lds_success=1)
    admin.state = "INITIALIZING"
    assert "INITIALIZING" in (await status.check()).reason
    admin.state = "LIVE"
    assert (await status.check()).ready
    # Envoy restarted: counters reset, but once ready only LIVE matters (as Istio)
    admin.set_updates()
    calls = len(admin.calls)
    assert (await status.check()).ready
    assert admin.calls[calls:] == [("GET", "/server_info")]
    admin.up = False
    assert not (await status.check()).ready


async def test_draining_is_not_ready() -> None:
    admin = FakeEnvoyAdmin()
    admin.set_updates(1, 1)
    admin.state = "LIVE"
    draining = False
    status = StatusServer(admin, "127.0.0.1", 0, is_draining=lambda: draining)
    assert (await status.check()).ready
    draining = True
    assert (await status.check()) == Readiness(False, "envoy is draining")


async def test_http_endpoint() -> None:
    admin = FakeEnvoyAdmin()
    status = StatusServer(admin, "127.0.0.1", 0)
    task = asyncio.create_task(status.run())
    try:
        while not status.bound_port:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{status.bound_port}"
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{base}/healthz/ready") as resp:
                assert resp.status == 503
                assert "config not received" in await resp.text()
            admin.set_updates(1, 1)
            admin.state = "LIVE"
            for _ in range(3):  # keep-alive: several requests on one connection
                async with client.get(f"{base}/healthz/ready") as resp:
                    assert (resp.status, await resp.text()) == (200, "")
            async with client.get(f"{base}/nope") as resp:
                assert resp.status == 404
            async with client.post(f"{base}/healthz/ready") as resp:
                assert resp.status == 405
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_admin_client_against_a_real_server() -> None:
    """HttpEnvoyAdmin (h11) speaks to a real HTTP server: status, body, refused port."""
    from aiohttp import web

    from lateen.agent import HttpEnvoyAdmin

    async def stats(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.method == "GET" else 201, text="x" * 100_000)

    app = web.Application()
    app.router.add_route("*", "/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        admin = HttpEnvoyAdmin("127.0.0.1", port)
        assert await admin.get("/stats?usedonly") == (200, "x" * 100_000)
        assert (await admin.post("/stats"))[0] == 201
        assert (await admin.get("/missing"))[0] == 404
    finally:
        await runner.cleanup()
    with pytest.raises(OSError):
        await HttpEnvoyAdmin("127.0.0.1", port).get("/stats")


@pytest.mark.parametrize(
    ("app_status", "expect"),
    [(200, 200), (302, 200), (500, 500), (None, 503)],
    ids=["app-ok", "app-redirect-ok", "app-error", "app-down"],
)
async def test_rewritten_app_probe(app_status: int | None, expect: int) -> None:
    """``ISTIO_KUBE_APP_PROBERS``: the status server calls the app on loopback for
    ``/app-health/<container>/readyz`` (the probe bypasses Envoy and its policies)."""
    from aiohttp import web

    from lateen.agent._status import parse_app_probers
    from lateen.testing.procs import free_port

    port = free_port()
    runner: web.AppRunner | None = None
    if app_status is not None:
        app = web.Application()
        async def health(_: web.Request) -> web.Response:
            return web.Response(status=app_status or 200)

        app.router.add_get("/health", health)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    probers = parse_app_probers(json.dumps(
        {"/app-health/app/readyz": {"httpGet": {"path": "/health", "port": port}, "timeoutSeconds": 1}}
    ))  # fmt: skip
    status = StatusServer(FakeEnvoyAdmin(), "127.0.0.1", 0, app_probers=probers)
    try:
        assert (await status.handle("GET", "/app-health/app/readyz"))[0] == expect
        assert (await status.handle("GET", "/app-health/other/readyz"))[0] == 404
    finally:
        if runner is not None:
            await runner.cleanup()


@pytest.mark.parametrize(
    ("text", "paths"),
    [("", []), ("not json", []), ('{"/app-health/a/readyz": {"tcpSocket": {"port": 1}}}', []),
     ('{"/app-health/a/readyz": {"httpGet": {"path": "/h", "port": 9080}}}', ["/app-health/a/readyz"])],
    ids=["empty", "bad-json", "not-http", "http"],
)  # fmt: skip
def test_parse_app_probers(text: str, paths: list[str]) -> None:
    from lateen.agent._status import parse_app_probers

    assert sorted(parse_app_probers(text)) == paths
