"""``python -m bench SCENARIO [--quick]`` / ``python -m bench all [--quick]``."""

from __future__ import annotations

import argparse
import sys

from bench import run_scenario, scenario_names


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    names = scenario_names()
    p = argparse.ArgumentParser(prog="python -m bench", description="Run Lateen benchmarks.")
    p.add_argument("scenario", choices=[*names, "all"], help="scenario to run, or 'all'")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = p.parse_args(args_list)
    for name in names if args.scenario == "all" else [args.scenario]:
        run_scenario(name, args.quick, args_list)
    return 0


if __name__ == "__main__":
    sys.exit(main())
