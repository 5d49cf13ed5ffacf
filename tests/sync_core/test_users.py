"""The columnar user table."""

import pickle
from array import array

import pytest

from sync_core.metrics import StepTally, UserState
from sync_core.outcomes import Reason
from sync_core.users import UserTable


def test_user_table_finds_the_oldest_pending_user() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a", "b", "c"], 0, array("d", [1.0] * 3), 1.0, bytes([1, 0, 2]))
    assert table.first_pending() == 0
    table.resolve(0, UserState.SYNCED, 2.0, tally)
    assert table.first_pending() == 2
    table.resolve(2, UserState.ERRORED, 3.0, tally)
    assert table.first_pending() == -1
    assert (tally.synced, tally.errored) == (1, 1)


def test_user_table_resolves_a_user_only_once() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a"], 0, array("d", [1.0]), 1.0, bytes([1]))
    table.resolve(0, UserState.ERRORED, 2.0, tally)
    table.resolve(0, UserState.SYNCED, 3.0, tally)
    outcome = table.outcome(0, "s")
    assert (outcome.outcome, outcome.outcome_at, tally.synced) == ("errored", 2.0, 0)


def test_user_table_outcome_record_carries_attempts_status_and_reason() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a"], 0, array("d", [1.0]), 1.0, bytes([1]))
    table.note_attempts([0], 429, Reason.RATE_LIMITED)
    assert table.outcome(0, "s").reason is None  # a reason is reported once errored
    table.resolve(0, UserState.ERRORED, 9.0, tally)
    outcome = table.outcome(0, "s")
    assert (outcome.attempts, outcome.last_status, outcome.reason) == (1, 429, "rate_limited")


def test_user_table_orders_deadlines_across_out_of_order_arrivals() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["late1", "late2"], 0, array("d", [5.0, 6.0]), 6.0, bytes([1, 1]))
    table.add(["early"], 0, array("d", [4.0]), 6.0, bytes([1]))
    table.add(["later"], 0, array("d", [7.0]), 7.0, bytes([1]))
    order = []
    while (index := table.first_pending()) >= 0:
        order.append(table.ids[index])
        table.resolve(index, UserState.ERRORED, 9.0, tally)
    assert order == ["early", "late1", "late2", "later"]


def test_user_table_add_leaves_users_without_a_record_not_synced() -> None:
    table = UserTable()
    assert list(table.add(["a", "b"], 0, array("d", [1.0] * 2), 1.0, bytes([1, 2]))) == [0, 1]
    pending = table.add(["c", "d", "e"], 0, array("d", [2.0] * 3), 2.0, bytes([0, 1, 0]))
    assert list(pending) == [3]
    assert [table.outcome(i, "s").outcome for i in range(5)] == [
        "pending",
        "pending",
        "not_synced",
        "pending",
        "not_synced",
    ]


@pytest.mark.parametrize("fresh", [True, False])
def test_user_table_mark_synced_counts_each_step_and_each_attempt(fresh: bool) -> None:
    table, tallies = UserTable(), [StepTally(last_step=False) for _ in range(2)]
    table.add(["a", "b"], 0, array("d", [1.0] * 2), 1.0, bytes([1, 1]))
    table.add(["c"], 1, array("d", [1.0]), 1.0, bytes([1]))
    if not fresh:
        table.note_attempts([1], 503, Reason.SERVER_ERROR)
    table.mark_synced(array("q", [0, 1, 2]), fresh, 200, 3.0, tallies)
    outcomes = [table.outcome(i, "s") for i in range(3)]
    assert [(o.outcome, o.outcome_at, o.last_status) for o in outcomes] == [
        ("synced", 3.0, 200)
    ] * 3
    assert [o.attempts for o in outcomes] == [1, 1 if fresh else 2, 1]
    assert [t.synced for t in tallies] == [2, 1]


def test_user_table_mark_synced_leaves_a_settled_user_settled() -> None:
    table, tallies = UserTable(), [StepTally(last_step=False)]
    table.add(["a", "b"], 0, array("d", [1.0] * 2), 1.0, bytes([1, 1]))
    table.expire(0, Reason.RATE_LIMITED, 2.0, tallies[0])
    table.mark_synced(array("q", [0, 1]), False, 200, 3.0, tallies)
    errored, synced = table.outcome(0, "s"), table.outcome(1, "s")
    assert (errored.outcome, errored.outcome_at, errored.reason) == ("errored", 2.0, "rate_limited")
    assert (synced.outcome, tallies[0].synced, tallies[0].errored) == ("synced", 1, 1)


def test_user_table_pickles_back_to_the_same_users() -> None:
    # ids of every shape a caller may send: empty, non-ASCII, with separators inside
    ids = ["", "a", "ünï", "x\ny", "\x00", "🦜" * 3, "a,b;c"]
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(ids, 3, array("d", [float(k) for k in range(len(ids))]), 9.0, bytes([1] * len(ids)))
    table.resolve(2, UserState.SYNCED, 10.0, tally)
    copy = pickle.loads(pickle.dumps(table))
    assert list(copy.ids) == ids
    assert [copy.outcome(i, "s") for i in range(len(ids))] == [
        table.outcome(i, "s") for i in range(len(ids))
    ]
    assert copy.first_pending() == table.first_pending() == 0
