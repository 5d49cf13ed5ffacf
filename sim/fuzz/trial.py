"""One fuzz trial: a scenario document simulated and judged by every check, in memory.

Responsibility: ``judge(document)`` says which checks a document's run broke (name → detail);
``run_schedule((seed, number))`` draws schedule ``number`` and judges it, as a picklable
top-level call the executors (``sim.sweep.executors``) carry to worker processes.

Rules:
- The run is ``sim.world.driver.simulate`` with the scenario's own seed, judged by
  ``sim.judge.checks.run_checks`` (the invariants every run is held to; a fuzz document states
  no expectations) — what ``pinsim check`` does with the file, without writing a report folder.
- A run that raises is a failure too, named ``CRASH``: the simulator or the engine broke on a
  valid scenario. Its detail names the exception's type and where it was raised, never its
  message (which could quote a request, a token or a record).
- Failures come in ``CHECKS`` order (``crash`` last), the same in every process, so the files a
  campaign writes for them are too.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sim.fuzz.schedules import fault_kinds, schedule
from sim.judge.checks import CHECKS, run_checks
from sim.scenario import from_raw
from sim.world.driver import simulate

__all__ = ["CRASH", "Trial", "check_names", "judge", "run_schedule"]

CRASH: Final = "crash"
"""The failure a run that raised is reported as."""


@dataclass(frozen=True, slots=True)
class Trial:
    """What one schedule did: its fault kinds, the checks it broke (name → detail), and how
    long it took (wall seconds: reported, never compared)."""

    number: int
    kinds: tuple[str, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def check_names() -> tuple[str, ...]:
    """Every failure a trial can report, in order: the checks, then ``CRASH``."""
    return (*CHECKS, CRASH)


def judge(document: Mapping[str, Any], source: str = "<fuzz>") -> dict[str, str]:
    """The checks the document's run broke, name → detail (empty: every check held).

    The document must be a valid scenario (``ScenarioError`` otherwise): an invalid one is a
    mistake of the caller's, not a finding."""
    scenario = from_raw(document, source)
    try:
        results = run_checks(simulate(scenario, scenario.seed))
    except Exception as error:  # a finding, not a crash of the fuzzer
        return {CRASH: _crash_detail(error)}
    return {name: result.detail for name, result in results.items() if not result.ok}


def run_schedule(item: tuple[int, int]) -> Trial:
    """Schedule ``number`` of the fuzz run seeded ``seed`` (``item = (seed, number)``), judged."""
    seed, number = item
    document = schedule(seed, number)
    started = time.perf_counter()
    failures = judge(document, f"fuzz schedule {number}")
    return Trial(
        number=number,
        kinds=tuple(fault_kinds(document)),
        failures=failures,
        wall_s=time.perf_counter() - started,
    )


def _crash_detail(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {_short_path(last.filename)}:{last.lineno} in {last.name}"
    return f"{type(error).__name__} raised{where}"


def _short_path(filename: str) -> str:
    """The file from the project's root package down (``sim/world/driver.py``)."""
    parts = Path(filename).parts
    for root in ("sim", "sync_core", "mock_pinterest"):
        if root in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(root) - 1 :])
    return Path(filename).name
