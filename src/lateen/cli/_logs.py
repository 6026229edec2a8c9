"""``lateen logs POD|deploy/NAME [-c CONTAINER] [-n NS] [-f] [--tail N]``: a container's
output (its log file in the state directory; ``istio-proxy`` holds the agent's and Envoy's
output, access log included)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from lateen.cli._common import (
    add_namespace,
    add_state_dir,
    connect_or_fail,
    default_container,
    list_pods,
    resolve_pod,
)

__all__ = ["add_parser", "follow", "last_lines", "pick_container", "read_tail", "run"]

_BLOCK = 64 * 1024


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "logs",
        help="print a container's logs (istio-proxy: the sidecar's agent and Envoy, access log included)",
        description="Print the logs of a container of a pod of the running mesh. The default "
        "container is the pod's first app container (istio-proxy for a gateway).",
    )
    p.add_argument("target", metavar="POD|deploy/NAME",
                   help="a pod, or deploy/NAME for a ready pod of the Deployment")
    p.add_argument("-c", "--container", metavar="CONTAINER", help="container name (istio-proxy for the sidecar)")
    add_namespace(p)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until Ctrl-C")
    p.add_argument("--tail", type=int, default=-1, metavar="N", help="only the last N lines (default: all)")
    add_state_dir(p)
    return p


def pick_container(pod: Mapping[str, Any], name: str | None) -> tuple[Mapping[str, Any] | None, str, str]:
    """``(container, error, note)``: the named container, or the default one with kubectl's
    ``Defaulted container ...`` note when the pod has several."""
    containers = list(pod.get("containers") or [])
    names = [str(c.get("name", "")) for c in containers]
    if name is None:
        name = default_container(pod)
        note = f'Defaulted container "{name}" out of: {", ".join(names)}' if len(names) > 1 else ""
    else:
        note = ""
    for c in containers:
        if c.get("name") == name:
            return c, "", note
    if not containers:
        return None, f"error: pod {pod.get('name')} has no containers (yet)", ""
    return None, f"error: container {name} is not valid for pod {pod.get('name')}", ""


def last_lines(data: bytes, n: int) -> bytes:
    """The last ``n`` lines of ``data`` (all of it for a negative ``n``)."""
    if n < 0:
        return data
    if n == 0:
        return b""
    body = data[:-1] if data.endswith(b"\n") else data
    cut = len(body)
    for _ in range(n):
        cut = body.rfind(b"\n", 0, cut)
        if cut < 0:
            return data
    return data[cut + 1:]


def read_tail(f: IO[bytes], n: int) -> bytes:
    """The last ``n`` lines of an open file, reading backwards in blocks (all for ``n < 0``)."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if n < 0:
        f.seek(0)
        return f.read()
    start = end
    data = b""
    while start > 0 and data.count(b"\n") <= n:
        start = max(0, start - _BLOCK)
        f.seek(start)
        data = f.read(end - start)
    return last_lines(data, n)


def follow(
    path: str,
    offset: int,
    out: IO[bytes],
    *,
    stop: Callable[[], bool] = lambda: False,
    interval: float = 0.2,
) -> None:
    """Write what is appended to ``path`` after ``offset`` until ``stop()``; a truncated or
    replaced file is read again from its start, a missing one waited for."""
    pos = offset
    inode = None
    while not stop():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            time.sleep(interval)
            pos, inode = 0, None
            continue
        size = st.st_size
        if size < pos or (inode is not None and st.st_ino != inode):
            pos = 0
        inode = st.st_ino
        if size > pos:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read(size - pos)
            out.write(data)
            out.flush()
            pos += len(data)
        else:
            time.sleep(interval)


def run(args: argparse.Namespace) -> int:
    conn = connect_or_fail(args)
    if conn is None:
        return 1
    pods = list_pods(conn[0])
    if pods is None:
        return 1
    pod, error = resolve_pod(pods, args.target, args.namespace)
    if pod is None:
        print(error, file=sys.stderr)
        return 1
    container, error, note = pick_container(pod, args.container)
    if container is None:
        print(error, file=sys.stderr)
        return 1
    if note:
        print(note, file=sys.stderr)
    path = str(container.get("log") or "")
    if not path:
        print(f"error: container {container.get('name')} of pod {pod.get('name')} has no log file", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    offset = 0
    try:
        with open(path, "rb") as f:
            out.write(read_tail(f, args.tail))
            offset = f.tell()
        out.flush()
    except FileNotFoundError:
        pass  # not started yet: nothing written so far
    if args.follow:
        try:
            follow(path, offset, out)
        except KeyboardInterrupt:
            return 0
    return 0
