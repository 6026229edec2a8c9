"""Argument parsing and dispatch for ``lateen``; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# subcommand -> module defining ``add_parser(subparsers)`` and ``run(args) -> int``
_COMMANDS: dict[str, str] = {
    "validate": "lateen.cli._validate",
    "discovery": "lateen.cli._discovery",
    "agent": "lateen.cli._agent",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lateen", description="Lateen: Istio's API and architecture, in Python, with real Envoy."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in _COMMANDS.items():
        mod = importlib.import_module(module)
        p = mod.add_parser(sub)
        p.set_defaults(_module=module, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod = importlib.import_module(args._module)
    rc: int = mod.run(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
