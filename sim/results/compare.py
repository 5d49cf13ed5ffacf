"""Two run folders side by side: ``pinsim compare RUN_A RUN_B`` — a live run beside its
simulated twin (issue 12), or any two runs of one scenario.

Responsibility: reduce two `RunData` to the same lines of figures and give each line a verdict;
read two run folders for the command.

Lines (per step, in run A's step order, then any step only run B has; then the run as a whole):
- ``entered synced not_synced errored pending``: the step's final counters (the last sample of
  ``timeseries.csv``, what summary.json and ``pinsim run`` show).
- ``lag p50``, ``lag p99``: entry→synced lag over the step's synced users (``users.parquet``,
  ``sim.results.recorder.lag_percentiles``); "-" when nobody synced.
- ``requests``, ``429s`` (run-wide: Pinterest counts per token, and the folder does not say
  which step a write served): the customer-list writes the engine sent and those refused with
  429, as ``sim.judge.pacing`` defines them (summary.json's ``pacing.writes``/``refused_429``).

Verdicts (the twin's rule in issue 12):
- ``synced``, ``not_synced``, ``errored`` must be equal exactly: the engine decides them, and
  the same traffic must get the same decisions whatever the clock and the transport.
- Each lag must be within ``lag_tolerance_s`` of the other run's (the command's default: one
  flush interval, the larger of the two runs'), since a live flush tick lands anywhere in its
  interval, at a rank near the line's: the line holds when, at some rank r within q ± ε, the
  two runs' lags at r are within the tolerance of each other (ranks on a grid of
  ``_NEAR_RANKS``), ε = ``RANK_SLACK`` × the tail beyond q (min(q, 1 − q)): one percentage
  point at p50, 0.02 at p99. A uniform shift moves every rank alike, so it is judged as at
  q alone; a bimodal lag (half the users synced at once, half after an outage of hours) has
  its median in the gap between the modes, where one user in a hundred on the other side
  moves it by minutes: the rank slack judges the twin, not that gap. "-" on both sides
  holds, on one side fails.
- ``entered``, ``pending``, ``requests`` and ``429s`` are informational (shown with B − A),
  except that ``requests`` and ``429s`` are judged ``|B − A| ≤ request_tolerance`` when one is
  given. A step only one run has fails every judged line.

Rules:
- ``compare`` and ``format_compare`` are pure; only ``main`` reads files and prints.
- ``load_run`` needs the run's scenario (limits, fault windows): ``--scenario PATH`` names it for
  both folders; without it each folder's is found by the name in its summary.json — the
  built-in scenario, or ``scenarios/<name>.toml`` under the current folder. A scenario whose
  name is not the folder's is refused rather than read against the wrong limits.
- ``main`` returns 0 when every judged line holds, 1 when one does not, 2 for a user mistake
  (missing folder or file, unreadable run, bad flag) shown as one line ``pinsim: error: …``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Final, NoReturn

import numpy as np
import numpy.typing as npt

from sim.judge import pacing
from sim.results.folder import load_run
from sim.results.recorder import RunData, final_counters, lag_percentiles, synced_lag_s
from sim.scenario import Scenario, ScenarioError, default, load
from sim.scenario.catalog import shipped
from sim.scenario.units import UnitError, parse_duration

__all__ = [
    "RUN_SCOPE",
    "CompareRow",
    "UsageError",
    "Verdict",
    "compare",
    "format_compare",
    "lags_near",
    "main",
    "read_run",
    "run_figures",
    "step_figures",
]


Value = float | None
Figures = Mapping[str, Value]
Near = tuple[float, ...]  # lags at the ranks near a line's, in rank order


class Verdict(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareRow:
    """One line: a figure of one step (or ``"(run)"``) in both runs, and its verdict.

    ``tolerance`` is the largest |B − A| that holds: 0 for an exact line, None for an
    informational one. ``unit`` is ``"s"`` for lags, empty for counts.
    """

    scope: str
    metric: str
    a: Value
    b: Value
    tolerance: float | None
    unit: str = ""
    # lag lines: each run's lags at the ranks near the line's (None: judged on a and b)
    a_near: Near | None = None
    b_near: Near | None = None

    @property
    def diff(self) -> Value:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> Verdict:
        if self.tolerance is None:
            return Verdict.INFO
        if self.a is None or self.b is None:
            return Verdict.OK if self.a is None and self.b is None else Verdict.FAIL
        gap = abs(self.b - self.a)
        if self.a_near is not None and self.b_near is not None:
            gap = min(abs(b - a) for a, b in zip(self.a_near, self.b_near, strict=True))
        # A float ulp of slack: a lag equal to the tolerance holds, as the rule says.
        held = gap <= self.tolerance * (1 + 1e-12)
        return Verdict.OK if held else Verdict.FAIL

    @property
    def ok(self) -> bool:
        return self.verdict is not Verdict.FAIL


RUN_SCOPE: Final = "(run)"
RANK_SLACK: Final = 0.02  # a lag line's rank may move by this share of the tail beyond it
_NEAR_RANKS: Final = 21  # ranks looked at within q ± ε
_COUNTS: Final = ("entered", "synced", "not_synced", "errored", "pending")
_LAGS: Final = {"lag p50": "p50", "lag p99": "p99"}
_RANKS: Final = {"lag p50": 0.50, "lag p99": 0.99}
# Each line's rule: "exact" (equal), "lag" (within the lag tolerance), "requests" (within the
# request tolerance, informational without one), None (informational).
_STEP_RULES: Final[Mapping[str, str | None]] = {
    "entered": None,
    "synced": "exact",
    "not_synced": "exact",
    "errored": "exact",
    "pending": None,
    "lag p50": "lag",
    "lag p99": "lag",
}
_RUN_RULES: Final[Mapping[str, str | None]] = {"requests": "requests", "429s": "requests"}
_UNITS: Final = {"lag p50": "s", "lag p99": "s"}


def compare(
    a: RunData, b: RunData, *, lag_tolerance_s: float, request_tolerance: int | None = None
) -> list[CompareRow]:
    """The lines of the module docstring for runs ``a`` and ``b``, steps first."""
    tolerances = {"exact": 0.0, "lag": lag_tolerance_s, "requests": request_tolerance, None: None}
    steps_a, steps_b = step_figures(a), step_figures(b)
    near_a, near_b = lags_near(a), lags_near(b)
    rows = [
        _row(step, metric, steps_a.get(step, {}), steps_b.get(step, {}), tolerances[rule])
        for step in _union(steps_a, steps_b)
        for metric, rule in _STEP_RULES.items()
    ]
    rows = [
        replace(
            row,
            a_near=near_a.get(row.scope, {}).get(row.metric),
            b_near=near_b.get(row.scope, {}).get(row.metric),
        )
        if row.metric in _RANKS
        else row
        for row in rows
    ]
    run_a, run_b = run_figures(a), run_figures(b)
    rows += [
        _row(RUN_SCOPE, metric, run_a, run_b, tolerances[rule])
        for metric, rule in _RUN_RULES.items()
    ]
    return rows


def step_figures(data: RunData) -> dict[str, dict[str, Value]]:
    """Step id → its final counters and lag quantiles (the step lines' figures)."""
    final = final_counters(data.timeseries)
    figures: dict[str, dict[str, Value]] = {}
    for step in data.step_ids:
        lag = lag_percentiles(data.users[data.users["step"] == step])
        values = final.loc[step, list(_COUNTS)].to_numpy(dtype=np.int64)
        counts: dict[str, Value] = {
            name: int(value) for name, value in zip(_COUNTS, values, strict=True)
        }
        figures[step] = counts | {line: lag[key] for line, key in _LAGS.items()}
    return figures


def lags_near(data: RunData) -> dict[str, dict[str, Near]]:
    """Step id → lag line → the step's synced lags at the ranks near the line's (the module
    docstring; no entry for a step nobody synced in)."""
    near: dict[str, dict[str, Near]] = {}
    for step in data.step_ids:
        lag = synced_lag_s(data.users[data.users["step"] == step])
        if lag.size:
            near[step] = {line: _near(lag, rank) for line, rank in _RANKS.items()}
    return near


def _near(sorted_lag: npt.NDArray[np.float64], rank: float) -> Near:
    slack = RANK_SLACK * min(rank, 1.0 - rank)
    ranks = np.linspace(rank - slack, rank + slack, _NEAR_RANKS)
    return tuple(float(lag) for lag in np.quantile(sorted_lag, ranks))


def run_figures(data: RunData) -> dict[str, Value]:
    """The run-wide lines' figures: writes the engine sent, and those answered 429."""
    figures = pacing.overall(data)
    return {"requests": figures.writes, "429s": figures.refused_429}


def _union(first: Iterable[str], second: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _row(scope: str, metric: str, a: Figures, b: Figures, tolerance: float | None) -> CompareRow:
    return CompareRow(
        scope=scope,
        metric=metric,
        a=a.get(metric),
        b=b.get(metric),
        tolerance=tolerance,
        unit=_UNITS.get(metric, ""),
    )


# --- text ------------------------------------------------------------------------------------


def format_compare(rows: Sequence[CompareRow]) -> str:
    """The lines as an aligned table (step | line | run A | run B | B − A | rule | verdict),
    then one line saying how many judged lines hold."""
    cells = [["step", "line", "run A", "run B", "B − A", "rule", "verdict"]]
    for row in rows:
        shown = (_value(row.a, row.unit), _value(row.b, row.unit), _diff(row.diff, row.unit))
        cells.append([row.scope, row.metric, *shown, _rule(row), str(row.verdict)])
    widths = [max(len(line[k]) for line in cells) for k in range(len(cells[0]))]
    lines = []
    for line in cells:
        left = [cell.ljust(width) for cell, width in zip(line[:2], widths[:2], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(line[2:5], widths[2:5], strict=True)]
        rest = [cell.ljust(width) for cell, width in zip(line[5:], widths[5:], strict=True)]
        lines.append("  ".join([*left, *right, *rest]).rstrip())
    return "\n".join([*lines, _tally(rows)])


def _value(value: Value, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}{unit}" if unit else f"{value:,.0f}"


def _diff(value: Value, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}{unit}" if unit else f"{value:+,.0f}"


def _rule(row: CompareRow) -> str:
    if row.tolerance is None:
        return ""
    if row.tolerance == 0:
        return "equal"
    rank = " (rank ±ε)" if row.a_near is not None else ""
    return f"±{row.tolerance:g}{row.unit}{rank}"


def _tally(rows: Sequence[CompareRow]) -> str:
    judged = [row for row in rows if row.verdict is not Verdict.INFO]
    failed = [f"{row.scope} {row.metric}" for row in judged if not row.ok]
    verdict = "all hold" if not failed else "FAILED: " + ", ".join(failed)
    return f"verdict: {len(judged) - len(failed)} of {len(judged)} judged lines hold ({verdict})"


# --- the command -----------------------------------------------------------------------------


class UsageError(Exception):
    """A mistake of the user's; shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """``pinsim compare RUN_A RUN_B``: print the lines and their verdicts."""
    try:
        options = _parser().parse_args(argv)
        folders = (options.run_a, options.run_b)
        missing = [folder for folder in folders if not folder.is_dir()]
        if missing:  # both named before reading either: a typo shows at once
            raise UsageError(f"{missing[0]}: no such folder")
        runs = [read_run(folder, options.scenario) for folder in folders]
    except (UsageError, ScenarioError) as error:
        print(f"pinsim: error: {error}", file=sys.stderr)
        return 2
    a, b = runs
    lag_tolerance_s = options.lag_tolerance
    if lag_tolerance_s is None:
        lag_tolerance_s = max(a.limits.flush_interval_s, b.limits.flush_interval_s)
    rows = compare(
        a, b, lag_tolerance_s=lag_tolerance_s, request_tolerance=options.request_tolerance
    )
    for label, folder, data in (("A", options.run_a, a), ("B", options.run_b, b)):
        print(f"run {label}: {folder} (scenario {data.scenario}, seed {data.seed})")
    print(format_compare(rows))
    return 0 if all(row.ok for row in rows) else 1


def _parser() -> _Parser:
    parser = _Parser(prog="pinsim compare", description="two run folders side by side")
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="a run folder (pinsim run)")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to set beside it")
    parser.add_argument(
        "--scenario",
        type=Path,
        metavar="PATH",
        help="the scenario both runs ran (default: found by the name in their summary.json)",
    )
    parser.add_argument(
        "--lag-tolerance",
        type=_duration,
        metavar="DURATION",
        help="largest lag difference that holds, such as 5s (default: one flush interval)",
    )
    parser.add_argument(
        "--request-tolerance",
        type=_count,
        metavar="N",
        help="judge requests and 429s: |B − A| ≤ N holds (default: shown, not judged)",
    )
    return parser


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except UnitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}")
    return int(text)


def read_run(folder: Path, scenario_path: Path | None = None) -> RunData:
    """The run in ``folder``, read against its scenario (the module docstring says which)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    name = _scenario_name(folder)
    scenario = _scenario(name, scenario_path, folder)
    try:
        return load_run(folder, scenario)
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"{folder}: cannot read the run: {error}") from None


def _scenario_name(folder: Path) -> str:
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        return str(summary["scenario"])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (run pinsim run first)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not a run summary ({error!r})") from None


def _scenario(name: str, path: Path | None, folder: Path) -> Scenario:
    if path is not None:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        scenario = load(path)
    else:
        scenario = _named(name, folder)
    if scenario.name != name:
        raise UsageError(f"{folder}: holds a run of {name!r}, not of {scenario.name!r}")
    return scenario


def _named(name: str, folder: Path) -> Scenario:
    built_in = default()
    if built_in.name == name:
        return built_in
    path = shipped().get(name) or Path("scenarios", f"{name}.toml")
    if not path.is_file():
        raise UsageError(
            f"{folder}: scenario {name!r} is neither built in, shipped nor {path}; "
            "pass --scenario PATH"
        )
    return load(path)
