"""A fuzz campaign: N random schedules run and judged, each failure shrunk and written.

Responsibility: ``fuzz(runs=, seed=, out=, executor=)`` draws schedules ``0 … runs-1`` from
``seed`` (``sim.fuzz.schedules``), judges each (``sim.fuzz.trial``) on the executor, shrinks
each failing one (``sim.fuzz.shrink``) and writes it as ``<out>/failures/<n>-<check>.toml``,
returning a ``Campaign`` that ``sim.fuzz.report`` tabulates.

Rules:
- Results are put back in schedule order whatever order processes finish in, and everything
  but wall-clock figures follows from ``seed``: the same seed gives the same trials, the same
  shrunk files, byte for byte.
- Runs are judged in memory; only a failure's reproduction becomes a file. ``failures/`` holds
  this campaign's failures only: files a previous campaign left there are removed first.
- A schedule is shrunk once for each check it broke (one file each): the shrunk file fails
  that same check, whatever else it does. A worker process lost mid-run is a crash of its
  schedule; ``on_shrink(count)`` is told how many shrinks follow the trials.
- Shrinks run on the executor too, one task per failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sim.fuzz.report import failure_file
from sim.fuzz.schedules import Document, fault_kinds, schedule
from sim.fuzz.shrink import DEFAULT_BUDGET, shrink
from sim.fuzz.toml_text import dumps
from sim.fuzz.trial import CRASH, Trial, judge, run_schedule
from sim.sweep.executors import Executor

__all__ = ["Campaign", "Found", "ShrinkTask", "fuzz", "shrink_failure"]

FAILURES: Final = "failures"
OnTrial = Callable[[int, int], None]
"""``on_trial(done, failed)``: called as each schedule's trial comes back."""


@dataclass(frozen=True, slots=True)
class ShrinkTask:
    """A failing schedule to shrink (picklable: it crosses to a worker process)."""

    seed: int
    number: int
    check: str
    budget: int = DEFAULT_BUDGET


@dataclass(frozen=True, slots=True)
class Found:
    """One failure, shrunk: the check, its detail on the shrunk document, both documents."""

    number: int
    check: str
    detail: str
    original: Document
    shrunk: Document
    path: Path


@dataclass(frozen=True, slots=True)
class Campaign:
    """A finished campaign: every trial in schedule order and every failure found."""

    seed: int
    trials: tuple[Trial, ...]
    found: tuple[Found, ...]
    wall_s: float  # the whole campaign
    trials_wall_s: float  # running the schedules, before any shrinking


def fuzz(
    *,
    runs: int,
    seed: int,
    out: Path,
    executor: Executor,
    on_trial: OnTrial | None = None,
    on_shrink: Callable[[int], None] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> Campaign:
    """Run ``runs`` schedules from ``seed``; shrink and write each failure under ``out``."""
    started = time.perf_counter()
    trials = _trials(runs, seed, executor, on_trial)
    trials_wall_s = time.perf_counter() - started
    tasks = [ShrinkTask(seed, t.number, check, budget) for t in trials for check in t.failures]
    folder = _clean_failures(out / FAILURES)
    shrunk = _shrunk(seed, tasks, executor)
    pairs = zip(tasks, shrunk, strict=True)
    found = tuple(_write(folder, seed, task, result) for task, result in pairs)
    return Campaign(seed, trials, found, time.perf_counter() - started, trials_wall_s)


def shrink_failure(task: ShrinkTask) -> tuple[Document, str]:
    """The task's schedule shrunk for its check: the shrunk document and the check's detail
    on it."""
    original = schedule(task.seed, task.number)
    source = f"fuzz schedule {task.number}"
    shrunk = shrink(original, lambda doc: task.check in judge(doc, source), budget=task.budget)
    detail = judge(shrunk, source).get(task.check, "no longer fails when judged again")
    return shrunk, detail


def _trials(
    runs: int, seed: int, executor: Executor, on_trial: OnTrial | None
) -> tuple[Trial, ...]:
    items = [(seed, number) for number in range(runs)]
    results: dict[int, Trial] = {}
    failed = 0
    for position, outcome in executor.run_all(run_schedule, items):
        trial = outcome if isinstance(outcome, Trial) else _lost_trial(seed, position, outcome)
        results[position] = trial
        failed += not trial.ok
        if on_trial is not None:
            on_trial(len(results), failed)
    return tuple(results[number] for number in range(runs))


def _lost_trial(seed: int, number: int, error: BaseException) -> Trial:
    """A schedule whose worker raised past ``judge`` or died: a crash of that schedule."""
    kinds = tuple(fault_kinds(schedule(seed, number)))
    return Trial(number, kinds, {CRASH: f"{type(error).__name__}: the worker was lost"})


def _shrunk(seed: int, tasks: list[ShrinkTask], executor: Executor) -> list[tuple[Document, str]]:
    """Each task's shrunk document and detail, in task order; a shrink whose worker was lost
    leaves its schedule as drawn (still a reproduction, only not a small one)."""
    results: dict[int, tuple[Document, str]] = {}
    for position, outcome in executor.run_all(shrink_failure, tasks):
        if isinstance(outcome, BaseException):
            original = schedule(seed, tasks[position].number)
            outcome = (original, f"not shrunk ({type(outcome).__name__} while shrinking)")
        results[position] = outcome
    return [results[position] for position in range(len(tasks))]


def _clean_failures(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.toml"):
        stale.unlink()
    return folder


def _write(folder: Path, seed: int, task: ShrinkTask, result: tuple[Document, str]) -> Found:
    shrunk, detail = result
    path = folder / f"{task.number}-{task.check}.toml"
    original = schedule(seed, task.number)
    found = Found(task.number, task.check, detail, original, shrunk, path)
    path.write_text(failure_file(found, seed, dumps(shrunk)), encoding="utf-8")
    return found
