"""The shrinker proved on a deliberately broken engine (issue 13's Done-when).

The break: ``sync_core.outcomes`` classifies a transport ``timeout`` as SUCCESS, so users whose
request never reached Pinterest (a ``timeout`` fault with ``applied = false``) are counted
synced: the mock's list lacks them and ``audience_members`` — judged from the mock's own lists,
not the engine's word — fails. The fuzzer must find that in a few schedules, shrink it to a
small scenario, and ``pinsim check`` on the written file must fail with the break in place and
hold without it. Everything runs in this process (``--jobs 1``) so the monkeypatch applies.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import sync_core.outcomes as outcomes
from sim.cli import main
from sim.fuzz.schedules import fault_kinds, schedule

# fuzz seed 1 draws a timeout (not applied) at schedule 3; schedules 0–2 hold either way
SEED, RUNS, FOUND_AT = 1, 4, 3
CHECK = "audience_members"


def _break_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    success = outcomes.classify(200)
    monkeypatch.setitem(outcomes._BY_FAILURE, "timeout", success)


def _check(path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["check", str(path), "--out", str(out)])
    return status, capsys.readouterr().out


def test_a_broken_timeout_classification_is_found_shrunk_and_reproduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _break_timeouts(monkeypatch)
    out = tmp_path / "fuzz"
    argv = ["fuzz", "--runs", str(RUNS), "--seed", str(SEED), "--out", str(out), "--jobs", "1"]
    assert main(argv) == 1
    summary = capsys.readouterr().out
    written = out / "failures" / f"{FOUND_AT}-{CHECK}.toml"
    assert sorted(p.name for p in (out / "failures").iterdir()) == [written.name], summary

    original = schedule(SEED, FOUND_AT)
    shrunk = tomllib.loads(written.read_text(encoding="utf-8"))
    assert len(fault_kinds(shrunk)) <= 2
    assert "timeout" in fault_kinds(shrunk)
    smaller = len(fault_kinds(shrunk)) < len(fault_kinds(original))
    shorter = shrunk["scenario"]["duration"] != original["scenario"]["duration"]
    assert smaller or shorter
    header = written.read_text(encoding="utf-8").split("\n\n")[0]
    assert f"fuzz seed {SEED}, schedule {FOUND_AT}" in header
    assert f"failing check: {CHECK}" in header
    assert f"reproduce: pinsim check {written}" in header

    status, report = _check(written, tmp_path / "check-broken", capsys)
    assert status == 1 and f"FAIL {CHECK}" in report, report

    monkeypatch.undo()
    status, report = _check(written, tmp_path / "check-fixed", capsys)
    assert f"ok   {CHECK}" in report, report
    assert status == 0, report
