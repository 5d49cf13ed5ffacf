"""``pinsim plan``: a scenario's closed forms (``sim.plan.capacity``) beside the simulated ones.

Responsibility: derive the closed forms' parameters from a scenario (per token: the steps
sharing it, their queued users per second, records per user; T, r, m, the retry window, the
network's round trip; outage windows from the faults), pick the formulas that apply to it, and
measure each one's counterpart in a run — a fresh ``RunData`` or a ``pinsim run/check`` output
folder read back by ``load_run``.

Rules:
- Which formulas a scenario gets is data: ``_FORMULAS`` lists them, each with the test of
  whether it applies, its prediction and its measurement. A formula without a simulated
  counterpart (the knee, the batch-aware ceiling) shows NaN, printed ``n/a``.
- ``error = (simulated − predicted) / predicted``; NaN when either side is missing.
- Rates are *queued* users (those with a usable match field): ``syncable_share`` of traffic.
  A row's rate is its expected arrivals over its own window (``sim.world.traffic``), so every kind
  of traffic, replays included, counts.
- Measurements read only what a run writes (users, the journal, fault windows), so a
  reloaded folder and a fresh run give the same table.
- Beside the capacity row stand the run's pacing figures (``sim.judge.pacing``, over the token's
  steps): its 429 share of writes, predicted 0 (the engine paces under the limit; the error
  is n/a, a share of 0 has no relative error), and its utilisation of the limit while users
  wait, predicted 1.0 (the closed-form capacity ``r·m`` assumes every slot used).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.judge import pacing
from sim.plan import capacity
from sim.results.recorder import FaultWindow, Limits, RunData
from sim.scenario import FaultKind, Pacer, Scenario, TrafficKind, TrafficSpec
from sim.world.traffic import expected_arrivals
from sync_core.pacing import MARGIN_FLOOR_S

__all__ = [
    "PLAN_COLUMNS",
    "Outage",
    "PlanInputs",
    "TokenLoad",
    "caught_up_after",
    "derive",
    "format_plan",
    "load_run",
    "plan_rows",
]

PLAN_COLUMNS: Final = ("formula", "predicted", "simulated", "error", "unit", "note")
_WARM_UP_S = 60.0  # provisioning the audiences delays the first users: not low-load lag
_MIN_MEASURABLE_S = 20.0  # a full-rate stretch shorter than this says little about capacity


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """A stretch in which some steps' users cannot be synced: a revoked token (until a
    reconnect), a deleted audience (for good), a 429 storm refusing every write."""

    kind: str
    start_s: float
    end_s: float | None  # None: never ends within the run
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenLoad:
    """What one connection's token carries."""

    connection: str
    steps: tuple[str, ...]
    rate_per_s: float  # queued users/s of the flowing (non-blast) traffic, all steps
    step_rates: tuple[float, ...]  # the same, per step (in ``steps`` order)
    records_per_user: float
    blast_users: float  # queued users of the blasts, all at blast_start_s
    blast_start_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanInputs:
    """The closed forms' parameters, derived from a scenario by ``derive``."""

    flush_interval_s: float
    requests_per_second: int  # the lower of the engine's pace and Pinterest's limit
    max_records: int  # the lower of the engine's and Pinterest's
    retry_window_s: float
    request_timeout_s: float
    margin_s: float
    round_trip_mean_s: float
    round_trip_p99_s: float  # bounded above by the sum of the parts' p99s
    duration_s: float
    tokens: tuple[TokenLoad, ...]
    outages: tuple[Outage, ...]

    def capacity_users_per_s(self, token: TokenLoad) -> float:
        return capacity.capacity_users_per_s(
            self.requests_per_second,
            self.max_records,
            token.records_per_user,
            margin_s=self.margin_s,
        )

    def knee_per_audience(self, token: TokenLoad) -> float:
        return capacity.knee_rate(
            self.requests_per_second,
            self.flush_interval_s,
            self.max_records,
            audiences=len(token.steps),
            records_per_user=token.records_per_user,
        )

    def below_knee(self, token: TokenLoad) -> bool:
        """Whether each flush of every audience fits in its interval (Poisson: on average)."""
        per_flush = sum(
            _expected_requests(rate * self.flush_interval_s, self, token.records_per_user)
            for rate in token.step_rates
        )
        return per_flush <= self.requests_per_second * self.flush_interval_s

    def lost_s(self, outage: Outage) -> float:
        return capacity.lost_flush_s(outage.start_s, self.flush_interval_s)


def derive(scenario: Scenario) -> PlanInputs:
    """The closed forms' parameters for ``scenario`` (see the module docstring)."""
    sync, pinterest, network = scenario.sync, scenario.pinterest, scenario.network
    return PlanInputs(
        flush_interval_s=sync.flush_interval_s,
        requests_per_second=min(sync.requests_per_second, pinterest.ads_write_per_second),
        max_records=min(sync.max_records_per_request, pinterest.max_records_per_request),
        retry_window_s=sync.retry_window_s,
        request_timeout_s=sync.request_timeout_s,
        # the adaptive pacer's margin settles at its floor while nothing is refused
        margin_s=sync.pacing_margin_s if sync.pacer is Pacer.FIXED else MARGIN_FLOOR_S,
        round_trip_mean_s=2 * network.propagation.mean_s + network.service.mean_s,
        round_trip_p99_s=network.round_trip_p99_bound_s,
        duration_s=scenario.duration_s,
        tokens=tuple(_token(scenario, conn.id) for conn in scenario.connections),
        outages=_outages(scenario),
    )


def _share(scenario: Scenario, row: TrafficSpec) -> float:
    return capacity.syncable_share(scenario.step(row.step).match_fields, **_gaps(row))


def _rho(scenario: Scenario, row: TrafficSpec) -> float:
    return capacity.records_per_user(scenario.step(row.step).match_fields, **_gaps(row))


def _gaps(row: TrafficSpec) -> dict[str, float]:
    """A traffic row's missing and malformed shares, as ``sim.plan.capacity`` takes them."""
    return {
        "missing_email": row.missing.email,
        "missing_maid": row.missing.maid,
        "malformed": row.malformed,
    }


def _row_rate(row: TrafficSpec) -> float:
    """Mean users/s of a flowing row over its own window."""
    span = row.end_s - row.start_s
    return expected_arrivals(row, row.start_s, row.end_s) / span if span > 0 else 0.0


def _token(scenario: Scenario, connection: str) -> TokenLoad:
    steps = tuple(s.id for s in scenario.steps if s.connection == connection)
    rows = [row for row in scenario.traffic if row.step in steps]
    flowing = [row for row in rows if row.kind is not TrafficKind.BLAST]
    blasts = [row for row in rows if row.kind is TrafficKind.BLAST]
    queued = {id(row): _share(scenario, row) * _volume(row) for row in rows}
    total = sum(queued.values())
    rho = sum(_rho(scenario, row) * queued[id(row)] for row in rows) / total if total else 1.0
    per_step = {step: 0.0 for step in steps}
    for row in flowing:
        per_step[row.step] += _share(scenario, row) * _row_rate(row)
    return TokenLoad(
        connection=connection,
        steps=steps,
        rate_per_s=sum(per_step.values()),
        step_rates=tuple(per_step.values()),
        records_per_user=rho,
        blast_users=sum(_share(scenario, row) * row.count for row in blasts),
        blast_start_s=min((row.start_s for row in blasts), default=None),
    )


def _volume(row: TrafficSpec) -> float:
    return expected_arrivals(row, row.start_s, max(row.end_s, row.start_s + 1e-9))


def _expected_requests(users_per_flush: float, inputs: PlanInputs, rho: float) -> float:
    """E⌈Nρ/m⌉ for a Poisson N of mean ``users_per_flush`` (an empty flush sends nothing)."""
    if users_per_flush <= 0:
        return 0.0
    top = int(users_per_flush + 10 * math.sqrt(users_per_flush) + 10)
    n = np.arange(top + 1)
    log_pmf = n * math.log(users_per_flush) - users_per_flush - _log_factorial(n)
    requests = np.ceil(n * rho / inputs.max_records - 1e-9)
    return float(np.sum(np.exp(log_pmf) * requests))


def _log_factorial(n: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    logs = np.log(np.arange(1, len(n), dtype=np.float64))
    return np.concatenate((np.zeros(1), np.cumsum(logs)))


# faults that stop syncing: kind → (steps it stops, the fault kind that ends it, if any)
_STOPPING: Final = {
    FaultKind.REVOKE_TOKEN: FaultKind.RECONNECT,
    FaultKind.DELETE_AUDIENCE: None,
    FaultKind.RATE_LIMIT_STORM: None,  # its own ``until`` ends it
}


def _outages(scenario: Scenario) -> tuple[Outage, ...]:
    found = []
    for fault in scenario.faults:
        if fault.kind not in _STOPPING or (
            fault.kind is FaultKind.RATE_LIMIT_STORM and fault.share < 1.0
        ):
            continue
        found.append(
            Outage(
                kind=fault.kind.value,
                start_s=fault.at_s,
                end_s=_outage_end(
                    scenario, fault.kind, fault.at_s, fault.connection, fault.until_s
                ),
                steps=_stopped_steps(scenario, fault.step, fault.connection),
            )
        )
    return tuple(found)


def _outage_end(
    scenario: Scenario,
    kind: FaultKind,
    start_s: float,
    connection: str | None,
    until_s: float | None,
) -> float | None:
    if kind is FaultKind.RATE_LIMIT_STORM:
        return until_s
    ender = _STOPPING[kind]
    ends = [
        f.at_s
        for f in scenario.faults
        if f.kind is ender and f.at_s > start_s and f.connection == connection
    ]
    return min(ends, default=None)


def _stopped_steps(scenario: Scenario, step: str | None, connection: str | None) -> tuple[str, ...]:
    if step is not None:
        return (step,)
    return tuple(s.id for s in scenario.steps if connection is None or s.connection == connection)


# --------------------------------------------------------------------------- formulas


@dataclass(frozen=True, slots=True)
class _Context:
    scenario: Scenario
    inputs: PlanInputs
    token: TokenLoad
    data: RunData | None


@dataclass(frozen=True, slots=True)
class _Formula:
    """One row: when it applies, what it predicts, how the run measures it."""

    name: str
    unit: str
    applies: Callable[[_Context], bool]
    predict: Callable[[_Context], float]
    measure: Callable[[_Context], float] | None
    note: str


def _has_flow(ctx: _Context) -> bool:
    return ctx.token.rate_per_s > 0


def _quiet(ctx: _Context) -> bool:
    """Flowing traffic below the knee: the low-load lag formulas hold outside faults."""
    return _has_flow(ctx) and ctx.inputs.below_knee(ctx.token)


def _capacity(ctx: _Context) -> float:
    return ctx.inputs.capacity_users_per_s(ctx.token)


def _measured_capacity(ctx: _Context) -> float:
    """Peak synced users/s over 10 s windows, when a backlog keeps the token busy that long."""
    if _full_rate_s(ctx) < _MIN_MEASURABLE_S:
        return math.nan
    done = np.sort(_synced(ctx)["outcome_at"].to_numpy(float))
    if done.size == 0:
        return math.nan
    ends = np.searchsorted(done, done + 10.0, side="left")
    return float((ends - np.arange(done.size)).max()) / 10.0


def _full_rate_s(ctx: _Context) -> float:
    """How long the token must send at full rate: a blast, or an outage's backlog."""
    spans = [ctx.token.blast_users / _capacity(ctx)]
    spans += [_backlog(ctx, o) / _capacity(ctx) for o in _finite(ctx)]
    return max(spans)


def _knee(ctx: _Context) -> float:
    return ctx.inputs.knee_per_audience(ctx.token)


def _batch_aware(ctx: _Context) -> float:
    inputs = ctx.inputs
    return capacity.batch_aware_ceiling(
        inputs.requests_per_second,
        max(ctx.token.step_rates),
        inputs.flush_interval_s,
        inputs.max_records,
        ctx.token.records_per_user,
    )


def _lag(ctx: _Context) -> capacity.LagEstimate:
    """Low-load lag; evenly spaced (constant) rows wait ``constant_arrival_wait_s``, not T/2."""
    inputs = ctx.inputs
    lag = capacity.low_load_lag(
        inputs.flush_interval_s, inputs.round_trip_mean_s, inputs.round_trip_p99_s
    )
    rows = [row for row in _flowing(ctx) if _volume(row) > 0]
    volume = sum(_volume(row) for row in rows)
    if not volume:
        return lag
    wait = sum(_row_wait(row, inputs.flush_interval_s) * _volume(row) for row in rows) / volume
    return capacity.LagEstimate(
        mean_s=lag.mean_s - inputs.flush_interval_s / 2 + wait, max_s=lag.max_s
    )


def _row_wait(row: TrafficSpec, interval: float) -> float:
    if row.kind is TrafficKind.CONSTANT and row.rate_per_s > 0:
        return capacity.constant_arrival_wait_s(1 / row.rate_per_s, interval)
    return interval / 2


def _flowing(ctx: _Context) -> list[TrafficSpec]:
    return [
        row
        for row in ctx.scenario.traffic
        if row.step in ctx.token.steps and row.kind is not TrafficKind.BLAST
    ]


def _calm_lags(ctx: _Context) -> npt.NDArray[np.float64]:
    """Entry→synced lag of the users who entered after the warm-up and outside every fault
    window (and its drain, a flush and a minute after it ends)."""
    users = _synced(ctx)
    entered = users["entered_at"].to_numpy(float)
    calm = entered >= _WARM_UP_S
    assert ctx.data is not None
    for window in ctx.data.fault_windows:
        end = ctx.inputs.duration_s if window.end_s is None else window.end_s
        calm &= ~((entered >= window.start_s - 60.0) & (entered < end + 60.0))
    lag: npt.NDArray[np.float64] = users["outcome_at"].to_numpy(float)[calm] - entered[calm]
    return lag


def _measured_mean_lag(ctx: _Context) -> float:
    lags = _calm_lags(ctx)
    return float(lags.mean()) if lags.size else math.nan


def _measured_max_lag(ctx: _Context) -> float:
    lags = _calm_lags(ctx)
    return float(lags.max()) if lags.size else math.nan


def _synced(ctx: _Context) -> pd.DataFrame:
    assert ctx.data is not None
    users = ctx.data.users
    mine = users["step"].isin(ctx.token.steps) & (users["outcome"] == "synced")
    return users[mine]


def _no_outage(ctx: _Context) -> bool:
    return _has_flow(ctx) and _quiet(ctx) and not ctx.scenario.faults and not ctx.token.blast_users


def _little_predicted(ctx: _Context) -> float:
    """λ·w₀ with λ the run's mean queued arrival rate, plus an outage's backlog triangle."""
    inputs, token = ctx.inputs, ctx.token
    volume = sum(_share(ctx.scenario, row) * _volume(row) for row in _flowing(ctx))
    baseline = capacity.little_l(volume / inputs.duration_s, _lag(ctx).mean_s)
    outages = _finite(ctx)
    if not outages:
        return baseline
    outage = outages[0]
    assert outage.end_s is not None
    return baseline + capacity.outage_mean_backlog(
        token.rate_per_s,
        outage.end_s - outage.start_s + inputs.lost_s(outage),
        _capacity(ctx),
        inputs.duration_s,
        0.0,
    )


def _little_measured(ctx: _Context) -> float:
    """Time-average pending over the run from the users' entry and outcome instants."""
    assert ctx.data is not None
    users = ctx.data.users
    mine = users[users["step"].isin(ctx.token.steps) & (users["outcome"] != "not_synced")]
    horizon = ctx.inputs.duration_s
    entered = mine["entered_at"].to_numpy(float)
    left = np.minimum(np.nan_to_num(mine["outcome_at"].to_numpy(float), nan=horizon), horizon)
    return float(np.sum(np.maximum(left - entered, 0.0))) / horizon


def _little_applies(ctx: _Context) -> bool:
    if _no_outage(ctx):
        return True
    finite = _finite(ctx)
    return (
        len(ctx.inputs.outages) == 1
        and len(finite) == 1
        and _has_flow(ctx)
        and not _expiring(ctx)
        and set(finite[0].steps) == set(ctx.token.steps)
    )


def _blast(ctx: _Context) -> bool:
    return ctx.token.blast_users > 0


def _blast_predicted(ctx: _Context) -> float:
    inputs = ctx.inputs
    return capacity.blast_drain_s(
        math.ceil(ctx.token.blast_users),
        inputs.requests_per_second,
        inputs.max_records,
        ctx.token.records_per_user,
        flush_interval_s=inputs.flush_interval_s,
    )


def _blast_measured(ctx: _Context) -> float:
    start = ctx.token.blast_start_s
    assert start is not None
    synced = _synced(ctx)
    blasted = synced[synced["entered_at"] == start]
    return float(blasted["outcome_at"].max()) - start if len(blasted) else math.nan


def _finite(ctx: _Context) -> list[Outage]:
    """Outages of this token that end within the run and before anyone expires."""
    inputs = ctx.inputs
    return [
        o
        for o in inputs.outages
        if set(o.steps) <= set(ctx.token.steps)
        and o.end_s is not None
        and o.end_s < inputs.duration_s
        and o.end_s - o.start_s + inputs.lost_s(o) + inputs.request_timeout_s
        < inputs.retry_window_s
    ]


def _has_finite(ctx: _Context) -> bool:
    return bool(_finite(ctx)) and _has_flow(ctx)


def _backlog(ctx: _Context, outage: Outage) -> float:
    """Queued users of the stopped steps from the last flush that got through to the end."""
    assert outage.end_s is not None
    start = outage.start_s - ctx.inputs.lost_s(outage)
    return _queued_between(ctx.scenario, outage.steps, start, outage.end_s)


def _queued_between(scenario: Scenario, steps: tuple[str, ...], t0: float, t1: float) -> float:
    return sum(
        _share(scenario, row) * expected_arrivals(row, t0, t1)
        for row in scenario.traffic
        if row.step in steps and row.kind is not TrafficKind.BLAST
    )


def _backlog_predicted(ctx: _Context) -> float:
    return _backlog(ctx, _finite(ctx)[0])


def _backlog_measured(ctx: _Context) -> float:
    outage = _finite(ctx)[0]
    assert ctx.data is not None and outage.end_s is not None
    users = ctx.data.users
    mine = users[users["step"].isin(outage.steps) & (users["outcome"] != "not_synced")]
    before = mine["entered_at"] < outage.end_s
    resolved = mine["outcome_at"] < outage.end_s
    return float((before & ~resolved).sum())


def _served_predicted(ctx: _Context) -> float:
    inputs = ctx.inputs
    return capacity.backlog_served_s(
        _backlog_predicted(ctx),
        inputs.requests_per_second,
        inputs.max_records,
        ctx.token.records_per_user,
        margin_s=inputs.margin_s,
        round_trip_s=inputs.round_trip_mean_s,
    )


def _served_measured(ctx: _Context) -> float:
    outage = _finite(ctx)[0]
    assert ctx.data is not None and outage.end_s is not None
    users = ctx.data.users
    mine = users[users["step"].isin(outage.steps) & (users["outcome"] == "synced")]
    held = mine[mine["entered_at"] < outage.end_s]
    return float(held["outcome_at"].max()) - outage.end_s if len(held) else math.nan


def _drain_predicted(ctx: _Context) -> float:
    return capacity.drain_after_outage_s(
        _backlog_predicted(ctx), ctx.token.rate_per_s, _capacity(ctx)
    )


def _drain_measured(ctx: _Context) -> float:
    """From the journal: the first accepted PATCH after the outage whose youngest user
    entered within a flush of the send (the queue is back to one flush); n/a when the
    prediction is under a flush (too fine for this measure)."""
    outage = _finite(ctx)[0]
    assert ctx.data is not None and outage.end_s is not None
    interval = ctx.inputs.flush_interval_s
    if _drain_predicted(ctx) < interval:
        return math.nan
    return caught_up_after(ctx.data.requests, outage.end_s, interval)


def caught_up_after(journal: pd.DataFrame, end_s: float, flush_interval_s: float) -> float:
    """Seconds from ``end_s`` (an outage's end) to the first accepted PATCH whose youngest
    user entered within a flush of the send: the queue is back to one flush. NaN if never."""
    accepted = journal[(journal["method"] == "PATCH") & (journal["status"] == 200)]
    after = accepted[accepted["sent_at"] >= end_s]
    caught_up = after[after["sent_at"] - after["max_entered_at"] <= flush_interval_s]
    if caught_up.empty:
        return math.nan
    return float(caught_up["sent_at"].min()) - end_s


def _expiring_outages(ctx: _Context) -> list[Outage]:
    inputs = ctx.inputs
    mine = [o for o in inputs.outages if set(o.steps) <= set(ctx.token.steps)]
    return [o for o in mine if o not in _finite(ctx)]


def _expiring(ctx: _Context) -> bool:
    return bool(_expiring_outages(ctx))


def _expired_predicted(ctx: _Context) -> float:
    """Queued users who entered from the last good flush before an outage until it ends
    (+ timeout − W), and whose deadline passes within the run."""
    inputs = ctx.inputs
    total = 0.0
    for outage in _expiring_outages(ctx):
        end = inputs.duration_s if outage.end_s is None else outage.end_s
        last_entry = min(
            end + inputs.request_timeout_s - inputs.retry_window_s,
            inputs.duration_s - inputs.retry_window_s,
        )
        first_entry = outage.start_s - inputs.lost_s(outage)
        if last_entry > first_entry:
            # closed on the right: the boundary entrant is too close to send, too
            total += _queued_between(ctx.scenario, outage.steps, first_entry, last_entry + 1e-9)
    return total


def _expired_measured(ctx: _Context) -> float:
    assert ctx.data is not None
    steps = {step for o in _expiring_outages(ctx) for step in o.steps}
    users = ctx.data.users
    return float(((users["outcome"] == "errored") & users["step"].isin(steps)).sum())


def _pacing_of(ctx: _Context) -> pacing.Pacing:
    """The run's pacing figures for the connections of this token's steps, combined."""
    assert ctx.data is not None
    connections = {ctx.data.connection_of_step.get(step) for step in ctx.token.steps}
    figures = pacing.by_connection(ctx.data)
    mine = (one for connection, one in figures.items() if connection in connections)
    return pacing.combine(mine, ctx.data.limits.requests_per_second)


def _measured_share_429(ctx: _Context) -> float:
    share = _pacing_of(ctx).share_429
    return math.nan if share is None else share


def _measured_utilisation(ctx: _Context) -> float:
    used = _pacing_of(ctx).utilisation
    return math.nan if used is None else used


_NOTE_BATCH_AWARE = (
    "users/s with flush-sized batches; this engine merges flushes above the knee, so its "
    "ceiling is r·m"
)

_FORMULAS: Final = (
    _Formula(
        "capacity r·m/ρ",
        "users/s",
        lambda ctx: True,
        _capacity,
        _measured_capacity,
        "peak 10 s synced rate; measured only when a backlog keeps the token busy ≥ 20 s",
    ),
    _Formula(
        "429 share of writes",
        "share",
        lambda ctx: True,
        lambda ctx: 0.0,
        _measured_share_429,
        "customer-list writes answered 429: pacing under r, the engine should not be refused",
    ),
    _Formula(
        "utilisation while backlogged",
        "share of r",
        lambda ctx: True,
        lambda ctx: 1.0,
        _measured_utilisation,
        "accepted writes arriving in backlog ÷ (r × backlog s), outages included; r·m assumes "
        "every slot used",
    ),
    _Formula(
        "knee ⌊rT/k⌋·m/(ρT)",
        "users/s/audience",
        _has_flow,
        _knee,
        None,
        "per-audience rate above which flushes merge (lag > one flush)",
    ),
    _Formula(
        "batch-aware r·λT/⌈λTρ/m⌉",
        "users/s",
        _has_flow,
        _batch_aware,
        None,
        _NOTE_BATCH_AWARE,
    ),
    _Formula(
        "mean lag T/2 + RTT",
        "s",
        _quiet,
        lambda ctx: _lag(ctx).mean_s,
        _measured_mean_lag,
        "users entered after 60 s, outside fault windows (±60 s)",
    ),
    _Formula(
        "max lag T + 2·p99",
        "s",
        _quiet,
        lambda ctx: _lag(ctx).max_s,
        _measured_max_lag,
        "a bound: the run's max may pass it on a rare slow leg",
    ),
    _Formula(
        "Little L = λ·W",
        "users",
        _little_applies,
        _little_predicted,
        _little_measured,
        "time-average pending; W from the closed-form lag (and outage triangle)",
    ),
    _Formula(
        "blast drain T + ⌈Nρ/m⌉/r",
        "s",
        _blast,
        _blast_predicted,
        _blast_measured,
        "from the blast to its last user synced; a bound within one flush",
    ),
    _Formula(
        "backlog R_b = λ(D + δ)",
        "users",
        _has_finite,
        _backlog_predicted,
        _backlog_measured,
        "pending when the outage ends; δ = time since the last flush before it",
    ),
    _Formula(
        "backlog served (⌈n/r⌉−1) s + RTT",
        "s",
        _has_finite,
        _served_predicted,
        _served_measured,
        "outage end → last user held by it synced; n = ⌈R_b·ρ/m⌉ ≈ R_b/(r·m_u) s",
    ),
    _Formula(
        "drain R_b/(r·m_u − λ)",
        "s",
        _has_finite,
        _drain_predicted,
        _drain_measured,
        "outage end → queue back to one flush (journal); n/a under one flush",
    ),
    _Formula(
        "expired λ(D + δ + timeout − W)",
        "users",
        _expiring,
        _expired_predicted,
        _expired_measured,
        "outage outlasting the retry window (or never ending)",
    ),
)


# --------------------------------------------------------------------------- the table


def plan_rows(scenario: Scenario, data: RunData | None = None) -> pd.DataFrame:
    """The plan of ``scenario``: one row per formula that applies (per token when there are
    several, suffixed ``[connection]``), with columns ``PLAN_COLUMNS``. Without ``data`` the
    simulated column is NaN."""
    inputs = derive(scenario)
    rows = list(_rows(scenario, inputs, data))
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


def _rows(
    scenario: Scenario, inputs: PlanInputs, data: RunData | None
) -> Iterator[dict[str, object]]:
    several = len(inputs.tokens) > 1
    for token in inputs.tokens:
        if not token.steps:
            continue
        ctx = _Context(scenario, inputs, token, data)
        for formula in _FORMULAS:
            if not formula.applies(ctx):
                continue
            predicted = formula.predict(ctx)
            measure = formula.measure
            simulated = measure(ctx) if measure is not None and data is not None else math.nan
            yield {
                "formula": formula.name + (f" [{token.connection}]" if several else ""),
                "predicted": predicted,
                "simulated": simulated,
                "error": _error(predicted, simulated),
                "unit": formula.unit,
                "note": formula.note,
            }


def _error(predicted: float, simulated: float) -> float:
    if not math.isfinite(predicted) or predicted == 0 or math.isnan(simulated):
        return math.nan
    return (simulated - predicted) / predicted


def format_plan(frame: pd.DataFrame) -> str:
    """The plan as an aligned text table: formula | predicted | simulated | error | unit."""
    cells = [["formula", "predicted", "simulated", "error", "unit"]]
    columns = zip(
        frame["formula"].astype(str),
        frame["predicted"].to_numpy(float),
        frame["simulated"].to_numpy(float),
        frame["error"].to_numpy(float),
        frame["unit"].astype(str),
        strict=True,
    )
    for formula, predicted, simulated, error, unit in columns:
        shown = "n/a" if math.isnan(error) else f"{error:+.1%}"
        cells.append([formula, _number(predicted), _number(simulated), shown, unit])
    widths = [max(len(line[k]) for line in cells) for k in range(len(cells[0]))]
    lines = []
    for line in cells:
        right = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append(" | ".join([line[0].ljust(widths[0]), *right]).rstrip())
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


# --------------------------------------------------------------------------- reading a run


def load_run(folder: Path, scenario: Scenario) -> RunData:
    """A ``RunData`` from a ``pinsim run/check`` output folder (timeseries.csv, users.parquet,
    requests.csv, summary.json) of ``scenario``; the fault windows and limits come from the
    scenario, audience members are not kept. Raises ``FileNotFoundError`` naming what is
    missing."""
    import json

    for name in ("summary.json", "timeseries.csv", "users.parquet", "requests.csv"):
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
        fault_windows=tuple(_fault_window(f.kind, f.at_s, f.until_s) for f in scenario.faults),
        limits=Limits(  # as the driver sets them: the limits are Pinterest's
            requests_per_second=pinterest.ads_write_per_second,
            max_records_per_request=pinterest.max_records_per_request,
            flush_interval_s=sync.flush_interval_s,
            retry_window_s=sync.retry_window_s,
        ),
        step_connections={step.id: step.connection for step in scenario.steps},
    )


def _fault_window(kind: FaultKind, at_s: float, until_s: float | None) -> FaultWindow:
    return FaultWindow(kind=kind.value, start_s=at_s, end_s=until_s)
