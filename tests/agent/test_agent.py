"""The agent composed from fakes (processes, admin API, clock) and a real status server; the
``lateen agent`` command line."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest

from lateen.agent import Agent, AgentOptions, BootstrapOptions, ProxyKind
from lateen.cli._main import build_parser
from lateen.testing.clock import FakeClock
from lateen.testing.fake_envoy import FakeEnvoyAdmin, FakeProcessRunner
from lateen.testing.procs import free_port


async def _ready(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        return resp.status, await resp.text()


async def _poll(url: str, status: int) -> str:
    for _ in range(200):
        try:
            got, text = await _ready(url)
        except aiohttp.ClientError:
            await asyncio.sleep(0.01)
            continue
        if got == status:
            return text
        await asyncio.sleep(0.01)
    raise AssertionError(f"{url} never returned {status}")


async def test_agent_writes_bootstrap_serves_readiness_and_drains_on_cancel(tmp_path: Path) -> None:
    port = free_port()
    events: list[tuple[object, ...]] = []
    runner = FakeProcessRunner(events)
    admin = FakeEnvoyAdmin(events)
    clock = FakeClock()
    opts = AgentOptions(
        bootstrap=BootstrapOptions(pod_name="gw-1", namespace="istio-system", kind=ProxyKind.ROUTER,
                                   labels={"istio": "ingressgateway"}, status_port=port,
                                   termination_drain_duration_s=5.0),
        work_dir=tmp_path / "work",
        envoy_binary=Path("/bin/envoy"),
    )
    agent = Agent(opts, runner=runner, clock=clock, admin=admin)
    task = asyncio.create_task(agent.run())
    url = f"http://127.0.0.1:{port}/healthz/ready"
    assert "config not received" in await _poll(url, 503)

    boot = json.loads(opts.bootstrap_path.read_text())
    assert opts.bootstrap_path.stat().st_mode & 0o777 == 0o600  # may carry the pod's token
    assert boot["node"]["id"] == "router~127.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local"
    assert runner.current.argv[runner.current.argv.index("-c") + 1] == str(opts.bootstrap_path)

    admin.set_updates(1, 1)
    admin.state = "LIVE"
    await _poll(url, 200)

    task.cancel()
    await clock.settle(20)
    assert ("POST", "/drain_listeners?graceful") in events  # a router drains all listeners
    assert await _poll(url, 503) == "envoy is draining\n"  # still answering while draining
    await clock.advance_and_settle(5.0, turns=20)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events[-2:] == [("signal", runner.current.pid, signal.SIGTERM),
                           ("exit", runner.current.pid, -signal.SIGTERM)]
    with pytest.raises(aiohttp.ClientError):
        await _ready(url)  # the status server stopped with the agent


async def test_a_busy_status_port_stops_envoy_and_fails(tmp_path: Path) -> None:
    port = free_port()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        runner = FakeProcessRunner()
        agent = Agent(
            AgentOptions(bootstrap=BootstrapOptions(pod_name="p", status_port=port,
                                                    termination_drain_duration_s=0.01),
                         work_dir=tmp_path, envoy_binary=Path("/bin/envoy")),
            runner=runner,
            admin=FakeEnvoyAdmin(),
        )
        with pytest.raises(ExceptionGroup) as info:
            await asyncio.wait_for(agent.run(), 10)
        assert info.group_contains(OSError)
        assert all(p.returncode is not None for p in runner.processes)
    finally:
        blocker.close()
        await blocker.wait_closed()


def test_cli_flags() -> None:
    args = build_parser().parse_args([
        "agent", "--type", "router", "--labels", "istio=ingressgateway,app=gw", "--label", "v=1",
        "--pod-name", "gw-1", "--namespace", "istio-system", "--pod-ip", "127.0.0.9", "--delta",
        "--admin-port", "25000", "--stats-port", "25090", "--status-port", "25021",
        "--discovery-address", "127.0.0.1:25010", "--work-dir", "/tmp/x", "--log-level", "debug",
    ])  # fmt: skip
    assert args.command == "agent"
    assert args.type == "router"
    assert args.labels == [{"istio": "ingressgateway", "app": "gw"}]
    assert args.label == [{"v": "1"}]
    assert (args.admin_port, args.stats_port, args.status_port) == (25000, 25090, 25021)
    assert args.delta is True


def test_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("POD_NAME", "POD_NAMESPACE", "INSTANCE_IP", "SERVICE_ACCOUNT", "PILOT_DISCOVERY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    args = build_parser().parse_args(["agent"])
    assert args.type == "sidecar"
    assert args.discovery_address == "127.0.0.1:15010"
    assert args.namespace == "default"
    assert args.pod_ip == "127.0.0.1"
    assert (args.admin_port, args.stats_port, args.status_port) == (15000, 15090, 15021)
    assert args.delta is False


def test_cli_rejects_a_bad_label(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--labels", "novalue"])
    assert "is not KEY=VALUE" in capsys.readouterr().err
