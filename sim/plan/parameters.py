"""The closed forms' parameters, derived from a scenario: what ``sim.plan.capacity`` is fed.

Responsibility: read a scenario into plain numbers — the engine's T, r (the lower of its pace
and Pinterest's limit), n (the lower of their minute windows, if any), m, retry window and
timeout, the pacing margin, the network's round trip; per token: the steps sharing it, their
queued users per second, records per user and blasts; and the outages its faults cause.

Rules:
- Rates are *queued* users (those with a usable match field): ``syncable_share`` of traffic.
  A row's rate is its expected arrivals over its own window (``sim.world.traffic``), so every
  kind of traffic, replays included, counts.
- Nothing here reads a run: the same scenario always gives the same ``PlanInputs``.
- Which faults stop syncing, and what ends them, is the table ``_STOPPING``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from sim.plan import capacity
from sim.scenario import FaultKind, Pacer, Scenario, TrafficKind, TrafficSpec
from sim.world.traffic import expected_arrivals
from sync_core.minute_window import MINUTE_S
from sync_core.pacing import MARGIN_FLOOR_S

__all__ = [
    "Outage",
    "PlanInputs",
    "TokenLoad",
    "derive",
    "queued_between",
    "queued_share",
    "row_volume",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """A stretch in which some steps' users cannot be synced: a revoked token (until a
    reconnect), a deleted audience (for good), a 429 storm refusing every write, Pinterest
    down (an ``outage``)."""

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
    # the lower of the engine's and Pinterest's minute windows (the engine learns Pinterest's
    # from its answers); None: neither has one
    requests_per_minute: int | None = None

    @property
    def minute_binds(self) -> bool:
        """Whether a saturated token meets the minute window: ``n < 60·r``."""
        per_minute = self.requests_per_minute
        return per_minute is not None and per_minute < MINUTE_S * self.requests_per_second

    def capacity_users_per_s(self, token: TokenLoad) -> float:
        if self.requests_per_minute is None:
            return capacity.capacity_users_per_s(
                self.requests_per_second,
                self.max_records,
                token.records_per_user,
                margin_s=self.margin_s,
            )
        paced = capacity.paced_requests_per_s(
            self.requests_per_second,
            self.requests_per_minute,
            margin_s=self.margin_s,
            round_trip_s=self.round_trip_mean_s,
        )
        return paced * self.max_records / token.records_per_user

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

    def finite_outages(self, token: TokenLoad) -> list[Outage]:
        """Outages of ``token`` that end within the run and before anyone expires."""
        return [
            o
            for o in self.outages
            if set(o.steps) <= set(token.steps)
            and o.end_s is not None
            and o.end_s < self.duration_s
            and o.end_s - o.start_s + self.lost_s(o) + self.request_timeout_s < self.retry_window_s
        ]

    def expiring_outages(self, token: TokenLoad) -> list[Outage]:
        """Outages of ``token`` that outlast the retry window, or the run."""
        mine = [o for o in self.outages if set(o.steps) <= set(token.steps)]
        finite = self.finite_outages(token)
        return [o for o in mine if o not in finite]


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
        requests_per_minute=_per_minute(sync.requests_per_minute, pinterest.ads_write_per_minute),
    )


def _per_minute(*windows: int | None) -> int | None:
    known = [window for window in windows if window is not None]
    return min(known) if known else None


# --------------------------------------------------------------------------- traffic


def queued_share(scenario: Scenario, row: TrafficSpec) -> float:
    """The share of a traffic row's users that queue (have a usable match field)."""
    return capacity.syncable_share(scenario.step(row.step).match_fields, **_gaps(row))


def row_volume(row: TrafficSpec) -> float:
    """A traffic row's expected arrivals over its whole window (a blast's count)."""
    return expected_arrivals(row, row.start_s, max(row.end_s, row.start_s + 1e-9))


def queued_between(scenario: Scenario, steps: tuple[str, ...], t0: float, t1: float) -> float:
    """Queued users of the flowing traffic into ``steps`` expected in ``[t0, t1)``."""
    return sum(
        queued_share(scenario, row) * expected_arrivals(row, t0, t1)
        for row in scenario.traffic
        if row.step in steps and row.kind is not TrafficKind.BLAST
    )


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
    queued = {id(row): queued_share(scenario, row) * row_volume(row) for row in rows}
    total = sum(queued.values())
    rho = sum(_rho(scenario, row) * queued[id(row)] for row in rows) / total if total else 1.0
    per_step = {step: 0.0 for step in steps}
    for row in flowing:
        per_step[row.step] += queued_share(scenario, row) * _row_rate(row)
    return TokenLoad(
        connection=connection,
        steps=steps,
        rate_per_s=sum(per_step.values()),
        step_rates=tuple(per_step.values()),
        records_per_user=rho,
        blast_users=sum(queued_share(scenario, row) * row.count for row in blasts),
        blast_start_s=min((row.start_s for row in blasts), default=None),
    )


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


# --------------------------------------------------------------------------- outages

# faults that stop syncing: kind → the fault kind that ends it, if any
_STOPPING: Final = {
    FaultKind.REVOKE_TOKEN: FaultKind.RECONNECT,
    FaultKind.DELETE_AUDIENCE: None,
    FaultKind.RATE_LIMIT_STORM: None,  # its own ``until`` ends it
    FaultKind.OUTAGE: None,  # as does an outage's
}
_WINDOWED_STOPS: Final = frozenset({FaultKind.RATE_LIMIT_STORM, FaultKind.OUTAGE})


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
    if kind in _WINDOWED_STOPS:
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
