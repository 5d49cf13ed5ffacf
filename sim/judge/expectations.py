"""A scenario's `[expect]` bounds, judged on a run: what this scenario promises beyond the
invariants every run is held to (`sim.judge.checks`).

Rules:
- One table, `_RULES`, says per `[expect]` key which measure of `RunData` it bounds, compared
  how, and what a run with nothing to measure gets (a run that never had a backlog never
  showed how well it used the limit, so `min_utilisation` fails on it; the others hold).
- Results are named as their TOML keys (`steps.<id>.<key>` per step, `_s` dropped) and each
  detail shows the measured value beside the bound.
- Pacing figures are run-wide only; the scenario refuses them per step.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from sim.judge import pacing
from sim.judge.checks import CheckResult
from sim.results.recorder import RunData, final_counters, lag_percentiles
from sim.scenario import Expectations, ExpectBounds

__all__ = ["check_expectations"]


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one `[expect]` key is judged: which measure, compared how, shown as what."""

    measure: Callable[[RunData, str | None], float | None]
    holds: Callable[[float, float], bool]
    shown_as: str
    unit: str = ""
    nothing_holds: bool = True  # the verdict when there is nothing to measure


def check_expectations(data: RunData, expect: Expectations) -> dict[str, CheckResult]:
    """The scenario's `[expect]` bounds, named as their TOML keys (`steps.<id>.<key>` per step)."""
    results = _check_bounds(data, expect.totals, None, "")
    for step, bounds in sorted(expect.steps.items()):
        results |= _check_bounds(data, bounds, step, f"steps.{step}.")
    return results


def _check_bounds(
    data: RunData, bounds: ExpectBounds, step: str | None, prefix: str
) -> dict[str, CheckResult]:
    results = {}
    for key, bound in bounds.items():
        rule = _RULES[key]
        name = key.removesuffix("_s")
        measured = rule.measure(data, step)
        results[prefix + name] = _judge(name, rule, measured, float(bound))
    return results


def _judge(name: str, rule: _Rule, measured: float | None, bound: float) -> CheckResult:
    metric = _BOUND_AFFIX.sub("", name)
    expected = f"expected {rule.shown_as} {bound:g}{rule.unit}"
    if measured is None:
        detail = f"{metric}: nothing to measure ({_NOTHING[metric]}); {expected}"
        return CheckResult(rule.nothing_holds, detail)
    ok = rule.holds(measured, bound)
    return CheckResult(ok, f"{metric} = {measured:g}{rule.unit}, {expected}")


def _final(counter: str) -> Callable[[RunData, str | None], float | None]:
    def measure(data: RunData, step: str | None) -> float:
        final = final_counters(data.timeseries)[counter]
        return float(final.sum() if step is None else final.get(step, 0))

    return measure


def _lag_p99(data: RunData, step: str | None) -> float | None:
    users = data.users if step is None else data.users[data.users["step"] == step]
    return lag_percentiles(users)["p99"]


def _last_pending_at(data: RunData, step: str | None) -> float | None:
    samples = data.timeseries if step is None else data.timeseries[data.timeseries["step"] == step]
    pending_at = samples.loc[samples["pending"] > 0, "t"]
    return None if pending_at.empty else float(pending_at.max())


def _pacing(figure: str) -> Callable[[RunData, str | None], float | None]:
    """A run-wide pacing figure (`sim.judge.pacing`); the scenario refuses these per step."""

    def measure(data: RunData, step: str | None) -> float | None:
        if step is not None:
            raise ValueError(f"{figure} is a per-token figure: set it in [expect]")
        value: float | None = getattr(pacing.overall(data), figure)
        return value

    return measure


# the figure a bound is on: `errored_max` and `max_429_share` bound `errored` and `429_share`
_BOUND_AFFIX: Final = re.compile(r"^(min|max)_|_(min|max)$")
_NOTHING: Final = {
    "lag_p99": "no synced users",
    "drain_by": "never pending",
    "429_share": "no customer-list writes",
    "utilisation": "no backlog",
}

_RULES: Final[Mapping[str, _Rule]] = {
    "errored": _Rule(_final("errored"), operator.eq, "="),
    "errored_min": _Rule(_final("errored"), operator.ge, "≥"),
    "errored_max": _Rule(_final("errored"), operator.le, "≤"),
    "synced_min": _Rule(_final("synced"), operator.ge, "≥"),
    "not_synced_min": _Rule(_final("not_synced"), operator.ge, "≥"),
    "not_synced_max": _Rule(_final("not_synced"), operator.le, "≤"),
    "pending_max": _Rule(_final("pending"), operator.le, "≤"),
    "lag_p99_max_s": _Rule(_lag_p99, operator.le, "≤", " s"),
    # Drained by D: the last sample still showing someone pending is before D.
    "drain_by_s": _Rule(_last_pending_at, operator.lt, "<", " s"),
    "max_429_share": _Rule(_pacing("share_429"), operator.le, "≤"),
    # a run that never had a backlog never showed how well it uses the limit
    "min_utilisation": _Rule(_pacing("utilisation"), operator.ge, "≥", nothing_holds=False),
}
