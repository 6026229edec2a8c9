"""The app probes the agent runs for rewritten kubelet probes (Istio's ``/app-health``):
parsing ``ISTIO_KUBE_APP_PROBERS`` (tables) and probing a real local app server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from lateen.agent import Agent, AgentOptions, BootstrapOptions, StatusServer
from lateen.agent._http import http_request
from lateen.agent._probe import AppProbe, AppProber, parse_app_probers
from lateen.testing.fake_envoy import FakeEnvoyAdmin, FakeProcessRunner
from lateen.testing.procs import free_port

READY = "/app-health/web/readyz"

GOOD = [
    ("empty", "", {}),
    ("http", '{"/app-health/web/readyz": {"httpGet": {"path": "/health", "port": 9080, "scheme": "HTTP"},'
             ' "timeoutSeconds": 3}}', {READY: AppProbe("http", 9080, "/health", 3.0)}),
    ("http-defaults", '{"/app-health/web/livez": {"httpGet": {"port": 80}}}',
     {"/app-health/web/livez": AppProbe("http", 80, "/", 1.0)}),
    ("path-gets-slash", '{"/app-health/web/readyz": {"httpGet": {"path": "ok", "port": 80}}}',
     {READY: AppProbe("http", 80, "/ok", 1.0)}),
    ("tcp", '{"/app-health/db/startupz": {"tcpSocket": {"port": 5432}, "timeoutSeconds": 2}}',
     {"/app-health/db/startupz": AppProbe("tcp", 5432, "/", 2.0)}),
]


@pytest.mark.parametrize(("text", "want"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_parse(text: str, want: dict[str, AppProbe]) -> None:
    assert parse_app_probers(text) == want


BAD = [
    ("not-json", "{", "ISTIO_KUBE_APP_PROBERS: not JSON"),
    ("not-object", "[]", "must be an object of path -> probe"),
    ("bad-path", '{"/health": {"httpGet": {"port": 80}}}', "['/health']: the path must be /app-health/"),
    ("no-action", '{"/app-health/web/readyz": {}}', "needs exactly one of httpGet, tcpSocket"),
    ("two-actions", '{"/app-health/web/readyz": {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}}',
     "needs exactly one of httpGet, tcpSocket"),
    ("grpc", '{"/app-health/web/readyz": {"grpc": {"port": 80}}}', ".grpc: only httpGet and tcpSocket"),
    ("named-port", '{"/app-health/web/readyz": {"httpGet": {"port": "http"}}}',
     "['/app-health/web/readyz'].httpGet.port: must be a port number"),
    ("port-range", '{"/app-health/web/readyz": {"tcpSocket": {"port": 70000}}}', ".tcpSocket.port: must be a port"),
    ("https", '{"/app-health/web/readyz": {"httpGet": {"port": 443, "scheme": "HTTPS"}}}',
     ".httpGet.scheme: only HTTP is supported"),
    ("timeout", '{"/app-health/web/readyz": {"httpGet": {"port": 80}, "timeoutSeconds": -1}}',
     ".timeoutSeconds: must be a positive number"),
]


@pytest.mark.parametrize(("text", "error"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_parse_errors_name_the_entry(text: str, error: str) -> None:
    with pytest.raises(ValueError, match="ISTIO_KUBE_APP_PROBERS") as exc:
        parse_app_probers(text)
    assert error in str(exc.value)


@contextlib.asynccontextmanager
async def _app() -> AsyncIterator[tuple[int, list[str]]]:
    """A local app: /ok 200, /sick 503, /moved 302; records each caller's address."""
    callers: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        callers.append(str(request.remote))
        code = {"/ok": 200, "/sick": 503, "/moved": 302}.get(request.path, 404)
        return web.Response(status=code, text=request.path)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1], callers
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PROBES = [
    # (id, probe kind, path on the app ("" = the app's port closed), status the kubelet sees)
    ("http-ok", "http", "/ok", 200),
    ("http-redirect-counts-as-up", "http", "/moved", 302),
    ("http-app-unhealthy", "http", "/sick", 503),
    ("http-app-down", "http", "", 500),
    ("tcp-open", "tcp", "/", 200),
    ("tcp-closed", "tcp", "", 500),
]


@pytest.mark.parametrize(("kind", "path", "status"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
async def test_probe_a_real_app_from_the_source_address(kind: str, path: str, status: int) -> None:
    """The app's answer is passed on (500 when it cannot be reached); the probe leaves
    from the source address (127.0.0.6: what the capture rules let through)."""
    async with _app() as (port, callers):
        target = port if path else _closed_port()
        prober = AppProber({READY: AppProbe(kind, target, path or "/")}, "127.0.0.1", "127.0.0.6")  # type: ignore[arg-type]
        got, text = await prober.probe(READY)
        assert got == status, text
        if kind == "http" and path:
            assert callers == ["127.0.0.6"]
        assert await prober.probe("/app-health/other/readyz") == (404, "no app probe for /app-health/other/readyz\n")


async def test_status_server_serves_app_probes() -> None:
    """``/app-health/...`` answers with the app's status whether or not Envoy is ready; other
    paths are still 404, non-GET 405, and ``/healthz/ready`` is unchanged."""
    async with _app() as (port, _):
        prober = AppProber({READY: AppProbe("http", port, "/sick")}, "127.0.0.1")
        status = StatusServer(FakeEnvoyAdmin(), "127.0.0.1", 0, app_prober=prober)
        assert (await status.handle("GET", READY))[0] == 503
        assert (await status.handle("GET", f"{READY}?x=1"))[0] == 503
        assert (await status.handle("POST", READY))[0] == 405
        assert (await status.handle("GET", "/app-health/nope/readyz"))[0] == 404
        assert (await status.handle("GET", "/healthz/ready"))[0] == 503  # Envoy not up
        prober.probes[READY] = AppProbe("http", port, "/ok")
        assert (await status.handle("GET", READY))[0] == 200
    # a server without probers knows no app paths
    assert (await StatusServer(FakeEnvoyAdmin(), "127.0.0.1", 0).handle("GET", READY))[0] == 404


async def test_agent_serves_app_probes_on_both_ports(tmp_path: Path) -> None:
    """With probers the agent answers ``/app-health`` on its status port and on
    ``app_probe_port`` (Istio's 15020), from the app's address (``app_probe_host``)."""
    status_port, probe_port = free_port(), free_port()
    async with _app() as (port, callers):
        agent = Agent(
            AgentOptions(
                bootstrap=BootstrapOptions(pod_name="p", status_port=status_port,
                                           termination_drain_duration_s=0.01),
                work_dir=tmp_path, envoy_binary=Path("/bin/envoy"),
                app_probers={READY: AppProbe("http", port, "/ok")}, app_probe_host="127.0.0.1",
                app_probe_port=probe_port,
            ),
            runner=FakeProcessRunner(), admin=FakeEnvoyAdmin(),
        )
        task = asyncio.create_task(agent.run())
        try:
            for p in (probe_port, status_port):
                got = 0
                for _ in range(300):
                    with contextlib.suppress(OSError):
                        got = (await http_request("127.0.0.1", p, "GET", READY))[0]
                        break
                    await asyncio.sleep(0.01)
                assert got == 200, p
            assert len(callers) == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)


def test_cli_rejects_bad_app_probers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from lateen.cli._agent import run
    from lateen.cli._main import build_parser

    monkeypatch.setenv("ISTIO_KUBE_APP_PROBERS", '{"/health": {"httpGet": {"port": 80}}}')
    args = build_parser().parse_args(["agent", "--work-dir", "/nonexistent/never-created"])
    assert run(args) == 2
    assert "ISTIO_KUBE_APP_PROBERS['/health']: the path must be" in capsys.readouterr().err
