"""sim.runner: simulate → checks → outputs, end to end on the real pieces."""

from pathlib import Path

from sim.runner import run
from sim.scenario import parse
from tests.sim.builders import tiny_toml

TINY = tiny_toml(seed=4, expect={"errored": 0, "pending_max": 0})


def test_run_writes_outputs_and_passes_checks(tmp_path: Path) -> None:
    seen: list[tuple[float, float]] = []
    outcome = run(
        parse(TINY, "tiny.toml"),
        out_dir=tmp_path / "out",
        progress=lambda now, end, users=None: seen.append((now, end)),
    )
    assert outcome.ok, outcome.failures
    assert outcome.report == tmp_path / "out" / "report.html" and outcome.report.exists()
    assert (tmp_path / "out" / "summary.json").exists()
    assert set(outcome.expectations) == {"errored", "pending_max"}
    assert seen and seen[-1][1] == 120.0


def test_run_reports_broken_expectation(tmp_path: Path) -> None:
    impossible = tiny_toml(seed=4, expect={"errored": 0, "synced_min": 1000000})
    outcome = run(parse(impossible, "tiny.toml"), out_dir=tmp_path)
    assert not outcome.ok
    assert outcome.failures == ("expect.synced_min",)


def test_run_seed_override_changes_nothing_but_the_seed(tmp_path: Path) -> None:
    outcome = run(parse(TINY, "tiny.toml"), out_dir=tmp_path, seed=99)
    assert outcome.data.seed == 99
