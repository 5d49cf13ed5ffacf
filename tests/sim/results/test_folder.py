"""sim.results.folder and sim.results.report: the run outputs CONTRACTS.md §3.2 lists,
deterministic and self-contained, and a run folder read back as the run it holds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from sim.judge import pacing
from sim.judge.checks import CheckResult, run_checks
from sim.results.folder import load_run, write_outputs
from sim.results.recorder import RunData
from sim.runner import run
from tests.sim.builders import AUDIENCE_A, FAST_NETWORK, build_scenario, fault, step, traffic
from tests.sim.rundata_samples import sample_run

EXPECTED_FILES = {
    "summary.json",
    "timeseries.csv",
    "users.parquet",
    "requests.csv",
    "report.html",
    "counters.png",
    "backlog.png",
    "request_rate.png",
    "records.png",
    "lag_cdf.png",
}


@pytest.fixture(scope="module")
def data() -> RunData:
    return sample_run(storm=(20.0, 40.0))


@pytest.fixture(scope="module")
def out(data: RunData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    expect = {"errored": CheckResult(False, "errored = 3, expected = 0")}
    return write_outputs(data, run_checks(data), expect, tmp_path_factory.mktemp("run"))


def test_write_outputs_writes_exactly_the_listed_files(out: Path) -> None:
    assert {path.name for path in out.iterdir()} == EXPECTED_FILES


def test_write_outputs_summary_has_counters_lag_requests_and_verdicts(
    out: Path, data: RunData
) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "sample"
    assert set(summary["steps"]) == {"vip-add", "lapsed-add"}
    vip = summary["steps"]["vip-add"]
    final = data.timeseries[data.timeseries["step"] == "vip-add"].iloc[-1]
    assert vip["synced"] == final["synced"]
    assert set(vip) == {
        *(["entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited"]),
        "lag_s",
    }
    assert set(summary["lag_s"]) == {"p50", "p90", "p99", "max"}
    assert summary["requests"]["total"] == len(data.requests)
    assert summary["requests"]["by_status"]["429"] == int((data.requests["status"] == 429).sum())
    assert summary["checks"]["conservation"]["ok"] is True
    assert summary["expect"] == {"errored": {"ok": False, "detail": "errored = 3, expected = 0"}}


def test_write_outputs_lag_is_null_when_nobody_synced(tmp_path: Path, data: RunData) -> None:
    nobody = dataclasses.replace(data, users=data.users.assign(outcome="pending"))
    write_outputs(nobody, {}, {}, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["lag_s"] == {"p50": None, "p90": None, "p99": None, "max": None}
    assert not (tmp_path / "lag_cdf.png").exists()


def test_write_outputs_tables_round_trip(out: Path, data: RunData) -> None:
    users = pd.read_parquet(out / "users.parquet")
    assert list(users.columns) == list(data.users.columns)
    assert len(users) == len(data.users)
    requests = pd.read_csv(out / "requests.csv")
    assert requests["records"].sum() == data.requests["records"].sum()
    timeseries = pd.read_csv(out / "timeseries.csv")
    assert timeseries["entered"].tolist() == data.timeseries["entered"].tolist()


def test_write_outputs_is_byte_identical_apart_from_wall_clock(
    tmp_path: Path, data: RunData
) -> None:
    checks = run_checks(data)
    first = write_outputs(data, checks, {}, tmp_path / "a")
    second = write_outputs(dataclasses.replace(data, wall_seconds=99.0), checks, {}, tmp_path / "b")
    differing = {
        path.name
        for path in first.iterdir()
        if path.read_bytes() != (second / path.name).read_bytes()
    }
    assert differing == {"summary.json", "report.html"}
    one = json.loads((first / "summary.json").read_text())
    other = json.loads((second / "summary.json").read_text())
    assert one | {"wall_seconds": 0} == other | {"wall_seconds": 0}


def test_write_outputs_report_is_self_contained_and_escaped(tmp_path: Path, data: RunData) -> None:
    hostile = dataclasses.replace(data, scenario="<script>x</script>")
    checks = {"conservation": CheckResult(False, "a < b")}
    page = (write_outputs(hostile, checks, {}, tmp_path) / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "a &lt; b" in page
    assert "✘ 1 failed" in page
    assert page.count("data:image/png;base64,") == 5
    assert 'src="http' not in page and "counters.png" not in page


def test_write_outputs_summary_has_pacing_overall_and_per_token(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    # the storm answers the first attempt of each PATCH in [20 s, 40 s) 429
    assert summary["pacing"] == {
        "writes": 29,
        "refused_429": 7,
        "share_429": 0.241379,
        "accepted_in_backlog": 22,
        "backlog_s": 5.233333,
        "utilisation": 0.600546,
        "busiest_arrival_second": {"count": 4, "start_s": 20.1, "token": "tok-1"},
        "tokens": {
            "tok-1": {
                "writes": 29,
                "refused_429": 7,
                "share_429": 0.241379,
                "accepted_in_backlog": 22,
                "backlog_s": 5.233333,
                "utilisation": 0.600546,
                "busiest_arrival_second": {"count": 4, "start_s": 20.1, "token": "tok-1"},
            }
        },
    }


def test_write_outputs_pacing_is_null_without_writes_or_backlog(
    tmp_path: Path, data: RunData
) -> None:
    quiet = dataclasses.replace(
        data,
        users=data.users.assign(outcome="not_synced"),
        requests=data.requests.assign(method="GET"),
    )
    write_outputs(quiet, {}, {}, tmp_path)
    pacing = json.loads((tmp_path / "summary.json").read_text())["pacing"]
    assert (pacing["writes"], pacing["share_429"]) == (0, None)
    assert (pacing["backlog_s"], pacing["utilisation"]) == (0.0, None)
    assert pacing["busiest_arrival_second"]["count"] > 0  # every request counts there
    assert "<h2>Pacing</h2>" in (tmp_path / "report.html").read_text()


def test_write_outputs_report_has_a_pacing_table_with_definitions(out: Path) -> None:
    page = (out / "report.html").read_text()
    table = page.split("<h2>Pacing</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>all tokens</th><th>tok-1</th><th>definition</th>" in table
    for label in ("writes", "429 share", "backlog (s)", "utilisation", "busiest arrival second"):
        assert f"<td>{label}</td>" in table
    assert "<td>24.14%</td>" in table and "<td>60.05%</td>" in table
    assert "<td>4 at 20.100 s</td>" in table
    assert "customer-list PATCHes the engine sent" in table


def test_load_run_keeps_the_pacing_figures(tmp_path: Path, data: RunData) -> None:
    write_outputs(data, {}, {}, tmp_path)
    sampled = build_scenario(
        "sample.toml",
        connections=[{"id": "acme"}],
        steps=[step("vip-add", connection="acme"), step("lapsed-add", connection="acme")],
    )
    reloaded = load_run(tmp_path, sampled)
    assert dict(reloaded.connection_of_step) == {"vip-add": "acme", "lapsed-add": "acme"}
    assert pacing.by_token(reloaded) == pacing.by_token(data)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pacing"]["utilisation"] == round(pacing.overall(reloaded).utilisation or 0, 6)


def test_load_run_gives_the_fault_windows_of_the_run(tmp_path: Path) -> None:
    # a storm with no `until` lasts to the run's end; a revoke and a reconnect are instants
    scenario = build_scenario(
        duration="2m",
        network=FAST_NETWORK,
        steps=[AUDIENCE_A],
        traffic=[traffic("a", "constant", rate="1/s", end="1m")],
        faults=[
            fault("rate_limit_storm", "30s", share=0.5),
            fault("revoke_token", "40s"),
            fault("reconnect", "50s"),
        ],
    )
    outcome = run(scenario, out_dir=tmp_path)
    windows = load_run(tmp_path, scenario).fault_windows
    assert windows == outcome.data.fault_windows
    assert [(w.kind, w.end_s) for w in windows] == [
        ("rate_limit_storm", 120.0),
        ("revoke_token", None),
        ("reconnect", None),
    ]
