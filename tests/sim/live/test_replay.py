"""The wall-clock twin: a scenario replayed live against ``pinsim mock serve`` in its own
process, set beside the simulation of the same scenario and seed with ``pinsim compare``'s rule
(Synced / Not Synced / Errored equal, lag p50 and p99 within one flush interval).

The truth each twin is also held to is the mock's: its lists' members (read over the admin API)
against the book's ledger fed the same arrivals, and its journal of what reached it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.judge.pacing import busiest_second
from sim.live import replay as replay_module
from sim.live.replay import NOT_JUDGED_LIVE, main, replay
from sim.plan import capacity
from sim.results.compare import compare, format_compare
from sim.runner import RunOutcome, run
from sim.scenario import FaultKind, FaultSpec, Scenario
from sim.world import translate
from sync_core.live.worker import Worker
from tests.sim.builders import build_scenario, fault, step, traffic

SPEED = 5.0  # two simulated minutes in 24 wall seconds: a 0.5 s stall of a busy CI machine is
# then 2.5 s of scenario time, half a flush interval (at 10, a 0.5 s stall was a whole one, and
# CI met one: the steady twin's lag p99 and the expiring twin's 401s moved by a flush)


def _twins(tmp_path: Path, scenario: Scenario) -> tuple[RunOutcome, RunOutcome]:
    simulated = run(scenario, out_dir=tmp_path / "sim")
    live = replay(scenario, speed=SPEED, out_dir=tmp_path / "live")
    rows = compare(simulated.data, live.data, lag_tolerance_s=scenario.sync.flush_interval_s)
    assert all(row.ok for row in rows), format_compare(rows)
    judged = {(row.scope, row.metric) for row in rows if row.tolerance is not None}
    assert {(s.id, "synced") for s in scenario.steps} <= judged
    for name in ("conservation", "audience_members"):  # the mock's lists = the ledger's
        assert live.checks[name].ok, live.checks[name].detail
    # every other check holds too, but those a live run cannot be held to, which say so
    assert live.ok, live.failures
    for name in NOT_JUDGED_LIVE:
        assert live.checks[name].detail.startswith("not judged: ")
    return simulated, live


def test_replay_of_a_steady_scenario_matches_its_simulated_twin(tmp_path: Path) -> None:
    scenario = build_scenario(
        name="steady-twin",
        seed=5,
        duration="2m",
        steps=[
            step("vip", audience={"new": "VIP"}, match_fields=["email", "maid"]),
            step("welcome", audience={"existing": "Welcome"}, match_fields=["email"]),
        ],
        traffic=[
            traffic("vip", "poisson", rate="3/s"),
            traffic("welcome", "constant", rate="2/s", end="100s"),
        ],
    )
    simulated, live = _twins(tmp_path, scenario)
    users = live.data.users
    assert (users["outcome"] == "synced").sum() > 400  # not a twin of nobody
    assert (users["outcome"] == "not_synced").sum() > 0  # users without a field to match
    assert len(live.data.members["welcome"]) > 3  # the seed members and the synced
    # the folder is pinsim run's: the same files, read back by pinsim compare
    assert {p.name for p in live.out_dir.iterdir()} == {p.name for p in simulated.out_dir.iterdir()}


def test_replay_of_a_revoke_then_reconnect_matches_its_simulated_twin(tmp_path: Path) -> None:
    scenario = build_scenario(
        name="revoke-twin",
        seed=7,
        duration="2m",
        steps=[step("vip-add", audience={"new": "VIP buyers"})],
        traffic=[traffic("vip-add", "poisson", rate="3/s", end="100s")],
        # between flush ticks (every 5 s): the twins cannot order a fault and a tick apart
        faults=[fault("revoke_token", "22.5s"), fault("reconnect", "62.5s")],
    )
    _, live = _twins(tmp_path, scenario)
    requests = pd.read_csv(live.out_dir / "requests.csv")
    # the revocation reached the engine over the wire, then the new token was used
    refused = requests[requests["status"] == 401]
    assert len(refused) > 0
    assert refused["t"].min() >= 22.5 and refused["t"].max() < 62.5 + 1.0
    later = requests[(requests["t"] > 62.5) & (requests["method"] == "PATCH")]
    assert later["status"].between(200, 299).all() and len(later) > 0
    assert not set(later["token_id"]) & set(refused["token_id"])  # the reconnect's token
    users = live.data.users
    waited = users["outcome_at"] - users["entered_at"]
    assert waited.max() > 30.0  # users who entered during the outage synced after it
    assert (users["outcome"] == "errored").sum() == 0


def test_replay_of_expiring_tokens_matches_its_simulated_twin(tmp_path: Path) -> None:
    # from 22.5 s on, access tokens live a scenario minute (12 wall seconds at speed 5); the
    # expiry falls between flush ticks, so the twins cannot order it and a tick apart
    scenario = build_scenario(
        name="expiry-twin",
        seed=9,
        duration="2m",
        steps=[step("vip-add", audience={"new": "VIP buyers"})],
        traffic=[traffic("vip-add", "poisson", rate="3/s", end="110s")],
        faults=[fault("token_expiry", "22.5s", lifetime="1m")],
    )
    simulated, live = _twins(tmp_path, scenario)
    for outcome in (simulated, live):
        journal = outcome.data.requests
        refused = journal[journal["status"] == 401]
        # the token alive at 22.5 s expires at 82.5 s: the writes of the next tick (85 s) on
        # it are refused (live sends a late entry's small PATCH beside the tick's), then one
        # refresh; its answer states the minute, so the next token is refreshed ahead, no 401
        assert 1 <= len(refused) <= 2 and refused["token_id"].nunique() == 1
        assert refused["t"].between(82.5, 86.0).all()
        refreshes = journal[(journal["path"] == "/v5/oauth/token") & (journal["t"] > 22.5)]
        assert len(refreshes) == 2 and (refreshes["status"] == 200).all()
        assert 82.5 <= refreshes["t"].min() < 87.0 and refreshes["t"].max() < 120.0
    assert (live.data.users["outcome"] != "errored").all()


def test_a_worker_lagging_the_wall_clock_still_takes_every_user_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine the worker can take the last users in after the scenario's end:
    the replay waits for it, so the engine holds every user the book was given."""
    taking = Worker._take_entries

    def slow(self: Worker, now: float) -> None:
        taking(self, now)
        time.sleep(0.2)  # busy entering: the next look at the store comes 0.2 s later

    monkeypatch.setattr(Worker, "_take_entries", slow)
    scenario = build_scenario(
        name="lagging",
        seed=4,
        duration="30s",
        steps=[step("vip", audience={"new": "VIP"})],
        traffic=[traffic("vip", "constant", rate="5/s")],
    )
    live = replay(scenario, speed=SPEED, out_dir=tmp_path / "live")
    assert len(live.data.users) == 150  # 30 s at 5/s, the last ones posted at the end
    assert live.checks["conservation"].ok, live.checks["conservation"].detail


def test_every_fault_kind_is_played_live_or_said_not_to_be() -> None:
    # a kind in none of these would be accepted, then silently do nothing in a live replay
    played = set(replay_module._INSTANT_FAULTS) | set(replay_module._NOT_LIVE)
    with_rules = {kind for kind in FaultKind if translate.fault_rules(_a_fault(kind), until=60.0)}
    assert played | with_rules == set(FaultKind)


def _a_fault(kind: FaultKind) -> FaultSpec:
    extra = {"extra_s": 1.0} if kind is FaultKind.LATENCY else {}
    return FaultSpec(kind=kind, at_s=0.0, status=(500,), **extra)  # type: ignore[arg-type]


def test_replay_of_a_blast_paces_in_the_mock_s_seconds_as_its_simulated_twin(
    tmp_path: Path,
) -> None:
    # 2,200 users at once in requests of at most 100 records: ~21 requests, three windows of a
    # saturated token (small requests, so the intake takes them in well before their flush even
    # on a busy machine). At speed 5 the mock's second is a fifth of the engine's: the engine
    # paces in it and reads its resets in it (SyncConfig.server_second_s), so it sends what its
    # twin sends, r a second of scenario time — unscaled, r a wall second: five times slower.
    limits = {"max_records_per_request": 100}
    scenario = build_scenario(
        name="blast-twin",
        seed=3,
        duration="40s",
        sync=limits,
        pinterest=limits,
        steps=[step("blast", audience={"new": "Blast"}, match_fields=["email"])],
        traffic=[traffic("blast", "blast", start="10s", count=2_200)],
    )
    simulated = run(scenario, out_dir=tmp_path / "sim")
    live = replay(scenario, speed=5.0, out_dir=tmp_path / "live")
    rows = compare(simulated.data, live.data, lag_tolerance_s=scenario.sync.flush_interval_s)
    assert all(row.ok for row in rows), format_compare(rows)
    figures = {row.metric: row for row in rows if row.scope == "(run)"}
    refused = figures["429s"].b or 0
    assert refused <= 1  # the adaptive margin's equilibrium at most
    sent = figures["requests"].a or 0
    assert sent > 14 and figures["requests"].b == sent + refused  # a refused one goes again
    accepted = live.data.requests
    writes = accepted[(accepted["method"] == "PATCH") & (accepted["status"] == 200)]
    arrivals = np.sort(writes["sent_at"].to_numpy(float))
    assert busiest_second(arrivals)[0] <= 7 + 1  # one over: arrival jitter, as simulated
    # first to last: whole windows of r, the last window's sends 1/(2r) apart (the closed form)
    ideal_s = capacity.backlog_served_s(len(arrivals) * 100, 7, 100)
    assert ideal_s <= arrivals[-1] - arrivals[0] < 2 * ideal_s


def test_replay_command_refuses_a_missing_file_and_a_bad_speed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.toml"), "--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err
