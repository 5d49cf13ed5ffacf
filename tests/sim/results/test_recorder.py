"""sim.results.recorder: samples become the contract's timeseries; RunData guards columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim.results.recorder import (
    COUNTERS,
    TIMESERIES_COLUMNS,
    Recorder,
    RunDataError,
    final_counters,
    lag_percentiles,
    synced_lag_s,
)
from tests.sim.rundata_samples import sample_run


def _counters(entered: int, synced: int) -> dict[str, int]:
    values = dict.fromkeys(COUNTERS, 0)
    values.update(entered=entered, proceeded=entered, synced=synced, pending=entered - synced)
    return values


def test_recorder_builds_one_row_per_step_per_sample() -> None:
    recorder = Recorder(["a", "b"])
    recorder.sample(0.0, {"a": _counters(1, 0), "b": _counters(2, 0)}, {"a": 0.5})
    recorder.sample(5.0, {"a": _counters(3, 1), "b": _counters(2, 2)}, {})

    frame = recorder.timeseries()

    assert list(frame.columns) == list(TIMESERIES_COLUMNS)
    assert frame["t"].tolist() == [0.0, 0.0, 5.0, 5.0]
    assert frame["step"].tolist() == ["a", "b", "a", "b"]
    assert frame["entered"].tolist() == [1, 2, 3, 2]
    assert frame["synced"].tolist() == [0, 0, 1, 2]
    # A step with no age given has nobody pending: its age reads 0.
    assert frame["oldest_pending_age_s"].tolist() == [0.5, 0.0, 0.0, 0.0]
    assert len(recorder) == 4


def test_recorder_empty_gives_empty_frame_with_contract_columns() -> None:
    frame = Recorder(["a"]).timeseries()
    assert frame.empty
    assert list(frame.columns) == list(TIMESERIES_COLUMNS)


def test_recorder_rejects_time_going_backwards() -> None:
    recorder = Recorder(["a"])
    recorder.sample(5.0, {"a": _counters(1, 0)}, {})
    with pytest.raises(ValueError, match="before the previous one"):
        recorder.sample(4.0, {"a": _counters(1, 0)}, {})


def test_recorder_rejects_sample_missing_a_step() -> None:
    recorder = Recorder(["a", "b"])
    with pytest.raises(ValueError, match=r"lacks counters for steps \['b'\]"):
        recorder.sample(0.0, {"a": _counters(1, 0)}, {})


def test_recorder_rejects_duplicate_step_ids() -> None:
    with pytest.raises(ValueError, match="unique"):
        Recorder(["a", "a"])


def test_rundata_rejects_frame_missing_contract_column() -> None:
    data = sample_run()
    with pytest.raises(RunDataError, match="requests lacks columns \\['raw_pii'\\]"):
        dataclasses.replace(data, requests=data.requests.drop(columns="raw_pii"))


def test_rundata_step_ids_in_sampling_order() -> None:
    assert sample_run(steps=("z", "a")).step_ids == ("z", "a")


def test_synced_lag_s_counts_only_synced_users_sorted() -> None:
    users = pd.DataFrame(
        {
            "outcome": ["synced", "errored", "synced", "pending"],
            "entered_at": [0.0, 0.0, 10.0, 1.0],
            "outcome_at": [7.0, 50.0, 12.0, np.nan],
        }
    )
    assert synced_lag_s(users).tolist() == [2.0, 7.0]


def test_lag_percentiles_none_when_nobody_synced() -> None:
    users = pd.DataFrame({"outcome": ["pending"], "entered_at": [0.0], "outcome_at": [np.nan]})
    assert lag_percentiles(users) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_lag_percentiles_max_is_largest_lag() -> None:
    users = pd.DataFrame(
        {"outcome": ["synced"] * 3, "entered_at": [0.0, 0.0, 0.0], "outcome_at": [1.0, 2.0, 9.0]}
    )
    lags = lag_percentiles(users)
    assert lags["max"] == 9.0
    assert lags["p50"] == 2.0


def test_final_counters_is_last_sample_per_step() -> None:
    recorder = Recorder(["a", "b"])
    recorder.sample(0.0, {"a": _counters(1, 0), "b": _counters(2, 0)}, {})
    recorder.sample(5.0, {"a": _counters(3, 1), "b": _counters(4, 4)}, {})
    final = final_counters(recorder.timeseries())
    assert final.loc["a", "entered"] == 3
    assert final.loc["b", "synced"] == 4


def test_rundata_connection_of_step_defaults_to_the_journals_one_connection() -> None:
    run = sample_run()  # every request on the mock user "acme"
    assert run.step_connections is None
    assert dict(run.connection_of_step) == {"vip-add": "acme", "lapsed-add": "acme"}
    given = dataclasses.replace(run, step_connections={"vip-add": "x", "lapsed-add": "y"})
    assert dict(given.connection_of_step) == {"vip-add": "x", "lapsed-add": "y"}


def test_rundata_needs_step_connections_when_the_journal_names_several() -> None:
    run = sample_run()
    requests = run.requests.copy()
    requests.loc[requests.index[-1], "user"] = "other"
    with pytest.raises(RunDataError, match=r"step_connections is needed.*'acme', 'other'"):
        dataclasses.replace(run, requests=requests)
    mapped = {"vip-add": "acme", "lapsed-add": "other"}
    assert dataclasses.replace(run, requests=requests, step_connections=mapped).step_connections
