"""Processes the benchmarks start, and what ``/proc`` says about them.

:class:`ProcGroup` starts each process in its own session with its output in
``LOGDIR/NAME.log`` and, on exit (also on an exception or SIGTERM to the bench), stops every
one by its PID: SIGTERM in reverse start order, SIGKILL after a timeout, then SIGKILL to any
child recorded earlier (an agent's Envoy runs in its own session) that is still the same
process (same start time). Nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from lateen.platform.local import proc_start_time

__all__ = [
    "ProcGroup",
    "bound_blocks",
    "children",
    "comm",
    "cpu_seconds",
    "envoy_child",
    "pss_mb",
    "rss_mb",
]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/PID/task/*/children``)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def envoy_child(pid: int) -> int | None:
    """The Envoy an agent runs (its child named ``envoy``), if any."""
    return next((c for c in children(pid) if "envoy" in comm(c)), None)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process used so far (``/proc/PID/stat``, 10 ms ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_kb(path: str, key: str) -> int | None:
    """A ``key: N kB`` field of a /proc file."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def rss_mb(pid: int, key: str = "VmRSS") -> float | None:
    """``VmRSS`` (or another ``/proc/PID/status`` field in kB, e.g. ``RssAnon``: private
    memory, without the mapped binary and libraries) of the process in MiB."""
    kb = _proc_kb(f"/proc/{pid}/status", key)
    return None if kb is None else kb / 1024


def pss_mb(pid: int) -> float | None:
    """The process's proportional set size (shared pages split between their users), MiB."""
    kb = _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")
    return None if kb is None else kb / 1024


def bound_blocks() -> set[int]:
    """Second octets X of every 127.X.y.z some IPv4 TCP/UDP socket is bound to."""
    out: set[int] = set()
    for table in ("tcp", "udp"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            addr = int(line.split()[1].split(":")[0], 16)  # little-endian IPv4
            if addr & 0xFF == 127:
                out.add(addr >> 8 & 0xFF)
    return out


class ProcGroup:
    """Processes started for one benchmark; all stopped by PID when the ``with`` block ends."""

    def __init__(self, logdir: Path, stop_timeout: float = 10.0) -> None:
        self.logdir = logdir
        self.stop_timeout = stop_timeout
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._adopted: list[tuple[int, int]] = []  # (pid, start time) of children to reap

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with open(self.logdir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.procs[name] = proc
        return proc

    def adopt(self, pid: int) -> None:
        """Remember a child (an agent's Envoy) to kill if it outlives its parent."""
        start = proc_start_time(pid)
        if start is not None:
            self._adopted.append((pid, start))

    def log(self, name: str, tail: int = 3000) -> str:
        p = self.logdir / f"{name}.log"
        return p.read_text(errors="replace")[-tail:] if p.exists() else ""

    def check(self) -> None:
        """Raise if a process already exited (with the end of its log)."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def close(self) -> None:
        running = [p for p in reversed(self.procs.values()) if p.poll() is None]
        for p in running:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for p in running:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for pid, start in self._adopted:
            if proc_start_time(pid) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
