"""sim.world.driver: the real engine against the real mock in simulated time, judged by closed
forms and by the mock's own request journal (``RunData.requests``), not by the engine's counters.

Every scenario is small: simulated hours cost little, but users and requests cost wall time.
Near-zero network latency (median 1 ms) makes the closed forms of the 5 s flush, the 7
requests/s pacing and the 1,900 records/request batching tight.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.judge.checks import CHECKS, run_checks
from sim.judge.expectations import check_expectations
from sim.results.recorder import RunData
from sim.runner import run
from sim.scenario import FaultKind, Scenario, default, override, parse
from sim.world import driver, translate
from sim.world.driver import simulate
from tests.sim.builders import (
    AUDIENCE_A,
    EVERYONE_HAS_EMAIL,
    FAST_NETWORK,
    build_scenario,
    fault,
    scenario_toml,
    step,
    traffic,
)

FLUSH_S = 5.0
PER_SECOND = 7
PER_REQUEST = 1900
CAPACITY = PER_SECOND * PER_REQUEST  # users/s one token can deliver: 13,300
LATENCY_SLACK_S = 0.02  # a few round trips of a ~1 ms network


def _one_audience(name: str, seed: int, duration: str, row: dict[str, object]) -> Scenario:
    """One add step into a new audience, matched on email, on a near-zero-latency network;
    ``row``'s users all have an email."""
    return build_scenario(
        f"{name}.toml",
        name=name,
        seed=seed,
        duration=duration,
        network=FAST_NETWORK,
        steps=[AUDIENCE_A],
        traffic=[{**row, **EVERYONE_HAS_EMAIL}],
    )


def _patches(data: RunData) -> pd.DataFrame:
    """Customer-list PATCHes the mock saw (its journal), in sending order, refused ones too
    (the journal leaves ``customer_list_id`` empty on a 429, so match the path)."""
    journal = data.requests
    on_list = journal["path"].str.contains("/customer_lists/", regex=False)
    patches = journal[(journal["method"] == "PATCH") & on_list]
    return patches.sort_values("sent_at", kind="stable")


def _most_in_any_second(instants: np.ndarray) -> int:
    """Most instants in any half-open window [s, s + 1 s), counted from every instant."""
    times = np.sort(instants)
    if times.size == 0:
        return 0
    ends = np.searchsorted(times, times + 1.0, side="left")
    return int((ends - np.arange(times.size)).max())


# --- determinism ------------------------------------------------------------------------------

MIXED = scenario_toml(
    name="mixed",
    seed=21,
    duration="3m",
    steps=[
        step("add", audience={"new": "Welcome"}),
        step("vip", audience={"existing": "VIP"}, match_fields=["email"]),
    ],
    traffic=[
        traffic("add", "poisson", rate="20/s", end="2m"),
        traffic("vip", "poisson", rate="5/s", end="2m"),
    ],
    faults=[fault("server_errors", "30s", until="60s", share=0.3)],
    expect={"errored": 0},
)


def test_simulate_same_seed_gives_identical_run() -> None:
    scenario = parse(MIXED, "mixed.toml")
    first, second = simulate(scenario, 21), simulate(scenario, 21)
    # the run exercised what it is meant to: users, retries after 5xx, an existing audience
    assert len(first.users) > 1000
    assert set(first.requests["status"]) >= {200, 500, 503}
    assert all(first.members.values())
    pd.testing.assert_frame_equal(first.timeseries, second.timeseries)
    pd.testing.assert_frame_equal(first.users, second.users)
    pd.testing.assert_frame_equal(first.requests, second.requests)
    assert first.members == second.members
    assert first.expected_members == second.expected_members


def test_simulate_other_seed_gives_other_run() -> None:
    scenario = parse(MIXED, "mixed.toml")
    first, other = simulate(scenario, 21), simulate(scenario, 22)
    assert not first.users.equals(other.users)
    assert not np.array_equal(
        first.users["entered_at"].to_numpy()[:100], other.users["entered_at"].to_numpy()[:100]
    )
    assert not first.requests.equals(other.requests)
    assert first.members != other.members


_WALL_CLOCK_HTML = re.compile(r"· [0-9.]+ s wall clock ·")


def test_run_same_seed_writes_identical_files(tmp_path: Path) -> None:
    scenario = parse(MIXED, "mixed.toml")
    outcomes = [run(scenario, out_dir=tmp_path / name) for name in ("first", "second")]
    assert all(outcome.ok for outcome in outcomes), [o.failures for o in outcomes]
    names = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "second").iterdir())
    assert {"summary.json", "timeseries.csv", "users.parquet", "requests.csv"} <= set(names)
    assert {"report.html"} <= set(names) and any(n.endswith(".png") for n in names)
    for name in names:
        a = (tmp_path / "first" / name).read_bytes()
        b = (tmp_path / "second" / name).read_bytes()
        if name == "summary.json":
            ja, jb = json.loads(a), json.loads(b)
            assert isinstance(ja.pop("wall_seconds"), float)
            assert isinstance(jb.pop("wall_seconds"), float)
            assert ja == jb
        elif name == "report.html":  # report.py: the wall-clock figure is shown there too
            ta, tb = a.decode(), b.decode()
            assert len(_WALL_CLOCK_HTML.findall(ta)) == 1
            assert _WALL_CLOCK_HTML.sub("", ta) == _WALL_CLOCK_HTML.sub("", tb)
        else:
            assert a == b, f"{name} differs between two runs of the same scenario and seed"


# --- a blast: the closed form of batching and pacing -------------------------------------------


@pytest.mark.parametrize(
    ("count", "seed"),
    [
        (1, 3),
        (PER_REQUEST + 1, 3),
        (7 * PER_REQUEST, 3),  # exactly one second of capacity
        (7 * PER_REQUEST + 1, 3),  # one record spills into the next second
        (20_000, 3),
        (20_000, 0),  # a seed whose jitter once cost a 429 at the window's reopening
    ],
)
def test_simulate_blast_sends_ceil_n_over_1900_patches(count: int, seed: int) -> None:
    scenario = _one_audience("blast", seed, "20s", traffic("a", "blast", count=count, start="0s"))
    data = simulate(scenario, seed)
    needed = math.ceil(count / PER_REQUEST)
    patches = _patches(data)
    # the mock's journal: exactly ⌈N/1,900⌉ PATCHes, all accepted, carrying every user once
    assert len(patches) == needed
    assert (patches["status"] == 200).all()
    assert int(patches["records"].sum()) == count
    assert int(patches["records"].max()) <= PER_REQUEST
    # sent on the 5 s flush, then 7 a second: the k-th in second 5 + ⌊k/7⌋
    sent = patches["sent_at"].to_numpy(float)
    assert np.array_equal(np.floor(sent), FLUSH_S + np.arange(needed) // PER_SECOND)
    assert _most_in_any_second(sent) <= PER_SECOND
    # everyone synced by 5 s + ⌈N/1,900⌉/7 s (plus a few ms of network)
    users = data.users
    assert len(users) == count
    assert (users["outcome"] == "synced").all()
    bound = FLUSH_S + needed / PER_SECOND + LATENCY_SLACK_S
    assert users["outcome_at"].max() <= bound
    assert users["outcome_at"].max() <= patches["answered_at"].max()
    assert data.members["a"] == data.expected_members["a"]
    assert len(data.members["a"]) == count


# --- saturation: one token's throughput ---------------------------------------------------------


@pytest.fixture(scope="module")
def saturated() -> RunData:
    """15,000 users/s for 8 s into one audience: more than one token's 13,300 users/s."""
    scenario = _one_audience(
        "saturated", 5, "16s", traffic("a", "constant", rate="15000/s", start="0s", end="8s")
    )
    return simulate(scenario, 5)


def _saturated_span(data: RunData) -> tuple[pd.DataFrame, int, int]:
    """The accepted PATCHes sent in the whole seconds [⌊first send⌋, ⌊last send⌋): the last,
    possibly partial, second is left out."""
    accepted = _patches(data)
    accepted = accepted[accepted["status"] == 200]
    lo = math.floor(accepted["sent_at"].min())
    hi = math.floor(accepted["sent_at"].max())
    inside = accepted[(accepted["sent_at"] >= lo) & (accepted["sent_at"] < hi)]
    return inside, lo, hi


def test_simulate_saturated_token_never_exceeds_capacity(saturated: RunData) -> None:
    inside, lo, hi = _saturated_span(saturated)
    assert lo == FLUSH_S and hi - lo >= 8  # a backlog from the first flush on, for seconds
    # a backlog means every accepted batch is full, and no second carries more than 7 of them
    assert (inside["records"] == PER_REQUEST).all()
    journal = _patches(saturated)
    assert _most_in_any_second(journal["sent_at"].to_numpy(float)) <= PER_SECOND
    delivered = int(journal.loc[journal["status"] == 200, "records"].sum())
    entered = len(saturated.users)
    assert entered == 15_000 * 8
    assert int((saturated.users["outcome"] == "synced").sum()) == delivered
    assert len(saturated.members["a"]) == delivered
    assert saturated.members["a"] == saturated.expected_members["a"]


def test_simulate_saturated_token_delivers_capacity(saturated: RunData) -> None:
    inside, lo, hi = _saturated_span(saturated)
    rate = int(inside["records"].sum()) / (hi - lo)
    assert rate == pytest.approx(CAPACITY, rel=0.01), f"{rate:.0f} users/s"


# --- token faults within a short retry window ---------------------------------------------------

REVOKE = fault("revoke_token", "60s")
RECONNECT = fault("reconnect", "300s")


def _revoked(*extra_faults: dict[str, object]) -> RunData:
    """2 users/s for 2 min; the token is revoked at 60 s; retries give up after 10 min."""
    scenario = build_scenario(
        "revoked.toml",
        name="revoked",
        seed=11,
        duration="13m",
        network=FAST_NETWORK,
        sync={"retry_window": "10m"},
        steps=[AUDIENCE_A],
        traffic=[traffic("a", "constant", rate="2/s", end="2m", **EVERYONE_HAS_EMAIL)],
        faults=[REVOKE, *extra_faults],
    )
    return simulate(scenario, 11)


def test_simulate_revoked_token_errors_users_at_retry_window() -> None:
    data = _revoked()
    users = data.users
    assert len(users) == 240
    after = users[users["entered_at"] >= 60.0]
    assert len(after) == 120
    assert (after["outcome"] == "errored").all()
    errored = users[users["outcome"] == "errored"]
    assert (errored["reason"] == "auth_invalid").all()
    np.testing.assert_allclose(errored["outcome_at"] - errored["entered_at"], 600.0, atol=1e-6)
    # those flushed before the revoke are in the audience; nobody after it
    assert (users.loc[users["entered_at"] < 55.0, "outcome"] == "synced").all()
    journal = data.requests
    accepted = _patches(data)
    accepted = accepted[accepted["status"] == 200]
    assert accepted["sent_at"].max() < 60.0
    assert int(accepted["records"].sum()) == int((users["outcome"] == "synced").sum())
    assert len(data.members["a"]) == int(accepted["records"].sum())
    # Pinterest saw the dead token once (401, then a refused refresh) and was left alone after
    assert (journal.loc[journal["t"] >= 60.0, "status"] >= 400).all()
    assert journal["t"].max() < 61.0
    assert run_checks(data)["audience_members"].ok


def test_simulate_reconnect_within_retry_window_syncs_everyone() -> None:
    data = _revoked(RECONNECT)
    users = data.users
    assert len(users) == 240
    assert (users["outcome"] == "synced").all()
    # the users held while the token was dead went out once it was reconnected
    held = users[users["entered_at"] >= 60.0]
    assert (held["outcome_at"] >= 300.0).all()
    assert (held["outcome_at"] <= 300.0 + FLUSH_S + LATENCY_SLACK_S).all()
    accepted = _patches(data)
    accepted = accepted[accepted["status"] == 200]
    assert int(accepted["records"].sum()) == len(users)
    assert data.members["a"] == data.expected_members["a"]
    assert len(data.members["a"]) == len(users)
    result = run_checks(data)["audience_members"]
    assert result.ok, result.detail


# --- checks on a clean run ------------------------------------------------------------------------


def test_run_checks_all_hold_on_clean_default_like_run() -> None:
    scenario = override(default(), "scenario.duration", "6h")  # the built-in day, cut short
    data = simulate(scenario, scenario.seed)
    assert len(data.users) > 300 and set(data.step_ids) == {"welcome-add", "vip-add"}
    assert (_patches(data)["status"] == 200).sum() > 300
    results = run_checks(data)
    assert list(results) == list(CHECKS)
    failed = {name: r.detail for name, r in results.items() if not r.ok}
    assert not failed
    expectations = check_expectations(data, scenario.expect)
    assert expectations and all(r.ok for r in expectations.values()), expectations


def test_every_fault_kind_is_either_a_window_or_an_instant_the_driver_fires() -> None:
    # a kind in neither table would be accepted by the scenario and then silently do nothing
    windowed = translate.WINDOWED_FAULTS
    instant = frozenset(driver._INSTANT_FAULTS)
    assert windowed | instant == frozenset(FaultKind)
    assert not windowed & instant
