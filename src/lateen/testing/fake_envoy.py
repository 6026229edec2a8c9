"""Fakes for the agent's edges: Envoy processes (:class:`FakeProcessRunner`) and Envoy's admin
API (:class:`FakeEnvoyAdmin`). Both append to a shared ``events`` list so a test can assert
the order of a drain sequence: ``("start", pid)``, ``("POST", path)``, ``("signal", pid, sig)``,
``("exit", pid, code)``."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FakeEnvoyAdmin", "FakeProcess", "FakeProcessRunner"]

Event = tuple[Any, ...]


class FakeProcess:
    """A process that exits when told (:meth:`exit`) or on a signal it does not ignore."""

    def __init__(self, pid: int, argv: Sequence[str], events: list[Event], *, ignore_sigterm: bool) -> None:
        self.pid = pid
        self.argv = list(argv)
        self.returncode: int | None = None
        self.signals: list[int] = []
        self.ignore_sigterm = ignore_sigterm
        self._events = events
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self._events.append(("signal", self.pid, sig))
        if self.returncode is not None:
            return
        if sig == signal.SIGKILL or (sig == signal.SIGTERM and not self.ignore_sigterm):
            self.exit(-sig)

    def exit(self, code: int = 0) -> None:
        if self.returncode is not None:
            return
        self.returncode = code
        self._events.append(("exit", self.pid, code))
        self._done.set_result(code)


class FakeProcessRunner:
    """Implements :class:`lateen.agent.ProcessRunner`; ``processes`` in start order."""

    def __init__(self, events: list[Event] | None = None, *, ignore_sigterm: bool = False) -> None:
        self.events: list[Event] = events if events is not None else []
        self.processes: list[FakeProcess] = []
        self.ignore_sigterm = ignore_sigterm
        self._pids = itertools.count(1000)

    async def start(self, argv: Sequence[str], log_path: Path) -> FakeProcess:
        proc = FakeProcess(next(self._pids), argv, self.events, ignore_sigterm=self.ignore_sigterm)
        self.processes.append(proc)
        self.events.append(("start", proc.pid))
        return proc

    @property
    def current(self) -> FakeProcess:
        return self.processes[-1]


class FakeEnvoyAdmin:
    """Implements :class:`lateen.agent.EnvoyAdmin` from settable state. ``up=False`` makes every
    call raise ``ConnectionRefusedError``; ``/drain_listeners`` sets ``state`` to DRAINING."""

    def __init__(self, events: list[Event] | None = None) -> None:
        self.events: list[Event] = events if events is not None else []
        self.up = True
        self.state = "PRE_INITIALIZING"
        self.stats: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []

    def set_updates(self, cds_success: int = 0, lds_success: int = 0, cds_rejected: int = 0,
                    lds_rejected: int = 0) -> None:
        self.stats = {
            "cluster_manager.cds.update_success": cds_success,
            "cluster_manager.cds.update_rejected": cds_rejected,
            "listener_manager.lds.update_success": lds_success,
            "listener_manager.lds.update_rejected": lds_rejected,
        }

    def _check(self, method: str, path: str) -> None:
        self.calls.append((method, path))
        if not self.up:
            raise ConnectionRefusedError("envoy admin is down")

    async def get(self, path: str) -> tuple[int, str]:
        self._check("GET", path)
        if path.startswith("/stats"):
            # Envoy's usedonly omits counters that were never touched
            text = "".join(f"{k}: {v}\n" for k, v in sorted(self.stats.items()) if v)
            return 200, text
        if path == "/server_info":
            return 200, json.dumps({"state": self.state, "version": "fake"})
        return 404, "invalid path\n"

    async def post(self, path: str) -> tuple[int, str]:
        self._check("POST", path)
        self.events.append(("POST", path))
        if path.startswith("/drain_listeners"):
            self.state = "DRAINING"
            return 200, "OK\n"
        return 404, "invalid path\n"
