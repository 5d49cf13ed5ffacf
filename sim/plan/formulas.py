"""The plan's formulas: for one token, which closed forms apply, what each predicts, and which
figure of a run (``sim.plan.measures``) it is held to.

Responsibility: the table ``FORMULAS`` — one ``Formula`` per row of ``pinsim plan``, each with
the test of whether it applies to a token, its prediction from ``sim.plan.capacity`` on the
scenario's parameters (``sim.plan.parameters``), and its measurement.

Rules:
- Which formulas a token gets is data: a new row is a new ``Formula`` in ``FORMULAS``.
- A measured row states its ``tolerance`` (``sim.plan.tolerance``) and, where a shipped
  scenario is known to fall outside it, the ``gap``: why, in a sentence.
- A formula without a simulated counterpart (the knee, the batch-aware ceiling) has no
  ``measure``; a measurement that would say little (capacity without a long enough backlog,
  a drain under a flush) is NaN.
- Beside the capacity row stand the run's pacing figures (``sim.judge.pacing``, over the
  token's steps): its 429 share of writes, predicted 0 (the engine paces under the limit),
  and its utilisation of the limit while users wait, predicted 1.0 (the closed-form capacity
  ``r·m`` assumes every slot used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from sim.plan import capacity, measures, preflight
from sim.plan.parameters import (
    Outage,
    PlanInputs,
    TokenLoad,
    queued_between,
    queued_share,
    row_volume,
)
from sim.plan.tolerance import Tolerance, at_least, at_most, within
from sim.results.recorder import RunData
from sim.scenario import FaultKind, Scenario, TrafficKind, TrafficSpec
from sync_core import SyncConfig
from sync_core.minute_window import MINUTE_S
from sync_core.preflight import TokenPreflight

_BACKOFF_CAP_S: Final = SyncConfig().backoff_max_s  # the engine's longest retry backoff

__all__ = ["FORMULAS", "Context", "Formula"]

_POISSON_GAP: Final = (
    "Poisson arrivals: the count itself varies by about √n (2 % at 2,500 users) around λ·t"
)
_MIN_MEASURABLE_S = 20.0  # a full-rate stretch shorter than this says little about capacity
_MINUTE_WINDOW_S = MINUTE_S  # capacity under a minute window is measured over a minute
_MIN_MEASURABLE_BY_MINUTE_S = 120.0


@dataclass(frozen=True, slots=True)
class Context:
    """What a formula reads: the scenario, its parameters, the token, and the run if any."""

    scenario: Scenario
    inputs: PlanInputs
    token: TokenLoad
    data: RunData | None

    @property
    def run(self) -> RunData:
        """The run; a formula is only measured when there is one."""
        assert self.data is not None
        return self.data


@dataclass(frozen=True, slots=True)
class Formula:
    """One row: when it applies, what it predicts, how the run measures it."""

    name: str
    unit: str
    applies: Callable[[Context], bool]
    predict: Callable[[Context], float]
    measure: Callable[[Context], float] | None
    note: str
    tolerance: Tolerance | None = None  # how close the run must come (None: not measured)
    gap: str = ""  # why a shipped run may fall outside it, where that is known


# --------------------------------------------------------------------------- when it applies


def _has_flow(ctx: Context) -> bool:
    return ctx.token.rate_per_s > 0


def _quiet(ctx: Context) -> bool:
    """Flowing traffic below the knee: the low-load lag formulas hold outside faults."""
    return _has_flow(ctx) and ctx.inputs.below_knee(ctx.token)


def _no_outage(ctx: Context) -> bool:
    return _has_flow(ctx) and _quiet(ctx) and not ctx.scenario.faults and not ctx.token.blast_users


def _little_applies(ctx: Context) -> bool:
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


def _blast(ctx: Context) -> bool:
    return ctx.token.blast_users > 0 and not ctx.inputs.minute_binds


def _blast_by_minute(ctx: Context) -> bool:
    return ctx.token.blast_users > 0 and ctx.inputs.minute_binds


def _has_finite(ctx: Context) -> bool:
    return bool(_finite(ctx)) and _has_flow(ctx)


def _expiring(ctx: Context) -> bool:
    return bool(ctx.inputs.expiring_outages(ctx.token))


def _finite(ctx: Context) -> list[Outage]:
    return ctx.inputs.finite_outages(ctx.token)


def _flowing(ctx: Context) -> list[TrafficSpec]:
    return [
        row
        for row in ctx.scenario.traffic
        if row.step in ctx.token.steps and row.kind is not TrafficKind.BLAST
    ]


# --------------------------------------------------------------------------- predictions


def _capacity(ctx: Context) -> float:
    return ctx.inputs.capacity_users_per_s(ctx.token)


def _utilisation_predicted(ctx: Context) -> float:
    """Every slot used: 1, or ``n/(60·r)`` when a minute window of ``n`` binds."""
    inputs = ctx.inputs
    if inputs.requests_per_minute is None or not inputs.minute_binds:
        return 1.0
    return inputs.requests_per_minute / (MINUTE_S * inputs.requests_per_second)


def _full_rate_s(ctx: Context) -> float:
    """How long the token must send at full rate: a blast, or an outage's backlog."""
    spans = [ctx.token.blast_users / _capacity(ctx)]
    spans += [_backlog(ctx, o) / _capacity(ctx) for o in _finite(ctx)]
    return max(spans)


def _knee(ctx: Context) -> float:
    return ctx.inputs.knee_per_audience(ctx.token)


def _batch_aware(ctx: Context) -> float:
    inputs = ctx.inputs
    return capacity.batch_aware_ceiling(
        inputs.requests_per_second,
        max(ctx.token.step_rates),
        inputs.flush_interval_s,
        inputs.max_records,
        ctx.token.records_per_user,
    )


def _lag(ctx: Context) -> capacity.LagEstimate:
    """Low-load lag; evenly spaced (constant) rows wait ``constant_arrival_wait_s``, not T/2."""
    inputs = ctx.inputs
    lag = capacity.low_load_lag(
        inputs.flush_interval_s, inputs.round_trip_mean_s, inputs.round_trip_p99_s
    )
    rows = [row for row in _flowing(ctx) if row_volume(row) > 0]
    volume = sum(row_volume(row) for row in rows)
    if not volume:
        return lag
    wait = sum(_row_wait(row, inputs.flush_interval_s) * row_volume(row) for row in rows) / volume
    return capacity.LagEstimate(
        mean_s=lag.mean_s - inputs.flush_interval_s / 2 + wait, max_s=lag.max_s
    )


def _row_wait(row: TrafficSpec, interval: float) -> float:
    if row.kind is TrafficKind.CONSTANT and row.rate_per_s > 0:
        return capacity.constant_arrival_wait_s(1 / row.rate_per_s, interval)
    return interval / 2


def _little_predicted(ctx: Context) -> float:
    """λ·w₀ with λ the run's mean queued arrival rate, plus an outage's backlog triangle."""
    inputs, token = ctx.inputs, ctx.token
    volume = sum(queued_share(ctx.scenario, row) * row_volume(row) for row in _flowing(ctx))
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


def _blast_predicted(ctx: Context) -> float:
    inputs = ctx.inputs
    return capacity.blast_drain_s(
        math.ceil(ctx.token.blast_users),
        inputs.requests_per_second,
        inputs.max_records,
        ctx.token.records_per_user,
        flush_interval_s=inputs.flush_interval_s,
    )


def _blast_by_minute_predicted(ctx: Context) -> float:
    inputs = ctx.inputs
    assert inputs.requests_per_minute is not None
    return capacity.minute_window_drain_s(
        math.ceil(ctx.token.blast_users),
        inputs.requests_per_second,
        inputs.requests_per_minute,
        inputs.max_records,
        ctx.token.records_per_user,
        flush_interval_s=inputs.flush_interval_s,
        margin_s=inputs.margin_s,
        round_trip_s=inputs.round_trip_mean_s,
    )


def _backlog(ctx: Context, outage: Outage) -> float:
    """Queued users of the stopped steps from the last flush that got through to the end."""
    assert outage.end_s is not None
    start = outage.start_s - ctx.inputs.lost_s(outage)
    return queued_between(ctx.scenario, outage.steps, start, outage.end_s)


def _backlog_predicted(ctx: Context) -> float:
    return _backlog(ctx, _finite(ctx)[0])


def _served_predicted(ctx: Context) -> float:
    inputs = ctx.inputs
    served = capacity.backlog_served_s(
        _backlog_predicted(ctx),
        inputs.requests_per_second,
        inputs.max_records,
        ctx.token.records_per_user,
        margin_s=inputs.margin_s,
        round_trip_s=inputs.round_trip_mean_s,
    )
    # Through an outage the engine hears only failures: each batch waits out its backoff,
    # doubled at every failure up to the cap, so the last is tried again up to the cap after
    # Pinterest is back (a revoke ends with a reconnect, a storm with an answer: no wait).
    waits = _finite(ctx)[0].kind == FaultKind.OUTAGE.value
    return served + (_BACKOFF_CAP_S if waits else 0.0)


def _drain_predicted(ctx: Context) -> float:
    return capacity.drain_after_outage_s(
        _backlog_predicted(ctx), ctx.token.rate_per_s, _capacity(ctx)
    )


def _expired_predicted(ctx: Context) -> float:
    """Queued users who entered from the last good flush before an outage until it ends
    (+ timeout − W), and whose deadline passes within the run."""
    inputs = ctx.inputs
    total = 0.0
    for outage in inputs.expiring_outages(ctx.token):
        end = inputs.duration_s if outage.end_s is None else outage.end_s
        last_entry = min(
            end + inputs.request_timeout_s - inputs.retry_window_s,
            inputs.duration_s - inputs.retry_window_s,
        )
        first_entry = outage.start_s - inputs.lost_s(outage)
        if last_entry > first_entry:
            # closed on the right: the boundary entrant is too close to send, too
            total += queued_between(ctx.scenario, outage.steps, first_entry, last_entry + 1e-9)
    return total


# --------------------------------------------------------------------------- measurements


def _measured_capacity(ctx: Context) -> float:
    """Peak synced rate, when a backlog keeps the token busy long enough to show it."""
    if _full_rate_s(ctx) < _MIN_MEASURABLE_S:
        return math.nan
    if ctx.inputs.minute_binds:  # a minute's pace, not a burst of the second's within it
        if _full_rate_s(ctx) < _MIN_MEASURABLE_BY_MINUTE_S:
            return math.nan
        return measures.peak_synced_rate(ctx.run, ctx.token.steps, _MINUTE_WINDOW_S)
    return measures.peak_synced_rate(ctx.run, ctx.token.steps)


def _measured_share_429(ctx: Context) -> float:
    share = measures.pacing_of(ctx.run, ctx.token.steps).share_429
    return math.nan if share is None else share


def _measured_utilisation(ctx: Context) -> float:
    used = measures.pacing_of(ctx.run, ctx.token.steps).utilisation
    return math.nan if used is None else used


def _measured_mean_lag(ctx: Context) -> float:
    lags = measures.calm_lags(ctx.run, ctx.token.steps, ctx.inputs.duration_s)
    return float(lags.mean()) if lags.size else math.nan


def _measured_max_lag(ctx: Context) -> float:
    lags = measures.calm_lags(ctx.run, ctx.token.steps, ctx.inputs.duration_s)
    return float(lags.max()) if lags.size else math.nan


def _little_measured(ctx: Context) -> float:
    return measures.time_average_pending(ctx.run, ctx.token.steps, ctx.inputs.duration_s)


def _blast_measured(ctx: Context) -> float:
    start = ctx.token.blast_start_s
    assert start is not None
    return measures.blast_drain_s(ctx.run, ctx.token.steps, start)


def _ended_outage(ctx: Context) -> tuple[tuple[str, ...], float]:
    """The steps and end of the one outage the backlog rows measure."""
    outage = _finite(ctx)[0]
    assert outage.end_s is not None
    return outage.steps, outage.end_s


def _backlog_measured(ctx: Context) -> float:
    return measures.pending_at(ctx.run, *_ended_outage(ctx))


def _served_measured(ctx: Context) -> float:
    return measures.held_served_s(ctx.run, *_ended_outage(ctx))


def _drain_measured(ctx: Context) -> float:
    """The queue back to one flush after the outage (journal); n/a when the prediction is
    under a flush (too fine for this measure)."""
    interval = ctx.inputs.flush_interval_s
    if _drain_predicted(ctx) < interval:
        return math.nan
    _, end_s = _ended_outage(ctx)
    return measures.caught_up_after(ctx.run.requests, end_s, interval)


def _expired_measured(ctx: Context) -> float:
    steps = {step for o in ctx.inputs.expiring_outages(ctx.token) for step in o.steps}
    return measures.expired(ctx.run, steps)


def _preflight(ctx: Context) -> TokenPreflight:
    """The engine's own preflight of this token (``sim.plan.preflight``)."""
    found = (p for p in preflight.tokens(ctx.scenario) if p.connection == ctx.token.connection)
    return next(found)


def _measured_lag_p99(ctx: Context) -> float:
    lags = measures.synced_lags(ctx.run, ctx.token.steps)
    return float(np.percentile(lags, 99)) if lags.size else math.nan


# --------------------------------------------------------------------------- the table

_NOTE_BATCH_AWARE = (
    "users/s with flush-sized batches; this engine merges flushes above the knee, so its "
    "ceiling is r·m"
)

FORMULAS: Final = (
    Formula(
        "capacity r·m/ρ",
        "users/s",
        lambda ctx: True,
        _capacity,
        _measured_capacity,
        "peak 10 s synced rate (60 s under a minute window); measured only when a backlog "
        "keeps the token busy ≥ 20 s (2 min)",
        within(0.02),
        "a peak over 10 s: users with one record (ρ under its mean) lift it past r·m/ρ",
    ),
    Formula(
        "429 share of writes",
        "share",
        lambda ctx: True,
        lambda ctx: 0.0,
        _measured_share_429,
        "customer-list writes answered 429: pacing under r, the engine should not be refused",
        Tolerance("≤ 1 % of writes", lambda predicted, simulated: simulated <= 0.01),
        "the adaptive pacer learns its margin from rare refusals (one in a few hundred writes "
        "on a long backlog); a storm's refusals are another client's spending",
    ),
    Formula(
        "utilisation while backlogged",
        "share of r",
        lambda ctx: True,
        _utilisation_predicted,
        _measured_utilisation,
        "accepted writes arriving in backlog ÷ (r × backlog s), outages included; r·m assumes "
        "every slot used (n/(60·r) of them under a minute window of n)",
        at_least(0.9),
        "a backlog of seconds, or one held up by a fault (outage, revoked token, deleted "
        "audience, 5xx), leaves slots unused: the formula assumes the backlog keeps r busy",
    ),
    Formula(
        "knee ⌊rT/k⌋·m/(ρT)",
        "users/s/audience",
        _has_flow,
        _knee,
        None,
        "per-audience rate above which flushes merge (lag > one flush)",
    ),
    Formula(
        "batch-aware r·λT/⌈λTρ/m⌉",
        "users/s",
        _has_flow,
        _batch_aware,
        None,
        _NOTE_BATCH_AWARE,
    ),
    Formula(
        "mean lag T/2 + RTT",
        "s",
        _quiet,
        lambda ctx: _lag(ctx).mean_s,
        _measured_mean_lag,
        "users entered after 60 s, outside fault windows (±60 s)",
        within(0.02),
        "a busy token (many steps, a blast) adds queueing the formula leaves out",
    ),
    Formula(
        "max lag T + 2·p99",
        "s",
        _quiet,
        lambda ctx: _lag(ctx).max_s,
        _measured_max_lag,
        "a bound: the run's max may pass it on a rare slow leg",
        at_most(0.1),
        "one leg slower than the network's p99 passes the bound by that much",
    ),
    Formula(
        "Little L = λ·W",
        "users",
        _little_applies,
        _little_predicted,
        _little_measured,
        "time-average pending; W from the closed-form lag (and outage triangle)",
        within(0.05),
        "W is the closed-form lag: the run's own lag (round-trip tail) moves L with it",
    ),
    Formula(
        "blast drain T + ⌈Nρ/m⌉/r",
        "s",
        _blast,
        _blast_predicted,
        _blast_measured,
        "from the blast to its last user synced; a bound within one flush",
        within(0.05),
        "coalesced users (add_then_remove) are never sent and steady traffic shares the token: "
        "k is not ⌈Nρ/m⌉ then",
    ),
    Formula(
        "blast drain T + q·(60 s + margin + RTT) + last minute",
        "s",
        _blast_by_minute,
        _blast_by_minute_predicted,
        _blast_measured,
        "under n a minute (n < 60·r): q = ⌈k/n⌉ − 1 whole minutes of k = ⌈Nρ/m⌉ requests, the "
        "rest paced by the second; effective rate min(r/(1 + margin), n/(60 s + margin + RTT))",
        within(0.05),
        "each write the 1 s window refuses costs a slot of both windows",
    ),
    Formula(
        "backlog R_b = λ(D + δ)",
        "users",
        _has_finite,
        _backlog_predicted,
        _backlog_measured,
        "pending when the outage ends; δ = time since the last flush before it",
        within(0.02),
        _POISSON_GAP,
    ),
    Formula(
        "backlog served (⌈n/r⌉−1) s + (j−1)/2r + RTT",
        "s",
        _has_finite,
        _served_predicted,
        _served_measured,
        "outage end → last user held by it synced; n = ⌈R_b·ρ/m⌉ ≈ R_b/(r·m_u) s; "
        "after Pinterest was down, plus the longest backoff (300 s): a bound",
        within(0.05),
        "after Pinterest itself was down the formula is a bound (the backoff each batch "
        "waits out varies), not an estimate",
    ),
    Formula(
        "drain R_b/(r·m_u − λ)",
        "s",
        _has_finite,
        _drain_predicted,
        _drain_measured,
        "outage end → queue back to one flush (journal); n/a under one flush",
        within(0.05),
        "retries on their backoff schedule keep the queue above one flush for a while",
    ),
    Formula(
        "expired λ(D + δ + timeout − W)",
        "users",
        _expiring,
        _expired_predicted,
        _expired_measured,
        "outage outlasting the retry window (or never ending)",
        within(0.02),
        _POISSON_GAP,
    ),
    Formula(
        "preflight load ρλ/(r·m)",
        "share of r·m",
        lambda ctx: True,
        lambda ctx: _preflight(ctx).utilisation,
        None,
        "the engine's preflight (sync_core.preflight): the busiest steady records/s over capacity",
    ),
    Formula(
        "preflight p99 lag",
        "s",
        lambda ctx: True,
        lambda ctx: _preflight(ctx).lag_p99_s,
        _measured_lag_p99,
        "the engine's fluid model of the declared traffic; simulated: p99 of synced users' lag",
        within(0.1),
        "the fluid model leaves out faults, round-trip jitter and the turns of many steps "
        "sharing one token (fifty_steps_one_token)",
    ),
    Formula(
        "preflight errored",
        "users",
        lambda ctx: True,
        lambda ctx: _preflight(ctx).errored_users,
        lambda ctx: measures.expired(ctx.run, set(ctx.token.steps)),
        "users whose retry window ends unsent; simulated: errored, whatever the cause",
        within(0.1),
        "users errored by a fault (a deleted audience, a revoked token never reconnected, an "
        "outage) are not in the preflight's traffic model",
    ),
)
