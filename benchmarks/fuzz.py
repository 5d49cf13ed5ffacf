"""Fuzz throughput and verdict: ``pinsim fuzz`` over many schedules, in runs per wall second.

Run: ``python -m benchmarks.fuzz [--runs 1000] [--seed 0] [--jobs 2] [--out out/fuzz-bench]``.
Prints one JSON line: schedules run, violations (schedules that broke a check), failures per
check, wall seconds (in all, and running the schedules before any shrinking) and runs per wall
second of the schedules. ``--shrink-budget 0`` skips shrinking (failures written as drawn).
Target (issue 13): 1000 schedules, 0 violations, the wall time reported. Not part of the test
run; figures depend on the machine (and on what else it is running).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from sim.fuzz import fuzz
from sim.fuzz.shrink import DEFAULT_BUDGET
from sim.progress import FuzzBar
from sim.sweep.executors import LocalProcesses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/fuzz-bench"))
    parser.add_argument("--shrink-budget", type=int, default=DEFAULT_BUDGET)
    options = parser.parse_args()
    bar = FuzzBar(sys.stderr, options.runs)  # progress on stderr: the JSON line stays alone
    campaign = fuzz(
        runs=options.runs,
        seed=options.seed,
        out=options.out,
        executor=LocalProcesses(options.jobs),
        on_trial=bar,
        on_shrink=bar.shrinking,
        budget=options.shrink_budget,
    )
    per_check = Counter(name for trial in campaign.trials for name in trial.failures)
    figures = {
        "case": f"fuzz_{options.runs}_runs",
        "jobs": options.jobs,
        "runs": len(campaign.trials),
        "violations": sum(not trial.ok for trial in campaign.trials),
        "per_check": dict(sorted(per_check.items())),
        "wall_s": round(campaign.wall_s, 2),
        "trials_wall_s": round(campaign.trials_wall_s, 2),
        "runs_per_s": round(len(campaign.trials) / campaign.trials_wall_s, 3),
        "failure_files": [str(found.path) for found in campaign.found],
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
