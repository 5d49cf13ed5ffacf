"""One run's outcome as a flat row of numbers: what a sweep table holds per run.

Responsibility: reduce a `RunData` to the metrics a capacity planner compares across runs.

Rules:
- Pure functions of `RunData`; no wall-clock value ever enters, so the same run gives the same
  row in any process or on any executor.
- Counts are summed over every step; shares are of `entered` (NaN when nobody entered).
- Instants come from the users table (exact), not from the sampled timeseries.

Definitions (units: `_s` is seconds of simulated time):
- `entered synced not_synced errored pending`: the final counters, summed over steps.
- `synced_share`, `errored_share`: synced / entered, errored / entered.
- `done_at_s`: the instant from which pending stays 0 — the last `outcome_at` of a user who
  was pending (synced or errored); 0.0 if nobody ever was; NaN if someone is still pending.
- `drain_s`: `done_at_s` minus the last entry instant (never below 0: pending was already 0
  when the last user entered); NaN when never drained or nobody entered.
- `lag_p50_s lag_p99_s lag_max_s`: entry→synced lag over synced users (NaN if none).
- `requests`: customer-list writes sent (the requests that carry users, refused ones too; the
  few provisioning and OAuth requests are left out, so a blast of N users needs ⌈N/1,900⌉);
  `requests_429`: those answered 429; `requests_failed`: those answered ≥ 400 or not at all
  (status 0).
"""

from __future__ import annotations

import math
from typing import Final

import pandas as pd

from sim.results.recorder import RunData, final_counters, lag_percentiles

__all__ = ["COUNT_METRICS", "METRICS", "run_metrics"]

Metric = int | float

COUNT_METRICS: Final = (
    "entered",
    "synced",
    "not_synced",
    "errored",
    "pending",
    "requests",
    "requests_429",
    "requests_failed",
)
"""Metrics that are whole counts (the rest are floats that may be NaN)."""

METRICS: Final = (
    "entered",
    "synced",
    "not_synced",
    "errored",
    "pending",
    "synced_share",
    "errored_share",
    "done_at_s",
    "drain_s",
    "lag_p50_s",
    "lag_p99_s",
    "lag_max_s",
    "requests",
    "requests_429",
    "requests_failed",
)
"""Every metric, in the sweep table's column order."""

_FINAL: Final = ("entered", "synced", "not_synced", "errored", "pending")
_WAS_PENDING: Final = ("synced", "errored")  # outcomes reached from pending (not not_synced)
_LAGS: Final = {"lag_p50_s": "p50", "lag_p99_s": "p99", "lag_max_s": "max"}
_NAN: Final = math.nan


def run_metrics(data: RunData) -> dict[str, Metric]:
    """Every metric of `METRICS` for one finished run."""
    metrics = _counters(data.timeseries)
    metrics |= _shares(metrics)
    metrics |= _drain(data.users, pending=int(metrics["pending"]))
    metrics |= _lags(data.users)
    metrics |= _requests(data.requests)
    return {name: metrics[name] for name in METRICS}


def _counters(timeseries: pd.DataFrame) -> dict[str, Metric]:
    final = final_counters(timeseries)
    return {name: int(final[name].sum()) for name in _FINAL}


def _shares(counts: dict[str, Metric]) -> dict[str, Metric]:
    entered = counts["entered"]
    return {
        f"{name}_share": counts[name] / entered if entered else _NAN
        for name in ("synced", "errored")
    }


def _drain(users: pd.DataFrame, *, pending: int) -> dict[str, Metric]:
    if pending:
        return {"done_at_s": _NAN, "drain_s": _NAN}
    resolved = users.loc[users["outcome"].isin(_WAS_PENDING), "outcome_at"]
    done_at = float(resolved.max()) if len(resolved) else 0.0
    if not len(users):
        return {"done_at_s": done_at, "drain_s": _NAN}
    last_entry = float(users["entered_at"].max())
    return {"done_at_s": done_at, "drain_s": max(done_at - last_entry, 0.0)}


def _lags(users: pd.DataFrame) -> dict[str, Metric]:
    lag = lag_percentiles(users)
    return {name: _or_nan(lag[key]) for name, key in _LAGS.items()}


def _or_nan(value: float | None) -> float:
    return _NAN if value is None else value


def _requests(journal: pd.DataFrame) -> dict[str, Metric]:
    on_list = journal["path"].astype(str).str.contains("/customer_lists/", regex=False)
    writes = journal.loc[(journal["method"] == "PATCH") & on_list, "status"].astype(int)
    return {
        "requests": len(writes),
        "requests_429": int((writes == 429).sum()),
        "requests_failed": int(((writes >= 400) | (writes == 0)).sum()),
    }
