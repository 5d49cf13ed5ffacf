"""sim.cli: the pinsim commands, their exit statuses and their one-line user errors."""

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import mock_pinterest.serve
from sim.cli import main, summary_table
from sim.runner import RunOutcome
from sim.scenario import default
from tests.sim.builders import traffic
from tests.sim.cli_errors import one_error_line
from tests.sim.rundata_samples import sample_run

REPO = Path(__file__).parents[2]
TINY = {"description": "a minute of traffic"}  # with tiny_toml's: name, steps, traffic, expect
BLAST = {**TINY, "traffic": [traffic("vip", "blast", count=200)]}


def test_cli_scenarios_lists_shipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--dir", str(REPO / "scenarios")]) == 0
    out = capsys.readouterr().out
    assert "steady_day" in out and "A normal day" in out
    assert "black_friday_blast" in out and "[heavy]" in out


def test_cli_run_missing_file_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "absent.toml"]) == 2
    assert "absent.toml: no such file" in one_error_line(capsys)


def test_cli_run_bad_scenario_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[sync]\nretry_window = "13 hours"\n')
    assert main(["run", str(path)]) == 2
    assert f"{path}: sync.retry_window: " in one_error_line(capsys)


def test_cli_bad_flag_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--seed", "many"]) == 2
    assert "--seed" in one_error_line(capsys)


def test_cli_check_validates_every_file_before_running(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_file("a_good.toml", **TINY)
    (tmp_path / "b_bad.toml").write_text('[[fault]]\nat = "1m"\nkind = "meteor"\n')
    assert main(["check", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "b_bad.toml: fault[0].kind: " in one_error_line(capsys)
    assert not (tmp_path / "out").exists()  # nothing ran


def test_cli_mock_serve_dispatches(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []

    def serve(argv: list[str]) -> int:
        received.append(argv)
        return 0

    monkeypatch.setattr(mock_pinterest.serve, "main", serve)
    assert main(["mock", "serve", "--port", "0"]) == 0
    assert received == [["--port", "0"]]


def test_cli_run_prints_summary_and_report(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(**TINY)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "vip" in captured.out and "synced" in captured.out and "lag p99" in captured.out
    assert "report: " in captured.out
    assert "tiny: simulated 2m" in captured.err


def test_cli_check_passes_and_fails_by_expectation(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_file("good.toml", **TINY)
    scenario_file(
        "strict.toml", **TINY, name="strict", expect={"errored": 0, "synced_min": 1000000}
    )
    assert main(["check", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "PASS tiny" in out and "FAIL strict" in out
    assert "FAIL expect.synced_min" in out
    assert "1 of 2 scenarios passed" in out


def test_cli_check_in_worker_processes_prints_what_one_process_prints(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_file("good.toml", **TINY)
    scenario_file(
        "strict.toml", **TINY, name="strict", expect={"errored": 0, "synced_min": 1000000}
    )
    heavy = scenario_file("heavy.toml", **TINY, name="heavy")  # started first, shown in order
    heavy.write_text(heavy.read_text().replace("[scenario]\n", "[scenario]\nheavy = true\n", 1))
    printed = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        assert main(["check", str(tmp_path), "--out", str(out), "--jobs", jobs]) == 1
        printed[jobs] = capsys.readouterr().out
        assert sorted(p.name for p in out.iterdir()) == ["heavy", "strict", "tiny"]
    assert printed["2"] == printed["1"]
    assert printed["2"].index("PASS heavy") < printed["2"].index("FAIL strict")


# --- pinsim sweep -------------------------------------------------------------------------------


def test_cli_sweep_bad_vary_is_one_line_error_before_running(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(**BLAST)
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--vary", "seed=1,2", "--vary", "traffic.9.count=5", "--out"]
    assert main([*argv, str(out)]) == 2
    assert f"{path}: --vary traffic.9.count: " in one_error_line(capsys)
    assert not out.exists()


def test_cli_sweep_without_dask_says_to_install_it(
    tmp_path: Path,
    scenario_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    path = scenario_file(**BLAST)
    argv = ["sweep", str(path), "--vary", "seed=1", "--out", str(tmp_path), "--dask", "local"]
    assert main(argv) == 2
    assert "pinsim[dask]" in one_error_line(capsys)


def test_cli_sweep_refuses_zero_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "x.toml", "--vary", "seed=1", "--out", str(tmp_path), "--workers", "0"]
    assert main(argv) == 2
    assert "--workers" in one_error_line(capsys)


def test_cli_sweep_prints_table_and_fails_on_a_failed_run(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(**BLAST, expect={"errored": 0, "synced_min": 100})
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--vary", "traffic.0.count=50,200", "--out", str(out)]
    assert main([*argv, "--workers", "2", "--keep-runs"]) == 1  # 50 users cannot sync 100
    captured = capsys.readouterr()
    assert "traffic.0.count" in captured.out and "FAIL" in captured.out
    assert "run 0: failed expect.synced_min" in captured.out
    assert f"wrote {out / 'sweep.parquet'}" in captured.out
    assert "runs 2/2 in " in captured.err and captured.err.endswith(", 1 failed\n")
    assert (out / "runs" / "1" / "summary.json").exists()
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["command"] == shlex.join(["pinsim", *argv, "--workers", "2", "--keep-runs"])


def test_summary_table_has_a_pacing_line(tmp_path: Path) -> None:
    data = sample_run(storm=(20.0, 40.0))
    outcome = RunOutcome(
        scenario=default(),
        data=data,
        checks={},
        expectations={},
        out_dir=tmp_path,
        report=tmp_path / "report.html",
    )
    lines = summary_table(outcome).splitlines()
    assert lines[-2] == (
        "pacing: 429 share 24.14% of 29 writes; utilisation 60.1% of 7/s over 5.2s of "
        "backlog; busiest arrival second 4"
    )


def test_cli_compare_sets_two_runs_side_by_side(
    tmp_path: Path, scenario_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(**TINY)
    for name in ("a", "b"):
        assert main(["run", str(path), "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    status = main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--scenario", str(path)])
    assert status == 0
    assert "synced" in capsys.readouterr().out.lower()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("pinsim: error:")
