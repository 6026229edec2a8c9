"""The local platform's process supervision, addresses and state (real processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lateen.platform.local import (
    AddressPool,
    ExplicitNetwork,
    PodSpec,
    ProcessRecord,
    ProxyRole,
    StateDir,
    SupervisedProcess,
    kill_recorded,
    loopback_block,
    proc_start_time,
)


async def test_restarts_with_backoff_and_reports(tmp_path: Path):
    log = tmp_path / "c.log"
    changes = []
    proc = SupervisedProcess(
        "c", [sys.executable, "-c", "print('hello'); raise SystemExit(3)"], dict(os.environ), str(tmp_path), log,
        on_change=lambda i: changes.append((i.running, i.restarts, i.last_exit)), initial=0.05, maximum=0.2,
    )
    task = asyncio.create_task(proc.run())
    deadline = time.monotonic() + 10
    # (a child may rarely abort in gRPC's fork handlers when other tests left gRPC threads
    # in this process: wait for three clean runs rather than three exits)
    while time.monotonic() < deadline and (
        proc.info.restarts < 3 or not log.exists() or log.read_text().count("hello") < 3
    ):
        await asyncio.sleep(0.05)
    await proc.stop(1.0)
    await asyncio.wait_for(task, 5)
    assert proc.info.restarts >= 3
    assert proc.info.last_exit == 3
    text = log.read_text()
    assert text.count("hello") >= 3
    assert "c exited with 3; restarting in" in text
    assert (False, 1, 3) in changes


async def test_stop_terminates_the_whole_group_and_kills_stubborn_ones(tmp_path: Path):
    # the leader ignores SIGTERM and has a child: both must be gone after stop()
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "s.log"
    proc = SupervisedProcess("s", [sys.executable, "-c", script], dict(os.environ), str(tmp_path), log)
    task = asyncio.create_task(proc.run())
    deadline = time.monotonic() + 10
    while not log.read_text().strip() if log.exists() else True:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    leader, child = proc.info.pid, int(log.read_text().split()[0])
    started = time.monotonic()
    await proc.stop(0.5)
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 5
    for pid in (leader, child):
        deadline = time.monotonic() + 3
        while proc_start_time(pid) is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "gone"
        assert state in ("gone", "Z"), f"pid {pid} still {state}"
    assert proc.info.restarts == 0


async def test_missing_binary_is_reported_and_retried(tmp_path: Path):
    proc = SupervisedProcess("x", ["/nonexistent/bin"], {}, str(tmp_path), tmp_path / "x.log", initial=0.05)
    task = asyncio.create_task(proc.run())
    await asyncio.sleep(0.3)
    await proc.stop(0.1)
    await asyncio.wait_for(task, 5)
    assert "cannot start" in proc.info.reason
    assert "cannot start /nonexistent/bin" in (tmp_path / "x.log").read_text()


def test_address_pool_allocates_reuses_last():
    pool = AddressPool(40)
    a = pool.allocate(("ns", "a"))
    b = pool.allocate(("ns", "b"))
    assert (a, b) == ("127.40.0.10", "127.40.0.11")
    assert pool.allocate(("ns", "a")) == a  # idempotent
    pool.release(("ns", "a"))
    assert pool.allocate(("ns", "c")) == "127.40.0.12"  # a freed address is not reused first


@pytest.mark.parametrize(
    ("with_proxy", "app", "proxy_env"),
    [(True, "127.41.0.10", "http://127.40.0.10:15001"), (False, "127.40.0.10", None)],
    ids=["sidecar", "no-sidecar"],
)
async def test_explicit_network_env(with_proxy, app, proxy_env):
    net = ExplicitNetwork(40)
    spec = PodSpec(name="p", namespace="default", proxy=ProxyRole.SIDECAR if with_proxy else None)
    addr = await net.setup(spec)
    assert addr.ip == "127.40.0.10"
    assert addr.app_address == app
    env = net.app_env(addr, with_proxy)
    assert env["LISTEN_ADDRESS"] == app
    assert env.get("HTTP_PROXY") == proxy_env
    assert net.control_plane_address() == "127.40.0.1"
    assert net.wrap(spec, ["a"], proxy=False) == ["a"]


def test_loopback_block_is_even_and_in_range():
    blocks = {loopback_block(f"/tmp/state-{i}") for i in range(200)}
    assert all(20 <= b <= 218 and b % 2 == 0 for b in blocks)
    assert len(blocks) > 50


def test_kill_recorded_checks_start_time(tmp_path: Path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        st = proc_start_time(live.pid)
        assert st
        state = StateDir(tmp_path)
        state.write_processes([
            ProcessRecord(live.pid, st, "ns/p", "app"),
            ProcessRecord(other.pid, 1, "ns/q", "app"),  # same pid, different process: spared
        ])
        killed = kill_recorded(state.read_processes())
        assert [r.pid for r in killed] == [live.pid]
        assert live.wait(5) == -signal.SIGKILL
        assert other.poll() is None
    finally:
        for p in (live, other):
            if p.poll() is None:
                p.kill()
                p.wait()
