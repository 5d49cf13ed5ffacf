"""How close a run must come to a closed form for ``pinsim plan`` to say it holds.

Responsibility: the ``Tolerance`` of a plan row — a test of (predicted, simulated) and the few
words that state it — and the verdict a row gets from it.

Rules:
- Three shapes, as the formulas promise: ``within(share)`` an estimate (|error| ≤ share; a
  prediction of 0 holds only against 0), ``at_most(share)`` a bound the run stays under (with
  ``share`` of slack, for a bound the network's rare slow leg may pass), and
  ``at_least(share)`` a share the run reaches (utilisation).
- The tolerances are those the validation tests hold the simulator to (tests/sim/
  test_validation.py: ±1–2 % on a near-zero network), widened only where a shipped
  scenario's network makes them loose; each formula states the gap it knows of beside it
  (``sim.plan.formulas``).
- A row without a simulated figure has no verdict (``n/a``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Tolerance", "at_least", "at_most", "verdict", "within"]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """``holds(predicted, simulated)``, said as ``stated`` (``±2 %``, ``≤ bound``…)."""

    stated: str
    holds: Callable[[float, float], bool]


def _percent(share: float) -> str:
    return f"{share * 100:g} %"


def within(share: float) -> Tolerance:
    """An estimate: the run within ``share`` of it either way."""

    def holds(predicted: float, simulated: float) -> bool:
        if predicted == 0:
            return simulated == 0
        return abs(simulated - predicted) <= share * abs(predicted)

    return Tolerance(f"±{_percent(share)}", holds)


def at_most(share: float = 0.0) -> Tolerance:
    """A bound: the run at most the prediction (plus ``share`` of it)."""
    slack = f" + {_percent(share)}" if share else ""
    return Tolerance(f"≤ bound{slack}", lambda p, s: s <= p * (1 + share))


def at_least(share: float) -> Tolerance:
    """A figure the run reaches: at least ``share`` of the prediction."""
    return Tolerance(f"≥ {_percent(share)} of it", lambda p, s: s >= share * p)


def verdict(tolerance: Tolerance | None, predicted: float, simulated: float) -> str:
    """``ok``, ``outside`` or ``n/a`` (no simulated figure, no tolerance, no prediction)."""
    if tolerance is None or math.isnan(simulated) or not math.isfinite(predicted):
        return "n/a"
    return "ok" if tolerance.holds(predicted, simulated) else "outside"
