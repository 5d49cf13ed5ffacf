"""sim.cli: bad output folders, unsafe scenario names and a closed stdout get one clean line.

Every case is a user mistake issue 13 found ending in a traceback or writing outside ``out/``:
each must be ``pinsim: error: <file>: <key>: <reason>`` and exit status 2 before anything runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.cli import BROKEN_PIPE_STATUS, main
from tests.sim.builders import traffic
from tests.sim.cli_errors import one_error_line

REPO = Path(__file__).parents[2]
TINY = {"description": "a minute of traffic"}


def _bad_outs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    return {
        "existing file": (a_file, f"{a_file}: --out: exists and is not a folder"),
        "under a file": (a_file / "sub", f"{a_file / 'sub'}: --out: cannot make the folder"),
    }


@pytest.mark.parametrize("case", ["existing file", "under a file"])
@pytest.mark.parametrize("command", ["run", "check", "sweep"])
def test_a_bad_out_is_one_line_before_anything_runs(
    tmp_path: Path,
    scenario_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    case: str,
) -> None:
    path = scenario_file(**TINY)
    out, shown = _bad_outs(tmp_path)[case]
    extra = ["--vary", "seed=1,2"] if command == "sweep" else []
    assert main([command, str(path), *extra, "--out", str(out)]) == 2
    assert shown in one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_out_is_one_line(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", str(scenario_file(**TINY)), "--out", str(locked / "run")]) == 2
    assert "--out: cannot make the folder" in one_error_line(capsys)


def test_plan_runs_that_is_a_file_is_one_line(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "runs.txt"
    a_file.write_text("")
    assert main(["plan", str(scenario_file(**TINY)), "--runs", str(a_file)]) == 2
    assert "no such folder" in one_error_line(capsys)


@pytest.mark.parametrize("name", ["../escaped", "/tmp/pinsim-escaped", "a/b"])
def test_a_name_leaving_the_output_root_is_refused_and_nothing_is_written(
    tmp_path: Path,
    scenario_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    path = scenario_file(**TINY, name=name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["run", str(path)]) == 2
    assert ": scenario.name: " in one_error_line(capsys)
    assert list(work.iterdir()) == [] and not Path("/tmp/pinsim-escaped").exists()
    assert not (tmp_path / "escaped").exists()


def test_run_without_out_writes_under_out_slash_name(
    tmp_path: Path,
    scenario_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = scenario_file(**TINY, traffic=[traffic("vip", "blast", count=5)])
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path)]) == 0
    assert (tmp_path / "out" / "tiny" / "report.html").is_file()


def test_an_out_of_range_value_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slow.toml"
    path.write_text('[scenario]\nduration = "30d"\n[sync]\nflush_interval = "100ms"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert f"{path}: sync.flush_interval: " in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def _closed_pipe_run(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` with a stdout whose reader is gone (``| head`` that exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-c", code, "scenarios", "--dir", str(REPO / "scenarios")],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_quietly_with_status_141() -> None:
    """``pinsim scenarios | head -1``: no BrokenPipeError traceback, nor one at exit."""
    done = _closed_pipe_run("import sys; from sim.cli import main; sys.exit(main())")
    assert done.stderr == ""
    assert done.returncode == BROKEN_PIPE_STATUS
    # the same listing without main's handling: what the user saw before
    bare = _closed_pipe_run("import sys; from sim.cli import _dispatch; _dispatch(sys.argv[1:])")
    assert "BrokenPipeError" in bare.stderr


def test_a_broken_pipe_while_printing_returns_141_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def closed(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("builtins.print", closed)
    assert main(["scenarios", "--dir", str(REPO / "scenarios")]) == BROKEN_PIPE_STATUS
    assert capsys.readouterr().err == ""
