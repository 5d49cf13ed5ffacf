"""What a run shows, for the plan's formulas: each figure measured over one token's steps.

Responsibility: the simulated counterparts of the closed forms — peak synced rate, the lag of
calm users, time-average pending, a blast's drain, an outage's backlog, its serving and
draining, the users who expired, and the run's pacing figures.

Rules:
- Read only what a run writes (users, the journal, fault windows, limits), so a fresh
  ``RunData`` and a run folder read back by ``sim.results.folder.load_run`` give the same
  figures.
- NaN when the run holds nothing to measure (nobody synced, never caught up).
- Fault windows mean what ``FaultWindow`` says. A calm user entered after the warm-up and
  outside every window and its drain (a minute either side); an instant fault (a revoked
  token, a deleted audience) changes the run for good, so no one after it is calm.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.judge import pacing
from sim.results.recorder import RunData

__all__ = [
    "blast_drain_s",
    "calm_lags",
    "caught_up_after",
    "expired",
    "held_served_s",
    "pacing_of",
    "peak_synced_rate",
    "pending_at",
    "synced_lags",
    "time_average_pending",
]

_WARM_UP_S = 60.0  # provisioning the audiences delays the first users: not low-load lag
_DRAIN_S = 60.0  # around a fault window, users still feel it
_PEAK_WINDOW_S = 10.0


def peak_synced_rate(
    data: RunData, steps: tuple[str, ...], window_s: float = _PEAK_WINDOW_S
) -> float:
    """Peak synced users/s over 10 s windows (or ``window_s``)."""
    done = np.sort(_synced(data, steps)["outcome_at"].to_numpy(float))
    if done.size == 0:
        return math.nan
    ends = np.searchsorted(done, done + window_s, side="left")
    return float((ends - np.arange(done.size)).max()) / window_s


def calm_lags(data: RunData, steps: tuple[str, ...], duration_s: float) -> npt.NDArray[np.float64]:
    """Entry→synced lag of the calm users (see the module docstring)."""
    users = _synced(data, steps)
    entered = users["entered_at"].to_numpy(float)
    calm = entered >= _WARM_UP_S
    for window in data.fault_windows:
        end = duration_s if window.end_s is None else window.end_s
        calm &= ~((entered >= window.start_s - _DRAIN_S) & (entered < end + _DRAIN_S))
    lag: npt.NDArray[np.float64] = users["outcome_at"].to_numpy(float)[calm] - entered[calm]
    return lag


def synced_lags(data: RunData, steps: tuple[str, ...]) -> npt.NDArray[np.float64]:
    """Entry→synced lag of every synced user of ``steps``."""
    users = _synced(data, steps)
    lag: npt.NDArray[np.float64] = users["outcome_at"].to_numpy(float) - users[
        "entered_at"
    ].to_numpy(float)
    return lag


def time_average_pending(data: RunData, steps: tuple[str, ...], duration_s: float) -> float:
    """Time-average pending over the run from the users' entry and outcome instants."""
    users = data.users
    mine = users[users["step"].isin(steps) & (users["outcome"] != "not_synced")]
    entered = mine["entered_at"].to_numpy(float)
    outcome_at = np.nan_to_num(mine["outcome_at"].to_numpy(float), nan=duration_s)
    left = np.minimum(outcome_at, duration_s)
    return float(np.sum(np.maximum(left - entered, 0.0))) / duration_s


def blast_drain_s(data: RunData, steps: tuple[str, ...], start_s: float) -> float:
    """From a blast at ``start_s`` to its last user synced."""
    synced = _synced(data, steps)
    blasted = synced[synced["entered_at"] == start_s]
    return float(blasted["outcome_at"].max()) - start_s if len(blasted) else math.nan


def pending_at(data: RunData, steps: tuple[str, ...], end_s: float) -> float:
    """Users of ``steps`` entered before ``end_s`` and not resolved by then."""
    users = data.users
    mine = users[users["step"].isin(steps) & (users["outcome"] != "not_synced")]
    before = mine["entered_at"] < end_s
    resolved = mine["outcome_at"] < end_s
    return float((before & ~resolved).sum())


def held_served_s(data: RunData, steps: tuple[str, ...], end_s: float) -> float:
    """From ``end_s`` (an outage's end) to the last user it held synced."""
    users = data.users
    mine = users[users["step"].isin(steps) & (users["outcome"] == "synced")]
    held = mine[mine["entered_at"] < end_s]
    return float(held["outcome_at"].max()) - end_s if len(held) else math.nan


def caught_up_after(journal: pd.DataFrame, end_s: float, flush_interval_s: float) -> float:
    """Seconds from ``end_s`` (an outage's end) to the first accepted PATCH whose youngest
    user entered within a flush of the send: the queue is back to one flush. NaN if never."""
    accepted = journal[(journal["method"] == "PATCH") & (journal["status"] == 200)]
    after = accepted[accepted["sent_at"] >= end_s]
    caught_up = after[after["sent_at"] - after["max_entered_at"] <= flush_interval_s]
    if caught_up.empty:
        return math.nan
    return float(caught_up["sent_at"].min()) - end_s


def expired(data: RunData, steps: set[str]) -> float:
    """Users of ``steps`` who errored."""
    users = data.users
    return float(((users["outcome"] == "errored") & users["step"].isin(steps)).sum())


def pacing_of(data: RunData, steps: tuple[str, ...]) -> pacing.Pacing:
    """The run's pacing figures for the connections of ``steps``, combined."""
    connections = {data.connection_of_step.get(step) for step in steps}
    figures = pacing.by_connection(data)
    mine = (one for connection, one in figures.items() if connection in connections)
    return pacing.combine(mine, data.limits.requests_per_second)


def _synced(data: RunData, steps: tuple[str, ...]) -> pd.DataFrame:
    users = data.users
    return users[users["step"].isin(steps) & (users["outcome"] == "synced")]
