"""``lateen exec POD|deploy/NAME [-n NS] [-c C] -- CMD...``: run a command inside a pod of
the running mesh: with the pod's environment (its address, ``HTTP_PROXY`` to its sidecar
in explicit mode...) and, in transparent mode, in its network namespace (the pod's
``exec_prefix``). Standard input and output are the terminal's; the exit code is CMD's."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from lateen.cli._common import (
    add_namespace,
    add_state_dir,
    connect_or_fail,
    list_pods,
    resolve_pod,
)

__all__ = ["add_parser", "command_env", "run", "split_command"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "exec",
        help="run a command in a pod (its address, environment and sidecar)",
        description="Run CMD as if inside the pod: with the pod's environment (LISTEN_ADDRESS, "
        "HTTP_PROXY to its sidecar...) and, in transparent mode, in its network namespace. "
        "Example: lateen exec deploy/productpage-v1 -- curl -s http://reviews:9080/reviews/0",
    )
    add_namespace(p)
    p.add_argument("-c", "--container", metavar="CONTAINER",
                   help="container (all containers of a pod share its network and environment)")
    p.add_argument("-i", "--stdin", action="store_true", help=argparse.SUPPRESS)  # kubectl habit
    p.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)  # kubectl habit
    add_state_dir(p)
    p.add_argument("target", metavar="POD|deploy/NAME", help="a pod, or deploy/NAME")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command and its arguments")
    return p


def split_command(
    words: Sequence[str], defaults: argparse.Namespace
) -> tuple[argparse.Namespace | None, list[str], str]:
    """Flags given after POD (``exec pod -n ns -- cmd``) and the command after ``--``.
    argparse leaves everything after POD in ``words``; it drops a ``--`` that directly
    follows POD. Returns ``(options, command, error)``."""
    words = list(words)
    if not words or not words[0].startswith("-"):
        return defaults, words, ""
    if "--" not in words:
        return None, [], "error: separate the command from the flags with --: lateen exec POD [flags] -- CMD"
    cut = words.index("--")
    flags, command = words[:cut], words[cut + 1:]
    parser = argparse.ArgumentParser(prog="lateen exec", add_help=False, exit_on_error=False)
    parser.add_argument("-n", "--namespace", default=defaults.namespace)
    parser.add_argument("-c", "--container", default=defaults.container)
    parser.add_argument("--state-dir", default=defaults.state_dir)
    parser.add_argument("-i", "--stdin", action="store_true")
    parser.add_argument("-t", "--tty", action="store_true")
    try:
        parsed, unknown = parser.parse_known_args(flags)
    except argparse.ArgumentError as e:
        return None, [], f"error: {e}"
    if unknown:
        return None, [], f"error: unknown flag(s) {' '.join(unknown)}"
    return parsed, command, ""


def command_env(environ: Mapping[str, str], pod_env: Mapping[str, str]) -> dict[str, str]:
    """The environment CMD runs with: ours without the ``*_proxy`` variables (as the
    kubelet gives the pod's apps), plus the pod's."""
    from lateen.platform.local._network import inherited_env

    env = inherited_env(environ)
    env.update({str(k): str(v) for k, v in pod_env.items()})
    return env


def run(args: argparse.Namespace) -> int:
    options, command, error = split_command(args.command, args)
    if options is None:
        print(error, file=sys.stderr)
        return 1
    if not command:
        print("error: you must specify at least one command: lateen exec POD -- CMD", file=sys.stderr)
        return 1
    conn = connect_or_fail(options)
    if conn is None:
        return 1
    pods = list_pods(conn[0])
    if pods is None:
        return 1
    pod, error = resolve_pod(pods, args.target, options.namespace)
    if pod is None:
        print(error, file=sys.stderr)
        return 1
    names = [c.get("name") for c in pod.get("containers") or []]
    if options.container is not None and options.container not in names:
        print(f"error: container {options.container} is not valid for pod {pod.get('name')}", file=sys.stderr)
        return 1
    argv = [*(str(a) for a in pod.get("exec_prefix") or []), *command]
    env = command_env(os.environ, pod.get("env") or {})
    try:
        proc = subprocess.Popen(argv, env=env)
    except FileNotFoundError:
        print(f"error: {command[0]}: executable file not found", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"error: {command[0]}: permission denied", file=sys.stderr)
        return 126
    while True:
        try:
            rc = proc.wait()
            break
        except KeyboardInterrupt:
            continue  # the child got the same SIGINT; its exit code says what happened
    return rc if rc >= 0 else 128 - rc
