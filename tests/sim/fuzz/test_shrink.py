"""sim.fuzz.shrink: ddmin finds a 1-minimal subset; shrinking keeps the failure, stays a valid
scenario, is deterministic and bounded.

The judges here are plain predicates over the document (no simulation): what "still fails"
means is the test's own truth, so the shrinker's result can be checked exactly.
"""

from __future__ import annotations

from typing import Any

from sim.fuzz.schedules import fault_kinds, schedule
from sim.fuzz.shrink import ddmin, shrink
from sim.scenario import from_raw
from sim.scenario.units import parse_duration


def test_ddmin_finds_the_two_items_that_together_fail() -> None:
    calls: list[list[int]] = []

    def fails(items: list[int]) -> bool:
        calls.append(items)
        return 3 in items and 7 in items

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert len(calls) < 40


def test_ddmin_gives_nothing_when_nothing_is_needed_and_all_when_all_are() -> None:
    assert ddmin([1, 2, 3], lambda items: True) == []
    assert ddmin([1, 2, 3], lambda items: len(items) == 3) == [1, 2, 3]


def _has_kind(kind: str) -> Any:
    def fails(document: dict[str, Any]) -> bool:
        from_raw(document, "judged")  # never asked about an invalid document
        return kind in fault_kinds(document)

    return fails


def _document_with(kind: str) -> dict[str, Any]:
    return next(
        d for n in range(100) if kind in fault_kinds(d := schedule(4, n)) and len(d["fault"]) >= 3
    )


def test_a_failure_needing_one_row_shrinks_to_that_row_in_a_short_run() -> None:
    original = _document_with("server_errors")
    shrunk = shrink(original, _has_kind("server_errors"), budget=200)
    assert fault_kinds(shrunk) == ["server_errors"]
    row = shrunk["fault"][0]
    assert set(row) <= {"kind", "at", "until"}  # share 1 and connection, status removed
    assert parse_duration(shrunk["scenario"]["duration"]) < parse_duration(
        original["scenario"]["duration"]
    )
    assert "traffic" not in shrunk and len(shrunk["connection"]) == 1
    from_raw(shrunk, "shrunk")


def test_shrinking_is_deterministic_and_leaves_its_input_alone() -> None:
    original = _document_with("latency")
    before = repr(original)
    first = shrink(original, _has_kind("latency"), budget=200)
    assert repr(original) == before
    assert shrink(original, _has_kind("latency"), budget=200) == first


def test_the_budget_bounds_the_judgements_and_the_result_still_fails() -> None:
    original = _document_with("timeout")
    judged: list[int] = []

    def fails(document: dict[str, Any]) -> bool:
        judged.append(1)
        return "timeout" in fault_kinds(document)

    shrunk = shrink(original, fails, budget=5)
    assert len(judged) <= 5
    assert "timeout" in fault_kinds(shrunk)
    assert len(shrunk["fault"]) <= len(original["fault"])
