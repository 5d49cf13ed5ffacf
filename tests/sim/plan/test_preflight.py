"""sim.plan.preflight: a scenario in the engine's preflight's words, its figures in
``pinsim plan``, and the prediction held to a simulated run of an overloaded token."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim.plan.preflight import config_of, error_against, predicted, profile_of, tokens
from sim.plan.table import plan_rows
from sim.scenario import Scenario
from sim.world.driver import simulate
from sync_core.pacing import MARGIN_FLOOR_S
from sync_core.preflight import Blast, Flow
from tests.sim.builders import EVERYONE_HAS_EMAIL, FAST_NETWORK, build_scenario, step, traffic


@pytest.fixture(scope="module")
def overloaded() -> Scenario:
    """Two audiences on one token of 2 × 5 = 10 records/s, 25 users/s for 200 s, 90 s window."""
    return build_scenario(
        "overloaded.toml",
        name="overloaded",
        seed=5,
        duration="6m",
        network=FAST_NETWORK,
        pinterest={"ads_write_per_second": 2},
        sync={"max_records_per_request": 5, "retry_window": "90s"},
        steps=[step("a", match_fields=["email"]), step("b", match_fields=["email"])],
        traffic=[
            traffic("a", "poisson", rate="15/s", end="200s", **EVERYONE_HAS_EMAIL),
            traffic("b", "poisson", rate="10/s", end="200s", **EVERYONE_HAS_EMAIL),
            traffic("b", "blast", start="30s", count=400, missing={"email": 0.5, "maid": 0.0}),
        ],
    )


def test_preflight_profile_is_the_declared_traffic_in_queued_users(overloaded: Scenario) -> None:
    profile = profile_of(overloaded)
    assert [replace(flow, rate_per_s=round(flow.rate_per_s, 9)) for flow in profile.flows] == [
        Flow(step="a", rate_per_s=15.0, end_s=200.0, records_per_user=1.0),
        Flow(step="b", rate_per_s=10.0, end_s=200.0, records_per_user=1.0),
    ]
    (blast,) = profile.blasts
    # half have an email, 1 % of those malformed (the default); one record each
    assert replace(blast, users=round(blast.users, 9)) == Blast(
        step="b", users=400 * 0.5 * 0.99, at_s=30.0, records_per_user=1
    )


def test_preflight_config_takes_the_limits_the_token_meets(overloaded: Scenario) -> None:
    config = config_of(overloaded)
    assert (config.requests_per_second, config.max_records_per_request) == (2, 5)
    assert config.retry_window_s == 90.0
    assert config.pacing_margin_s == MARGIN_FLOOR_S  # the adaptive pacer settles there
    assert config.requests_per_minute is None


def test_preflight_predicts_the_overloaded_run(overloaded: Scenario) -> None:
    (token,) = tokens(overloaded)
    assert token.utilisation == pytest.approx(2.5, rel=0.01)
    assert "over capacity: users will error" in token.verdict
    data = simulate(overloaded, overloaded.seed)
    guess = predicted(overloaded)
    assert guess.errored > 1000
    assert error_against(overloaded, data) < 0.15
    rows = plan_rows(overloaded, data).set_index("formula")
    errors = rows.loc[["preflight p99 lag", "preflight errored"], "error"].abs()
    assert (errors < 0.15).all(), errors
    assert rows.loc[["preflight errored"], "predicted"].tolist() == [pytest.approx(guess.errored)]
