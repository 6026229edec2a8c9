"""startup: how fast a sidecar and a whole Bookinfo mesh come up, and what a sidecar costs idle.

Three measurements, on real processes (real Envoy):

* **sidecar start -> ready.** One ``lateen discovery`` (Bookinfo's Services and gateway config)
  listens on ``127.X.0.1`` (X: a random even block in 100..198 where nothing is bound). For
  each of N sidecars, one after another (each measured alone, the earlier ones stay up idle),
  ``lateen agent`` is spawned in explicit mode (``ISTIO_META_INTERCEPTION_MODE=NONE``, pod
  address ``127.X.0.(10+i)``, app address ``127.(X+1).0.(10+i)``) and the time from the spawn
  to the first 200 of ``GET http://POD_IP:15021/healthz/ready`` (polled every 10 ms) is taken.
  Phases come from timestamps: the agent's log (bootstrap written, Envoy started, status
  server listening) and the control plane's log (the proxy's xDS stream connected); the CPU
  time the agent and its Envoy used until ready, and how many CPUs the whole machine kept busy
  meanwhile (``/proc/stat``), tell a slow start from a busy machine.
* **idle memory.** Once every sidecar is ready and ~3 s idle: per agent (Python) process and
  per Envoy (the agent's child, ``/proc/PID/task/*/children``) ``VmRSS`` from
  ``/proc/PID/status`` and ``Pss`` from ``/proc/PID/smaps_rollup`` (PSS splits shared pages,
  e.g. the Envoy binary's text, between the processes sharing them).
* **``lateen up samples/bookinfo -d`` -> all ready** (the command returns once every pod is
  ready), each run with a fresh ``--state-dir`` (one whose loopback block, which lateen derives
  from its path, has nothing bound) and a free ``--ingress-port``; meanwhile the
  page ``GET http://127.0.0.1:PORT/productpage`` is polled (every 20 ms) from the spawn until
  its first 200; then ``lateen down`` (timed too).

Every wait is capped; whatever did not complete is reported as such, never guessed.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._procs import bound_blocks, children, comm, cpu_seconds, pss_mb, rss_mb
from lateen.platform.local import StateDir, loopback_block, proc_start_time
from lateen.testing.procs import free_port

__all__ = ["Params", "run"]

REPO = Path(__file__).resolve().parents[1]
BOOKINFO = REPO / "samples" / "bookinfo"
CONFIG_DIRS = ("samples/bookinfo/platform", "samples/bookinfo/networking/bookinfo-gateway.yaml")
STATUS_PORT = 15021
POLL_S = 0.010  # readiness poll interval
PAGE_POLL_S = 0.020  # productpage poll interval during `lateen up`

# the targets; Istio publishes no startup numbers to compare with
TARGETS = {
    "sidecar_ready_ms": 1000.0,
    "bookinfo_ready_s": 10.0,
    "agent_rss_mb": 35.0,
    "envoy_rss_mb": 40.0,
}
ISTIO_ANCHOR = "—"


@dataclass(frozen=True)
class Params:
    sidecars: int
    up_runs: int
    idle_s: float  # idle time before memory is read
    sidecar_cap: float  # seconds for one sidecar to become ready
    up_cap: float  # seconds for one `lateen up -d` (its own --timeout is 120 s)
    page_cap: float  # seconds after `lateen up` returned for the page to answer 200
    stop_timeout: float  # SIGTERM -> SIGKILL (the agent drains Envoy for 5 s first)


QUICK = Params(
    sidecars=10,
    up_runs=1,
    idle_s=3.0,
    sidecar_cap=20.0,
    up_cap=150.0,
    page_cap=20.0,
    stop_timeout=15.0,
)
FULL = Params(
    sidecars=20,
    up_runs=3,
    idle_s=3.0,
    sidecar_cap=30.0,
    up_cap=150.0,
    page_cap=30.0,
    stop_timeout=15.0,
)


# -- /proc -------------------------------------------------------------------------------------


def envoy_child(agent_pid: int) -> int | None:
    kids = children(agent_pid)
    envoys = [k for k in kids if "envoy" in comm(k)] or kids
    return envoys[0] if envoys else None


def cpu_ms(pid: int) -> float | None:
    """User + system CPU time the process has used so far, in ms."""
    seconds = cpu_seconds(pid)
    return None if seconds is None else seconds * 1000


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far (``/proc/stat``); busy excludes idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def busy_cpus(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """How many CPUs were busy on average between two :func:`cpu_jiffies` readings (everything
    on the machine: what is measured, this process, and anything else running)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return None if total <= 0 else round(busy / total * (os.cpu_count() or 1), 2)


def background_processes() -> dict[str, int]:
    """Envoy and ``python -m lateen`` processes already running (other meshes, other tests):
    they share the CPUs with what is measured."""
    out = {"envoy": 0, "lateen": 0}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            comm = (d / "comm").read_text().strip()
            cmdline = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm == "envoy":
            out["envoy"] += 1
        elif b"lateen" in cmdline[1:3] or b"lateen.cli._main" in cmdline[1:3]:
            out["lateen"] += 1
    return out


def pick_block(rng: random.Random) -> int:
    """A random even X in 100..198 with nothing bound on 127.X.0.0/16 nor 127.(X+1).0.0/16."""
    bound = bound_blocks()
    free = [x for x in range(100, 199, 2) if x not in bound and x + 1 not in bound]
    if not free:
        raise RuntimeError("every 127.X.0.0/16 block (X even, 100..198) has a bound socket")
    return rng.choice(free)


# -- processes ---------------------------------------------------------------------------------


def _start(
    argv: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )


def stop_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> float:
    """SIGTERM every process (by PID) at once, wait up to ``timeout``, then SIGKILL; returns
    the seconds until every one had exited. Children (Envoy) left behind are SIGKILLed."""
    orphans: list[tuple[int, int | None]] = []
    for p in procs:
        if p.poll() is None:
            orphans.extend((c, proc_start_time(c)) for c in children(p.pid))
    t0 = time.monotonic()
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    deadline = t0 + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    took = time.monotonic() - t0
    for pid, start in orphans:
        if start is not None and proc_start_time(pid) == start:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return took


def _http_status(host: str, port: int, path: str, timeout: float = 1.0) -> tuple[int | None, str]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None, ""
    finally:
        conn.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(sum(values) / len(values), digits),
    }


_LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (\S+): (.*)$")


def log_times(path: Path) -> list[tuple[float, str, str]]:
    """(epoch seconds, logger, message) of each line of a Python ``logging`` log."""
    out: list[tuple[float, str, str]] = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        m = _LOG_TS.match(line)
        if m:
            ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((ts, m.group(2), m.group(3)))
    return out


def _first(times: list[tuple[float, str, str]], prefix: str) -> float | None:
    return next((t for t, _, msg in times if msg.startswith(prefix)), None)


# -- 1 + 2: sidecars ---------------------------------------------------------------------------


def _pod_name(i: int) -> str:
    return f"productpage-v1-abc-{i}"


def _agent_argv(i: int, x: int, xds_port: int, work_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "lateen", "agent",
        "--pod-name", _pod_name(i),
        "--namespace", "default",
        "--pod-ip", f"127.{x}.0.{10 + i}",
        "--labels", "app=productpage,version=v1",
        "--service-account", "bookinfo-productpage",
        "--discovery-address", f"127.{x}.0.1:{xds_port}",
        "--work-dir", str(work_dir),
    ]  # fmt: skip


def _wait_ready(proc: subprocess.Popen[bytes], ip: str, t0: float, cap: float) -> dict[str, Any]:
    first_answer: float | None = None
    while True:
        status, _ = _http_status(ip, STATUS_PORT, "/healthz/ready")
        now = time.monotonic()
        if status is not None and first_answer is None:
            first_answer = now - t0
        if status == 200:
            envoy = envoy_child(proc.pid)
            return {
                "ready_ms": (now - t0) * 1000,
                "first_answer_ms": (first_answer or 0.0) * 1000,
                "agent_cpu_ms": cpu_ms(proc.pid),
                "envoy_cpu_ms": cpu_ms(envoy) if envoy else None,
            }
        if proc.poll() is not None:
            return {"error": f"agent exited with {proc.returncode} before ready"}
        if now - t0 > cap:
            return {"error": f"not ready within {cap:.0f} s (last status {status})"}
        time.sleep(POLL_S)


def _phases(
    sample: dict[str, Any], agent_log: Path, cp_times: list[tuple[float, str, str]]
) -> None:
    """Timestamps (ms after the spawn) from the agent's and the control plane's logs."""
    spawn = sample["spawn_epoch"]
    times = log_times(agent_log)
    marks = {
        "bootstrap_written_ms": _first(times, "bootstrap written"),
        "envoy_started_ms": _first(times, "envoy started"),
        "status_server_ms": _first(times, "status server on"),
        "xds_connected_ms": _first(cp_times, f"{_pod_name(sample['i'])}.default-"),
    }
    for key, ts in marks.items():
        sample[key] = None if ts is None else round((ts - spawn) * 1000, 1)


def _phase_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per phase, over the ready sidecars: how the start -> ready time splits."""
    spans = {
        "spawn_to_bootstrap_written": (None, "bootstrap_written_ms"),
        "bootstrap_written_to_envoy_started": ("bootstrap_written_ms", "envoy_started_ms"),
        "envoy_started_to_xds_connected": ("envoy_started_ms", "xds_connected_ms"),
        "xds_connected_to_ready": ("xds_connected_ms", "ready_ms"),
    }
    out: dict[str, Any] = {}
    for name, (a, b) in spans.items():
        vals = [
            s[b] - (s[a] if a else 0.0)
            for s in samples
            if s.get("ready_ms") is not None
            and s.get(b) is not None
            and (a is None or s.get(a) is not None)
        ]
        out[name] = summary(vals)
    return out


def _discovery_argv(x: int, xds_port: int, mon_port: int) -> list[str]:
    argv = [sys.executable, "-m", "lateen", "discovery"]
    for d in CONFIG_DIRS:
        argv += ["--config-dir", d]
    argv += [
        "--listen-address", f"127.{x}.0.1",
        "--xds-port", str(xds_port),
        "--monitoring-port", str(mon_port),
    ]  # fmt: skip
    return argv


def measure_sidecars(p: Params, x: int, tmp: Path, notes: list[str]) -> dict[str, Any]:
    cp_ip = f"127.{x}.0.1"
    xds_port = free_port(cp_ip)
    mon_port = free_port(cp_ip)
    while mon_port == xds_port:
        mon_port = free_port(cp_ip)
    cp_log = tmp / "discovery.log"
    out: dict[str, Any] = {"count": p.sidecars, "loopback_block": x}
    agents: list[subprocess.Popen[bytes]] = []
    cp: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.monotonic()
        cp = _start(_discovery_argv(x, xds_port, mon_port), cp_log)
        while _http_status(cp_ip, mon_port, "/metrics")[0] != 200:
            if cp.poll() is not None or time.monotonic() - t0 > 60:
                raise RuntimeError(f"lateen discovery did not start:\n{_tail(cp_log)}")
            time.sleep(0.05)
        out["control_plane_serving_s"] = round(time.monotonic() - t0, 2)

        samples: list[dict[str, Any]] = []
        for i in range(p.sidecars):
            work = tmp / str(i)
            work.mkdir()
            env = {
                "ISTIO_META_INTERCEPTION_MODE": "NONE",
                "ISTIO_META_LATEEN_APP_ADDRESS": f"127.{x + 1}.0.{10 + i}",
            }
            ip = f"127.{x}.0.{10 + i}"
            jiffies = cpu_jiffies()
            spawn_epoch = time.time()
            t0 = time.monotonic()
            proc = _start(_agent_argv(i, x, xds_port, work), tmp / f"agent-{i}.log", env)
            agents.append(proc)
            r = _wait_ready(proc, ip, t0, p.sidecar_cap)
            sample: dict[str, Any] = {
                "i": i,
                "pod_ip": ip,
                "agent_pid": proc.pid,
                "spawn_epoch": spawn_epoch,
                "host_busy_cpus": busy_cpus(jiffies, cpu_jiffies()),
            }
            sample["ready_ms"] = round(r["ready_ms"], 1) if "ready_ms" in r else None
            for key in ("first_answer_ms", "agent_cpu_ms", "envoy_cpu_ms"):
                if r.get(key) is not None:
                    sample[key] = round(r[key], 1)
            if "error" in r:
                sample["error"] = r["error"]
                notes.append(f"sidecar {i}: {r['error']}:\n{_tail(tmp / f'agent-{i}.log')}")
            samples.append(sample)
            print(f"startup: sidecar {i} ready in {sample['ready_ms']} ms", flush=True)

        cp_times = log_times(cp_log)
        for s in samples:
            _phases(s, tmp / f"agent-{s['i']}.log", cp_times)
        ready = [s["ready_ms"] for s in samples if s["ready_ms"] is not None]
        out["ready"] = len(ready)
        out["ready_ms"] = summary(ready)
        out["first_answer_ms"] = summary(
            [s["first_answer_ms"] for s in samples if "first_answer_ms" in s]
        )
        out["phases_ms"] = _phase_summary(samples)
        for key in ("agent_cpu_ms", "envoy_cpu_ms"):  # CPU used from spawn to ready
            out[key] = summary([s[key] for s in samples if key in s])
        out["host_busy_cpus"] = summary(
            [s["host_busy_cpus"] for s in samples if s["host_busy_cpus"] is not None], 2
        )

        # 2: idle memory
        time.sleep(p.idle_s)
        mem: dict[str, list[float]] = {
            k: []
            for k in (
                "agent_rss",
                "agent_pss",
                "agent_anon",
                "envoy_rss",
                "envoy_pss",
                "envoy_anon",
            )
        }
        sums: dict[str, list[float]] = {"sidecar_rss": [], "sidecar_pss": []}
        for s, proc in zip(samples, agents, strict=True):
            if proc.poll() is not None:
                s["exited"] = proc.returncode
                continue
            envoy = envoy_child(proc.pid)
            s["envoy_pid"] = envoy
            vals = {
                "agent_rss": rss_mb(proc.pid),
                "agent_pss": pss_mb(proc.pid),
                "envoy_rss": rss_mb(envoy) if envoy else None,
                "envoy_pss": pss_mb(envoy) if envoy else None,
                # RssAnon: private memory (heap, stacks), not the mapped binary and libraries
                "agent_anon": rss_mb(proc.pid, "RssAnon"),
                "envoy_anon": rss_mb(envoy, "RssAnon") if envoy else None,
            }
            for k, v in vals.items():
                s[f"{k}_mb"] = None if v is None else round(v, 1)
                if v is not None:
                    mem[k].append(v)
            for kind in ("rss", "pss"):
                a, e = vals[f"agent_{kind}"], vals[f"envoy_{kind}"]
                if a is not None and e is not None:
                    sums[f"sidecar_{kind}"].append(a + e)
        idle: dict[str, Any] = {"idle_s": p.idle_s, "processes": len(mem["agent_rss"])}
        for k, vals_ in {**mem, **sums}.items():
            idle[f"{k}_mb"] = _mean_max(vals_)
        out["idle_memory"] = idle
        if cp.poll() is None:
            cp_rss = rss_mb(cp.pid)
            out["control_plane_rss_mb"] = None if cp_rss is None else round(cp_rss, 1)
        out["samples"] = samples
        return out
    finally:
        try:
            out["agents_stop_s"] = round(stop_all(agents, p.stop_timeout), 2) if agents else None
        finally:
            if cp is not None:
                stop_all([cp], p.stop_timeout)


def _mean_max(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "mean": round(sum(values) / len(values), 1),
        "max": round(max(values), 1),
    }


# -- 3: lateen up -d -----------------------------------------------------------------------------


def _lateen(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str] | None, float]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lateen", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0
    return proc, time.monotonic() - t0


def _state_dir(tmp: Path, rng: random.Random) -> Path:
    """A fresh state directory whose loopback block (chosen by lateen from its path) is free."""
    bound = bound_blocks()
    for k in range(50):
        state = (tmp / f"state-{k}-{rng.randrange(10**6)}").absolute()
        b = loopback_block(str(state))
        if b not in bound and b + 1 not in bound:
            return state
    raise RuntimeError("no state directory with a free loopback block found")


class _PagePoller(threading.Thread):
    """Polls GET /productpage from ``t0`` until the first 200 (or ``stop``)."""

    def __init__(self, port: int, t0: float) -> None:
        super().__init__(daemon=True)
        self.port, self.t0 = port, t0
        self.stop = threading.Event()
        self.first_200_s: float | None = None
        self.body = ""

    def run(self) -> None:
        while not self.stop.is_set():
            status, body = _http_status("127.0.0.1", self.port, "/productpage", timeout=5.0)
            if status == 200:
                self.first_200_s = time.monotonic() - self.t0
                self.body = body
                return
            self.stop.wait(PAGE_POLL_S)


def measure_up(run_no: int, p: Params, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"run": run_no, "notes": []}
    notes: list[str] = out["notes"]
    with tempfile.TemporaryDirectory(prefix="lateen-bench-up-") as tmp_:
        state = _state_dir(Path(tmp_), rng)
        port = free_port()
        out["ingress_port"] = port
        out["loopback_block"] = loopback_block(str(state))
        recorded: list[tuple[int, int]] = []
        stopped = False
        jiffies = cpu_jiffies()
        t0 = time.monotonic()
        poller = _PagePoller(port, t0)
        poller.start()
        try:
            up, up_s = _lateen(
                "up", str(BOOKINFO), "-d", "--state-dir", str(state), "--ingress-port", str(port),
                timeout=p.up_cap,
            )  # fmt: skip
            sd = StateDir(state)
            recorded = [(r.pid, r.start_time) for r in sd.read_processes()]
            info = sd.live_runtime()
            if info is not None:
                recorded.append((info.pid, info.start_time))
            if up is None or up.returncode != 0:
                why = (
                    "timed out"
                    if up is None
                    else f"exited {up.returncode}:\n{up.stdout}\n{up.stderr}"
                )
                notes.append(f"lateen up {why}\n{_tail(state / 'runtime.log')}")
                out["status"] = "failed"
                return out
            out["up_s"] = round(up_s, 2)
            out["host_busy_cpus"] = busy_cpus(jiffies, cpu_jiffies())
            poller.join(p.page_cap)
            if poller.first_200_s is None:
                notes.append(
                    f"no 200 from /productpage within {p.page_cap:.0f} s after `lateen up` returned"
                )
            else:
                out["first_page_s"] = round(poller.first_200_s, 2)
            status, body = _http_status("127.0.0.1", port, "/productpage", timeout=10.0)
            out["page_status"] = status
            out["page_ok"] = (
                status == 200 and "Book Details" in body and "Error fetching" not in body
            )
            if not out["page_ok"]:
                notes.append(f"/productpage after up: status {status}, body starts {body[:200]!r}")
            down, down_s = _lateen("down", "--state-dir", str(state), timeout=120)
            stopped = down is not None and down.returncode == 0
            if stopped:
                out["down_s"] = round(down_s, 2)
            else:
                notes.append(
                    "lateen down failed: " + ("timed out" if down is None else down.stderr)
                )
            out["status"] = (
                "ok" if stopped and out["page_ok"] and "first_page_s" in out else "incomplete"
            )
            return out
        finally:
            poller.stop.set()
            poller.join(10)
            if not stopped:
                _lateen("down", "--force", "--state-dir", str(state), timeout=120)
            leftover = [pid for pid, start in recorded if start and proc_start_time(pid) == start]
            if leftover:
                # a clean `lateen down` leaves nothing; this is only the safety net
                out["status"] = "incomplete"
                notes.append(
                    f"{len(leftover)} process(es) left after lateen down: killed {leftover}"
                )
                for pid in leftover:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


# -- the scenario ------------------------------------------------------------------------------


def _fmt_target(v: float | None, limit: float | None) -> str:
    if v is None or limit is None:
        return "-"
    return "yes" if v < limit else "no"


def _table(res: dict[str, Any]) -> dict[str, Any]:
    cols = ["metric", "n", "p50", "p90", "p99", "max", "mean", "target", "met (max)", "Istio"]
    rows: list[list[Any]] = []

    def row(metric: str, s: dict[str, Any] | None, target: str, limit: float | None) -> None:
        s = s or {}
        rows.append(
            [
                metric,
                s.get("n"),
                s.get("p50"),
                s.get("p90"),
                s.get("p99"),
                s.get("max"),
                s.get("mean"),
                target,
                _fmt_target(s.get("max"), limit),
                ISTIO_ANCHOR,
            ]
        )

    sc = res.get("sidecars") or {}
    row("sidecar spawn -> ready (ms)", sc.get("ready_ms"), "< 1000", TARGETS["sidecar_ready_ms"])
    phases = sc.get("phases_ms") or {}
    row(
        "phase: spawn -> bootstrap written (ms)", phases.get("spawn_to_bootstrap_written"), "", None
    )
    row(
        "phase: bootstrap -> Envoy started (ms)",
        phases.get("bootstrap_written_to_envoy_started"),
        "",
        None,
    )
    row(
        "phase: Envoy started -> xDS connected (ms)",
        phases.get("envoy_started_to_xds_connected"),
        "",
        None,
    )
    row("phase: xDS connected -> ready (ms)", phases.get("xds_connected_to_ready"), "", None)
    row("agent CPU used spawn -> ready (ms)", sc.get("agent_cpu_ms"), "", None)
    row("Envoy CPU used spawn -> ready (ms)", sc.get("envoy_cpu_ms"), "", None)
    cpus = f"of {os.cpu_count()}"
    row("host CPUs busy, spawn -> ready (all processes)", sc.get("host_busy_cpus"), cpus, None)
    idle = sc.get("idle_memory") or {}
    row("agent RSS idle (MB)", idle.get("agent_rss_mb"), "< 35", TARGETS["agent_rss_mb"])
    row("agent PSS idle (MB)", idle.get("agent_pss_mb"), "", None)
    row("agent RssAnon idle (MB)", idle.get("agent_anon_mb"), "", None)
    row("Envoy RSS idle (MB)", idle.get("envoy_rss_mb"), "< 40", TARGETS["envoy_rss_mb"])
    row("Envoy PSS idle (MB)", idle.get("envoy_pss_mb"), "", None)
    row("Envoy RssAnon idle (MB)", idle.get("envoy_anon_mb"), "", None)
    both = TARGETS["agent_rss_mb"] + TARGETS["envoy_rss_mb"]
    row("agent+Envoy RSS per sidecar (MB)", idle.get("sidecar_rss_mb"), "< 75 (35+40)", both)
    row("agent+Envoy PSS per sidecar (MB)", idle.get("sidecar_pss_mb"), "", None)
    up = res.get("up") or {}
    row("lateen up -d -> all ready (s)", up.get("up_s"), "< 10", TARGETS["bookinfo_ready_s"])
    row("lateen up spawn -> first 200 page (s)", up.get("first_page_s"), "", None)
    row("host CPUs busy during lateen up (all processes)", up.get("host_busy_cpus"), cpus, None)
    row("lateen down (s)", up.get("down_s"), "", None)
    n = sc.get("count")
    title = f"startup: {n} sidecars one after another, {len(up.get('runs', []))} x lateen up samples/bookinfo -d"
    return {"title": title, "columns": cols, "rows": rows, "notes": res.get("notes", [])}


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` stops what it started (once: a
    second SIGTERM during the cleanup is ignored)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def run(quick: bool) -> dict[str, Any]:
    p = QUICK if quick else FULL
    if threading.current_thread() is not threading.main_thread():
        return _run(p)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(p)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(p: Params) -> dict[str, Any]:
    rng = random.Random()
    start = time.monotonic()
    notes: list[str] = []
    res: dict[str, Any] = {
        "params": {
            "sidecars": p.sidecars,
            "up_runs": p.up_runs,
            "idle_s": p.idle_s,
            "ready_poll_ms": POLL_S * 1000,
            "page_poll_ms": PAGE_POLL_S * 1000,
            "sidecar_cap_s": p.sidecar_cap,
            "up_cap_s": p.up_cap,
            "commands": {
                "discovery": "python -m lateen discovery --config-dir samples/bookinfo/platform "
                "--config-dir samples/bookinfo/networking/bookinfo-gateway.yaml "
                "--listen-address 127.X.0.1 --xds-port P --monitoring-port M",
                "agent": "ISTIO_META_INTERCEPTION_MODE=NONE ISTIO_META_LATEEN_APP_ADDRESS=127.(X+1).0.(10+i) "
                "python -m lateen agent --pod-name productpage-v1-abc-i --namespace default "
                "--pod-ip 127.X.0.(10+i) --labels app=productpage,version=v1 "
                "--service-account bookinfo-productpage --discovery-address 127.X.0.1:P --work-dir TMP/i",
                "up": "python -m lateen up samples/bookinfo -d --state-dir TMP/state --ingress-port PORT",
                "down": "python -m lateen down --state-dir TMP/state",
            },
            "env": {k: os.environ[k] for k in ("PYTHONDONTWRITEBYTECODE",) if k in os.environ},
        },
        "targets": {**TARGETS, "istio_anchor": ISTIO_ANCHOR},
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "background_processes_before": background_processes(),
        "notes": notes,
    }
    bg = res["background_processes_before"]
    if bg["envoy"] or bg["lateen"]:
        notes.append(
            f"not alone: {bg['envoy']} Envoy and {bg['lateen']} `python -m lateen` process(es) "
            f"of others were running at the start; load average {res['load_average_before']}"
        )
    statuses: list[str] = []
    try:
        x = pick_block(rng)
        with tempfile.TemporaryDirectory(prefix="lateen-bench-startup-") as tmp:
            sc = measure_sidecars(p, x, Path(tmp), notes)
        res["sidecars"] = sc
        statuses.append("ok" if sc.get("ready") == p.sidecars else "incomplete")
    except Exception as e:  # report and go on with `lateen up`
        notes.append(f"sidecars: failed: {e!r}")
        statuses.append("failed")
    runs: list[dict[str, Any]] = []
    for k in range(p.up_runs):
        print(f"startup: lateen up run {k + 1}/{p.up_runs} ...", flush=True)
        try:
            r = measure_up(k + 1, p, rng)
        except Exception as e:
            r = {"run": k + 1, "status": "failed", "notes": [f"failed: {e!r}"]}
        print(
            f"  -> {r.get('status')} up_s={r.get('up_s')} first_page_s={r.get('first_page_s')} "
            f"down_s={r.get('down_s')}",
            flush=True,
        )
        notes.extend(f"up run {k + 1}: {n}" for n in r.get("notes", []))
        statuses.append(str(r.get("status")))
        runs.append(r)
    res["up"] = {
        "runs": runs,
        "up_s": summary([r["up_s"] for r in runs if "up_s" in r], 2),
        "first_page_s": summary([r["first_page_s"] for r in runs if "first_page_s" in r], 2),
        "down_s": summary([r["down_s"] for r in runs if "down_s" in r], 2),
        "host_busy_cpus": summary(
            [r["host_busy_cpus"] for r in runs if r.get("host_busy_cpus")], 2
        ),
    }
    res["status"] = "ok" if all(s == "ok" for s in statuses) else "incomplete"
    res["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    res["wall_s"] = round(time.monotonic() - start, 1)
    res["table"] = _table(res)
    return res
