"""Shared bits of the commands that talk to a running local mesh."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lateen.platform.local import ApiClient, RuntimeInfo

__all__ = ["DEFAULT_STATE_DIR", "add_state_dir", "connect_or_fail"]

DEFAULT_STATE_DIR = ".lateen"


def add_state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        default=os.environ.get("LATEEN_STATE_DIR", DEFAULT_STATE_DIR),
        metavar="DIR",
        help="the mesh's state directory (default ./.lateen, or $LATEEN_STATE_DIR)",
    )


def connect_or_fail(args: Any) -> tuple[ApiClient, RuntimeInfo] | None:
    """The running mesh's API client, or None after printing why there is none."""
    from lateen.platform.local import NotRunning, connect

    try:
        return connect(args.state_dir)
    except NotRunning as e:
        print(f"lateen: {e}", file=sys.stderr)
        return None
