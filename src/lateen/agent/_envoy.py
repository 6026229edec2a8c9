"""Envoy process supervision: start, restart on exit with capped exponential backoff, drain on
stop.

Stop sequence (on cancellation of :meth:`EnvoySupervisor.run`), as Istio's pilot-agent does on
SIGTERM: ``POST /drain_listeners?graceful`` (``inboundonly`` too for a sidecar), wait the
termination drain duration (or until Envoy exits), ``SIGTERM``, wait ``terminate_timeout``,
then ``SIGKILL`` by PID. Time, processes and the admin API are injected
(:class:`Clock`, :class:`ProcessRunner`, :class:`~lateen.agent._admin.EnvoyAdmin`); fakes live
in :mod:`lateen.testing.fake_envoy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lateen.agent._admin import EnvoyAdmin

__all__ = [
    "AsyncioProcessRunner",
    "Clock",
    "EnvoyOptions",
    "EnvoyProcess",
    "EnvoySupervisor",
    "MonotonicClock",
    "ProcessRunner",
    "backoff_delay",
    "envoy_argv",
]

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time line (``lateen.testing.clock.FakeClock``)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class EnvoyProcess(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...


class ProcessRunner(Protocol):
    async def start(self, argv: Sequence[str], log_path: Path) -> EnvoyProcess: ...


@dataclass(frozen=True, slots=True)
class EnvoyOptions:
    bootstrap_path: Path
    log_path: Path
    binary: Path
    base_id: int
    log_level: str = "warning"
    component_log_level: str = "misc:error"
    concurrency: int = 2
    drain_time_s: int = 45  # Envoy --drain-time-s (Istio drainDuration)
    parent_shutdown_time_s: int = 60  # Envoy --parent-shutdown-time-s
    termination_drain_s: float = 5.0  # wait after /drain_listeners (terminationDrainDuration)
    terminate_timeout_s: float = 5.0  # after SIGTERM, before SIGKILL
    drain_inbound_only: bool = False  # sidecars drain inbound listeners only, as Istio
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_reset_after_s: float = 60.0  # a run this long resets the backoff


def envoy_argv(opts: EnvoyOptions) -> list[str]:
    """Envoy's command line (pure), after Istio's ``envoy`` invocation by pilot-agent."""
    return [
        str(opts.binary),
        "-c", str(opts.bootstrap_path),
        "--base-id", str(opts.base_id),
        "--disable-hot-restart",
        "--drain-time-s", str(opts.drain_time_s),
        "--drain-strategy", "immediate",
        "--parent-shutdown-time-s", str(opts.parent_shutdown_time_s),
        "--local-address-ip-version", "v4",
        "--file-flush-interval-msec", "1000",
        "--log-level", opts.log_level,
        "--component-log-level", opts.component_log_level,
        "--concurrency", str(opts.concurrency),
    ]  # fmt: skip


def backoff_delay(failures: int, initial: float, cap: float, factor: float = 2.0) -> float:
    """Delay before the restart that follows ``failures`` consecutive early exits (0-based)."""
    return min(cap, initial * factor ** max(0, failures))


class EnvoySupervisor:
    """Keeps one Envoy running while :meth:`run` runs; drains and stops it on cancellation."""

    def __init__(
        self,
        opts: EnvoyOptions,
        admin: EnvoyAdmin,
        *,
        runner: ProcessRunner | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.opts = opts
        self._admin = admin
        self._runner: ProcessRunner = runner or AsyncioProcessRunner()
        self._clock: Clock = clock or MonotonicClock()
        self._proc: EnvoyProcess | None = None
        self.starts = 0
        self.draining = False

    @property
    def pid(self) -> int | None:
        """PID of the running Envoy, if any."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                started = self._clock.now()
                proc = await self._runner.start(envoy_argv(self.opts), self.opts.log_path)
                self._proc = proc
                self.starts += 1
                log.info("envoy started (pid %d, start #%d)", proc.pid, self.starts)
                rc = await proc.wait()
                ran = self._clock.now() - started
                if ran >= self.opts.backoff_reset_after_s:
                    failures = 0
                delay = backoff_delay(failures, self.opts.backoff_initial_s, self.opts.backoff_max_s)
                failures += 1
                log.warning(
                    "envoy (pid %d) exited with %s after %.1fs; restarting in %.1fs (see %s)",
                    proc.pid, rc, ran, delay, self.opts.log_path,
                )  # fmt: skip
                await self._clock.sleep(delay)
        except asyncio.CancelledError:
            await self._shutdown()
            last = self._proc
            if last is not None:
                log.info("envoy (pid %d) stopped: exit code %s", last.pid, last.returncode)
            raise
        finally:
            self._kill_if_alive()

    async def _wait_exit(self, proc: EnvoyProcess, timeout: float) -> bool:
        """True when ``proc`` exits within ``timeout`` seconds (on the injected clock)."""
        if proc.returncode is not None:
            return True
        waiter = asyncio.ensure_future(proc.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (waiter, sleeper):
                if not fut.done():
                    fut.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)
        return proc.returncode is not None

    async def _shutdown(self) -> None:
        proc = self._proc
        self.draining = True
        if proc is None or proc.returncode is not None:
            return
        path = "/drain_listeners?inboundonly&graceful" if self.opts.drain_inbound_only else "/drain_listeners?graceful"
        try:
            status, body = await self._admin.post(path)
            log.info("envoy drain requested: %s %s", status, body.strip()[:200])
        except Exception as e:  # Envoy may not be up yet; stop it anyway
            log.warning("envoy drain request failed: %r", e)
        if await self._wait_exit(proc, self.opts.termination_drain_s):
            return
        log.info("sending SIGTERM to envoy (pid %d)", proc.pid)
        proc.send_signal(signal.SIGTERM)
        if await self._wait_exit(proc, self.opts.terminate_timeout_s):
            return
        log.warning("envoy (pid %d) did not exit in %.1fs; SIGKILL", proc.pid, self.opts.terminate_timeout_s)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    def _kill_if_alive(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            log.warning("killing envoy (pid %d)", proc.pid)
            proc.send_signal(signal.SIGKILL)


class _AsyncioProcess:
    """An ``asyncio.subprocess.Process`` whose signals go to its PID (never a process group)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    def send_signal(self, sig: int) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """Linux: Envoy gets SIGTERM if the agent dies without stopping it."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AsyncioProcessRunner:
    """Starts Envoy in its own session (a terminal's Ctrl-C reaches the agent only, which drains
    Envoy), stdout and stderr appended to ``log_path``."""

    async def start(self, argv: Sequence[str], log_path: Path) -> EnvoyProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return _AsyncioProcess(proc)
