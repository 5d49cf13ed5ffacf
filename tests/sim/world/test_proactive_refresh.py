"""The shipped ``proactive_refresh`` scenario, judged by the mock's request journal: three days
of 1-hour access tokens on two logins cost no 401, and the refreshes are as many as the
closed form of the engine's renewal says.

Closed form: a token is refreshed ``lead + jitter`` before its expiry, counted from the send
of the refresh that got it, rounded up to the next 5 s flush tick: every ``lifetime - lead -
jitter`` (+ up to one tick), the jitter in ``[0, (lead - timeout) / 2)``. Over ``D`` seconds a
connection refreshes between ``D / longest`` and ``D / shortest`` times.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.judge.checks import run_checks
from sim.judge.expectations import check_expectations
from sim.scenario import load
from sim.world import translate
from sim.world.driver import simulate
from sync_core.renewal import JITTER_SHARE

SCENARIO = Path(__file__).parents[3] / "scenarios" / "proactive_refresh.toml"
TIMEOUT_S = 30.0  # the engine's request timeout: writes stop this long before an expiry
TICK_S = 5.0


def test_three_days_of_hour_long_tokens_cost_no_401_and_one_refresh_per_token() -> None:
    scenario = load(SCENARIO)
    lifetime, lead = scenario.pinterest.access_token_lifetime_s, scenario.sync.refresh_lead_s
    data = simulate(scenario, scenario.seed)
    journal = data.requests[data.requests["sent_at"].notna()]  # the engine's, not the harness's
    assert int((journal["status"] == 401).sum()) == 0
    refreshes = journal[journal["path"] == "/v5/oauth/token"].sort_values("sent_at")
    # rotation: the mock revokes a refresh token once used, so a stale one would be refused
    assert (refreshes["status"] == 200).all()
    shortest = lifetime - lead - (lead - TIMEOUT_S) * JITTER_SHARE
    longest = lifetime - lead + TICK_S
    connections = len(scenario.connections)
    low = connections * math.floor(scenario.duration_s / longest)
    high = connections * math.ceil(scenario.duration_s / shortest)
    assert low <= len(refreshes) <= high
    # each refresh on a 5 s tick, after that tick's writes: none pushed a write late
    phase = np.mod(refreshes["sent_at"].to_numpy(float), TICK_S)
    assert (phase < 0.5).all()
    # every refreshed token carried writes (bar perhaps each login's last, near the end)
    assert journal["token_id"].nunique() >= len(refreshes)
    failed = {name: r.detail for name, r in run_checks(data).items() if not r.ok}
    failed |= {
        name: r.detail for name, r in check_expectations(data, scenario.expect).items() if not r.ok
    }
    assert not failed


def test_the_lifetime_and_the_lead_reach_the_mock_and_the_engine() -> None:
    scenario = load(SCENARIO)
    assert translate.mock_config(scenario, 1).access_token_ttl_s == 3600.0
    assert translate.sync_config(scenario).refresh_lead_s == 300.0
