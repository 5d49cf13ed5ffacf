"""``pinsim plan``'s table: each closed form that applies beside its simulated figure.

Responsibility: one row per formula of ``sim.plan.formulas`` that applies, per token, with
the prediction, the measurement in a run (a fresh ``RunData`` or a ``pinsim run/check``
output folder read back by ``sim.results.folder.load_run``) and their relative error; and
the table as aligned text.

Rules:
- ``error = (simulated − predicted) / predicted``; NaN when either side is missing or the
  prediction is 0 (a share of 0 has no relative error). NaN prints ``n/a``, ∞ ``never``.
- Without a run the simulated column is NaN: the table is the prediction alone.
- Each measured row has a verdict against its formula's stated tolerance
  (``sim.plan.tolerance``): ``ok``, ``outside`` or ``n/a``. Under the text table each row
  outside its tolerance is explained by the formula's known gap, or flagged as having none
  (a miss to look into).
- Several tokens: each row's formula is suffixed ``[connection]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Final

import pandas as pd

from sim.plan.formulas import FORMULAS, Context
from sim.plan.parameters import PlanInputs, derive
from sim.plan.tolerance import verdict
from sim.results.recorder import RunData
from sim.scenario import Scenario

__all__ = ["PLAN_COLUMNS", "format_plan", "plan_rows"]

PLAN_COLUMNS: Final = (
    "formula",
    "predicted",
    "simulated",
    "error",
    "tolerance",
    "verdict",
    "unit",
    "note",
    "gap",
)
_NO_KNOWN_GAP: Final = "no known gap: look into it"


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
            tolerance = formula.tolerance
            yield {
                "formula": formula.name + (f" [{token.connection}]" if several else ""),
                "predicted": predicted,
                "simulated": simulated,
                "error": _error(predicted, simulated),
                "tolerance": tolerance.stated if tolerance is not None else "",
                "verdict": verdict(tolerance, predicted, simulated),
                "unit": formula.unit,
                "note": formula.note,
                "gap": formula.gap,
            }


def _error(predicted: float, simulated: float) -> float:
    if not math.isfinite(predicted) or predicted == 0 or math.isnan(simulated):
        return math.nan
    return (simulated - predicted) / predicted


def format_plan(frame: pd.DataFrame) -> str:
    """The plan as an aligned text table — formula | predicted | simulated | error | tolerance |
    verdict | unit — then, for each row outside its tolerance, its known gap."""
    header = ["formula", "predicted", "simulated", "error", "tolerance", "verdict", "unit"]
    cells = [header]
    columns = zip(
        *(frame[name].astype(str) for name in ("formula", "tolerance", "verdict", "unit")),
        *(frame[name].to_numpy(float) for name in ("predicted", "simulated", "error")),
        strict=True,
    )
    for formula, tolerance, judged, unit, predicted, simulated, error in columns:
        shown = "n/a" if math.isnan(error) else f"{error:+.1%}"
        numbers = [_number(predicted), _number(simulated), shown]
        cells.append([formula, *numbers, tolerance, judged, unit])
    widths = [max(len(line[k]) for line in cells) for k in range(len(header))]
    lines = []
    for line in cells:
        right = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append(" | ".join([line[0].ljust(widths[0]), *right]).rstrip())
    lines.insert(1, "-+-".join("-" * w for w in widths))
    outside = frame[frame["verdict"] == "outside"]
    gaps = zip(outside["formula"].astype(str), outside["gap"].astype(str), strict=True)
    lines += [f"  outside: {formula}: {gap or _NO_KNOWN_GAP}" for formula, gap in gaps]
    return "\n".join(lines)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
