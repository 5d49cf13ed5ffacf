"""Step counters."""

from sync_core.metrics import StepTally


def test_step_tally_derives_pending_and_moves_users_on_at_entry() -> None:
    tally = StepTally(last_step=False)
    tally.entered, tally.synced, tally.not_synced, tally.errored = 10, 3, 2, 1
    counters = tally.freeze()
    assert (counters.pending, counters.proceeded, counters.exited) == (4, 10, 0)


def test_step_tally_of_a_last_step_counts_exits_not_proceeds() -> None:
    tally = StepTally(last_step=True)
    tally.entered = 5
    counters = tally.freeze()
    assert (counters.proceeded, counters.exited) == (0, 5)
