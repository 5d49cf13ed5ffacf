"""A sweep's axes (``--vary KEY=V1,V2,…``) and the runs they span, built and validated up front.

Responsibility: read axes, take their cartesian product, and turn every combination into a
``RunSpec`` — plain, picklable data (the scenario's TOML as a dict, its source, the seed) that
any worker process or Dask worker rebuilds with ``sim.scenario.from_raw``.

Rules:
- Every combination is built and validated before anything runs, so a bad key or value fails
  in a second with a ``SweepError`` (a ``ScenarioError``: ``<file>: --vary <key>: <reason>``),
  not after an hour of runs.
- Values are TOML-like scalars: ``true``/``false``, integers, floats, else strings
  (``"1000/s"``, ``"300ms"``); a value in double quotes is always a string.
- Runs are numbered in cartesian order, the first axis varying slowest (as
  ``itertools.product``); that order is the sweep table's order, whatever finishes first.
- Dotted keys (``traffic.0.rate``, ``sync.requests_per_second``, ``network.service.median``)
  replace that value of the scenario file via ``sim.scenario.override``; they always point
  into the file as written, because ``steps`` is applied after them.
- Two pseudo-keys: ``seed`` is the run's seed (default: the scenario's); ``steps=N`` splits
  the scenario's first step into N audiences on the same token (see ``replicate_first_step``).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sim.scenario import Scenario, ScenarioError, from_raw, override
from sim.scenario.units import UnitError, parse_rate

__all__ = [
    "Axis",
    "RunSpec",
    "Scalar",
    "SweepError",
    "parse_axis",
    "parse_value",
    "plan_runs",
    "replicate_first_step",
]

Scalar = bool | int | float | str
SEED: Final = "seed"
STEPS: Final = "steps"
_RATE_KEYS: Final = ("rate", "rate_end", "peak")  # a traffic row's rates, split among copies


class SweepError(ScenarioError):
    """A sweep that cannot run as asked: which file, which flag (``--vary <key>``), and why."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept parameter: a dotted scenario key (or ``seed``/``steps``) and its values."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """One run of a sweep as plain data: ships to any process, rebuilt with ``from_raw``."""

    index: int
    params: tuple[tuple[str, Scalar], ...]  # (axis key, value) in axis order
    raw: dict[str, Any]
    source: str
    seed: int
    keep_dir: str | None = None  # write this run's full outputs there (``--keep-runs``)


# --------------------------------------------------------------------------- reading axes


def parse_value(text: str) -> Scalar:
    """A TOML-like scalar: ``true``/``false``, an integer, a float, else the string itself."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        return stripped[1:-1]
    if stripped in ("true", "false"):
        return stripped == "true"
    for number in (int, float):
        try:
            return number(stripped)
        except ValueError:
            pass
    return stripped


def parse_axis(text: str, source: str = "<string>") -> Axis:
    """``KEY=V1,V2,…`` as an ``Axis``; ``source`` (the scenario file) names it in errors."""
    key, equals, values = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise SweepError(source, "--vary", f"expected KEY=V1,V2,…, got {text!r}")
    parts = [part.strip() for part in values.split(",")]
    if not all(parts):
        raise SweepError(source, f"--vary {key}", f"empty value in {values!r}")
    axis = Axis(key, tuple(parse_value(part) for part in parts))
    _check_values(axis, source)
    return axis


def _check_values(axis: Axis, source: str) -> None:
    seen: set[str] = set()
    for value in axis.values:
        if repr(value) in seen:
            raise SweepError(source, f"--vary {axis.key}", f"value {value!r} given twice")
        seen.add(repr(value))
    check = _PSEUDO_KEYS.get(axis.key)
    if check is None:
        return  # a dotted key: its values are checked against the scenario by plan_runs
    for value in axis.values:
        reason = check(value)
        if reason:
            raise SweepError(source, f"--vary {axis.key}", reason)


def _seed_value(value: Scalar) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else f"expected a non-negative integer seed, got {value!r}"


def _steps_value(value: Scalar) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else f"expected a number of steps (an integer ≥ 1), got {value!r}"


# pseudo-key → what makes one of its values wrong (None: fine)
_PSEUDO_KEYS: Final[dict[str, Callable[[Scalar], str | None]]] = {
    SEED: _seed_value,
    STEPS: _steps_value,
}


# --------------------------------------------------------------------------- spanning runs


def plan_runs(scenario: Scenario, axes: Sequence[Axis]) -> tuple[RunSpec, ...]:
    """Every combination of ``axes`` applied to ``scenario``, validated, in cartesian order."""
    keys = [axis.key for axis in axes]
    duplicated = next((key for key in keys if keys.count(key) > 1), None)
    if duplicated is not None:
        raise SweepError(scenario.source, f"--vary {duplicated}", "given twice")
    runs = []
    for index, combination in enumerate(itertools.product(*(axis.values for axis in axes))):
        params = tuple(zip(keys, combination, strict=True))
        built = _apply(scenario, dict(params))
        seed = dict(params).get(SEED, built.seed)
        raw = copy.deepcopy(dict(built.raw))
        runs.append(
            RunSpec(index=index, params=params, raw=raw, source=scenario.source, seed=int(seed))
        )
    return tuple(runs)


def _apply(scenario: Scenario, params: dict[str, Scalar]) -> Scenario:
    """``scenario`` with the dotted keys replaced, then its first step split ``steps`` ways."""
    for key, value in params.items():
        if key not in _PSEUDO_KEYS:
            scenario = _override(scenario, key, value)
    copies = params.get(STEPS, 1)
    if copies == 1:
        return scenario
    try:
        raw = replicate_first_step(dict(scenario.raw), int(copies))
        return from_raw(raw, scenario.source)
    except ScenarioError as error:
        raise SweepError(scenario.source, f"--vary {STEPS}", _reason(error, STEPS)) from None


def _override(scenario: Scenario, key: str, value: Scalar) -> Scenario:
    try:
        return override(scenario, key, value)
    except ScenarioError as error:
        raise SweepError(scenario.source, f"--vary {key}", _reason(error, key)) from None


def _reason(error: ScenarioError, key: str) -> str:
    """The reason, prefixed with the key the scenario check blamed when it is not the axis's."""
    blamed = re.sub(r"\[(\d+)\]", r".\1", error.key)
    return error.reason if blamed in ("", key) else f"{error.key}: {error.reason}"


# --------------------------------------------------------------------------- steps=N


def replicate_first_step(raw: dict[str, Any], copies: int) -> dict[str, Any]:
    """The TOML ``raw`` with its first ``[[step]]`` split into ``copies`` audiences.

    The copies share the step's connection (so one token and its rate limit), are named
    ``<id>-1``…``<id>-N`` with audience names suffixed likewise, and stand where the step
    stood. Each of the step's traffic rows becomes N rows whose rates (``rate``, ``rate_end``,
    ``peak``) are divided by N and whose blast ``count`` is split as evenly as integers allow,
    so the total entry rate is the scenario's and only its split among audiences changes
    (N Poisson streams at rate r/N are one Poisson stream at rate r). Faults aimed at the step
    hit every copy. Per-step ``[expect.steps.<id>]`` bounds of the step are dropped (they do
    not divide); the totals in ``[expect]`` still apply. ``copies == 1`` changes nothing.
    """
    if copies == 1:
        return raw
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps or not isinstance(steps[0], dict):
        raise ScenarioError("", STEPS, "the scenario has no [[step]] to split")
    step_id = steps[0].get("id")
    traffic = [row for row in raw.get("traffic", []) if isinstance(row, dict)]
    _refuse_replays(traffic, step_id)
    result = copy.deepcopy(raw)
    result["step"] = [_step_copy(steps[0], i) for i in range(1, copies + 1)] + steps[1:]
    if "traffic" in raw:
        result["traffic"] = _split_rows(raw["traffic"], step_id, copies, "traffic")
    if "fault" in raw:
        result["fault"] = _split_rows(raw["fault"], step_id, copies, "fault")
    expect_steps = result.get("expect", {}).get("steps", {})
    if isinstance(expect_steps, dict):
        expect_steps.pop(step_id, None)
    return result


def _refuse_replays(traffic: list[dict[str, Any]], step_id: object) -> None:
    """Replays send a step's users again in entry order; they cannot be split among copies."""
    for index, row in enumerate(traffic):
        if row.get("replay") is not None and step_id in (row.get("replay"), row.get("step")):
            raise ScenarioError(
                "", STEPS, f"traffic.{index} replays step {row['replay']!r}: cannot split it"
            )


def _step_copy(step: dict[str, Any], number: int) -> dict[str, Any]:
    copied = copy.deepcopy(step)
    copied["id"] = f"{step.get('id')}-{number}"
    audience = copied.get("audience")
    if isinstance(audience, dict):
        copied["audience"] = {kind: f"{name}-{number}" for kind, name in audience.items()}
    return copied


def _split_rows(rows: object, step_id: object, copies: int, table: str) -> object:
    """Each row aimed at ``step_id`` as ``copies`` rows, one per copy (rates divided)."""
    if not isinstance(rows, list):
        return rows  # not an array of tables: validation will say so
    result: list[object] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("step") != step_id:
            result.append(row)
            continue
        for number in range(1, copies + 1):
            result.append(_row_copy(row, number, copies, f"{table}.{index}"))
    return result


def _row_copy(row: dict[str, Any], number: int, copies: int, where: str) -> dict[str, Any]:
    copied = copy.deepcopy(row)
    copied["step"] = f"{row['step']}-{number}"
    for key in _RATE_KEYS:
        if key in row:
            copied[key] = _divided_rate(row[key], copies)
    if isinstance(row.get("count"), int) and not isinstance(row["count"], bool):
        base, extra = divmod(row["count"], copies)
        copied["count"] = base + (number <= extra)
        if copied["count"] == 0:
            raise ScenarioError(
                "", STEPS, f"{where}.count: {row['count']} users cannot fill {copies} steps"
            )
    return copied


def _divided_rate(value: object, copies: int) -> object:
    try:
        per_s = parse_rate(value)
    except UnitError:
        return value  # left as written: validation names the key and why
    # positional (never "1e-05"): the rate syntax takes plain decimals only
    return f"{np.format_float_positional(per_s / copies, trim='-')}/s"
