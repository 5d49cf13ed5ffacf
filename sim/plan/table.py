"""``pinsim plan``'s table: each closed form that applies beside its simulated figure.

Responsibility: one row per formula of ``sim.plan.formulas`` that applies, per token, with
the prediction, the measurement in a run (a fresh ``RunData`` or a ``pinsim run/check``
output folder read back by ``sim.results.folder.load_run``) and their relative error; and
the table as aligned text.

Rules:
- ``error = (simulated − predicted) / predicted``; NaN when either side is missing or the
  prediction is 0 (a share of 0 has no relative error). NaN prints ``n/a``, ∞ ``never``.
- Without a run the simulated column is NaN: the table is the prediction alone.
- Several tokens: each row's formula is suffixed ``[connection]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Final

import pandas as pd

from sim.plan.formulas import FORMULAS, Context
from sim.plan.parameters import PlanInputs, derive
from sim.results.recorder import RunData
from sim.scenario import Scenario

__all__ = ["PLAN_COLUMNS", "format_plan", "plan_rows"]

PLAN_COLUMNS: Final = ("formula", "predicted", "simulated", "error", "unit", "note")


def plan_rows(scenario: Scenario, data: RunData | None = None) -> pd.DataFrame:
    """The plan of ``scenario``: one row per formula that applies (per token when there are
    several, suffixed ``[connection]``), with columns ``PLAN_COLUMNS``. Without ``data`` the
    simulated column is NaN."""
    inputs = derive(scenario)
    rows = list(_rows(scenario, inputs, data))
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


def _rows(
    scenario: Scenario, inputs: PlanInputs, data: RunData | None
) -> Iterator[dict[str, object]]:
    several = len(inputs.tokens) > 1
    for token in inputs.tokens:
        if not token.steps:
            continue
        ctx = Context(scenario, inputs, token, data)
        for formula in FORMULAS:
            if not formula.applies(ctx):
                continue
            predicted = formula.predict(ctx)
            measure = formula.measure
            simulated = measure(ctx) if measure is not None and data is not None else math.nan
            yield {
                "formula": formula.name + (f" [{token.connection}]" if several else ""),
                "predicted": predicted,
                "simulated": simulated,
                "error": _error(predicted, simulated),
                "unit": formula.unit,
                "note": formula.note,
            }


def _error(predicted: float, simulated: float) -> float:
    if not math.isfinite(predicted) or predicted == 0 or math.isnan(simulated):
        return math.nan
    return (simulated - predicted) / predicted


def format_plan(frame: pd.DataFrame) -> str:
    """The plan as an aligned text table: formula | predicted | simulated | error | unit."""
    cells = [["formula", "predicted", "simulated", "error", "unit"]]
    columns = zip(
        frame["formula"].astype(str),
        frame["predicted"].to_numpy(float),
        frame["simulated"].to_numpy(float),
        frame["error"].to_numpy(float),
        frame["unit"].astype(str),
        strict=True,
    )
    for formula, predicted, simulated, error, unit in columns:
        shown = "n/a" if math.isnan(error) else f"{error:+.1%}"
        cells.append([formula, _number(predicted), _number(simulated), shown, unit])
    widths = [max(len(line[k]) for line in cells) for k in range(len(cells[0]))]
    lines = []
    for line in cells:
        right = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append(" | ".join([line[0].ljust(widths[0]), *right]).rstrip())
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
