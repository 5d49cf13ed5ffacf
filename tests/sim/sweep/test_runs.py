"""sim.sweep.runs: the tidy table (order, columns, types), failed runs, outputs, and executors
that agree (local processes and a Dask LocalCluster give the same table)."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

import sim.sweep.runs
from sim.results.recorder import RunData
from sim.scenario import Scenario
from sim.sweep.axes import Axis, SweepError, plan_runs
from sim.sweep.executors import DaskCluster, Inline, LocalProcesses
from sim.sweep.metrics import METRICS
from sim.sweep.runs import (
    VERDICT_COLUMNS,
    SweepResult,
    format_table,
    parse_axis,
    run_one,
    sweep,
    write_sweep,
)
from sim.world.driver import simulate
from tests.sim.sweep_samples import blast

AXES = ("steps=1,2", "seed=1,2")


def _axes() -> list[Axis]:
    return [parse_axis(text) for text in AXES]


@pytest.fixture(scope="module")
def inline() -> SweepResult:
    return sweep(blast(), _axes(), executor=Inline())


def test_sweep_table_has_one_row_per_run_in_cartesian_order(inline: SweepResult) -> None:
    table = inline.table
    assert list(table.columns) == ["run", "steps", "seed", *METRICS, *VERDICT_COLUMNS]
    assert table["run"].tolist() == [0, 1, 2, 3]
    assert table["steps"].tolist() == [1, 1, 2, 2]
    assert table["seed"].tolist() == [1, 2, 1, 2]
    assert (table["entered"] == 3000).all()  # splitting the blast keeps its total
    assert (table["synced"] == table["entered"] - table["not_synced"]).all()
    assert table["checks_ok"].all() and inline.ok and inline.failed_runs == 0
    assert (table["error"] == "").all() and (table["failed_checks"] == "").all()
    assert str(table["entered"].dtype) == "Int64" and table["lag_p99_s"].dtype == "float64"
    assert len(inline.run_wall_seconds) == 4


def test_sweep_table_is_the_same_on_local_processes_and_dask(inline: SweepResult) -> None:
    local = sweep(blast(), _axes(), executor=LocalProcesses(2))
    dask = sweep(blast(), _axes(), executor=DaskCluster("local", workers=2))
    pd.testing.assert_frame_equal(local.table, inline.table)
    pd.testing.assert_frame_equal(dask.table, inline.table)


def test_sweep_failed_run_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_on_seed_2(scenario: Scenario, seed: int) -> RunData:
        if seed == 2:
            raise RuntimeError("the simulator broke")
        return simulate(scenario, seed)

    monkeypatch.setattr(sim.sweep.runs, "simulate", broken_on_seed_2)
    result = sweep(blast(), [parse_axis("seed=1,2,3")], executor=Inline())
    table = result.table
    assert table["error"].tolist() == ["", "RuntimeError: the simulator broke", ""]
    assert table["checks_ok"].tolist() == [True, False, True]
    assert table["entered"].isna().tolist() == [False, True, False]
    assert pd.isna(table["lag_p99_s"].loc[1])
    assert not result.ok and result.failed_runs == 1
    assert "run 1: RuntimeError: the simulator broke" in format_table(table)


def test_sweep_failed_expectation_is_named(tmp_path: Path) -> None:
    scenario = blast(expect={"synced_min": 2000})
    result = sweep(scenario, [parse_axis("traffic.0.count=1000,3000")], executor=Inline())
    assert result.table["checks_ok"].tolist() == [False, True]
    assert result.table["failed_checks"].tolist() == ["expect.synced_min", ""]
    assert "run 0: failed expect.synced_min" in format_table(result.table)


def test_sweep_validates_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.sweep.runs, "run_one", pytest.fail)  # nothing may run
    with pytest.raises(SweepError, match=r"--vary traffic\.9\.count"):
        sweep(blast(), [parse_axis("seed=1,2"), parse_axis("traffic.9.count=1")])


def test_sweep_reports_progress_per_run() -> None:
    calls: list[tuple[int, int]] = []
    sweep(
        blast(100), [parse_axis("seed=1,2")], executor=Inline(), progress=lambda *c: calls.append(c)
    )
    assert calls == [(1, 2), (2, 2)]


def test_run_one_keeps_a_runs_outputs_when_asked(tmp_path: Path) -> None:
    spec = plan_runs(blast(100), [])[0]
    result = run_one(dataclasses.replace(spec, keep_dir=str(tmp_path / "runs" / "0")))
    assert result.error == "" and result.metrics["entered"] == 100
    assert (tmp_path / "runs" / "0" / "summary.json").exists()


def test_write_sweep_writes_table_summary_and_plots(inline: SweepResult, tmp_path: Path) -> None:
    paths = write_sweep(inline, tmp_path, command="pinsim sweep x.toml --vary steps=1,2")
    names = sorted(path.name for path in paths)
    assert names == sorted(
        ["sweep.csv", "sweep.parquet", "sweep.json"]
        + [f"sweep_{m}.png" for m in ("lag_p99_s", "errored_share", "drain_s")]
    )
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sweep.parquet"), inline.table)
    csv = pd.read_csv(tmp_path / "sweep.csv", keep_default_na=False)
    assert csv["run"].tolist() == [0, 1, 2, 3] and list(csv.columns) == list(inline.table.columns)
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert summary["command"].startswith("pinsim sweep")
    assert summary["axes"] == [
        {"key": "steps", "values": [1, 2]},
        {"key": "seed", "values": [1, 2]},
    ]
    assert summary["runs"] == 4 and summary["failed_runs"] == 0
    assert len(summary["run_wall_seconds"]) == 4
    for path in paths[3:]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
