"""End-to-end simulation speed: the real engine against the real mock, in simulated time.

Run: ``python -m benchmarks.simulation [--only blast|steady] [--feed auto|inline|helper]``.
``--feed`` says where traffic and ledger run (``sim.book.feed``; both big cases use the helper
process by default). Prints one JSON line a case:
- ``blast``: the shipped Black Friday scenario (2 M users blasted into 10 audiences on one
  token): users per wall-second through ``sim.world.driver.simulate`` (traffic, engine, mock,
  ledger), then the checks and the outputs, and the peak RSS of the process.
- ``steady``: 16 simulated hours of a poisson stream at 100 users/s into one audience:
  wall seconds for ``simulate`` alone and with checks and outputs.
Targets (issue 4): ≥ 250 k users/wall-s on the blast; the 16 h scenario in under 60 s.
Not part of the test run; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim.judge.checks import run_checks
from sim.judge.expectations import check_expectations
from sim.results.folder import write_outputs
from sim.scenario import Scenario, load, parse
from sim.world.driver import simulate

_ROOT = Path(__file__).resolve().parents[1]
_STEADY = """
[scenario]
name = "steady_16h_100_per_s"
seed = 16
duration = "16h"

[[step]]
id = "steady"
audience = { new = "Steady stream" }

[[traffic]]
step = "steady"
kind = "poisson"
rate = "100/s"
"""


_FEEDS: dict[str, bool | None] = {"auto": None, "inline": False, "helper": True}


def _time(scenario: Scenario, feed: str) -> dict[str, float]:
    started = time.perf_counter()
    data = simulate(scenario, scenario.seed, feed_helper=_FEEDS[feed])
    simulated = time.perf_counter() - started
    checks = run_checks(data)
    expect = check_expectations(data, scenario.expect)
    with tempfile.TemporaryDirectory() as out:
        write_outputs(data, checks, expect, Path(out))
    total = time.perf_counter() - started
    failed = [name for name, result in {**checks, **expect}.items() if not result.ok]
    return {
        "users": float(len(data.users)),
        "simulate_s": round(simulated, 2),
        "total_s": round(total, 2),
        "checks_failed": float(len(failed)),
    }


def _peak_rss_mib() -> dict[str, int]:
    """This process's peak RSS, and the feed helper's (the largest child's) if one ran."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {"peak_rss_mib": own, "helper_peak_rss_mib": helper}


def blast(feed: str) -> dict[str, object]:
    figures = _time(load(_ROOT / "scenarios" / "black_friday_blast.toml"), feed)
    users_per_s = figures["users"] / figures["simulate_s"]
    return {
        "case": "blast_2M",
        "feed": feed,
        **figures,
        "users_per_wall_s": round(users_per_s),
        **_peak_rss_mib(),
        "target_users_per_wall_s": 250_000,
    }


def steady(feed: str) -> dict[str, object]:
    figures = _time(parse(_STEADY, "benchmarks/simulation.py"), feed)
    return {
        "case": "steady_16h_100_per_s",
        "feed": feed,
        **figures,
        **_peak_rss_mib(),
        "target_s": 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["blast", "steady"])
    parser.add_argument("--feed", choices=list(_FEEDS), default="auto")
    options = parser.parse_args()
    cases = {"steady": steady, "blast": blast}
    if options.only is not None:
        print(json.dumps(cases[options.only](options.feed)), flush=True)
        return
    for name in cases:  # each in its own process, so that its peak RSS is its own
        command = ["-m", "benchmarks.simulation", "--only", name, "--feed", options.feed]
        subprocess.run([sys.executable, *command], check=True)


if __name__ == "__main__":
    main()
