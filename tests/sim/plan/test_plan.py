"""sim.plan and ``pinsim plan``: the parameters read from a scenario, which formulas it gets,
and the same table from a fresh run and from its output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.judge import pacing
from sim.plan.parameters import derive
from sim.plan.table import PLAN_COLUMNS, format_plan, plan_rows
from sim.results.folder import load_run
from sim.runner import run
from sim.scenario import Scenario
from tests.sim.builders import (
    EVERYONE_HAS_EMAIL,
    FAST_NETWORK,
    build_scenario,
    fault,
    step,
    traffic,
)
from tests.sim.rundata_samples import sample_run

SCENARIOS = Path(__file__).parents[3] / "scenarios"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """Revoked at 5 min, reconnected at 8 min, 5 users/s into one audience until 15 min."""
    return build_scenario(
        "planned.toml",
        name="planned",
        seed=3,
        duration="20m",
        network=FAST_NETWORK,
        steps=[step("a", match_fields=["email"])],
        traffic=[traffic("a", "poisson", rate="5/s", end="15m", **EVERYONE_HAS_EMAIL)],
        faults=[fault("revoke_token", "5m"), fault("reconnect", "8m")],
    )


def test_plan_derive_reads_the_scenario(scenario: Scenario) -> None:
    inputs = derive(scenario)
    assert (inputs.flush_interval_s, inputs.requests_per_second, inputs.max_records) == (
        5.0,
        7,
        1900,
    )
    (token,) = inputs.tokens
    assert token.steps == ("a",) and token.records_per_user == 1.0
    assert token.rate_per_s == pytest.approx(5.0)
    (outage,) = inputs.outages
    assert (outage.kind, outage.start_s, outage.end_s) == ("revoke_token", 300.0, 480.0)


def test_plan_rows_from_a_run_and_from_its_folder_agree(scenario: Scenario, tmp_path: Path) -> None:
    outcome = run(scenario, out_dir=tmp_path / "planned")
    fresh = plan_rows(scenario, outcome.data)
    assert list(fresh.columns) == list(PLAN_COLUMNS)
    formulas = list(fresh["formula"])
    assert any(name.startswith("backlog R_b") for name in formulas)
    assert not any(name.startswith("expired") for name in formulas)  # 3 min ≪ 13 h
    backlog = fresh[fresh["formula"].str.startswith("backlog R_b")].iloc[0]
    assert backlog["predicted"] == pytest.approx(5 * 185)
    assert backlog["error"] == pytest.approx(0, abs=0.1)
    reloaded = plan_rows(scenario, load_run(tmp_path / "planned", scenario))
    pd.testing.assert_frame_equal(fresh, reloaded)
    assert "n/a" in format_plan(fresh)  # the knee has no simulated counterpart


def test_plan_rows_without_data_predict_only(scenario: Scenario) -> None:
    frame = plan_rows(scenario)
    assert frame["simulated"].isna().all() and frame["error"].isna().all()
    assert not frame["predicted"].isna().any()


def test_plan_cli_reads_runs_and_says_when_one_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(SCENARIOS / "black_friday_blast.toml"), "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no run in" in out and "blast drain" in out and "formula" in out


def test_plan_cli_user_mistakes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(tmp_path / "nope.toml")]) == 2
    assert main(["plan", str(SCENARIOS), "--runs", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "steady_day").mkdir()
    assert main(["plan", str(SCENARIOS / "steady_day.toml"), "--runs", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("pinsim: error: ") for line in errors)


def test_plan_rows_show_pacing_beside_capacity() -> None:
    data = sample_run(storm=(20.0, 40.0))
    scenario = build_scenario(
        "sample.toml",
        connections=[{"id": "acme"}],
        steps=[step("vip-add", connection="acme"), step("lapsed-add", connection="acme")],
    )
    frame = plan_rows(scenario, data).set_index("formula")
    assert list(frame.index[:3]) == [
        "capacity r·m/ρ",
        "429 share of writes",
        "utilisation while backlogged",
    ]
    share, used = frame.loc["429 share of writes"], frame.loc["utilisation while backlogged"]
    assert (share["predicted"], used["predicted"]) == (0.0, 1.0)
    assert share["simulated"] == pytest.approx(7 / 29)
    assert np.isnan(share["error"])  # relative to a prediction of 0
    assert used["simulated"] == pytest.approx(pacing.overall(data).utilisation)
    assert used["error"] == pytest.approx(used["simulated"] - 1.0)
