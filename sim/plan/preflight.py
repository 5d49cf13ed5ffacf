"""The engine's capacity preflight (``sync_core.preflight``) for a scenario, and how close a
run came to it.

Responsibility: a scenario in the preflight's words — its steps as the engine's, its
``[[traffic]]`` rows as an ``EntryProfile``, its ``[sync]`` and ``[pinterest]`` limits as a
``SyncConfig`` — and the figures ``pinsim plan`` and ``[expect]`` set beside a run: per token
and over the whole scenario, the predicted errored users and p99 lag, and the preflight's error
against a run.

Rules:
- The profile is what the scenario declares, in queued users (``sim.plan.parameters``' shares):
  a flowing row is a ``Flow`` at its mean rate over its own window (a diurnal row's peaks are
  averaged out), a blast a ``Blast`` at its instant, each with its records per user.
- The limits are the ones the token meets: the lower of the engine's and Pinterest's ``r``,
  ``m`` and minute window; the pacing margin as ``parameters.derive`` takes it; the round trip
  the network's mean.
- Over several tokens: errored users add up, the p99 lag is the largest token's (a bound).
- The preflight's error on a figure is ``|simulated − predicted| / max(predicted, floor)``, the
  floor one flush for the lag and one user in a thousand for errored users, so a figure near
  zero is not judged by its noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

from sim.plan import capacity
from sim.plan.parameters import derive, queued_share
from sim.results.recorder import RunData, final_counters, lag_percentiles
from sim.scenario import Scenario, TrafficKind, TrafficSpec
from sim.world import translate
from sim.world.traffic import expected_arrivals
from sync_core import SyncConfig
from sync_core.preflight import Blast, EntryProfile, Flow, TokenPreflight, preflight

__all__ = ["Predicted", "config_of", "error_against", "predicted", "profile_of", "tokens"]

_ERRORED_FLOOR: Final = 0.001  # of the users: errored counts below it are noise


@dataclass(frozen=True, slots=True, kw_only=True)
class Predicted:
    """The preflight over the whole scenario: errored users, the p99 lag, queued users."""

    errored: float
    lag_p99_s: float
    users: float
    flush_interval_s: float


def profile_of(scenario: Scenario) -> EntryProfile:
    """The scenario's declared traffic as the preflight's profile (see the module docstring)."""
    flows, blasts = [], []
    for row in scenario.traffic:
        share = queued_share(scenario, row)
        rho = _rho(scenario, row)
        if row.kind is TrafficKind.BLAST:
            blasts.append(
                Blast(
                    step=row.step, users=share * row.count, at_s=row.start_s, records_per_user=rho
                )
            )
        elif row.end_s > row.start_s:
            rate = share * _row_rate(row)
            flows.append(
                Flow(
                    step=row.step,
                    rate_per_s=rate,
                    start_s=row.start_s,
                    end_s=row.end_s,
                    records_per_user=rho,
                )
            )
    return EntryProfile(
        flows=tuple(flows),
        blasts=tuple(blasts),
        round_trip_s=derive(scenario).round_trip_mean_s,
    )


def _row_rate(row: TrafficSpec) -> float:
    """A flowing row's mean users/s over its window (``sim.world.traffic``'s expectation)."""
    return expected_arrivals(row, row.start_s, row.end_s) / (row.end_s - row.start_s)


def _rho(scenario: Scenario, row: TrafficSpec) -> float:
    return capacity.records_per_user(
        scenario.step(row.step).match_fields,
        missing_email=row.missing.email,
        missing_maid=row.missing.maid,
        malformed=row.malformed,
    )


def config_of(scenario: Scenario) -> SyncConfig:
    """The engine's settings with the limits the token meets (see the module docstring)."""
    engine, pinterest = translate.sync_config(scenario), scenario.pinterest
    minutes = [m for m in (engine.requests_per_minute, pinterest.ads_write_per_minute) if m]
    return replace(
        engine,
        requests_per_second=min(engine.requests_per_second, pinterest.ads_write_per_second),
        max_records_per_request=min(
            engine.max_records_per_request, pinterest.max_records_per_request
        ),
        requests_per_minute=min(minutes, default=None),
        pacing_margin_s=derive(scenario).margin_s,
    )


# the last scenario's answer: plan rows ask once per token and formula
_MEMO: dict[int, tuple[Scenario, tuple[TokenPreflight, ...]]] = {}


def tokens(scenario: Scenario) -> tuple[TokenPreflight, ...]:
    """The preflight of every token of ``scenario`` (computed once per scenario object)."""
    held = _MEMO.get(id(scenario))
    if held is not None and held[0] is scenario:
        return held[1]
    steps = [translate.step(spec) for spec in scenario.steps]
    result = preflight(steps, profile_of(scenario), config_of(scenario))
    _MEMO.clear()
    _MEMO[id(scenario)] = (scenario, result)
    return result


def predicted(scenario: Scenario) -> Predicted:
    """The preflight over the whole scenario (errored summed, the largest p99)."""
    results = tokens(scenario)
    lags = [r.lag_p99_s for r in results if not math.isnan(r.lag_p99_s)]
    return Predicted(
        errored=sum(r.errored_users for r in results),
        lag_p99_s=max(lags, default=math.nan),
        users=sum(r.users for r in results),
        flush_interval_s=scenario.sync.flush_interval_s,
    )


def error_against(scenario: Scenario, data: RunData) -> float:
    """The preflight's largest relative error against the run, over errored users and p99 lag."""
    guess = predicted(scenario)
    errored = float(final_counters(data.timeseries)["errored"].sum())
    lag = lag_percentiles(data.users)["p99"]
    errors = [_error(errored, guess.errored, _ERRORED_FLOOR * guess.users)]
    if lag is not None and not math.isnan(guess.lag_p99_s):
        errors.append(_error(lag, guess.lag_p99_s, guess.flush_interval_s))
    return max(errors)


def _error(simulated: float, predicted: float, floor: float) -> float:
    return abs(simulated - predicted) / max(predicted, floor, 1.0)
