"""sim.fuzz.schedules: documents are deterministic, valid scenarios, and cover every fault kind.

The truth each document is held to is the scenario reader users go through
(``sim.scenario.from_raw``); no simulation runs here.
"""

from __future__ import annotations

from collections import Counter

import pytest

from sim.fuzz.schedules import FAULTS, available_kinds, fault_kinds, schedule
from sim.scenario import FaultKind, from_raw

SCHEDULES = 150  # a modest number: every kind's weight makes it appear many times over


def test_the_same_seed_and_number_give_the_same_document() -> None:
    assert [schedule(3, n) for n in range(20)] == [schedule(3, n) for n in range(20)]


def test_different_seeds_and_numbers_give_different_documents() -> None:
    documents = [schedule(seed, n) for seed in (0, 1, 2) for n in range(20)]
    faults = [repr(document["fault"]) for document in documents]
    assert len(set(faults)) == len(faults)
    assert schedule(0, 0)["scenario"]["seed"] != schedule(1, 0)["scenario"]["seed"]


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_every_document_is_a_valid_scenario_with_faults_inside_the_run(seed: int) -> None:
    for number in range(SCHEDULES):
        scenario = from_raw(schedule(seed, number), f"schedule {number}")
        assert 1 <= len(scenario.faults) <= 7  # 1-6 rows, a revoke may bring its reconnect
        for fault in scenario.faults:
            assert 0 <= fault.at_s < scenario.duration_s
            assert fault.until_s is None or fault.at_s < fault.until_s <= scenario.duration_s
        assert {c.id for c in scenario.connections} == {"workspace", "second"}
        assert [step.action.value for step in scenario.steps] == ["add", "remove", "add"]


def test_every_fault_kind_of_the_format_is_drawn() -> None:
    drawn = Counter(kind for n in range(SCHEDULES) for kind in fault_kinds(schedule(0, n)))
    assert set(drawn) == {kind.value for kind in FaultKind}
    assert min(drawn.values()) >= 5


def test_every_kind_of_the_format_has_a_generator() -> None:
    """A kind added to the format without one here would never be fuzzed."""
    assert set(available_kinds()) == {kind.value for kind in FaultKind}
    assert set(available_kinds()) <= set(FAULTS)


def test_rare_kinds_are_rarer_and_revokes_often_bring_a_reconnect() -> None:
    documents = [schedule(5, n) for n in range(300)]
    drawn = Counter(kind for document in documents for kind in fault_kinds(document))
    assert drawn["delete_audience"] < drawn["server_errors"] / 2
    refused = sum(
        row.get("refresh") == "refused"
        for document in documents
        for row in document["fault"]
        if row["kind"] == "token_expiry"
    )
    assert 0 < refused < drawn["token_expiry"] / 3
    followed = 0
    for document in documents:
        rows = document["fault"]
        for index, row in enumerate(rows[:-1]):
            after = rows[index + 1]
            if row["kind"] == "revoke_token" and after["kind"] == "reconnect":
                followed += after["connection"] == row["connection"]
    assert followed >= drawn["revoke_token"] / 3
