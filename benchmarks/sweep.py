"""Sweep throughput: a 24-run sweep on 2 local worker processes, in runs per wall-minute.

Run: ``python -m benchmarks.sweep [--workers N]``. Prints one JSON line: the sweep
(30 simulated minutes of poisson entries into audiences sharing one token; entry rate ×
number of audiences × seed = 3 × 2 × 4 = 24 runs), wall seconds, runs per minute, the mean
wall seconds a run took inside its worker, and how many runs failed a check.
Target (issue 5): report it; a 24-run sweep should take a few minutes at most on 2 cores.
Not part of the test run; figures depend on the machine (and on what else it is running).
"""

from __future__ import annotations

import argparse
import json
import statistics

from sim.scenario import parse
from sim.sweep.executors import LocalProcesses
from sim.sweep.runs import parse_axis, sweep

_SCENARIO = """
[scenario]
name = "sweep_benchmark"
seed = 5
duration = "30m"

[[step]]
id = "steady"
audience = { new = "Steady stream" }

[[traffic]]
step = "steady"
kind = "poisson"
rate = "50/s"

[expect]
errored = 0
"""
_AXES = ("traffic.0.rate=10/s,50/s,200/s", "steps=1,20", "seed=1,2,3,4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    scenario = parse(_SCENARIO, "benchmarks/sweep.py")
    axes = [parse_axis(text, scenario.source) for text in _AXES]
    result = sweep(scenario, axes, executor=LocalProcesses(options.workers))
    runs = len(result.table)
    figures = {
        "case": "sweep_24_runs",
        "workers": options.workers,
        "runs": runs,
        "users": int(result.table["entered"].sum()),
        "wall_s": round(result.wall_seconds, 2),
        "runs_per_minute": round(runs / result.wall_seconds * 60, 1),
        "mean_run_wall_s": round(statistics.mean(result.run_wall_seconds), 2),
        "failed_runs": result.failed_runs,
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
