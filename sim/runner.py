"""One scenario run end to end: simulate, judge, write the outputs.

Rules:
- ``run`` is the only composition of ``sim.world.driver.simulate`` → the judges
  (``sim.judge.checks.run_checks``, ``sim.judge.expectations.check_expectations``) →
  ``sim.results.folder.write_outputs``; the CLI and notebooks both call it.
- It never prints: progress goes through the optional callback, results come back as a
  ``RunOutcome`` for the caller to show.
- A failed check is a result, not an exception: ``RunOutcome.ok`` says whether everything held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sim.judge.checks import CheckResult, run_checks
from sim.judge.expectations import check_expectations
from sim.progress import Progress
from sim.results.folder import write_outputs
from sim.results.recorder import RunData
from sim.scenario import Scenario
from sim.world.driver import simulate

__all__ = ["RunOutcome", "judge_and_write", "run"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """What a run produced and whether every check and expectation held."""

    scenario: Scenario
    data: RunData
    checks: Mapping[str, CheckResult]
    expectations: Mapping[str, CheckResult]
    out_dir: Path
    report: Path  # report.html inside out_dir

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[str, ...]:
        """Names of the checks (then ``expect.<key>``) that did not hold."""
        failed = [name for name, result in self.checks.items() if not result.ok]
        failed += [f"expect.{name}" for name, result in self.expectations.items() if not result.ok]
        return tuple(failed)


def run(
    scenario: Scenario,
    *,
    out_dir: str | Path,
    seed: int | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Simulate ``scenario`` (its own seed unless ``seed`` is given) and write to ``out_dir``."""
    data = simulate(scenario, scenario.seed if seed is None else seed, progress=progress)
    return judge_and_write(scenario, data, out_dir)


def judge_and_write(
    scenario: Scenario,
    data: RunData,
    out_dir: str | Path,
    *,
    not_judged: Mapping[str, str] | None = None,
) -> RunOutcome:
    """A finished run (simulated, or live: ``sim.live.replay``) judged and written to
    ``out_dir``. ``not_judged`` names checks the run cannot be held to, with why: each is
    reported as such (it holds nothing), never as a pass it did not earn."""
    checks = run_checks(data)
    for name, reason in (not_judged or {}).items():
        checks[name] = CheckResult(True, f"not judged: {reason}")
    expectations = check_expectations(data, scenario.expect, scenario)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = write_outputs(data, checks, expectations, out) / "report.html"
    return RunOutcome(
        scenario=scenario,
        data=data,
        checks=checks,
        expectations=expectations,
        out_dir=out,
        report=report,
    )
