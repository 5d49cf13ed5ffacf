"""A scenario's `[expect]` bounds, judged on a run: what this scenario promises beyond the
invariants every run is held to (`sim.judge.checks`).

Rules:
- One table, `_RULES`, says per `[expect]` key which measure of `RunData` it bounds, compared
  how, and what a run with nothing to measure gets (a run that never had a backlog never
  showed how well it used the limit, so `min_utilisation` fails on it; the others hold).
- Results are named as their TOML keys (`steps.<id>.<key>` per step, `_s` dropped) and each
  detail shows the measured value beside the bound.
- Pacing figures are run-wide only; the scenario refuses them per step.
- Bounds on the engine's capacity preflight (`preflight_*`, `sim.plan.preflight`) read the
  scenario as well as the run: without the scenario they have nothing to measure.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from sim.judge import pacing
from sim.judge.checks import CheckResult
from sim.plan import preflight
from sim.results.recorder import RunData, final_counters, lag_percentiles
from sim.scenario import Expectations, ExpectBounds, Scenario

__all__ = ["check_expectations"]


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one `[expect]` key is judged: which measure, compared how, shown as what."""

    measure: Callable[[RunData, str | None], float | None]
    holds: Callable[[float, float], bool]
    shown_as: str
    unit: str = ""
    nothing_holds: bool = True  # the verdict when there is nothing to measure
    # a figure of the scenario's preflight (beside the run): measured by this, given the scenario
    predicted: Callable[[Scenario, RunData], float | None] | None = None


def check_expectations(
    data: RunData, expect: Expectations, scenario: Scenario | None = None
) -> dict[str, CheckResult]:
    """The scenario's `[expect]` bounds, named as their TOML keys (`steps.<id>.<key>` per step);
    the `preflight_*` bounds need the ``scenario``."""
    results = _check_bounds(data, expect.totals, None, "", scenario)
    for step, bounds in sorted(expect.steps.items()):
        results |= _check_bounds(data, bounds, step, f"steps.{step}.", scenario)
    return results


def _check_bounds(
    data: RunData,
    bounds: ExpectBounds,
    step: str | None,
    prefix: str,
    scenario: Scenario | None,
) -> dict[str, CheckResult]:
    results = {}
    for key, bound in bounds.items():
        rule = _RULES[key]
        name = key.removesuffix("_s")
        if rule.predicted is None:
            measured = rule.measure(data, step)
        else:
            measured = None if scenario is None else rule.predicted(scenario, data)
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


def _unauthorized(data: RunData, step: str | None) -> float:
    """Requests the mock answered 401, from its journal (not the engine's word); run-wide."""
    if step is not None:
        raise ValueError("unauthorized is a per-token figure: set it in [expect]")
    return float((data.requests["status"] == 401).sum())


def _records_sent(data: RunData, step: str | None) -> float:
    """Records carried by the customer-list writes the mock's journal shows (each send, retries
    included, whatever the answer); run-wide: a write is per list, not per step."""
    requests = data.requests
    writes = (requests["method"] == "PATCH") & requests["path"].str.contains("customer_lists")
    return float(requests.loc[writes, "records"].fillna(0).sum())


def _from_scenario(data: RunData, step: str | None) -> None:
    """A preflight bound's run-only measure: nothing (it is ``_Rule.predicted``'s)."""
    return None


def _preflight_errored(scenario: Scenario, data: RunData) -> float:
    return preflight.predicted(scenario).errored


def _preflight_lag_p99(scenario: Scenario, data: RunData) -> float | None:
    lag = preflight.predicted(scenario).lag_p99_s
    return None if math.isnan(lag) else lag


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
    "preflight_errored": "no scenario to predict from",
    "preflight_lag_p99": "no scenario, or none of its users synced",
    "preflight_error": "no scenario to predict from",
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
    "unauthorized_max": _Rule(_unauthorized, operator.le, "≤"),
    "records_sent_max": _Rule(_records_sent, operator.le, "≤"),
    "preflight_errored_min": _Rule(_from_scenario, operator.ge, "≥", predicted=_preflight_errored),
    "preflight_errored_max": _Rule(_from_scenario, operator.le, "≤", predicted=_preflight_errored),
    "preflight_lag_p99_max_s": _Rule(
        _from_scenario, operator.le, "≤", " s", predicted=_preflight_lag_p99
    ),
    # |simulated − predicted| / max(predicted, floor), the larger of errored and p99 lag
    "preflight_error_max": _Rule(
        _from_scenario, operator.le, "≤", predicted=preflight.error_against
    ),
}
