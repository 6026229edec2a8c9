"""Argument parsing and dispatch for ``lateen``; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# subcommand -> module defining ``add_parser(subparsers)`` and ``run(args) -> int``, or
# ``module:ADD_PARSER:RUN`` when a module holds several subcommands
_COMMANDS: dict[str, str] = {
    "validate": "lateen.cli._validate",
    "discovery": "lateen.cli._discovery",
    "agent": "lateen.cli._agent",
    "up": "lateen.cli._up",
    "down": "lateen.cli._up:add_down_parser:run_down",
    "status": "lateen.cli._up:add_status_parser:run_status",
    "apply": "lateen.cli._apply",
    "delete": "lateen.cli._apply:add_delete_parser:run_delete",
    "create": "lateen.cli._create",
    "get": "lateen.cli._get",
    "logs": "lateen.cli._logs",
    "exec": "lateen.cli._exec",
    "proxy-status": "lateen.cli._proxy:add_status_parser:run_status",
    "proxy-config": "lateen.cli._proxy",
    "iptables": "lateen.cli._iptables",
    "analyze": "lateen.cli._analyze",
}


def _entry(spec: str) -> tuple[str, str, str]:
    module, _, rest = spec.partition(":")
    add, _, run = rest.partition(":")
    return module, add or "add_parser", run or "run"



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lateen", description="Lateen: Istio's API and architecture, in Python, with real Envoy."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, spec in _COMMANDS.items():
        module, add, run = _entry(spec)
        mod = importlib.import_module(module)
        p = getattr(mod, add)(sub)
        p.set_defaults(_module=module, _run=run, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod = importlib.import_module(args._module)
    rc: int = getattr(mod, args._run)(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
