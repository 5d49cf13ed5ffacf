"""sim.results.compare: two run folders side by side, a verdict per line, ``pinsim compare``'s
exit statuses. The truth a verdict is held against is each folder's own summary.json, or a
doctoring the test did and knows the size of."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.results.compare import CompareRow, Verdict, compare, format_compare, main, read_run
from sim.results.folder import load_run
from sim.results.recorder import RunData
from sim.runner import run
from sim.scenario import Scenario, parse
from tests.sim.builders import tiny_toml
from tests.sim.cli_errors import one_error_line

EXACT = ("synced", "not_synced", "errored")
OTHER_SEED = 7  # gives tiny a different not_synced count (asserted, not assumed)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse(tiny_toml(), "tiny.toml")


@pytest.fixture(scope="module")
def runs(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders of tiny: "a" and "b" with its seed, "seed" with another; plus the file."""
    root = tmp_path_factory.mktemp("runs")
    (root / "tiny.toml").write_text(tiny_toml(), encoding="utf-8")
    folders = {"a": None, "b": None, "seed": OTHER_SEED}
    for name, seed in folders.items():
        run(scenario, out_dir=root / name, seed=seed)
    return {name: root / name for name in folders} | {"scenario": root / "tiny.toml"}


def _summary_steps(folder: Path) -> dict[str, dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = json.loads((folder / "summary.json").read_text())["steps"]
    return steps


def _failed(rows: list[CompareRow]) -> set[tuple[str, str]]:
    return {(row.scope, row.metric) for row in rows if not row.ok}


def _copy(folder: Path, to: Path) -> Path:
    return Path(shutil.copytree(folder, to))


def _doctor_lags(folder: Path, shift_s: float) -> None:
    """Every synced user of ``folder`` synced ``shift_s`` later: every lag grows by it."""
    users = pd.read_parquet(folder / "users.parquet")
    synced = users["outcome"] == "synced"
    users.loc[synced, "outcome_at"] += shift_s
    users.to_parquet(folder / "users.parquet", index=False)


def test_compare_two_runs_of_one_scenario_and_seed_agree_on_every_line(
    runs: dict[str, Path], scenario: Scenario
) -> None:
    rows = compare(load_run(runs["a"], scenario), load_run(runs["b"], scenario), lag_tolerance_s=0)
    assert [row.verdict for row in rows if row.tolerance is not None] == [Verdict.OK] * 5
    assert all(row.diff == 0 for row in rows)
    steps = _summary_steps(runs["a"])
    by_line = {(row.scope, row.metric): row for row in rows}
    for name in ("entered", *EXACT, "pending"):
        assert by_line["vip", name].a == steps["vip"][name]
    assert by_line["vip", "lag p50"].a == pytest.approx(steps["vip"]["lag_s"]["p50"])


def test_compare_changed_seed_fails_exactly_the_counts_that_differ(
    runs: dict[str, Path], scenario: Scenario
) -> None:
    a, b = _summary_steps(runs["a"])["vip"], _summary_steps(runs["seed"])["vip"]
    differing = {("vip", name) for name in EXACT if a[name] != b[name]}
    assert differing, "pick OTHER_SEED so that the seed changes a count"
    rows = compare(
        load_run(runs["a"], scenario), load_run(runs["seed"], scenario), lag_tolerance_s=5.0
    )
    assert _failed(rows) == differing


@pytest.mark.parametrize(("shift_s", "fails"), [(4.99, False), (5.01, True)])
def test_compare_lags_hold_within_one_flush_interval(
    runs: dict[str, Path], tmp_path: Path, shift_s: float, fails: bool, scenario: Scenario
) -> None:
    doctored = _copy(runs["b"], tmp_path / "b")
    _doctor_lags(doctored, shift_s)  # tiny flushes every 5 s (the default)
    assert scenario.sync.flush_interval_s == 5.0
    status = main([str(runs["a"]), str(doctored), "--scenario", str(runs["scenario"])])
    expected = {("vip", "lag p50"), ("vip", "lag p99")} if fails else set()
    rows = compare(load_run(runs["a"], scenario), load_run(doctored, scenario), lag_tolerance_s=5)
    assert _failed(rows) == expected
    assert status == (1 if fails else 0)


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    """tiny at 10 users/s: enough users that one of them is a small share of the ranks."""
    scenario = parse(tiny_toml().replace('rate = "1/s"', 'rate = "10/s"'), "busy.toml")
    folder = tmp_path_factory.mktemp("busy") / "run"
    run(scenario, out_dir=folder)
    return scenario, folder


def _bimodal_lags(folder: Path, *, fast: int, shift_s: float = 0.0) -> int:
    """Synced users of ``folder`` split as an outage splits them: the first ``fast`` (in user
    order) synced 3 s after entry, the rest an hour later; every lag then ``shift_s`` longer.
    Returns how many synced."""
    users = pd.read_parquet(folder / "users.parquet")
    synced = users.index[users["outcome"] == "synced"]
    lag = pd.Series(3600.0, index=synced)
    lag[synced[:fast]] = 3.0
    users.loc[synced, "outcome_at"] = users.loc[synced, "entered_at"] + lag + shift_s
    users.to_parquet(folder / "users.parquet", index=False)
    return len(synced)


@pytest.mark.parametrize(("shift_s", "fails"), [(0.0, False), (5.01, True)])
def test_compare_a_bimodal_lag_is_judged_near_its_rank_not_in_the_gap(
    busy_run: tuple[Scenario, Path], tmp_path: Path, shift_s: float, fails: bool
) -> None:
    # half the users fast, half an hour late: the median sits in the gap, and one more fast
    # user in B moves it by half an hour, though every other user's lag is the same
    scenario, folder = busy_run
    a, b = _copy(folder, tmp_path / "a"), _copy(folder, tmp_path / "b")
    synced = _bimodal_lags(a, fast=0)
    assert synced >= 400  # one user is then a quarter of a percentage point
    _bimodal_lags(a, fast=synced // 2)
    _bimodal_lags(b, fast=synced // 2 + 1, shift_s=shift_s)
    rows = compare(load_run(a, scenario), load_run(b, scenario), lag_tolerance_s=5.0)
    p50 = next(row for row in rows if row.metric == "lag p50")
    assert abs((p50.a or 0.0) - (p50.b or 0.0)) > 1000.0
    # a shift of every lag beyond the tolerance fails whatever the rank (p99 too)
    assert _failed(rows) == ({("vip", "lag p50"), ("vip", "lag p99")} if fails else set())


def test_compare_lag_tolerance_option_overrides_the_flush_interval(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doctored = _copy(runs["b"], tmp_path / "b")
    _doctor_lags(doctored, 0.5)
    args = [str(runs["a"]), str(doctored), "--scenario", str(runs["scenario"])]
    assert main(args) == 0
    assert main([*args, "--lag-tolerance", "400ms"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: vip lag p50, vip lag p99" in out and "±0.4s" in out


def test_compare_doctored_final_counters_fail_their_lines(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doctored = _copy(runs["b"], tmp_path / "b")
    frame = pd.read_csv(doctored / "timeseries.csv")
    last = frame.index[-1]  # tiny has one step: its final sample
    frame.loc[last, "synced"] -= 1
    frame.loc[last, "errored"] += 1
    frame.to_csv(doctored / "timeseries.csv", index=False, lineterminator="\n")
    assert main([str(runs["a"]), str(doctored), "--scenario", str(runs["scenario"])]) == 1
    out = capsys.readouterr().out
    assert "verdict: 3 of 5 judged lines hold (FAILED: vip synced, vip errored)" in out
    synced = next(line for line in out.splitlines() if line.startswith("vip    synced"))
    assert synced.split()[-3:] == ["-1", "equal", "FAIL"]


def _with_extra_429(data: RunData) -> RunData:
    """``data`` with one more engine write in its journal, refused with 429."""
    requests = data.requests
    writes = requests[
        requests["path"].str.contains("/customer_lists/") & requests["sent_at"].notna()
    ]
    refused = writes.iloc[[-1]].assign(status=429, code=8)
    return dataclasses.replace(data, requests=pd.concat([requests, refused], ignore_index=True))


@pytest.mark.parametrize(
    ("tolerance", "failed"), [(None, set()), (0, {"requests", "429s"}), (1, set())]
)
def test_compare_requests_are_informational_unless_a_tolerance_is_given(
    runs: dict[str, Path], scenario: Scenario, tolerance: int | None, failed: set[str]
) -> None:
    a = load_run(runs["a"], scenario)
    rows = compare(a, _with_extra_429(a), lag_tolerance_s=5.0, request_tolerance=tolerance)
    by_line = {row.metric: row for row in rows if row.scope == "(run)"}
    assert (by_line["requests"].diff, by_line["429s"].diff) == (1, 1)
    assert by_line["429s"].a == 0
    assert _failed(rows) == {("(run)", name) for name in failed}


def test_compare_step_only_one_run_has_fails_its_judged_lines(
    runs: dict[str, Path], scenario: Scenario
) -> None:
    a = load_run(runs["a"], scenario)
    renamed = {"step": a.timeseries["step"].replace("vip", "vip2")}
    b = dataclasses.replace(
        a, timeseries=a.timeseries.assign(**renamed), users=a.users.assign(step="vip2")
    )
    rows = compare(a, b, lag_tolerance_s=5.0)
    assert [row.scope for row in rows] == ["vip"] * 7 + ["vip2"] * 7 + ["(run)"] * 2
    judged = ("synced", "not_synced", "errored", "lag p50", "lag p99")
    assert _failed(rows) == {(step, name) for step in ("vip", "vip2") for name in judged}


def test_compare_row_verdicts_follow_the_tolerance() -> None:
    def row(a: float | None, b: float | None, tolerance: float | None) -> CompareRow:
        return CompareRow(scope="s", metric="lag p50", a=a, b=b, tolerance=tolerance, unit="s")

    assert row(None, None, 5.0).verdict is Verdict.OK  # nobody synced in either run
    assert row(None, 3.0, 5.0).verdict is Verdict.FAIL
    assert row(1.0, 6.0, 5.0).verdict is Verdict.OK  # the boundary holds
    assert row(1.0, 6.5, 5.0).verdict is Verdict.FAIL
    assert row(1.0, 600.0, None).verdict is Verdict.INFO
    assert row(3.0, 1.0, 0.0).diff == -2.0


def test_format_compare_aligns_lines_and_tallies_the_verdicts() -> None:
    rows = [
        CompareRow(scope="vip", metric="synced", a=1_200, b=1_199, tolerance=0),
        CompareRow(scope="vip", metric="lag p50", a=None, b=2.5, tolerance=5.0, unit="s"),
        CompareRow(scope="(run)", metric="requests", a=10, b=12, tolerance=None),
    ]
    lines = format_compare(rows).splitlines()
    assert lines == [
        "step   line      run A   run B  B − A  rule   verdict",
        "vip    synced    1,200   1,199     -1  equal  FAIL",
        "vip    lag p50       -  2.500s      -  ±5s    FAIL",
        "(run)  requests     10      12     +2         info",
        "verdict: 0 of 2 judged lines hold (FAILED: vip synced, vip lag p50)",
    ]


# --- the command's user errors and scenario look-up --------------------------------------------


def test_compare_main_missing_folder_is_one_line_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main([str(runs["a"]), str(missing)]) == 2
    assert f"{missing}: no such folder" in one_error_line(capsys)


def test_compare_main_missing_table_is_one_line_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _copy(runs["b"], tmp_path / "b")
    (broken / "users.parquet").unlink()
    assert main([str(runs["a"]), str(broken), "--scenario", str(runs["scenario"])]) == 2
    assert "users.parquet: no such file" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        (["--lag-tolerance", "5"], "argument --lag-tolerance: bad duration '5'"),
        (["--request-tolerance", "-1"], "argument --request-tolerance"),
        (["--scenario", "missing.toml"], "missing.toml: no such file"),
    ],
)
def test_compare_main_bad_flags_are_one_line_exit_2(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], flags: list[str], shown: str
) -> None:
    assert main([str(runs["a"]), str(runs["b"]), *flags]) == 2
    assert shown in one_error_line(capsys)


def test_compare_main_refuses_a_scenario_of_another_name(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(tiny_toml(name="other"), encoding="utf-8")
    assert main([str(runs["a"]), str(runs["b"]), "--scenario", str(other)]) == 2
    assert "holds a run of 'tiny', not of 'other'" in one_error_line(capsys)


def test_compare_main_finds_the_scenario_by_name_under_scenarios(
    runs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([str(runs["a"]), str(runs["b"])]) == 2
    expected = "scenario 'tiny' is neither built in, shipped nor scenarios/tiny.toml"
    assert expected in one_error_line(capsys)
    (tmp_path / "scenarios").mkdir()
    shutil.copy(runs["scenario"], tmp_path / "scenarios" / "tiny.toml")
    assert main([str(runs["a"]), str(runs["b"])]) == 0
    out = capsys.readouterr().out
    assert f"run A: {runs['a']} (scenario tiny, seed 0)" in out
    assert out.rstrip().endswith("verdict: 5 of 5 judged lines hold (all hold)")
    assert read_run(runs["a"]).limits.flush_interval_s == 5.0
