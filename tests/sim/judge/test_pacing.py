"""sim.judge.pacing: 429 share, utilisation while backlogged and the busiest arrival second, checked
in closed form on hand-built runs."""

from __future__ import annotations

import numpy as np
import pytest

from sim.judge import pacing
from sim.judge.pacing import BusiestSecond, Pacing, busiest_second, interval_union
from tests.sim.rundata_samples import hand_run, journal_row, users_frame

AUDIENCES = "/v5/ad_accounts/549755885175/audiences"
CREATE_LIST = "/v5/ad_accounts/549755885175/customer_lists"


def test_utilisation_is_accepted_writes_in_backlog_over_the_limit() -> None:
    # entered at 0.5 s: released at the 5 s tick, synced at 15 s → a 10 s backlog
    users = users_frame([("a", 0.5, "synced", 15.0)])
    inside = [journal_row(5.0 + i * 10.0 / 63) for i in range(63)]
    outside = [journal_row(4.99), journal_row(15.0), journal_row(20.0)]  # [5 s, 15 s) only
    run = hand_run(users, [*inside, *outside], sim_seconds=60.0)
    figures = pacing.by_token(run)["tok-1"]
    assert figures.backlog_s == pytest.approx(10.0)
    assert figures.accepted_in_backlog == 63
    assert figures.utilisation == pytest.approx(63 / (7 * 10.0)) == pytest.approx(0.9)


def test_utilisation_counts_only_accepted_writes_by_arrival() -> None:
    users = users_frame([("a", 0.5, "synced", 15.0)])
    requests = [
        journal_row(6.0),
        journal_row(7.0, status=429),  # refused: not a use of the limit
        journal_row(8.0, method="GET", path=AUDIENCES),  # not a write
        journal_row(9.0, sent_at=3.0),  # sent before the backlog, arrived in it: counts
        journal_row(16.0, sent_at=14.0),  # sent in the backlog, arrived after it: does not
    ]
    figures = pacing.by_token(hand_run(users, requests, sim_seconds=60.0))["tok-1"]
    assert figures.accepted_in_backlog == 2


def test_backlog_unions_overlapping_users_and_skips_not_synced() -> None:
    users = users_frame(
        [
            ("a", 0.5, "synced", 15.0),  # [5, 15)
            ("a", 7.0, "synced", 20.0),  # [10, 20): overlaps, union [5, 20)
            ("a", 25.0, "errored", 35.0),  # entered on a tick: released at the next, [30, 35)
            ("a", 0.0, "not_synced", 100.0),  # never queued
            ("a", 41.0, "pending", np.nan),  # [45, end of run = 50)
            ("a", 50.0, "pending", np.nan),  # released after the run: no backlog
        ]
    )
    run = hand_run(users, [journal_row(1.0, method="GET", path=AUDIENCES)], sim_seconds=50.0)
    assert pacing.by_token(run)["tok-1"].backlog_s == pytest.approx(15.0 + 5.0 + 5.0)


def test_interval_union_merges_overlapping_and_touching_and_drops_empty() -> None:
    starts, ends = interval_union([7.0, 1.0, 0.0, 3.0, 6.0], [8.0, 3.0, 2.0, 4.0, 5.0])
    assert starts.tolist() == [0.0, 7.0] and ends.tolist() == [4.0, 8.0]
    empty = interval_union([], [])
    assert empty[0].size == empty[1].size == 0


def test_interval_union_agrees_with_a_plain_merge() -> None:
    rng = np.random.default_rng(7)
    starts = rng.uniform(0.0, 1000.0, 500)
    ends = starts + rng.exponential(3.0, 500)
    merged: list[list[float]] = []
    for lo, hi in sorted(zip(starts.tolist(), ends.tolist(), strict=True)):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    got_starts, got_ends = interval_union(starts, ends)
    assert got_starts.tolist() == [lo for lo, _ in merged]
    assert got_ends.tolist() == [hi for _, hi in merged]


def test_share_429_counts_only_the_engines_customer_list_writes() -> None:
    requests = [
        journal_row(1.0),
        journal_row(2.0),
        journal_row(3.0),
        journal_row(4.0, status=429),
        journal_row(5.0, method="GET", path=AUDIENCES, status=429),  # not a write
        journal_row(6.0, method="POST", path=CREATE_LIST, status=429),  # a create, not a PATCH
        journal_row(7.0, status=429, sent_at=np.nan),  # the harness's own, not the engine's
    ]
    figures = pacing.by_token(hand_run(users_frame([]), requests, sim_seconds=60.0))["tok-1"]
    assert (figures.writes, figures.refused_429) == (4, 1)
    assert figures.share_429 == pytest.approx(0.25)


def test_busiest_arrival_second_counts_refused_requests_by_arrival() -> None:
    # sent a second apart each, but they arrive bunched within 0.5 s
    requests = [
        journal_row(10.0 + k * 0.1, sent_at=float(k), status=429 if k % 2 else 200)
        for k in range(5)
    ]
    requests.append(journal_row(10.2, method="GET", path=AUDIENCES, sent_at=9.0))
    requests.append(journal_row(11.0))  # just outside [10 s, 11 s)
    figures = pacing.by_token(hand_run(users_frame([]), requests, sim_seconds=60.0))["tok-1"]
    assert figures.busiest == BusiestSecond(count=6, start_s=10.0, token="tok-1")


def test_busiest_second_window_is_half_open() -> None:
    assert busiest_second([0.0, 0.5, 1.0, 1.2]) == (3, 0.5)
    assert busiest_second([3.0]) == (1, 3.0)


def test_no_writes_and_no_backlog_leave_the_shares_undefined() -> None:
    run = hand_run(users_frame([]), [journal_row(1.0, method="GET", path=AUDIENCES)], sim_seconds=9)
    figures = pacing.overall(run)
    assert figures.share_429 is None and figures.utilisation is None
    assert figures.busiest.count == 1


def test_empty_journal_gives_no_tokens() -> None:
    run = hand_run(users_frame([("a", 0.5, "pending", np.nan)]), [], sim_seconds=60.0)
    assert pacing.by_token(run) == {}
    assert pacing.overall(run) == Pacing(requests_per_second=7)


def test_backlog_moves_to_the_new_token_at_its_first_request() -> None:
    # one connection; a reconnect at 20 s brings tok-3: the backlog [5 s, 40 s) splits there
    users = users_frame([("a", 0.5, "synced", 40.0)])
    requests = [
        journal_row(1.0, method="GET", path=AUDIENCES),
        journal_row(6.0),
        journal_row(7.0),
        journal_row(20.0, token="tok-3", method="GET", path=AUDIENCES),
        journal_row(25.0, token="tok-3"),
    ]
    run = hand_run(users, requests, sim_seconds=60.0)
    tokens = pacing.by_token(run)
    assert list(tokens) == ["tok-1", "tok-3"]
    assert tokens["tok-1"].backlog_s == pytest.approx(15.0)
    assert tokens["tok-3"].backlog_s == pytest.approx(20.0)
    assert (tokens["tok-1"].accepted_in_backlog, tokens["tok-3"].accepted_in_backlog) == (2, 1)
    (connection,) = pacing.by_connection(run).values()
    assert connection.backlog_s == pytest.approx(35.0)
    assert connection.utilisation == pytest.approx(3 / (7 * 35.0))


def test_steps_reach_their_own_connections_token() -> None:
    users = users_frame([("a", 0.5, "synced", 15.0), ("b", 6.0, "synced", 30.0)])
    requests = [
        journal_row(6.0, token="tok-1", user="north"),
        journal_row(12.0, token="tok-2", user="south"),
        journal_row(12.5, token="tok-2", user="south", status=429),
    ]
    run = hand_run(
        users,
        requests,
        sim_seconds=60.0,
        steps=("a", "b"),
        step_connections={"a": "north", "b": "south"},
    )
    tokens = pacing.by_token(run)
    assert tokens["tok-1"].backlog_s == pytest.approx(10.0)
    assert tokens["tok-2"].backlog_s == pytest.approx(20.0)
    assert set(pacing.by_connection(run)) == {"north", "south"}
    total = pacing.overall(run)
    assert (total.writes, total.refused_429, total.accepted_in_backlog) == (3, 1, 2)
    assert total.backlog_s == pytest.approx(30.0)
    assert total.utilisation == pytest.approx(2 / (7 * 30.0))
    assert total.busiest == BusiestSecond(count=2, start_s=12.0, token="tok-2")


def test_combine_sums_and_keeps_the_first_busiest_on_ties() -> None:
    one = Pacing(requests_per_second=7, writes=3, busiest=BusiestSecond(count=2, token="x"))
    two = Pacing(requests_per_second=7, writes=1, refused_429=1, backlog_s=2.0)
    three = Pacing(requests_per_second=7, busiest=BusiestSecond(count=2, token="y"))
    total = pacing.combine([one, two, three], 7)
    assert (total.writes, total.refused_429, total.backlog_s) == (4, 1, 2.0)
    assert total.busiest.token == "x"
