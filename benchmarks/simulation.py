"""End-to-end simulation speed: the real engine against the real mock, in simulated time.

Run: ``python -m benchmarks.simulation [--only blast|steady|week] [--week] [--hours H]
[--feed auto|inline|helper]``. ``--feed`` says where traffic and ledger run (``sim.book.feed``;
big cases use the helper process by default). Prints one JSON line a case, each case in its own
process (so its peak RSS is its own), with the toy floor (``benchmarks.toy_floor``) run beside
the blast and the steady case, then one ``ratios`` line:
- ``blast``: the shipped Black Friday scenario (2 M users blasted into 10 audiences on one
  token); ``users_per_wall_s`` is through ``sim.world.driver.simulate`` alone (traffic, engine,
  mock, ledger); ``total_s`` adds the checks and the outputs.
- ``steady``: 16 simulated hours of a poisson stream at 100 users/s into one audience.
- ``week``: 7 days of diurnal traffic (100 users/s on average, 60 M users) into two steps, no
  faults; only with ``--week`` or ``--only week`` (it is long); ``--hours H`` runs H hours of it.
Every case reports ``simulate_s``, ``total_s``, ``users_per_wall_s``, the peak RSS of each
process (``peak_rss_mib`` the driver, ``helper_peak_rss_mib`` the feed helper, the only child)
and ``bytes_per_user``: the peaks summed over the users (pages shared after the fork count
twice, so it errs high).
Targets (issues 4, 14): blast ≥ 250 k users/wall-s and ≥ 0.8× the toy's; steady in under 60 s
and ≤ 2× the toy's wall; week in ≤ 20 min at ≤ 200 bytes a user.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sim.judge.checks import run_checks
from sim.judge.expectations import check_expectations
from sim.results.folder import write_outputs
from sim.scenario import Scenario, ScenarioError, load, parse
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
# Two steps, each a diurnal curve of 20–80 users/s (trough at midnight, peak at noon): 100
# users/s on average together, 60.48 M users over whole days. ``{duration}`` is filled in.
_WEEK = """
[scenario]
name = "week_100_per_s_diurnal"
seed = 7
duration = "{duration}"

[[step]]
id = "week-a"
audience = {{ new = "Week A" }}

[[step]]
id = "week-b"
audience = {{ new = "Week B" }}

[[traffic]]
step = "week-a"
kind = "diurnal"
rate = "20/s"
peak = "80/s"

[[traffic]]
step = "week-b"
kind = "diurnal"
rate = "20/s"
peak = "80/s"
"""
_WEEK_HOURS = 7 * 24.0


_FEEDS: dict[str, bool | None] = {"auto": None, "inline": False, "helper": True}
_MIB = 1 << 20


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
        "users_per_wall_s": round(len(data.users) / simulated),
        "checks_failed": float(len(failed)),
    }


def _peak_rss_mib() -> dict[str, int]:
    """This process's peak RSS, and the feed helper's (the largest child's) if one ran.

    The feed helper is the only child ``simulate`` starts (forked, and joined before it returns),
    so the children's peak is the helper's.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {"peak_rss_mib": own, "helper_peak_rss_mib": helper}


def _figures(case: str, feed: str, scenario: Scenario) -> dict[str, object]:
    figures = _time(scenario, feed)
    peaks = _peak_rss_mib()
    total_mib = sum(peaks.values())
    return {
        "case": case,
        "feed": feed,
        **figures,
        **peaks,
        "peak_rss_total_mib": total_mib,
        "bytes_per_user": round(total_mib * _MIB / max(figures["users"], 1.0)),
    }


def blast(feed: str, hours: float) -> dict[str, object]:
    scenario = load(_ROOT / "scenarios" / "black_friday_blast.toml")
    return {**_figures("blast_2M", feed, scenario), "target_users_per_wall_s": 250_000}


def steady(feed: str, hours: float) -> dict[str, object]:
    scenario = parse(_STEADY, "benchmarks/simulation.py")
    return {**_figures("steady_16h_100_per_s", feed, scenario), "target_s": 60}


def week(feed: str, hours: float) -> dict[str, object]:
    scenario = parse(_WEEK.format(duration=f"{round(hours * 3600)}s"), "benchmarks/simulation.py")
    targets = {"target_s": round(1200 * hours / _WEEK_HOURS), "target_bytes_per_user": 200}
    return {**_figures(f"week_{hours:g}h_100_per_s_diurnal", feed, scenario), **targets}


_CASES: dict[str, Callable[[str, float], dict[str, object]]] = {
    "steady": steady,
    "blast": blast,
    "week": week,
}
# the toy floor case run beside a real one (``benchmarks.toy_floor.CASES``)
_TOYS = {"blast": "blast", "steady": "steady"}


def _child(module: str, *arguments: str) -> dict[str, Any]:
    """Run one case in its own process; echo and return its JSON line."""
    command = [sys.executable, "-m", module, *arguments]
    done = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:  # the child has said why on stderr
        raise SystemExit(done.returncode)
    line = done.stdout.strip().splitlines()[-1]
    print(line, flush=True)
    return cast(dict[str, Any], json.loads(line))


def _ratios(real: dict[str, dict[str, Any]], toy: dict[str, dict[str, Any]]) -> dict[str, object]:
    """The real cases against the toy floor measured in the same invocation.

    ``simulate`` alone is the like-for-like figure (the toy has no checks or outputs); the
    ``_total`` ratios add the real run's checks and outputs.
    """
    blast_, toy_blast, steady_, toy_steady = (
        real["blast"],
        toy["blast"],
        real["steady"],
        toy["steady"],
    )
    toy_blast_rate = toy_blast["users"] / toy_blast["wall_s"]
    return {
        "case": "ratios",
        "blast_vs_toy_users_per_wall_s": round(blast_["users_per_wall_s"] / toy_blast_rate, 3),
        "blast_total_vs_toy_users_per_wall_s": round(
            blast_["users"] / blast_["total_s"] / toy_blast_rate, 3
        ),
        "steady_vs_toy_wall": round(steady_["simulate_s"] / toy_steady["wall_s"], 3),
        "steady_total_vs_toy_wall": round(steady_["total_s"] / toy_steady["wall_s"], 3),
        "target_blast_vs_toy_min": 0.8,
        "target_steady_vs_toy_max": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(_CASES))
    parser.add_argument("--week", action="store_true", help="run the week case too (long)")
    parser.add_argument("--hours", type=float, default=_WEEK_HOURS, help="the week's duration")
    parser.add_argument("--feed", choices=list(_FEEDS), default="auto")
    options = parser.parse_args()
    if options.hours <= 0:
        parser.error(f"--hours: must be positive, not {options.hours:g}")
    if options.only is not None:
        try:
            figures = _CASES[options.only](options.feed, options.hours)
        except (
            ScenarioError
        ) as error:  # e.g. a week beyond the scenario budget (sim.scenario.limits)
            parser.exit(2, f"benchmarks.simulation: error: {error}\n")
        print(json.dumps(figures), flush=True)
        return
    shared = ["--feed", options.feed, "--hours", str(options.hours)]
    real: dict[str, dict[str, Any]] = {}
    toy: dict[str, dict[str, Any]] = {}
    for name in [*_TOYS, *(["week"] if options.week else [])]:  # toy and real back to back
        if name in _TOYS:
            toy[name] = _child("benchmarks.toy_floor", "--only", _TOYS[name])
        real[name] = _child("benchmarks.simulation", "--only", name, *shared)
    print(json.dumps(_ratios(real, toy)), flush=True)


if __name__ == "__main__":
    main()
