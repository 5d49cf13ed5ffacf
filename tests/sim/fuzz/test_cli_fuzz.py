"""``pinsim fuzz`` on the command line: bad values are one line and exit 2; a bounded run of
the real engine finds no violation.

The bounded run is CI's share of issue 13's "pinsim fuzz --runs 1000" benchmark: 100 schedules,
about 1.3 CPU seconds each (~70 s on 2 cores), and no shrinking when nothing fails; the full
count runs as ``python -m benchmarks.fuzz``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from tests.sim.cli_errors import one_error_line

CI_RUNS = 100


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--runs", "0"), ("--runs", "ten"), ("--seed", "-1"), ("--seed", "1.5"), ("--jobs", "0")],
)
def test_a_bad_value_is_one_line_and_exit_2(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fuzz", flag, value, "--out", str(tmp_path / "fuzz")]) == 2
    assert flag in one_error_line(capsys)
    assert not (tmp_path / "fuzz").exists()


def test_an_out_that_is_a_file_is_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("", encoding="utf-8")
    assert main(["fuzz", "--out", str(taken)]) == 2
    assert "exists and is not a folder" in one_error_line(capsys)


def test_a_bounded_run_of_the_real_engine_finds_no_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fuzz"
    status = main(["fuzz", "--runs", str(CI_RUNS), "--jobs", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert f"{CI_RUNS} schedules, 0 failed" in printed, printed
    assert (status, sorted(p.name for p in (out / "failures").iterdir())) == (0, [])
