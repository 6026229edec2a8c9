"""PNG plots of latency percentile curves (matplotlib, Agg backend: no display needed).

A plot spec (a scenario's ``"plot"`` entry, JSON-able) is::

    {"title": str, "panels": [{"title": str, "series": {label: [[percentile, ms], ...]}}]}

Each panel is one subplot; the x axis spreads the tail as HdrHistogram plots do (position
-log10(1 - p/100): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9, 4 at p99.99), the y axis is the
latency in ms (log scale). Percentile 100 (the max) cannot be placed on that axis and is left
out of the curve (the tables give it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["connection_panels", "percentile_position", "write_percentile_png"]

TICKS = ((0.0, "p0"), (50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (99.99, "p99.99"))  # fmt: skip


def percentile_position(p: float) -> float:
    """Where percentile ``p`` (0 <= p < 100) goes on the x axis."""
    return -math.log10(1 - p / 100)


def write_percentile_png(spec: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = spec["panels"]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.2 * len(panels), 4.2), sharey=True, squeeze=False
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        for label, points in panel["series"].items():
            pts = [(percentile_position(p), ms) for p, ms in points if p < 100 and ms > 0]
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker=".", label=label)
        ax.set_title(panel["title"])
        ax.set_xticks([percentile_position(p) for p, _ in TICKS], [t for _, t in TICKS])
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    axes[0][0].set_ylabel(spec.get("ylabel", "latency (ms)"))
    fig.suptitle(spec["title"])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def connection_panels(cells: list[dict[str, Any]], connections: Sequence[int], title: str) -> dict[str, Any]:
    """A plot spec with one panel per connection count: each path's percentile curve."""
    panels = [
        {
            "title": f"{conns} connection(s)",
            "series": {c["path"]: c["curve"] for c in cells if c["connections"] == conns},
        }
        for conns in connections
    ]
    return {"title": title, "panels": panels}
