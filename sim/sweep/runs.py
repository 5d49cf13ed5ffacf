"""Sweeps: one scenario run for every combination of some parameters, as one tidy table.

Responsibility: compose ``sim.sweep.axes`` (which runs), an executor from ``sim.sweep.executors``
(where they run), ``run_one`` (simulate → checks → metrics, in the worker) and the outputs
(``sweep.csv``, ``sweep.parquet``, ``sweep.json``, plots from ``sim.sweep.plots``).

Use (the command ``pinsim sweep`` does the same)::

    from sim.scenario import load
    from sim.sweep.runs import parse_axis, sweep, write_sweep
    result = sweep(load("scenarios/steady_day.toml"),
                   [parse_axis("traffic.0.rate=10/s,100/s"), parse_axis("seed=1,2")])
    result.table          # one row per run, see TABLE below
    write_sweep(result, Path("out/sweep"))

Rules:
- Every run is planned and validated before the first one starts (``plan_runs``).
- ``run_one`` is a top-level function of plain data (``RunSpec`` → ``RunResult``) so any process
  or Dask worker can run it; it never raises: a run that fails is a row whose ``error`` says why.
- The table is a pure function of the scenario, the axes and the seeds: rows in cartesian
  order whatever finishes first, no wall-clock value in it; the same sweep gives the same
  table on any executor. Wall seconds go to ``sweep.json`` only.
- No per-run report unless asked (``keep_dir``): a run's full outputs are ``sim.results.folder``'s.

TABLE: ``run`` (0-based index in cartesian order), one column per axis key as given (``seed``,
``steps``, ``traffic.0.rate``…: the value as given), then ``sim.sweep.metrics.METRICS``
(``entered synced not_synced errored pending synced_share errored_share done_at_s drain_s
lag_p50_s lag_p99_s lag_max_s requests requests_429 requests_failed``), then ``checks_ok``
(every check and expectation held, and the run did not fail), ``failed_checks`` (comma-joined
names, expectations as ``expect.<key>``) and ``error`` (empty, or the exception of a failed
run, whose metrics are then missing). Counts are pandas ``Int64``, the rest ``float64``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.judge.checks import run_checks
from sim.judge.expectations import check_expectations
from sim.progress import Progress
from sim.results.folder import write_outputs
from sim.scenario import Scenario, from_raw
from sim.sweep.axes import Axis, RunSpec, SweepError, parse_axis, plan_runs
from sim.sweep.executors import Executor, LocalProcesses
from sim.sweep.metrics import COUNT_METRICS, METRICS, Metric, run_metrics
from sim.world.driver import simulate

__all__ = [
    "VERDICT_COLUMNS",
    "Axis",
    "RunResult",
    "RunSpec",
    "SweepError",
    "SweepResult",
    "format_table",
    "parse_axis",
    "plan_runs",
    "run_one",
    "sweep",
    "sweep_table",
    "write_sweep",
]

VERDICT_COLUMNS: Final = ("checks_ok", "failed_checks", "error")
_COMPACT: Final = (
    "entered",
    "synced_share",
    "errored_share",
    "drain_s",
    "lag_p50_s",
    "lag_p99_s",
    "requests",
    "requests_429",
)
_MISSING: Final = {True: pd.NA, False: math.nan}  # a failed run's metric: is it a count?


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What one run sends back: its metrics and verdicts, or the error that stopped it."""

    index: int
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    error: str = ""
    wall_seconds: float = 0.0


def run_one(spec: RunSpec) -> RunResult:
    """Simulate one run, judge it and reduce it to metrics (in whichever process runs it)."""
    started = time.perf_counter()
    try:
        scenario = from_raw(spec.raw, spec.source)
        data = simulate(scenario, spec.seed)
        checks = run_checks(data)
        expectations = check_expectations(data, scenario.expect, scenario)
        if spec.keep_dir is not None:
            write_outputs(data, checks, expectations, Path(spec.keep_dir))
        failures = [name for name, result in checks.items() if not result.ok]
        failures += [f"expect.{name}" for name, result in expectations.items() if not result.ok]
        metrics = run_metrics(data)
    except Exception as exc:  # one broken run must not sink the sweep: it becomes its row
        elapsed = time.perf_counter() - started
        return RunResult(index=spec.index, error=_describe(exc), wall_seconds=elapsed)
    elapsed = time.perf_counter() - started
    return RunResult(
        index=spec.index, metrics=metrics, failures=tuple(failures), wall_seconds=elapsed
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# eq=False: DataFrames have no truth value, so a generated __eq__ would raise.
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SweepResult:
    """A finished sweep: its axes, the table, and wall seconds (never in the table)."""

    scenario: str  # the scenario's source (its file)
    axes: tuple[Axis, ...]
    table: pd.DataFrame
    wall_seconds: float
    run_wall_seconds: tuple[float, ...]

    @property
    def ok(self) -> bool:
        """Every run finished and every check and expectation held."""
        return bool(self.table["checks_ok"].all())

    @property
    def failed_runs(self) -> int:
        return int((~self.table["checks_ok"]).sum())


def sweep(
    scenario: Scenario,
    axes: Sequence[Axis],
    *,
    executor: Executor | None = None,
    keep_dir: Path | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run ``scenario`` for every combination of ``axes``; ``SweepError`` before any run."""
    started = time.perf_counter()
    runs = plan_runs(scenario, axes)
    if keep_dir is not None:
        runs = tuple(replace(run, keep_dir=str(keep_dir / str(run.index))) for run in runs)
    results = _collect(runs, executor or LocalProcesses(), progress)
    return SweepResult(
        scenario=scenario.source,
        axes=tuple(axes),
        table=sweep_table(runs, results),
        wall_seconds=time.perf_counter() - started,
        run_wall_seconds=tuple(result.wall_seconds for result in results),
    )


def _collect(
    runs: Sequence[RunSpec], executor: Executor, progress: Progress | None
) -> list[RunResult]:
    """Every run's result, in run order (they finish in any order)."""
    results: list[RunResult | None] = [None] * len(runs)
    for done, (position, outcome) in enumerate(executor.run_all(run_one, runs), start=1):
        index = runs[position].index
        if isinstance(outcome, BaseException):  # the worker itself was lost
            outcome = RunResult(index=index, error=_describe(outcome))
        results[position] = outcome
        if progress is not None:
            progress(done, len(runs))
    return [
        result or RunResult(index=run.index, error="never ran")
        for result, run in zip(results, runs, strict=True)
    ]


def sweep_table(runs: Sequence[RunSpec], results: Sequence[RunResult]) -> pd.DataFrame:
    """The tidy table (see TABLE in the module docstring), one row per run in run order."""
    rows = [_row(run, result) for run, result in zip(runs, results, strict=True)]
    keys = [key for key, _ in runs[0].params] if runs else []
    table = pd.DataFrame(rows, columns=["run", *keys, *METRICS, *VERDICT_COLUMNS])
    for key in keys:
        table[key] = _axis_column(table[key])
    dtypes = {name: "Int64" if name in COUNT_METRICS else "float64" for name in METRICS}
    return table.astype({"run": "int64", **dtypes, "checks_ok": "bool"})


def _row(run: RunSpec, result: RunResult) -> dict[str, object]:
    metrics = {name: result.metrics.get(name, _MISSING[name in COUNT_METRICS]) for name in METRICS}
    verdict = {
        "checks_ok": not result.error and not result.failures,
        "failed_checks": ",".join(result.failures),
        "error": result.error,
    }
    return {"run": run.index, **dict(run.params), **metrics, **verdict}


def _axis_column(values: pd.Series) -> pd.Series:
    """One type per column (Parquet needs it): mixed values are all written as strings."""
    kinds = {type(value) for value in values}
    return values.astype(str) if len(kinds) > 1 else values.infer_objects()


# --------------------------------------------------------------------------- outputs


def write_sweep(result: SweepResult, out_dir: Path, *, command: str = "") -> list[Path]:
    """Write ``sweep.csv``, ``sweep.parquet``, ``sweep.json`` and the plots; return the paths."""
    from sim.sweep.plots import write_sweep_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    csv, parquet, summary = out_dir / "sweep.csv", out_dir / "sweep.parquet", out_dir / "sweep.json"
    result.table.to_csv(csv, index=False, lineterminator="\n")
    pq.write_table(pa.Table.from_pandas(result.table, preserve_index=False), parquet)
    summary.write_text(json.dumps(_summary(result, command), indent=2, sort_keys=True) + "\n")
    return [csv, parquet, summary, *write_sweep_plots(result.table, result.axes, out_dir)]


def _summary(result: SweepResult, command: str) -> dict[str, object]:
    # a list, not a mapping: sort_keys must not reorder the axes
    axes: list[dict[str, object]] = [
        {"key": axis.key, "values": list(axis.values)} for axis in result.axes
    ]
    return {
        "command": command,
        "scenario": result.scenario,
        "axes": axes,
        "runs": len(result.table),
        "failed_runs": result.failed_runs,
        "errored_runs": int((result.table["error"] != "").sum()),
        "wall_seconds": round(result.wall_seconds, 3),
        "run_wall_seconds": [round(seconds, 3) for seconds in result.run_wall_seconds],
    }


def format_table(table: pd.DataFrame) -> str:
    """The table for a terminal: axes and the headline metrics, then what failed and why."""
    keys = list(table.columns[1 : table.columns.get_loc(METRICS[0])])
    shown = table[["run", *keys, *_COMPACT]].copy()
    shown["checks"] = table["checks_ok"].map({True: "ok", False: "FAIL"})
    lines = [shown.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-")]
    for run, failed, error in zip(
        table["run"], table["failed_checks"], table["error"], strict=True
    ):
        why = str(error) or (f"failed {failed}" if failed else "")
        if why:
            lines.append(f"run {run}: {why}")
    return "\n".join(lines)
