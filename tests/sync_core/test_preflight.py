"""The capacity preflight (``sync_core.preflight``) against the sim's closed forms
(``sim.plan.capacity``): the same answers within a stated tolerance over a grid, plus
conservation and monotonicity under hypothesis."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.plan import capacity
from sync_core import AudienceRef, Step, SyncConfig, SyncEngine, UsageError
from sync_core.preflight import Blast, EntryProfile, Flow, TokenPreflight, preflight

# c = r·m/(1 + margin) = 1,000 records/s; W′ = W − timeout = 1,170 s
CONFIG = SyncConfig(
    flush_interval_s=5.0,
    requests_per_second=10,
    max_records_per_request=100,
    retry_window_s=1200.0,
    request_timeout_s=30.0,
    pacing_margin_s=0.0,
)
CAPACITY = 1000.0
WINDOW = CONFIG.retry_window_s - CONFIG.request_timeout_s
T = CONFIG.flush_interval_s


def _steps(n: int, connection: str = "c1") -> list[Step]:
    return [
        Step(
            id=f"{connection}-s{i}",
            connection_id=connection,
            ad_account_id="549755885175",
            audience=AudienceRef(new=f"{connection} audience {i}"),
        )
        for i in range(n)
    ]


def _steady(steps: list[Step], rate: float, horizon: float) -> TokenPreflight:
    each = rate / len(steps)
    flows = tuple(Flow(step=s.id, rate_per_s=each, end_s=horizon) for s in steps)
    (result,) = preflight(steps, EntryProfile(flows=flows), CONFIG)
    return result


@pytest.mark.parametrize("targets", [1, 3])
@pytest.mark.parametrize("load", [1.2, 1.5, 2.0, 4.0])
@pytest.mark.parametrize("horizon", [600.0, 3000.0, 10_000.0])
def test_preflight_steady_overload_matches_closed_forms(
    targets: int, load: float, horizon: float
) -> None:
    rate = load * CAPACITY
    result = _steady(_steps(targets), rate, horizon)
    errored = capacity.overload_expired_users(rate, CAPACITY, horizon, WINDOW)
    p99 = capacity.overload_lag_p99_s(rate, CAPACITY, horizon, WINDOW)
    # tolerance: 1 % and two flushes (the closed forms leave out the wait for a tick)
    assert result.errored_users == pytest.approx(errored, rel=0.01, abs=2 * T * rate)
    assert result.lag_p99_s == pytest.approx(p99, rel=0.01, abs=2 * T)
    assert result.utilisation == pytest.approx(load)


@pytest.mark.parametrize("rate", [10.0, 200.0, 900.0])
def test_preflight_below_capacity_waits_one_flush(rate: float) -> None:
    result = _steady(_steps(2), rate, 3600.0)
    low = capacity.low_load_lag(T, 0.0)
    assert result.errored_users == 0
    assert result.lag_p99_s <= low.max_s
    assert result.lag_p99_s == pytest.approx(0.99 * low.max_s, abs=0.1 * T)
    assert capacity.overload_expired_users(rate, CAPACITY, 3600.0, WINDOW) == 0


@pytest.mark.parametrize("users", [10_000, 500_000, 1_000_000, 3_000_000])
def test_preflight_blast_matches_closed_forms(users: int) -> None:
    steps = _steps(1)
    profile = EntryProfile(blasts=(Blast(step=steps[0].id, users=users, at_s=12.0),))
    (result,) = preflight(steps, profile, CONFIG)
    assert result.errored_users == pytest.approx(
        capacity.blast_expired_users(users, CAPACITY, WINDOW), rel=0.01, abs=T * CAPACITY
    )
    sent = min(users, CAPACITY * WINDOW)
    drain = capacity.blast_drain_s(
        math.ceil(sent),
        CONFIG.requests_per_second,
        CONFIG.max_records_per_request,
        flush_interval_s=T,
    )
    # the blast waits 3 s for its tick at 15 s, then goes out over ⌈N/m⌉/r: its p99 is
    # the tick's wait and 99 % of that, within the closed form's bound
    assert result.lag_p99_s <= drain
    assert result.lag_p99_s == pytest.approx(3.0 + 0.99 * (drain - T), rel=0.01, abs=1.0)


def test_preflight_capacity_is_the_sims_and_minds_the_minute_window() -> None:
    config = SyncConfig(pacing_margin_s=0.02)
    (result,) = preflight(_steps(1), EntryProfile(), config)
    assert result.capacity_records_per_s == pytest.approx(
        capacity.capacity_records_per_s(7, 1900, margin_s=0.02)
    )
    minute = SyncConfig(requests_per_minute=400)
    (limited,) = preflight(_steps(1), EntryProfile(), minute)
    assert limited.capacity_records_per_s == pytest.approx(400 / 60 * 1900)


def test_preflight_one_line_per_token_without_tokens() -> None:
    steps = _steps(2, "shop") + _steps(1, "brand")
    flows = (Flow(step=steps[0].id, rate_per_s=3000, end_s=3000.0),)
    blasts = (Blast(step=steps[2].id, users=100),)
    engine = SyncEngine(CONFIG, rng=random.Random(0))
    results = engine.preflight(steps, EntryProfile(flows=flows, blasts=blasts))
    assert [r.connection for r in results] == ["shop", "brand"]
    shop, brand = results
    assert "over capacity: users will error" in shop.verdict
    assert brand.verdict.endswith("— fits")
    assert all("\n" not in r.verdict and "token" not in r.verdict for r in results)


def test_preflight_shares_a_token_round_robin() -> None:
    """A light audience beside an overloaded one on the same token keeps its flush lag and
    costs the heavy one a request a flush (round-robin), not just its records."""
    steps = _steps(2)
    flows = (
        Flow(step=steps[0].id, rate_per_s=2 * CAPACITY, end_s=3000.0),
        Flow(step=steps[1].id, rate_per_s=10, end_s=3000.0),
    )
    light = preflight(steps[1:], EntryProfile(flows=flows[1:]), CONFIG)[0]
    (both,) = preflight(steps, EntryProfile(flows=flows), CONFIG)
    assert light.lag_p99_s <= T
    assert both.errored_users == pytest.approx(
        capacity.overload_expired_users(2 * CAPACITY, CAPACITY * (1 - 1 / 50), 3000.0, WINDOW),
        rel=0.01,
        abs=2 * T * 2 * CAPACITY,
    )


def test_preflight_refuses_unknown_steps_and_bad_figures() -> None:
    with pytest.raises(UsageError, match="unknown steps: 'nope'"):
        preflight(_steps(1), EntryProfile(blasts=(Blast(step="nope", users=1),)), CONFIG)
    with pytest.raises(UsageError, match="non-negative"):
        bad = EntryProfile(flows=(Flow(step="c1-s0", rate_per_s=-1.0, end_s=10.0),))
        preflight(_steps(1), bad, CONFIG)


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(st.floats(0.0, 3000.0), min_size=1, max_size=3),
    blast=st.floats(0.0, 2_000_000.0),
    blast_at=st.floats(0.0, 2000.0),
    horizon=st.floats(10.0, 4000.0),
)
def test_preflight_conserves_users_and_bounds_lag(
    rates: list[float], blast: float, blast_at: float, horizon: float
) -> None:
    steps = _steps(len(rates))
    flows = tuple(
        Flow(step=s.id, rate_per_s=rate, end_s=horizon)
        for s, rate in zip(steps, rates, strict=True)
    )
    profile = EntryProfile(
        flows=flows, blasts=(Blast(step=steps[0].id, users=blast, at_s=blast_at),)
    )
    (result,) = preflight(steps, profile, CONFIG)
    assert result.synced_users + result.errored_users == pytest.approx(result.users, rel=1e-6)
    if result.synced_users > 0:
        assert 0 <= result.lag_p99_s <= WINDOW + T
    more = EntryProfile(
        flows=tuple(Flow(step=f.step, rate_per_s=f.rate_per_s * 1.5, end_s=horizon) for f in flows),
        blasts=profile.blasts,
    )
    (heavier,) = preflight(steps, more, CONFIG)
    assert heavier.errored_users >= result.errored_users - 1e-6 * result.users
