"""A run's output folder on disk, exactly as docs/CONTRACTS.md §3.2 lists it: written, and
read back.

Responsibility: write `summary.json`, `timeseries.csv`, `users.parquet`, `requests.csv`, the
PNG plots (`sim.results.plots`) and `report.html` (`sim.results.report`) for one `RunData` and
its check results; and `load_run`, a `RunData` from such a folder (what `pinsim plan --runs`
and the notebooks measure). summary.json's `pacing` holds the figures of `sim.judge.pacing`,
over all tokens and per token.

Rules:
- Deterministic: the same `RunData` gives byte-identical files apart from the wall-clock field
  (`wall_seconds`, in summary.json and report.html). JSON keys are sorted, CSVs keep the
  contract's column order, nothing records when it was written.
- What the folder does not hold comes from the scenario when it is read back, as the driver
  set it: the fault windows (`sim.world.translate.fault_window`) and the limits. Audience
  members are not written, so they are not read back.
- Nothing here judges the run; the verdicts come in from `sim.judge.checks`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.judge import pacing
from sim.judge.checks import CheckResult
from sim.results.plots import write_plots
from sim.results.recorder import (
    COUNTERS,
    REQUESTS_COLUMNS,
    TIMESERIES_COLUMNS,
    USERS_COLUMNS,
    Limits,
    RunData,
    final_counters,
    lag_percentiles,
)
from sim.results.report import render_html
from sim.scenario import Scenario
from sim.world.translate import fault_window

__all__ = ["build_summary", "load_run", "write_outputs"]

# the files `load_run` reads (the plots and the report are for people)
_READ_BACK: Final = ("summary.json", "timeseries.csv", "users.parquet", "requests.csv")


def write_outputs(
    data: RunData,
    checks: Mapping[str, CheckResult],
    expect_results: Mapping[str, CheckResult],
    out_dir: Path,
) -> Path:
    """Write every run output into `out_dir` (created if needed) and return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_summary(data, checks, expect_results)
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _write_csv(data.timeseries[list(TIMESERIES_COLUMNS)], out_dir / "timeseries.csv")
    _write_csv(data.requests[list(REQUESTS_COLUMNS)], out_dir / "requests.csv")
    _write_parquet(data.users[list(USERS_COLUMNS)], out_dir / "users.parquet")
    plots = write_plots(data, out_dir)
    (out_dir / "report.html").write_text(render_html(summary, plots), encoding="utf-8")
    return out_dir


# --- summary.json ---------------------------------------------------------------------------


def build_summary(
    data: RunData,
    checks: Mapping[str, CheckResult],
    expect_results: Mapping[str, CheckResult],
) -> dict[str, object]:
    """The summary.json document: counters and lag per step, requests, and every verdict."""
    final = final_counters(data.timeseries)[list(COUNTERS)].astype("int64").to_dict("index")
    steps = {}
    for step in data.step_ids:
        counters = {name: int(value) for name, value in final[step].items()}
        step_users = data.users[data.users["step"] == step]
        steps[step] = {**counters, "lag_s": _rounded(lag_percentiles(step_users))}
    statuses = data.requests["status"].astype(int).value_counts()
    return {
        "scenario": data.scenario,
        "seed": data.seed,
        "sim_seconds": data.sim_seconds,
        "wall_seconds": round(data.wall_seconds, 3),
        "steps": steps,
        "lag_s": _rounded(lag_percentiles(data.users)),
        "requests": {
            "total": len(data.requests),
            "by_status": {str(status): int(n) for status, n in sorted(statuses.items())},
        },
        "pacing": _pacing(data),
        "checks": _verdicts(checks),
        "expect": _verdicts(expect_results),
    }


def _rounded(percentiles: Mapping[str, float | None]) -> dict[str, float | None]:
    """Microsecond precision: enough for sim time, short enough to read."""
    return {k: _round(v) for k, v in percentiles.items()}


def _pacing(data: RunData) -> dict[str, object]:
    """The run's pacing figures over all tokens, then per token."""
    tokens = pacing.by_token(data)
    overall = pacing.combine(tokens.values(), data.limits.requests_per_second)
    return {**_figures(overall), "tokens": {token: _figures(one) for token, one in tokens.items()}}


def _figures(figures: pacing.Pacing) -> dict[str, object]:
    busiest = figures.busiest
    return {
        "writes": figures.writes,
        "refused_429": figures.refused_429,
        "share_429": _round(figures.share_429),
        "accepted_in_backlog": figures.accepted_in_backlog,
        "backlog_s": round(figures.backlog_s, 6),
        "utilisation": _round(figures.utilisation),
        "busiest_arrival_second": {
            "count": busiest.count,
            "start_s": _round(busiest.start_s),
            "token": busiest.token,
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _verdicts(results: Mapping[str, CheckResult]) -> dict[str, dict[str, object]]:
    return {name: {"ok": result.ok, "detail": result.detail} for name, result in results.items()}


# --- tables ---------------------------------------------------------------------------------


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path)


# --- reading a folder back ------------------------------------------------------------------


def load_run(folder: Path, scenario: Scenario) -> RunData:
    """A `RunData` from a `pinsim run/check` output folder of `scenario` (see the module
    docstring for what comes from the scenario). Raises `FileNotFoundError` naming the first
    table missing."""
    for name in _READ_BACK:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: no such file (run pinsim run/check first)")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    sync, pinterest = scenario.sync, scenario.pinterest
    return RunData(
        scenario=str(summary["scenario"]),
        seed=int(summary["seed"]),
        sim_seconds=float(summary["sim_seconds"]),
        wall_seconds=float(summary["wall_seconds"]),
        timeseries=pd.read_csv(folder / "timeseries.csv"),
        users=pd.read_parquet(folder / "users.parquet"),
        requests=pd.read_csv(folder / "requests.csv", low_memory=False),
        members={},
        expected_members={},
        fault_windows=tuple(fault_window(f, scenario.duration_s) for f in scenario.faults),
        limits=Limits(  # as the driver sets them: the limits are Pinterest's
            requests_per_second=pinterest.ads_write_per_second,
            max_records_per_request=pinterest.max_records_per_request,
            flush_interval_s=sync.flush_interval_s,
            retry_window_s=sync.retry_window_s,
            requests_per_minute=pinterest.ads_write_per_minute,
        ),
        step_connections={step.id: step.connection for step in scenario.steps},
    )
