"""sim.judge.checks: every invariant passes on a consistent run, fails when exactly it is broken."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd
import pytest

from sim.book.digests import DigestSet
from sim.judge.checks import CHECKS, run_checks
from sim.judge.expectations import check_expectations
from sim.results.recorder import FaultWindow, RunData
from sim.scenario import Expectations, ExpectBounds, parse
from tests.sim.rundata_samples import sample_run


@pytest.fixture(scope="module")
def good() -> RunData:
    return sample_run()


def _with_requests(data: RunData, change: Callable[[pd.DataFrame], None]) -> RunData:
    requests = data.requests.copy()
    change(requests)
    return dataclasses.replace(data, requests=requests)


def _with_users(data: RunData, change: Callable[[pd.DataFrame], None]) -> RunData:
    users = data.users.copy()
    change(users)
    return dataclasses.replace(data, users=users)


def _add(frame: pd.DataFrame, row: int, column: str, delta: float) -> None:
    """`frame.loc[row, column] += delta`, reading the cell through its column: pandas-stubs types
    a frame cell as any scalar (dates, periods, ...), to which `+` a number does not apply."""
    frame.loc[row, column] = frame[column].loc[row] + delta


def _opener_at(data: RunData, tick: float) -> int:
    """The PATCH sent exactly at `tick` (the sample run's ticks open bursts)."""
    return int(data.requests.index[data.requests["sent_at"] == tick][0])


def _failing(data: RunData) -> set[str]:
    return {name for name, result in run_checks(data).items() if not result.ok}


def test_run_checks_all_pass_on_consistent_run(good: RunData) -> None:
    results = run_checks(good)
    assert list(results) == list(CHECKS)
    assert all(result.ok for result in results.values()), results


def test_run_checks_pass_with_429_storm_and_retries() -> None:
    assert _failing(sample_run(storm=(20.0, 40.0))) == set()


def test_conservation_fails_on_unbalanced_sample(good: RunData) -> None:
    timeseries = good.timeseries.copy()
    _add(timeseries, 7, "pending", 1)
    result = run_checks(dataclasses.replace(good, timeseries=timeseries))["conservation"]
    assert not result.ok
    assert "1 samples unbalanced" in result.detail


def test_conservation_fails_when_users_table_disagrees_with_counters(good: RunData) -> None:
    def flip(users: pd.DataFrame) -> None:
        users.loc[users.index[users["outcome"] == "synced"][0], "outcome"] = "errored"

    data = _with_users(good, flip)
    assert _failing(data) >= {"conservation"}
    detail = run_checks(data)["conservation"].detail
    assert "users table synced" in detail
    assert "users table errored" in detail


def test_rate_limit_fails_on_eighth_request_within_one_second(good: RunData) -> None:
    extra = pd.concat([good.requests.iloc[[0]]] * 8, ignore_index=True)
    extra["sent_at"] = 1000.0 + np.arange(8) * 0.14  # 8 sends spanning 0.98 s
    extra["t"] = extra["sent_at"] + 0.1
    data = dataclasses.replace(good, requests=pd.concat([good.requests, extra], ignore_index=True))
    result = run_checks(data)["rate_limit"]
    assert not result.ok
    assert "8 requests on tok-1 in [1000.000 s, +1 s), limit 7" in result.detail


def test_rate_limit_judges_sends_not_jittered_arrivals_nor_harness_setup(good: RunData) -> None:
    paced = pd.concat([good.requests.iloc[[0]]] * 8, ignore_index=True)
    paced["sent_at"] = 1000.0 + np.append(np.arange(7) / 7, 1.0)
    paced["t"] = paced["sent_at"] + np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.05])
    setup = pd.concat([good.requests.iloc[[0]]] * 8, ignore_index=True)
    setup["sent_at"], setup["t"] = np.nan, 2000.0  # the harness's own calls
    frames = [good.requests, paced, setup]
    data = dataclasses.replace(good, requests=pd.concat(frames, ignore_index=True))
    assert run_checks(data)["rate_limit"].ok


def test_rate_limit_allows_limit_in_window_and_next_at_exactly_one_second(good: RunData) -> None:
    extra = pd.concat([good.requests.iloc[[0]]] * 8, ignore_index=True)
    extra["sent_at"] = 1000.0 + np.append(np.arange(7) * 0.1, 1.0)  # 8th opens the next window
    extra["t"] = extra["sent_at"] + 0.05
    data = dataclasses.replace(good, requests=pd.concat([good.requests, extra], ignore_index=True))
    assert run_checks(data)["rate_limit"].ok


def test_rate_limit_counts_tokens_separately(good: RunData) -> None:
    extra = pd.concat([good.requests.iloc[[0]]] * 8, ignore_index=True)
    extra["t"] = 1000.0 + np.arange(8) * 0.01
    extra["token_id"] = ["tok-2", "tok-3"] * 4
    data = dataclasses.replace(good, requests=pd.concat([good.requests, extra], ignore_index=True))
    assert run_checks(data)["rate_limit"].ok


def test_max_records_fails_above_limit(good: RunData) -> None:
    data = _with_requests(
        good, lambda r: r.__setitem__("records", r["records"].where(r.index != 3, 1901))
    )
    result = run_checks(data)["max_records"]
    assert not result.ok
    assert "1 requests over 1900 records, largest 1901" in result.detail


def test_flush_cadence_fails_when_burst_opener_is_off_tick(good: RunData) -> None:
    opener = _opener_at(good, 25.0)

    def shift(requests: pd.DataFrame) -> None:
        _add(requests, opener, "sent_at", 0.5)

    result = run_checks(_with_requests(good, shift))["flush_cadence"]
    assert not result.ok
    assert "off the 5 s tick" in result.detail


def test_flush_cadence_exempts_retry_after_non_2xx(good: RunData) -> None:
    def retry_later(requests: pd.DataFrame) -> None:
        opener = _opener_at(good, 25.0)
        first_list = requests.loc[opener, "customer_list_id"]
        previous = requests.index[
            (requests["customer_list_id"] == first_list) & (requests["sent_at"] < 25.0)
        ][-1]
        requests.loc[previous, "status"] = 503
        _add(requests, opener, "sent_at", 0.5)

    assert run_checks(_with_requests(good, retry_later))["flush_cadence"].ok


def test_flush_cadence_exempts_sends_inside_fault_window(good: RunData) -> None:
    opener = _opener_at(good, 25.0)
    start = float(good.requests["sent_at"].loc[opener])

    def shift(requests: pd.DataFrame) -> None:
        _add(requests, opener, "sent_at", 0.5)

    data = dataclasses.replace(
        _with_requests(good, shift),
        fault_windows=(FaultWindow(kind="latency", start_s=start, end_s=start + 1.0),),
    )
    assert run_checks(data)["flush_cadence"].ok


def test_flush_cadence_fails_when_a_user_goes_out_before_their_flush(good: RunData) -> None:
    opener = _opener_at(good, 25.0)

    def early(requests: pd.DataFrame) -> None:
        requests.loc[opener, "max_entered_at"] = 25.0  # entered at the tick: due at 30 s

    result = run_checks(_with_requests(good, early))["flush_cadence"]
    assert not result.ok
    assert "entered after the last 5 s tick" in result.detail


def test_flush_cadence_accepts_a_user_who_entered_just_before_the_tick(good: RunData) -> None:
    opener = _opener_at(good, 25.0)

    def just_in_time(requests: pd.DataFrame) -> None:
        requests.loc[opener, "max_entered_at"] = 25.0 - 5e-7  # inside the tolerance band

    assert run_checks(_with_requests(good, just_in_time))["flush_cadence"].ok


def test_flush_cadence_exempts_opener_right_after_a_429_on_the_token(good: RunData) -> None:
    opener = _opener_at(good, 25.0)

    def held(requests: pd.DataFrame) -> None:
        _add(requests, opener, "sent_at", 0.5)

    shifted = _with_requests(good, held)
    assert not run_checks(shifted)["flush_cadence"].ok
    refused = good.requests.loc[[opener]].assign(
        sent_at=23.9, t=24.0, status=429, customer_list_id=None, records=0, max_entered_at=19.0
    )
    requests = pd.concat([shifted.requests, refused], ignore_index=True)
    assert run_checks(dataclasses.replace(shifted, requests=requests))["flush_cadence"].ok


@pytest.mark.parametrize(
    ("after_rth_s", "ok"), [(1.02, True), (1.49, True), (1.99, True), (2.1, False)]
)
def test_flush_cadence_exempts_a_send_the_pacer_held_for_its_window(
    good: RunData, after_rth_s: float, ok: bool
) -> None:
    opener = _opener_at(good, 25.0)
    off_tick = 25.0 + 0.3
    # a full window of r sends just before: the pacer held this one until the r-th of them
    # was 1 s and its margin behind — unless that was too long ago to be the reason
    previous = good.requests.loc[[opener] * good.limits.requests_per_second].assign(
        sent_at=off_tick - after_rth_s,
        t=off_tick - after_rth_s + 0.01,
        customer_list_id=None,
        max_entered_at=0.0,
    )

    def held(requests: pd.DataFrame) -> None:
        requests.loc[opener, "sent_at"] = off_tick

    shifted = _with_requests(good, held)
    requests = pd.concat([shifted.requests, previous], ignore_index=True)
    result = run_checks(dataclasses.replace(shifted, requests=requests))["flush_cadence"]
    assert result.ok is ok


def test_deadline_respected_fails_when_sent_past_deadline(good: RunData) -> None:
    def late(requests: pd.DataFrame) -> None:
        requests.loc[2, "min_deadline_at"] = requests["sent_at"].loc[2] - 3.0

    result = run_checks(_with_requests(good, late))["deadline_respected"]
    assert not result.ok
    assert "worst by 3.000 s" in result.detail


def test_errored_at_deadline_fails_for_early_error_but_exempts_rejected(good: RunData) -> None:
    def early(users: pd.DataFrame) -> None:
        errored = users.index[users["outcome"] == "errored"]
        users.loc[errored, "reason"] = "auth_invalid"

    result = run_checks(_with_users(good, early))["errored_at_deadline"]
    assert not result.ok
    assert "errored before their deadline" in result.detail
    assert "auth_invalid" in result.detail
    assert run_checks(good)["errored_at_deadline"].ok  # same users, reason rejected


@pytest.mark.parametrize("kind", [frozenset, DigestSet.from_hex], ids=["frozenset", "digests"])
def test_audience_members_counts_missing_and_extra(
    good: RunData, kind: Callable[[set[str]], AbstractSet[str]]
) -> None:
    members = dict(good.members)
    vip = set(members["vip-add"])
    vip.pop()
    members["vip-add"] = kind(vip | {"f" * 64, "e" * 64})
    result = run_checks(dataclasses.replace(good, members=members))["audience_members"]
    assert not result.ok
    assert result.detail == "step vip-add: 1 missing, 2 extra"


def test_no_raw_pii_fails_on_raw_body(good: RunData) -> None:
    data = _with_requests(good, lambda r: r.__setitem__("raw_pii", r.index == 4))
    result = run_checks(data)["no_raw_pii"]
    assert not result.ok
    assert result.detail.startswith("1 requests carried raw PII")


def test_each_check_fails_alone_on_its_breakage(good: RunData) -> None:
    broken = _with_requests(good, lambda r: r.__setitem__("raw_pii", r.index == 0))
    assert _failing(broken) == {"no_raw_pii"}


def _final_totals(data: RunData) -> dict[str, int]:
    final = data.timeseries.groupby("step").tail(1)
    return {name: int(final[name].sum()) for name in ("synced", "errored", "pending")}


def test_check_expectations_reports_measured_and_expected(good: RunData) -> None:
    totals = _final_totals(good)
    expect = Expectations(totals=ExpectBounds(errored=totals["errored"] + 1, synced_min=1))
    results = check_expectations(good, expect)
    assert not results["errored"].ok
    assert results["errored"].detail == (
        f"errored = {totals['errored']}, expected = {totals['errored'] + 1}"
    )
    assert results["synced_min"].ok


@pytest.mark.parametrize(
    ("bounds", "ok"),
    [
        (ExpectBounds(pending_max=0), True),
        (ExpectBounds(lag_p99_max_s=60.0), True),
        (ExpectBounds(lag_p99_max_s=0.1), False),
        (ExpectBounds(not_synced_max=0), False),
        (ExpectBounds(errored_max=0), False),
        (ExpectBounds(drain_by_s=100.0), True),
        (ExpectBounds(drain_by_s=10.0), False),
    ],
)
def test_check_expectations_bounds(good: RunData, bounds: ExpectBounds, ok: bool) -> None:
    results = check_expectations(good, Expectations(totals=bounds))
    assert [result.ok for result in results.values()] == [ok]


def test_check_expectations_per_step_named_by_toml_key(good: RunData) -> None:
    expect = Expectations(steps={"vip-add": ExpectBounds(synced_min=10**6, lag_p99_max_s=60.0)})
    results = check_expectations(good, expect)
    assert set(results) == {"steps.vip-add.synced_min", "steps.vip-add.lag_p99_max"}
    assert not results["steps.vip-add.synced_min"].ok
    assert results["steps.vip-add.lag_p99_max"].detail.endswith("expected ≤ 60 s")


def test_check_expectations_lag_without_synced_users_is_vacuous(good: RunData) -> None:
    users = good.users.assign(outcome="pending")
    results = check_expectations(
        dataclasses.replace(good, users=users), Expectations(totals=ExpectBounds(lag_p99_max_s=1.0))
    )
    assert results["lag_p99_max"].ok
    assert "no synced users" in results["lag_p99_max"].detail


@pytest.mark.parametrize(
    ("bounds", "ok", "detail"),
    [
        # the storm answers 7 of the 29 writes 429
        (ExpectBounds(max_429_share=0.25), True, "429_share = 0.241379, expected ≤ 0.25"),
        (ExpectBounds(max_429_share=0.2), False, "429_share = 0.241379, expected ≤ 0.2"),
        (ExpectBounds(min_utilisation=0.5), True, "utilisation = 0.600546, expected ≥ 0.5"),
        (ExpectBounds(min_utilisation=0.7), False, "utilisation = 0.600546, expected ≥ 0.7"),
    ],
)
def test_check_expectations_pacing_bounds(bounds: ExpectBounds, ok: bool, detail: str) -> None:
    stormy = sample_run(storm=(20.0, 40.0))
    (result,) = check_expectations(stormy, Expectations(totals=bounds)).values()
    assert (result.ok, result.detail) == (ok, detail)


def test_check_expectations_min_utilisation_fails_without_backlog(good: RunData) -> None:
    nobody = good.users.assign(outcome="not_synced")
    results = check_expectations(
        dataclasses.replace(good, users=nobody),
        Expectations(totals=ExpectBounds(min_utilisation=0.1, max_429_share=0.0)),
    )
    assert not results["min_utilisation"].ok
    assert results["min_utilisation"].detail == (
        "utilisation: nothing to measure (no backlog); expected ≥ 0.1"
    )
    assert results["max_429_share"].ok  # no storm: nothing refused


def test_check_expectations_pacing_bounds_are_run_wide(good: RunData) -> None:
    expect = Expectations(steps={"vip-add": ExpectBounds(max_429_share=0.1)})
    with pytest.raises(ValueError, match=r"per-token figure: set it in \[expect\]"):
        check_expectations(good, expect)


_CALM = parse(
    "[[step]]\nid = 'vip-add'\naudience = { new = 'VIP buyers' }\n"
    "[[traffic]]\nstep = 'vip-add'\nkind = 'poisson'\nrate = '5/s'\nend = '100s'",
    "calm.toml",
)


@pytest.mark.parametrize(
    ("bounds", "ok", "detail"),
    [
        # calm traffic: the preflight predicts nobody errors, the p99 within a flush
        (ExpectBounds(preflight_errored_max=0), True, "preflight_errored = 0, expected ≤ 0"),
        (ExpectBounds(preflight_errored_min=1), False, "preflight_errored = 0, expected ≥ 1"),
        (ExpectBounds(preflight_lag_p99_max_s=6.0), True, "expected ≤ 6 s"),
        (ExpectBounds(preflight_lag_p99_max_s=1.0), False, "expected ≤ 1 s"),
        # the sample run errs where the preflight said nobody would: far from it
        (ExpectBounds(preflight_error_max=0.5), False, "expected ≤ 0.5"),
    ],
)
def test_check_expectations_preflight_bounds(
    good: RunData, bounds: ExpectBounds, ok: bool, detail: str
) -> None:
    (result,) = check_expectations(good, Expectations(totals=bounds), _CALM).values()
    assert (result.ok, result.detail.endswith(detail)) == (ok, True), result.detail


def test_check_expectations_preflight_needs_the_scenario(good: RunData) -> None:
    (result,) = check_expectations(
        good, Expectations(totals=ExpectBounds(preflight_errored_max=0))
    ).values()
    assert "nothing to measure (no scenario to predict from)" in result.detail
