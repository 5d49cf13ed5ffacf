"""The columnar user table."""

from array import array

from sync_core.metrics import StepTally, UserState
from sync_core.outcomes import Reason
from sync_core.users import UserTable


def test_user_table_finds_the_oldest_pending_user() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a", "b", "c"], 0, array("d", [1.0] * 3), 1.0, bytearray([0, 2, 0]))
    assert table.first_pending() == 0
    table.resolve(0, UserState.SYNCED, 2.0, tally)
    assert table.first_pending() == 2
    table.resolve(2, UserState.ERRORED, 3.0, tally)
    assert table.first_pending() == -1
    assert (tally.synced, tally.errored) == (1, 1)


def test_user_table_resolves_a_user_only_once() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a"], 0, array("d", [1.0]), 1.0, bytearray(1))
    table.resolve(0, UserState.ERRORED, 2.0, tally)
    table.resolve(0, UserState.SYNCED, 3.0, tally)
    outcome = table.outcome(0, "s")
    assert (outcome.outcome, outcome.outcome_at, tally.synced) == ("errored", 2.0, 0)


def test_user_table_outcome_record_carries_attempts_status_and_reason() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["a"], 0, array("d", [1.0]), 1.0, bytearray(1))
    table.note_attempt(0, 429, Reason.RATE_LIMITED)
    assert table.outcome(0, "s").reason is None  # a reason is reported once errored
    table.resolve(0, UserState.ERRORED, 9.0, tally)
    outcome = table.outcome(0, "s")
    assert (outcome.attempts, outcome.last_status, outcome.reason) == (1, 429, "rate_limited")


def test_user_table_orders_deadlines_across_out_of_order_arrivals() -> None:
    table, tally = UserTable(), StepTally(last_step=False)
    table.add(["late1", "late2"], 0, array("d", [5.0, 6.0]), 6.0, bytearray(2))
    table.add(["early"], 0, array("d", [4.0]), 6.0, bytearray(1))
    table.add(["later"], 0, array("d", [7.0]), 7.0, bytearray(1))
    order = []
    while (index := table.first_pending()) >= 0:
        order.append(table.ids[index])
        table.resolve(index, UserState.ERRORED, 9.0, tally)
    assert order == ["early", "late1", "late2", "later"]
