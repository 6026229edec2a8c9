"""The session's ``python -m bench all --quick`` run, as the bench tests see it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


@dataclass(frozen=True)
class QuickRun:
    returncode: int
    output: str
    started: float  # epoch seconds

    def result(self, scenario: str) -> dict[str, Any]:
        """The scenario's JSON, written by this run (not left over from an earlier one)."""
        path = RESULTS / f"{scenario}.json"
        assert path.exists() and path.stat().st_mtime >= self.started, (
            f"{path} not written by this run:\n{self.output[-4000:]}"
        )
        data: dict[str, Any] = json.loads(path.read_text())
        return data
