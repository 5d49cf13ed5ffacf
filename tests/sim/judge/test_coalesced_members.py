"""The audience-members check on a run where coalescing reduced adds and removes: the book's
own net set (``sim.book.ledger``) holds a correct engine and catches one that kept the wrong
record of a pair. Evidence is the mock's list and journal, never the engine's counters."""

from __future__ import annotations

import pytest

import sync_core.batching
from sim.judge.checks import check_audience_members
from sim.results.recorder import RunData
from sim.scenario import parse
from sim.world.driver import simulate
from sync_core.coalescing import Coalescer

SCENARIO = """
[scenario]
name = "coalesced"
seed = 3
duration = "1m"

[sync]
max_records_per_request = 20  # 140 records a second: removes meet their adds still queued

[[step]]
id = "add"
audience = { existing = "Trial users" }
match_fields = ["email"]

[[step]]
id = "remove"
audience = { existing = "Trial users" }
match_fields = ["email"]
action = "remove"

[[traffic]]
step = "add"
kind = "blast"
count = 2000

[[traffic]]
step = "remove"
kind = "constant"
rate = "400/s"
start = "5s"
end = "7s"
replay = "add"
"""


class _KeepsTheEarlier(Coalescer):
    """A broken coalescer: of an add and a remove of one id, it keeps the *earlier* entered."""

    def push(self, operation, users, nrec, blob, first, entered_at):  # type: ignore[no-untyped-def]
        flipped = [-entered_at[u] for u in range(len(entered_at))]
        return super().push(operation, users, nrec, blob, first, flipped)


def _run() -> RunData:
    return simulate(parse(SCENARIO), 3)


def _records_sent(data: RunData) -> int:
    writes = data.requests[data.requests["method"] == "PATCH"]
    return int(writes["records"].sum())


def test_coalesced_run_holds_the_net_set_with_fewer_records() -> None:
    data = _run()
    assert check_audience_members(data).ok
    users = data.users
    superseded = users["reason"] == "superseded"
    assert superseded.sum() > 100
    with_email = (users["outcome"] != "not_synced") | superseded  # one record each
    assert _records_sent(data) == with_email.sum() - superseded.sum()


def test_coalescing_that_keeps_the_earlier_record_fails_the_members_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync_core.batching, "Coalescer", _KeepsTheEarlier)
    data = _run()
    assert int((data.users["reason"] == "superseded").sum()) > 100
    result = check_audience_members(data)
    assert not result.ok and ", 0 extra" not in result.detail  # the adds it kept are extra
