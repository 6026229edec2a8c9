"""Envoy supervision with a fake clock, fake processes and a fake admin API: restart backoff
and the drain sequence."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from lateen.agent import EnvoyOptions, EnvoySupervisor, backoff_delay, envoy_argv
from lateen.testing.clock import FakeClock
from lateen.testing.fake_envoy import FakeEnvoyAdmin, FakeProcessRunner

OPTS = EnvoyOptions(
    bootstrap_path=Path("/w/envoy-rev.json"),
    log_path=Path("/w/envoy.log"),
    binary=Path("/bin/envoy"),
    base_id=42,
    termination_drain_s=5.0,
    terminate_timeout_s=3.0,
    backoff_initial_s=0.5,
    backoff_max_s=8.0,
    backoff_reset_after_s=60.0,
)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (50, 8.0)],
)
def test_backoff_delay_doubles_and_is_capped(failures: int, expected: float) -> None:
    assert backoff_delay(failures, 0.5, 8.0) == expected


def test_envoy_argv() -> None:
    argv = envoy_argv(OPTS)
    assert argv[:3] == ["/bin/envoy", "-c", "/w/envoy-rev.json"]

    def flag(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert flag("--base-id") == "42"
    assert "--disable-hot-restart" in argv
    assert flag("--drain-time-s") == "45"
    assert flag("--parent-shutdown-time-s") == "60"
    assert flag("--log-level") == "warning"
    assert flag("--concurrency") == "2"


@dataclass
class Harness:
    clock: FakeClock
    runner: FakeProcessRunner
    admin: FakeEnvoyAdmin
    supervisor: EnvoySupervisor
    task: asyncio.Task[None]

    async def settle(self) -> None:
        await self.clock.settle(20)

    async def advance(self, seconds: float) -> None:
        await self.clock.advance_and_settle(seconds, turns=20)

    def pending_sleep(self) -> float | None:
        deadline = self.clock.next_deadline()
        return None if deadline is None else deadline - self.clock.now()

    async def cancel(self) -> None:
        self.task.cancel()
        await self.settle()


async def _harness(opts: EnvoyOptions = OPTS, *, ignore_sigterm: bool = False) -> AsyncIterator[Harness]:
    events: list[tuple[object, ...]] = []
    clock = FakeClock()
    runner = FakeProcessRunner(events, ignore_sigterm=ignore_sigterm)
    admin = FakeEnvoyAdmin(events)
    sup = EnvoySupervisor(opts, admin, runner=runner, clock=clock)
    task = asyncio.create_task(sup.run())
    h = Harness(clock, runner, admin, sup, task)
    await h.settle()
    try:
        yield h
    finally:
        if not task.done():
            task.cancel()
            for _ in range(10):  # walk the fake clock through any drain sequence
                await h.advance(10)
                if task.done():
                    break
        assert task.done()


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async for x in _harness():
        yield x


async def test_starts_envoy_with_its_command_line(h: Harness) -> None:
    assert len(h.runner.processes) == 1
    assert h.runner.current.argv == envoy_argv(OPTS)
    assert h.supervisor.pid == h.runner.current.pid


async def test_restarts_after_a_crash_with_exponential_backoff_capped(h: Harness) -> None:
    delays = []
    for i in range(7):
        h.runner.current.exit(-9)
        await h.settle()
        assert h.supervisor.pid is None
        delay = h.pending_sleep()
        assert delay is not None
        delays.append(delay)
        await h.advance(delay - 0.01)
        assert len(h.runner.processes) == i + 1, "restarted too early"
        await h.advance(0.01)
        assert len(h.runner.processes) == i + 2
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert h.supervisor.starts == 8


async def test_a_long_healthy_run_resets_the_backoff(h: Harness) -> None:
    for _ in range(3):  # 0.5, 1, 2
        h.runner.current.exit(1)
        await h.settle()
        await h.advance(h.pending_sleep() or 0)
    await h.advance(120)  # healthy for two minutes
    h.runner.current.exit(1)
    await h.settle()
    assert h.pending_sleep() == 0.5


async def test_stop_drains_then_sigterm_when_envoy_outlives_the_drain_period(h: Harness) -> None:
    proc = h.runner.current
    await h.cancel()
    assert h.admin.calls == [("POST", "/drain_listeners?graceful")]
    assert h.supervisor.draining
    assert proc.signals == []
    await h.advance(4.9)
    assert proc.signals == [], "SIGTERM before the drain period ended"
    await h.advance(0.1)
    assert h.task.done()
    assert h.runner.events == [
        ("start", proc.pid),
        ("POST", "/drain_listeners?graceful"),
        ("signal", proc.pid, signal.SIGTERM),
        ("exit", proc.pid, -signal.SIGTERM),
    ]
    assert len(h.runner.processes) == 1, "no restart while stopping"
    assert h.task.cancelled()


async def test_stop_sigkills_an_envoy_that_ignores_sigterm() -> None:
    async for h in _harness(ignore_sigterm=True):
        proc = h.runner.current
        await h.cancel()
        await h.advance(5.0)
        assert proc.signals == [signal.SIGTERM]
        await h.advance(2.9)
        assert proc.signals == [signal.SIGTERM]
        await h.advance(0.1)
        assert proc.signals == [signal.SIGTERM, signal.SIGKILL]
        assert proc.returncode == -signal.SIGKILL
        assert h.task.done()


async def test_envoy_exiting_during_the_drain_needs_no_signal(h: Harness) -> None:
    proc = h.runner.current
    await h.cancel()
    await h.advance(1.0)
    proc.exit(0)
    await h.settle()
    assert h.task.done()
    assert proc.signals == []


async def test_unreachable_admin_still_stops_envoy(h: Harness) -> None:
    h.admin.up = False
    proc = h.runner.current
    await h.cancel()
    await h.advance(5.0)
    assert proc.signals == [signal.SIGTERM]
    assert h.task.done()


async def test_stop_during_backoff_starts_nothing_and_signals_nothing(h: Harness) -> None:
    h.runner.current.exit(1)
    await h.settle()
    await h.cancel()
    assert h.task.done()
    assert h.admin.calls == []
    await h.advance(60)
    assert len(h.runner.processes) == 1


async def test_sidecars_drain_inbound_only() -> None:
    async for h in _harness(replace(OPTS, drain_inbound_only=True)):
        await h.cancel()
        assert h.admin.calls == [("POST", "/drain_listeners?inboundonly&graceful")]
