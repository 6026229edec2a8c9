"""``python -m bench SCENARIO... [--quick]`` / ``python -m bench all [--quick]``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback

from bench import NOT_AVAILABLE, RESULTS_DIR, run_scenario, scenario_names


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every scenario's ``finally`` / ``with`` stops the
    processes it started (once: a second SIGTERM during the cleanup is ignored)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    names = scenario_names()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Lateen benchmarks; results go to bench/results/SCENARIO.json (.md, .png).",
        epilog="not available yet: "
        + "; ".join(f"{k}: {v}" for k, v in NOT_AVAILABLE.items()),
    )
    p.add_argument(
        "scenario", nargs="+", choices=[*names, "all"], help="scenario(s) to run, or 'all'"
    )
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = p.parse_args(args_list)
    run_all = "all" in args.scenario
    chosen = names if run_all else list(dict.fromkeys(args.scenario))
    summary: dict[str, dict[str, object]] = {}
    for name in chosen:
        t0 = time.monotonic()
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        try:
            record = run_scenario(name, args.quick, args_list)
            status = str(record.get("status", "ok"))
        except Exception:  # one broken scenario must not hide the others' numbers
            traceback.print_exc()
            status = "failed"
        summary[name] = {"status": status, "wall_s": round(time.monotonic() - t0, 1)}
    if run_all:
        for name, why in NOT_AVAILABLE.items():
            print(f"== {name}: {why}")
            summary[name] = {"status": "not available", "why": why}
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "all.json").write_text(
            json.dumps({"quick": args.quick, "scenarios": summary}, indent=2) + "\n"
        )
    if len(summary) > 1:
        for name, s in summary.items():
            print(f"{name:>20}: {s['status']}" + (f" ({s['wall_s']} s)" if "wall_s" in s else ""))
    return 1 if any(s["status"] == "failed" for s in summary.values()) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(main())
