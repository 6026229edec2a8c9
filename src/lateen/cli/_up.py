"""``lateen up`` / ``lateen down`` / ``lateen status``: run a whole mesh on this machine.

``up DIR...`` starts the control plane, the ingress gateway and every pod of the manifests
under DIR, shows progress until every pod is ready and prints the ingress URL; it then
keeps running (Ctrl-C stops everything), or with ``-d`` leaves the mesh running in the
background. ``down`` stops it; ``status`` shows pods, readiness, restarts and proxy sync.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lateen.cli._common import add_state_dir

__all__ = ["add_down_parser", "add_parser", "add_status_parser", "run", "run_down", "run_status"]

_SERVE_FLAG = "--serve-foreground"  # internal: the detached child of `up -d`


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "up",
        help="run a mesh on this machine from Kubernetes manifests and Istio config",
        description="Start the control plane, an ingress gateway and every pod of the "
        "manifests in DIR (Namespace, ServiceAccount, Service, Deployment, Pod; containers "
        "run their command/args) with Envoy sidecars, then apply the Istio config found "
        "there. Without DIR, resume the config last applied in the state directory.",
    )
    p.add_argument("paths", nargs="*", metavar="DIR|FILE", help="manifests and Istio config")
    p.add_argument("-d", "--detach", action="store_true", help="leave the mesh running in the background")
    add_state_dir(p)
    p.add_argument("--ingress-port", type=int, default=8080,
                   help="publish the ingress gateway's port 8080 on 127.0.0.1:PORT (default 8080)")
    p.add_argument("--ingress-tls-port", type=int, default=8443,
                   help="publish the ingress gateway's port 8443 on 127.0.0.1:PORT (default 8443)")
    p.add_argument("--mode", choices=["auto", "explicit", "transparent"], default="auto",
                   help="pod networking: transparent (network namespaces + Istio's iptables "
                   "capture; root), explicit (loopback addresses, HTTP_PROXY; no root), or auto "
                   "(the default: transparent when running as root with iptables, else explicit)")
    p.add_argument("--xds-port", type=int, default=15010, help="control plane xDS port (default 15010)")
    p.add_argument("--monitoring-port", type=int, default=15014,
                   help="control plane metrics/debug port (default 15014)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="how long to wait for every pod to be ready (default 120)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(_SERVE_FLAG, action="store_true", help=argparse.SUPPRESS)
    return p


def add_down_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "down", help="stop the mesh started by `lateen up`",
        description="Stop every pod, the gateway and the control plane of the mesh running "
        "from the state directory. --force also cleans up after a run that was killed.",
    )
    add_state_dir(p)
    p.add_argument("--force", action="store_true",
                   help="kill what a crashed or unresponsive run left behind")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for a graceful stop before killing (default 60)")
    return p


def add_status_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "status", help="show the pods of the running mesh: readiness, restarts, proxy sync")
    add_state_dir(p)
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    return p


# -- up ----------------------------------------------------------------------------------------


def _options(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from lateen.platform.local import UpOptions

    return UpOptions(
        state_dir=Path(args.state_dir),
        sources=tuple(Path(p) for p in args.paths),
        mode=args.mode,
        ingress_port=args.ingress_port,
        ingress_tls_port=args.ingress_tls_port,
        xds_port=args.xds_port,
        monitoring_port=args.monitoring_port,
    )


def _pod_table(pods: list[dict[str, Any]], sync: dict[str, str] | None = None) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP", "PROXY"):
        table.add_column(col, no_wrap=True)
    for p in pods:
        containers = p.get("containers") or []
        ready = sum(1 for c in containers if c.get("ready"))
        proxy = p.get("proxy") or "-"
        if sync is not None and p.get("proxy"):
            ident = f"{p.get('name')}.{p.get('namespace')}"
            proxy = f"{proxy} ({sync.get(ident, 'NOT CONNECTED')})"
        status = p.get("phase", "")
        if p.get("reason"):
            status = f"{status}: {p['reason']}"
        else:
            restarting = [c for c in containers if not c.get("running") and c.get("reason")]
            if restarting:
                status = f"{status} ({restarting[0]['name']}: {restarting[0]['reason']})"
        table.add_row(
            p.get("namespace", ""), p.get("name", ""), f"{ready}/{len(containers)}", status,
            str(p.get("restarts", 0)), p.get("ip", ""), proxy,
        )
    return table


def _console(*, stderr: bool = False) -> Any:
    """A rich console; when not on a terminal, wide enough that tables never wrap."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 240, highlight=False)


def _wait_ready(client: Any, timeout: float, alive: Any, monitoring: str = "") -> tuple[bool, dict[str, Any]]:
    """Poll the API with a live pod table until every pod is ready and every proxy has
    acknowledged what the control plane sent since (or timeout/death): when this returns,
    requests route with the endpoints of every ready pod."""
    import time

    from rich.live import Live

    console = _console(stderr=True)
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    ready_since: float | None = None
    with Live(console=console, transient=True, refresh_per_second=4) as live:
        while time.monotonic() < deadline and alive():
            try:
                status = client.status()
            except Exception:  # the API may not answer for a moment while starting
                time.sleep(0.2)
                continue
            pods = status.get("pods") or []
            ready = sum(1 for p in pods if p.get("ready"))
            live.update(_pod_table(pods))
            console.set_window_title(f"lateen up: {ready}/{len(pods)} ready")
            if not status.get("all_ready"):
                ready_since = None
            elif ready_since is None:
                ready_since = time.monotonic()
            # the push that follows the last readiness change is debounced (100 ms): look
            # at the proxies' sync state only after that
            elif time.monotonic() - ready_since > 0.5:
                if not monitoring:
                    return True, status
                sync = _sync_states(monitoring)
                proxies = [f"{p['name']}.{p['namespace']}" for p in pods if p.get("proxy")]
                if all(sync.get(name) == "SYNCED" for name in proxies):
                    return True, status
            time.sleep(0.1 if ready_since is not None else 0.25)
    return False, status


def _report(ok: bool, status: dict[str, Any], info: Any) -> int:
    console = _console(stderr=True)
    pods = status.get("pods") or []
    for e in status.get("errors") or []:
        console.print(f"[red]error:[/red] {e}", highlight=False)
    if ok:
        console.print(_pod_table(pods))
        print(f"mesh ready: {len(pods)} pod(s) in {info.mode} mode; state in {info.state_dir}", file=sys.stderr)
        print(f"ingress gateway: {info.ingress_url}")
        return 0
    console.print(_pod_table(pods))
    not_ready = [f"{p['namespace']}/{p['name']}" for p in pods if not p.get("ready")]
    print(f"lateen up: not every pod is ready yet: {', '.join(not_ready) or '(none started)'}; "
          "see `lateen status` and `lateen logs POD`", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace, *, interactive: bool) -> int:
    import asyncio
    import contextlib
    import logging
    import os
    import signal

    # the runtime forks pod processes while gRPC threads run: skip gRPC's fork handlers
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    from lateen.platform.local import ApiClient, LocalMesh, MeshError

    options = _options(args)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    log_file = options.state_dir / "runtime.log"
    # the detached child's stdout already is the log file; in the foreground the terminal
    # shows progress and the log goes to the file
    handlers: list[logging.Handler] = (
        [logging.StreamHandler(sys.stdout)] if args.serve_foreground else [logging.FileHandler(log_file)]
    )
    logging.basicConfig(level=args.log_level.upper(), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        mesh = LocalMesh(options)
    except MeshError as e:
        print(f"lateen up: {e}", file=sys.stderr)
        return 1
    result: dict[str, int] = {}

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        def on_signal() -> None:
            if interactive and not stop.is_set():
                print("stopping the mesh (pods drain, then stop)...", file=sys.stderr, flush=True)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal)
        if interactive:
            async def progress() -> None:
                await mesh.started.wait()
                info = mesh.info()
                client = ApiClient(info.api_socket)
                ok, status = await asyncio.to_thread(
                    _wait_ready, client, args.timeout, lambda: not stop.is_set(), info.monitoring_address
                )
                if not stop.is_set():
                    result["rc"] = _report(ok, status, info)
                    print("press Ctrl-C to stop the mesh", file=sys.stderr)

            task = asyncio.ensure_future(progress())
            try:
                await mesh.run(stop)
            finally:
                task.cancel()
        else:
            await mesh.run(stop)

    try:
        asyncio.run(main())
    except (MeshError, OSError, ExceptionGroup) as err:
        errors = err.exceptions if isinstance(err, ExceptionGroup) else (err,)
        if not all(isinstance(e, MeshError | OSError) for e in errors):
            raise
        for error in errors:
            print(f"lateen up: {error}", file=sys.stderr)
        return 1
    return result.get("rc", 0)


def _detach(args: argparse.Namespace) -> int:
    import os
    import subprocess
    import time
    from pathlib import Path

    from lateen.platform.local import ApiClient, StateDir

    state = StateDir(Path(args.state_dir))
    live = state.live_runtime()
    if live is not None:
        print(f"lateen up: a mesh is already running from {state.root} (pid {live.pid}); "
              "run `lateen down` first", file=sys.stderr)
        return 1
    state.root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "lateen", "up", *[str(Path(p).absolute()) for p in args.paths],
            "--state-dir", str(state.root), "--ingress-port", str(args.ingress_port),
            "--ingress-tls-port", str(args.ingress_tls_port),
            "--mode", args.mode, "--xds-port", str(args.xds_port),
            "--monitoring-port", str(args.monitoring_port), "--log-level", args.log_level,
            _SERVE_FLAG]
    with open(state.log_file, "ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=os.getcwd())
    deadline = time.monotonic() + 30
    info = None
    while time.monotonic() < deadline and child.poll() is None:
        info = state.live_runtime()
        if info is not None and info.pid == child.pid:
            break
        time.sleep(0.1)
    if info is None or child.poll() is not None:
        print(f"lateen up: the mesh did not start (exit {child.poll()}); from {state.log_file}:",
              file=sys.stderr)
        tail = state.log_file.read_text(errors="replace").splitlines()[-20:]
        print("\n".join(tail), file=sys.stderr)
        if child.poll() is None:
            child.terminate()
        return 1
    ok, status = _wait_ready(
        ApiClient(info.api_socket), args.timeout, lambda: child.poll() is None, info.monitoring_address
    )
    if child.poll() is not None:
        print(f"lateen up: the mesh stopped (exit {child.returncode}); see {state.log_file}", file=sys.stderr)
        return 1
    return _report(ok, status, info)


def _resolve_mode(args: argparse.Namespace) -> str | None:
    from lateen.platform.local._transparent import transparent_available

    why = transparent_available()
    if args.mode == "auto":
        return "explicit" if why else "transparent"
    if args.mode == "transparent" and why:
        print(f"lateen up: --mode transparent {why}; use --mode explicit", file=sys.stderr)
        return None
    return str(args.mode)


def run(args: argparse.Namespace) -> int:
    mode = _resolve_mode(args)
    if mode is None:
        return 2
    args.mode = mode
    if args.serve_foreground:
        return _serve(args, interactive=False)
    if args.detach:
        return _detach(args)
    return _serve(args, interactive=True)


# -- down --------------------------------------------------------------------------------------


def run_down(args: argparse.Namespace) -> int:
    import contextlib
    import os
    import signal
    import time
    from pathlib import Path

    from lateen.platform.local import StateDir, kill_recorded, proc_start_time

    state = StateDir(Path(args.state_dir))
    info = state.live_runtime()
    if info is not None:
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and proc_start_time(info.pid) == info.start_time:
            time.sleep(0.1)
        if proc_start_time(info.pid) == info.start_time:
            print(f"lateen down: pid {info.pid} did not stop in {args.timeout:.0f}s; killing it",
                  file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
    elif not args.force and not state.read_processes() and not (state.root / "network.json").exists():
        print(f"lateen down: no mesh is running from {state.root}", file=sys.stderr)
        return 0
    killed = kill_recorded(state.read_processes())
    if killed:
        print(f"lateen down: killed {len(killed)} leftover process(es)", file=sys.stderr)
    from lateen.platform.local._transparent import cleanup_recorded

    removed = cleanup_recorded(state.root)
    if removed:
        print(f"lateen down: removed {', '.join(removed)}", file=sys.stderr)
    for leftover in (state.processes_file, state.runtime_file, state.api_socket):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    print(f"mesh stopped ({state.root})")
    return 0


# -- status ------------------------------------------------------------------------------------


def _sync_states(monitoring: str) -> dict[str, str]:
    """Per proxy id: ``SYNCED``, or the first xDS type that is not, as proxy-status says it."""
    from lateen.cli._common import fetch_json
    from lateen.cli._proxy_tables import sync_status

    try:
        conns = fetch_json(f"http://{monitoring}/debug/syncz", timeout=5)
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    for c in conns:
        states = {
            t: sync_status(str(w.get("sent_nonce") or ""), str(w.get("acked_nonce") or ""))
            for t, w in (c.get("types") or {}).items()
        }
        behind = [f"{t}: {v}" for t, v in states.items() if v not in ("SYNCED", "NOT SENT")]
        out[str(c.get("proxy"))] = behind[0] if behind else "SYNCED"
    return out


def run_status(args: argparse.Namespace) -> int:
    import json

    from lateen.cli._common import connect_or_fail

    conn = connect_or_fail(args)
    if conn is None:
        return 1
    client, info = conn
    status = client.status()
    if args.output == "json":
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    console = _console()
    console.print(f"mesh: {info.mode} mode, pid {info.pid}, state {info.state_dir}", highlight=False)
    console.print(f"control plane: xDS {info.xds_address}, monitoring {info.monitoring_address}", highlight=False)
    console.print(f"ingress gateway: {info.ingress_url}", highlight=False)
    for e in status.get("errors") or []:
        console.print(f"[red]error:[/red] {e}", highlight=False)
    console.print(_pod_table(status.get("pods") or [], _sync_states(info.monitoring_address)))
    return 0
