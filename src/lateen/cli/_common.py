"""Shared bits of the commands that talk to a running local mesh: the ``--state-dir``
argument, connecting (or saying why not), picking a pod as kubectl does, tables laid out as
Go's ``text/tabwriter`` lays out kubectl's and istioctl's, and kubectl's ages.

Importing this module is cheap: the local platform is imported only when connecting."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lateen.platform.local import ApiClient, RuntimeInfo

__all__ = [
    "DEFAULT_STATE_DIR",
    "PROXY_CONTAINER",
    "add_namespace",
    "add_state_dir",
    "connect_or_fail",
    "default_container",
    "fetch_json",
    "format_table",
    "human_age",
    "list_pods",
    "resolve_pod",
]

DEFAULT_STATE_DIR = ".lateen"
PROXY_CONTAINER = "istio-proxy"


def add_state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        default=os.environ.get("LATEEN_STATE_DIR", DEFAULT_STATE_DIR),
        metavar="DIR",
        help="the mesh's state directory (default ./.lateen, or $LATEEN_STATE_DIR)",
    )


def add_namespace(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default="default", metavar="NS",
                   help="namespace (default: default)")


def connect_or_fail(args: Any) -> tuple[ApiClient, RuntimeInfo] | None:
    """The running mesh's API client, or None after printing why there is none."""
    from lateen.platform.local import NotRunning, connect

    try:
        return connect(args.state_dir)
    except NotRunning as e:
        print(f"lateen: {e}", file=sys.stderr)
        return None


def list_pods(client: ApiClient) -> list[dict[str, Any]] | None:
    """``/v1/pods``, or None after printing why the mesh did not answer."""
    from lateen.platform.local import NotRunning

    try:
        return client.pods()
    except (NotRunning, RuntimeError, OSError) as e:
        print(f"lateen: {e}", file=sys.stderr)
        return None


# -- pods ------------------------------------------------------------------------------------

_POD_PREFIXES = ("pod/", "pods/", "po/")
_DEPLOYMENT_PREFIXES = ("deploy/", "deployment/", "deployments/", "deployment.apps/", "deployments.apps/")


def resolve_pod(
    pods: Sequence[Mapping[str, Any]], target: str, namespace: str
) -> tuple[Mapping[str, Any] | None, str]:
    """The pod ``target`` names in ``namespace`` (``POD``, ``pod/POD`` or ``deploy/NAME``:
    the first ready pod of the Deployment, else its first pod), or ``(None, error)`` with
    kubectl's wording."""
    in_ns = [p for p in pods if p.get("namespace") == namespace]
    lowered = target.lower()
    for prefix in _DEPLOYMENT_PREFIXES:
        if lowered.startswith(prefix):
            name = target[len(prefix):]
            owned = sorted(
                (p for p in in_ns if p.get("owner") == f"Deployment/{name}"),
                key=lambda p: (p.get("created", 0), p.get("name", "")),
            )
            if not owned:
                return None, f'Error from server (NotFound): deployments.apps "{name}" not found'
            ready = [p for p in owned if p.get("ready")]
            return (ready or owned)[0], ""
    for prefix in _POD_PREFIXES:
        if lowered.startswith(prefix):
            target = target[len(prefix):]
            break
    for p in in_ns:
        if p.get("name") == target:
            return p, ""
    return None, f'Error from server (NotFound): pods "{target}" not found'


def default_container(pod: Mapping[str, Any]) -> str:
    """kubectl's default container: the first app container; ``istio-proxy`` only when the
    pod has no other (a gateway)."""
    names = [str(c.get("name", "")) for c in pod.get("containers") or []]
    apps = [n for n in names if n != PROXY_CONTAINER]
    if apps:
        return apps[0]
    return names[0] if names else ""


# -- output ----------------------------------------------------------------------------------


def format_table(
    rows: Sequence[Sequence[object]], *, padding: int = 3, minwidth: int = 0
) -> str:
    """Rows (the first is the header) laid out as Go's ``text/tabwriter`` does with
    ``Init(w, minwidth, _, padding, ' ', 0)``: each column but the last as wide as its
    widest cell plus ``padding`` (at least ``minwidth``); no trailing blanks. kubectl uses
    padding 3 and minwidth 6, istioctl padding 5 (1 for listeners)."""
    if not rows:
        return ""
    cells = [[str(c) for c in row] for row in rows]
    ncols = max(len(r) for r in cells)
    widths = [0] * ncols
    for r in cells:
        for i, c in enumerate(r[:-1]):
            widths[i] = max(widths[i], minwidth, len(c) + padding)
    lines = []
    for r in cells:
        parts = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])]
        lines.append(("".join(parts) + (r[-1] if r else "")).rstrip())
    return "\n".join(lines) + "\n"


def human_age(seconds: float) -> str:
    """kubectl's ``HumanDuration``: ``45s``, ``2m10s``, ``37m``, ``5h3m``, ``3d4h``, ``2y10d``."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // (24 * 365)}y"


# -- HTTP to proxies and the control plane --------------------------------------------------


def fetch_json(url: str, timeout: float = 10.0) -> Any:
    """GET ``url`` as JSON, ignoring ``HTTP_PROXY`` & co (set inside pods): the Envoy admin
    and the control plane's debug server are always reached directly."""
    import urllib.request  # not at import time: every `lateen agent` start loads this module

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return json.loads(resp.read())


_ADMIN_FETCH = (
    "import sys, urllib.request\n"
    "o = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
    "sys.stdout.buffer.write(o.open(sys.argv[1], timeout=float(sys.argv[2])).read())\n"
)


def fetch_admin_json(pod: Mapping[str, Any], path: str, timeout: float = 10.0) -> Any:
    """GET ``path`` from a pod's Envoy admin as JSON. In transparent mode the admin listens
    on 127.0.0.1 inside the pod (as Istio's does), so the request is made from inside it,
    through the pod's ``admin_exec`` prefix, as ``istioctl`` execs into the pod."""
    admin = str(pod.get("admin") or "")
    url = f"http://{admin}{path}"
    prefix = [str(a) for a in pod.get("admin_exec") or []]
    if not prefix:
        return fetch_json(url, timeout)
    import subprocess

    r = subprocess.run(
        [*prefix, sys.executable, "-c", _ADMIN_FETCH, url, str(timeout)],
        capture_output=True,
        timeout=timeout + 5,
    )
    if r.returncode != 0:
        lines = r.stderr.decode(errors="replace").strip().splitlines()
        raise OSError(lines[-1] if lines else f"admin fetch exited {r.returncode}")
    return json.loads(r.stdout)
