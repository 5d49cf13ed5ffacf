"""Hand-built `RunData` for the tests of sim.judge.checks, sim.results.folder and sim.results.plots.

`sample_run()` synthesises a run that satisfies every invariant by construction: users enter,
each flush tick sends their hashed ids in ≤ 1,900-record PATCHes paced under the token's
limit, and the timeseries is derived from the users table, so the counters conserve. Tests
break exactly one invariant at a time with `dataclasses.replace` on the result.

`hand_run(users_frame([...]), [journal_row(...), ...], sim_seconds=…)` wraps a few hand-written
users and journal rows, for figures checked in closed form (sim.judge.pacing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.results.recorder import COUNTERS, REQUESTS_COLUMNS, FaultWindow, Limits, RunData

LIMITS = Limits(
    requests_per_second=7,
    max_records_per_request=1900,
    flush_interval_s=5.0,
    retry_window_s=13 * 3600.0,
)
_LATENCY_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    steps: tuple[str, ...]
    users_per_step: int
    entry_end_s: float
    sim_seconds: float
    sample_every_s: float
    storm: tuple[float, float] | None


def sample_run(
    *,
    steps: tuple[str, ...] = ("vip-add", "lapsed-add"),
    users_per_step: int = 40,
    entry_end_s: float = 60.0,
    sim_seconds: float = 120.0,
    sample_every_s: float = 5.0,
    storm: tuple[float, float] | None = None,
    seed: int = 1,
) -> RunData:
    """A consistent run; `storm=(start, end)` answers first attempts 429 inside that window."""
    plan = _Plan(
        steps=steps,
        users_per_step=users_per_step,
        entry_end_s=entry_end_s,
        sim_seconds=sim_seconds,
        sample_every_s=sample_every_s,
        storm=storm,
    )
    rng = np.random.default_rng(seed)
    users = _users(plan, rng)
    requests = _send_batches(plan, users)
    synced = users[users["outcome"] == "synced"]
    expected = {
        step: frozenset(_hash(user) for user in synced.loc[synced["step"] == step, "user_id"])
        for step in steps
    }
    return RunData(
        scenario="sample",
        seed=seed,
        sim_seconds=sim_seconds,
        wall_seconds=1.5,
        timeseries=timeseries_from_users(users, steps, sample_every_s, sim_seconds),
        users=users,
        requests=requests,
        members=dict(expected),
        expected_members=expected,
        fault_windows=()
        if storm is None
        else (FaultWindow(kind="rate_limit_storm", start_s=storm[0], end_s=storm[1]),),
        limits=LIMITS,
    )


def _hash(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()


def _users(plan: _Plan, rng: np.random.Generator) -> pd.DataFrame:
    n = plan.users_per_step * len(plan.steps)
    entered = np.round(rng.uniform(0.0, plan.entry_end_s, n), 3)
    kind = rng.choice(["synced", "not_synced", "errored"], size=n, p=[0.85, 0.1, 0.05])
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "step": np.repeat(plan.steps, plan.users_per_step),
            "entered_at": entered,
            "deadline_at": entered + LIMITS.retry_window_s,
            "outcome": kind,
            "outcome_at": np.where(kind == "not_synced", entered, np.nan),
            "attempts": np.where(kind == "not_synced", 0, 1),
            "last_status": np.where(kind == "not_synced", 0, 200),
            # numpy's stubs leave None out of ArrayLike; np.where makes this same 0-d object array
            "reason": np.where(kind == "errored", "rejected", np.asarray(None)),
        }
    )


def _send_batches(plan: _Plan, users: pd.DataFrame) -> pd.DataFrame:
    """One PATCH per step per tick and per 1,900 users; fills users' outcome_at in place."""
    period = LIMITS.flush_interval_s
    rows: list[dict[str, object]] = []
    tick = np.ceil(users["entered_at"].to_numpy() / period) * period
    tick[tick == users["entered_at"].to_numpy()] += period
    sendable = users["outcome"].isin(["synced", "errored"]).to_numpy()
    for k in np.unique(tick[sendable]):
        slot = 0
        for list_no, step in enumerate(plan.steps):
            members = np.flatnonzero(sendable & (tick == k) & (users["step"] == step).to_numpy())
            for start in range(0, len(members), LIMITS.max_records_per_request):
                batch = members[start : start + LIMITS.max_records_per_request]
                stormy = plan.storm is not None and plan.storm[0] <= k < plan.storm[1]
                attempts = (429, 200) if stormy else (200,)
                for status in attempts:
                    sent_at = float(k) + slot / (LIMITS.requests_per_second - 1)
                    slot += 1
                    rows.append(_patch(sent_at, status, list_no, users, batch))
                users.loc[users.index[batch], "outcome_at"] = sent_at + 2 * _LATENCY_S
                users.loc[users.index[batch], "attempts"] = len(attempts)
    requests = pd.DataFrame(rows)
    requests["request_id"] = [f"req-{i}" for i in range(len(requests))]
    return requests


def _patch(
    sent_at: float, status: int, list_no: int, users: pd.DataFrame, batch: np.ndarray
) -> dict[str, object]:
    return {
        "t": sent_at + _LATENCY_S,
        "token_id": "tok-1",
        "user": "acme",
        "method": "PATCH",
        "path": f"/v5/ad_accounts/549755885175/customer_lists/{list_no + 100}",
        "category": "ads_write",
        "status": status,
        "code": 8 if status == 429 else None,
        "records": len(batch),
        "operation_type": "ADD",
        "customer_list_id": str(list_no + 100),
        "sent_at": sent_at,
        "answered_at": sent_at + 2 * _LATENCY_S,
        "min_deadline_at": float(users["deadline_at"].to_numpy()[batch].min()),
        "max_entered_at": float(users["entered_at"].to_numpy()[batch].max()),
        "raw_pii": False,
    }


def timeseries_from_users(
    users: pd.DataFrame, steps: tuple[str, ...], every_s: float, end_s: float
) -> pd.DataFrame:
    """Counters each step would have shown at each sample instant."""
    times = np.append(np.arange(0.0, end_s, every_s), end_s)
    frames = []
    for step in steps:
        mine = users[users["step"] == step]
        frame = pd.DataFrame({"t": times, "step": step})
        frame["entered"] = _count_by(mine["entered_at"], times)
        for outcome in ("synced", "not_synced", "errored"):
            frame[outcome] = _count_by(mine.loc[mine["outcome"] == outcome, "outcome_at"], times)
        frame["pending"] = frame["entered"] - frame[["synced", "not_synced", "errored"]].sum(axis=1)
        frame["proceeded"] = frame["entered"]
        frame["exited"] = 0
        frame["oldest_pending_age_s"] = _oldest_pending_age(mine, times)
        frames.append(frame)
    columns = ["t", "step", *COUNTERS, "oldest_pending_age_s"]
    merged = pd.concat(frames).sort_values(["t"], kind="stable")
    return merged[columns].reset_index(drop=True)


def _count_by(instants: pd.Series, times: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(instants.to_numpy(float)), times, side="right")


def _oldest_pending_age(users: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    order = np.argsort(users["entered_at"].to_numpy(), kind="stable")
    entered = users["entered_at"].to_numpy()[order]
    resolved = np.nan_to_num(users["outcome_at"].to_numpy(float)[order], nan=np.inf)
    ages, first = np.zeros(len(times)), 0
    for i, now in enumerate(times):
        while first < len(entered) and resolved[first] <= now:
            first += 1
        if first < len(entered) and entered[first] <= now:
            ages[i] = now - entered[first]
    return ages


# --- hand-built runs: a few users and journal rows, for closed-form figures ---------------------

LIST_PATH = "/v5/ad_accounts/549755885175/customer_lists/100"


def users_frame(rows: list[tuple[str, float, str, float]]) -> pd.DataFrame:
    """Users from `(step, entered_at, outcome, outcome_at)`; NaN outcome_at for pending ones."""
    steps, entered, outcomes, outcome_at = zip(*rows, strict=True) if rows else ((),) * 4
    entered_at = np.asarray(entered, dtype=float)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(len(rows))],
            "step": list(steps),
            "entered_at": entered_at,
            "deadline_at": entered_at + LIMITS.retry_window_s,
            "outcome": list(outcomes),
            "outcome_at": np.asarray(outcome_at, dtype=float),
            "attempts": 1,
            "last_status": 200,
            "reason": None,
        }
    )


def journal_row(
    t: float,
    *,
    token: str | None = "tok-1",
    user: str | None = "acme",
    method: str = "PATCH",
    path: str = LIST_PATH,
    status: int = 200,
    sent_at: float | None = None,
) -> dict[str, object]:
    """One journal row the engine sent (`sent_at` 0.1 s before arrival unless given; NaN: the
    harness's own)."""
    sent = t - _LATENCY_S if sent_at is None else sent_at
    return {
        "t": t,
        "token_id": token,
        "user": user,
        "method": method,
        "path": path,
        "category": "ads_write",
        "status": status,
        "code": 8 if status == 429 else None,
        "records": 1 if method == "PATCH" else 0,
        "operation_type": "ADD" if method == "PATCH" else None,
        "customer_list_id": "100" if path == LIST_PATH else None,
        "request_id": f"req-{t}",
        "sent_at": sent,
        "answered_at": sent + 2 * _LATENCY_S,
        "min_deadline_at": np.nan,
        "max_entered_at": np.nan,
        "raw_pii": False,
    }


def hand_run(
    users: pd.DataFrame,
    requests: list[dict[str, object]],
    *,
    sim_seconds: float,
    steps: tuple[str, ...] = ("a",),
    step_connections: dict[str, str] | None = None,
) -> RunData:
    """A `RunData` around hand-built users and journal rows; the counters follow the users."""
    journal = pd.DataFrame(requests, columns=list(REQUESTS_COLUMNS))
    return RunData(
        scenario="hand",
        seed=0,
        sim_seconds=sim_seconds,
        wall_seconds=0.1,
        timeseries=timeseries_from_users(users, steps, LIMITS.flush_interval_s, sim_seconds),
        users=users,
        requests=journal,
        members={},
        expected_members={},
        fault_windows=(),
        limits=LIMITS,
        step_connections=step_connections,
    )
