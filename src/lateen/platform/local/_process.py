"""One supervised process of a pod: started in its own process group with its output
appended to a log file, restarted with exponential backoff when it exits (Kubernetes'
``restartPolicy: Always``), stopped with SIGTERM then SIGKILL of its whole group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "AsyncioSpawner",
    "ProcessInfo",
    "Running",
    "Spawner",
    "SupervisedProcess",
    "proc_start_time",
]

log = logging.getLogger(__name__)


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22): with
    the PID it identifies a process even after the PID is reused."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(data.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return None


class Running(Protocol):
    @property
    def pid(self) -> int: ...

    async def wait(self) -> int: ...


class Spawner(Protocol):
    async def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str, log_path: Path
    ) -> Running: ...


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AsyncioSpawner:
    async def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str, log_path: Path
    ) -> Running:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return proc  # asyncio's Process is a Running


@dataclass(slots=True)
class ProcessInfo:
    """What ``lateen status`` shows of a container."""

    name: str
    pid: int = 0
    start_time: int = 0
    restarts: int = 0
    running: bool = False
    last_exit: int | None = None
    ready: bool = False
    log_path: str = ""
    reason: str = ""


class SupervisedProcess:
    """Run ``argv`` until :meth:`stop`; restart it after each exit with backoff
    (``initial`` doubling up to ``maximum``; reset after ``reset_after`` s of running)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        log_path: Path,
        *,
        spawner: Spawner | None = None,
        on_change: Callable[[ProcessInfo], None] = lambda _: None,
        initial: float = 0.5,
        maximum: float = 30.0,
        reset_after: float = 60.0,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.info = ProcessInfo(name=name, log_path=str(log_path))
        self._log_path = log_path
        self._spawner = spawner or AsyncioSpawner()
        self._on_change = on_change
        self._initial, self._maximum, self._reset_after = initial, maximum, reset_after
        self._stopping = asyncio.Event()
        self._current: Running | None = None

    def _note(self, line: str) -> None:
        with contextlib.suppress(OSError), open(self._log_path, "a") as f:
            f.write(f"[lateen] {line}\n")

    async def run(self) -> None:
        delay = self._initial
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            try:
                proc = await self._spawner.spawn(self.argv, self.env, self.cwd, self._log_path)
            except OSError as e:
                self.info.reason = f"cannot start: {e}"
                self._note(f"{self.info.name}: cannot start {self.argv[0]}: {e}")
                log.error("%s: cannot start %s: %s", self.info.name, self.argv, e)
                self._on_change(self.info)
            else:
                self._current = proc
                self.info.pid = proc.pid
                self.info.start_time = proc_start_time(proc.pid) or 0
                self.info.running = True
                self.info.reason = ""
                self._on_change(self.info)
                rc = await proc.wait()
                self._current = None
                self.info.running = False
                self.info.ready = False
                self.info.last_exit = rc
                if self._stopping.is_set():
                    self._on_change(self.info)
                    return
                if loop.time() - started >= self._reset_after:
                    delay = self._initial
                self.info.restarts += 1
                self.info.reason = f"exited with {rc}; restarting in {delay:.1f}s"
                self._note(f"{self.info.name} exited with {rc}; restarting in {delay:.1f}s")
                log.warning("%s (pid %d) exited with %d; restarting in %.1fs", self.info.name, proc.pid, rc, delay)
                self._on_change(self.info)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._maximum)

    def signal_group(self, sig: int) -> None:
        proc = self._current
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group; SIGKILL it after ``grace`` seconds."""
        self._stopping.set()
        proc = self._current
        if proc is None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            self._note(f"{self.info.name} did not stop in {grace:.0f}s; killing it")
            self.signal_group(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
        # the group may hold children that outlived the leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
