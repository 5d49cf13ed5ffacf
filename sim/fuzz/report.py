"""What a fuzz campaign shows a person: the summary table and each failure file's header.

Rules:
- ``summary(campaign)`` is the table ``pinsim fuzz`` prints on stdout: schedules run, failures
  per check (every check listed, zeros included, so a clean run says what it held), the fault
  kinds exercised (rows and schedules), wall seconds (running schedules, then shrinking) and
  runs per wall second of the schedules, then one line
  per failure file. Wall-clock figures are the only lines that differ between two campaigns
  of the same seed.
- ``failure_file`` is a shrunk document's TOML under a comment header saying where it came
  from (fuzz seed, schedule), what failed (the check and its detail, on one line), how much the
  shrinker took away, and the command that reproduces it.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sim.fuzz.schedules import FAULTS, fault_kinds
from sim.fuzz.trial import check_names

if TYPE_CHECKING:
    from sim.fuzz.campaign import Campaign, Found

__all__ = ["failure_file", "summary"]


def summary(campaign: Campaign) -> str:
    """The campaign as a table (see the module's rules)."""
    trials = campaign.trials
    failed = sum(not trial.ok for trial in trials)
    per_check = Counter(name for trial in trials for name in trial.failures)
    lines = [f"fuzz seed {campaign.seed}: {len(trials)} schedules, {failed} failed", ""]
    lines.append(f"{'check':<24}{'failed':>8}")
    lines += [f"{name:<24}{per_check[name]:>8}" for name in check_names()]
    lines += ["", f"{'fault kind':<24}{'rows':>8}{'schedules':>11}"]
    rows = Counter(kind for trial in trials for kind in trial.kinds)
    schedules = Counter(kind for trial in trials for kind in set(trial.kinds))
    lines += [f"{kind:<24}{rows[kind]:>8}{schedules[kind]:>11}" for kind in FAULTS]
    lines += ["", _wall_line(campaign)]
    lines += [_found_line(found) for found in campaign.found]
    return "\n".join(lines)


def _wall_line(campaign: Campaign) -> str:
    """Wall time, the schedules' share of it and their pace (shrinking is many runs more)."""
    runs_s = campaign.trials_wall_s
    rate = len(campaign.trials) / runs_s if runs_s > 0 else 0.0
    return (
        f"wall seconds {campaign.wall_s:.1f} ({runs_s:.1f} running schedules, "
        f"{campaign.wall_s - runs_s:.1f} shrinking), {rate:.2f} runs per wall second"
    )


def _found_line(found: Found) -> str:
    return f"wrote {found.path} ({_shrunk_by(found)}): {_one_line(found.detail)}"


def failure_file(found: Found, seed: int, toml: str) -> str:
    """The file written for ``found``: a comment header, then the shrunk scenario's TOML."""
    header = [
        "pinsim fuzz: a random fault schedule broke a check; this is it, shrunk.",
        f"fuzz seed {seed}, schedule {found.number} "
        f"(drawn again by: pinsim fuzz --seed {seed} --runs {found.number + 1})",
        f"failing check: {found.check}",
        f"detail: {_one_line(found.detail)}",
        f"shrunk: {_shrunk_by(found)}",
        f"reproduce: pinsim check {shlex.quote(str(found.path))}",
    ]
    return "".join(f"# {line}\n" for line in header) + "\n" + toml


def _shrunk_by(found: Found) -> str:
    before, after = _size(found.original), _size(found.shrunk)
    return (
        f"{before[0]} fault rows to {after[0]}, {before[1]} steps to {after[1]}, "
        f"duration {before[2]} to {after[2]}"
    )


def _size(document: Mapping[str, Any]) -> tuple[int, int, str]:
    scenario = document["scenario"]
    return len(fault_kinds(document)), len(document.get("step", [])), str(scenario["duration"])


def _one_line(text: str) -> str:
    return " ".join(text.split())
