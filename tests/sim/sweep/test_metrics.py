"""sim.sweep.metrics: one run's row, against closed forms on a blast into one audience."""

import math

import numpy as np
import pytest

from sim.results.recorder import RunData
from sim.sweep.metrics import METRICS, run_metrics
from sim.world.driver import simulate
from tests.sim.sweep_samples import blast

PER_REQUEST = 1900
PER_SECOND = 7
FLUSH_S = 5.0
LATENCY_SLACK_S = 0.02  # a few round trips of a ~1 ms network


@pytest.fixture(scope="module")
def blasted() -> RunData:
    return simulate(blast(count=20_000), 3)


def test_run_metrics_blast_matches_closed_forms(blasted: RunData) -> None:
    metrics = run_metrics(blasted)
    assert list(metrics) == list(METRICS)
    entered, not_synced = metrics["entered"], metrics["not_synced"]
    assert entered == 20_000 and 0 < not_synced < entered  # a tenth lack the one match field
    assert metrics["synced"] == entered - not_synced
    assert metrics["errored"] == metrics["pending"] == 0
    needed = math.ceil(metrics["synced"] / PER_REQUEST)
    assert metrics["requests"] == needed
    assert metrics["requests_429"] == metrics["requests_failed"] == 0
    assert metrics["synced_share"] == metrics["synced"] / entered
    assert metrics["errored_share"] == 0.0
    # all entered at 0 s: done when the last PATCH is answered, 5 s + ⌈n/1,900⌉/7 s at most
    assert metrics["done_at_s"] == metrics["drain_s"] == metrics["lag_max_s"]
    assert FLUSH_S < metrics["done_at_s"] <= FLUSH_S + needed / PER_SECOND + LATENCY_SLACK_S
    assert FLUSH_S < metrics["lag_p50_s"] <= metrics["lag_p99_s"] <= metrics["lag_max_s"]


def test_run_metrics_still_pending_has_no_drain(blasted: RunData) -> None:
    frame = blasted.timeseries.copy()
    frame.loc[frame.index[-1], "pending"] = 1
    metrics = run_metrics(_with(blasted, timeseries=frame))
    assert np.isnan(metrics["done_at_s"]) and np.isnan(metrics["drain_s"])


def test_run_metrics_nobody_entered_has_nan_shares(blasted: RunData) -> None:
    timeseries = blasted.timeseries.assign(entered=0, synced=0, not_synced=0)
    metrics = run_metrics(_with(blasted, timeseries=timeseries, users=blasted.users.iloc[:0]))
    assert metrics["entered"] == 0
    assert np.isnan(metrics["synced_share"]) and np.isnan(metrics["lag_p99_s"])
    assert metrics["done_at_s"] == 0.0 and np.isnan(metrics["drain_s"])


def _with(data: RunData, **frames: object) -> RunData:
    fields = {name: getattr(data, name) for name in RunData.__dataclass_fields__}
    return RunData(**{**fields, **frames})
