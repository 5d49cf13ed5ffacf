"""``pinsim plan``'s verdicts: each measured row judged against its formula's stated tolerance,
a row outside it explained by the formula's known gap (or flagged as having none), and
``--skip-heavy``."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.plan.formulas import FORMULAS
from sim.plan.table import format_plan
from sim.plan.tolerance import Tolerance, at_least, at_most, verdict, within

SCENARIOS = Path(__file__).parents[3] / "scenarios"


@pytest.mark.parametrize(
    ("tolerance", "predicted", "simulated", "expected"),
    [
        (within(0.02), 100.0, 101.9, "ok"),
        (within(0.02), 100.0, 97.9, "outside"),
        (within(0.1), 0.0, 0.0, "ok"),
        (within(0.1), 0.0, 3.0, "outside"),  # a prediction of 0 holds only against 0
        (at_most(0.1), 10.0, 10.9, "ok"),
        (at_most(0.1), 10.0, 11.1, "outside"),
        (at_least(0.9), 1.0, 0.95, "ok"),
        (at_least(0.9), 1.0, 0.5, "outside"),
        (within(0.02), 100.0, math.nan, "n/a"),  # nothing measured
        (None, 100.0, 50.0, "n/a"),  # nothing stated
    ],
)
def test_a_row_holds_within_its_stated_tolerance_or_not(
    tolerance: Tolerance | None, predicted: float, simulated: float, expected: str
) -> None:
    assert verdict(tolerance, predicted, simulated) == expected


def test_the_tolerances_say_what_they_hold() -> None:
    assert (within(0.02).stated, at_most(0.1).stated) == ("±2 %", "≤ bound + 10 %")
    assert at_least(0.9).stated == "≥ 90 % of it"


def test_every_measured_formula_states_a_tolerance() -> None:
    for formula in FORMULAS:
        assert (formula.tolerance is not None) == (formula.measure is not None), formula.name


def _frame(rows: list[tuple[str, float, float, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "formula": name,
                "predicted": predicted,
                "simulated": simulated,
                "error": (simulated - predicted) / predicted,
                "tolerance": "±2 %",
                "verdict": judged,
                "unit": "s",
                "note": "",
                "gap": gap,
            }
            for name, predicted, simulated, judged, gap in rows
        ]
    )


def test_a_row_outside_its_tolerance_is_explained_under_the_table() -> None:
    text = format_plan(
        _frame(
            [
                ("mean lag", 2.0, 2.01, "ok", "queueing"),
                ("drain", 10.0, 20.0, "outside", "retries on their backoff schedule"),
                ("backlog", 10.0, 5.0, "outside", ""),
            ]
        )
    )
    header, _, *rows = text.splitlines()
    assert header.split(" | ")[4:6] == ["tolerance".rjust(9), "verdict"]
    assert "  outside: drain: retries on their backoff schedule" in rows
    assert "  outside: backlog: no known gap: look into it" in rows
    assert not any("mean lag:" in row for row in rows)


def test_plan_skips_heavy_scenarios_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heavy = str(SCENARIOS / "black_friday_blast.toml")
    assert main(["plan", heavy, "--skip-heavy", "--runs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("SKIP black_friday_blast (heavy)")
