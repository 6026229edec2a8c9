"""Lateen benchmarks: ``python -m bench SCENARIO... [--quick]`` or ``python -m bench all [--quick]``.

A scenario is a public module of this package (``bench/xds_convergence.py`` is scenario
``xds-convergence``) with ``run(quick: bool) -> dict``. The dict holds the scenario's numbers;
an optional ``"table"`` entry (``{"title", "columns", "rows"}``) is printed with rich and
rendered as Markdown, an optional ``"plot"`` entry (latency percentile curves, see
``bench/_plot.py``) is drawn as a PNG. The runner adds the command line, ``os.cpu_count()``,
the date, the git commit and the load average, and writes ``bench/results/SCENARIO.json``
(and ``SCENARIO.md``, the table, and ``SCENARIO.png``, the plot).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "NOT_AVAILABLE",
    "RESULTS_DIR",
    "markdown_table",
    "module_name",
    "print_table",
    "run_scenario",
    "scenario_names",
]

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent

# scenarios the issue lists that have nothing to measure yet: `all` says so, never fakes them
NOT_AVAILABLE: dict[str, str] = {}


def module_name(scenario: str) -> str:
    """``xds-convergence`` -> ``xds_convergence``."""
    return scenario.replace("-", "_")


def scenario_names() -> list[str]:
    """Every scenario (public module of this package), dashed."""
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules([str(BENCH_DIR)])
        if not m.name.startswith("_") and not m.ispkg
    )


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def print_table(table: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=table.get("title"))
    for col in table["columns"]:
        t.add_column(str(col), justify="right")
    for row in table["rows"]:
        t.add_row(*(_cell(v) for v in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=300)
    console.print(t)
    for note in table.get("notes", []):
        print(f"note: {note}")


def markdown_table(table: dict[str, Any]) -> str:
    cols = [str(c) for c in table["columns"]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" for _ in cols) + "|"]
    for row in table["rows"]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    notes = table.get("notes", [])
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


def run_scenario(scenario: str, quick: bool, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run one scenario, print its table, write its JSON (and Markdown); return the record."""
    mod = importlib.import_module(f"bench.{module_name(scenario)}")
    started = datetime.datetime.now(datetime.UTC)
    load_before = [round(v, 2) for v in os.getloadavg()]
    numbers: dict[str, Any] = mod.run(quick)
    command = "python -m bench " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    record: dict[str, Any] = {
        "scenario": scenario,
        "quick": quick,
        "command": command,
        "cpu_count": os.cpu_count(),
        "date": started.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        # 1/5/15-minute load averages: how busy the (shared) machine was
        "load_average_at_start": load_before,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        **numbers,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{scenario}.json"
    plot = numbers.get("plot")
    if plot:
        from bench._plot import write_percentile_png

        png = RESULTS_DIR / f"{scenario}.png"
        write_percentile_png(plot, png)
        record["plot_png"] = str(png.relative_to(REPO_ROOT))
    out.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
    table = numbers.get("table")
    if table:
        print_table(table)
        (RESULTS_DIR / f"{scenario}.md").write_text(markdown_table(table))
    print(f"wrote {out}" + (f" and {record['plot_png']}" if plot else ""))
    return record
