"""sim.sweep.plots: heatmaps over two numeric axes, lines otherwise, seeds averaged."""

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.sweep.axes import Axis
from sim.sweep.plots import PLOTTED, _numeric, _seed_means, write_sweep_plots

PNG = b"\x89PNG\r\n\x1a\n"


def _table(axes: list[Axis]) -> pd.DataFrame:
    """A made-up sweep table: one row per combination, metrics from the row number."""
    index = pd.MultiIndex.from_product([axis.values for axis in axes], names=[a.key for a in axes])
    table = index.to_frame(index=False)
    for offset, metric in enumerate(PLOTTED):
        table[metric] = [float(i + offset) for i in range(len(table))]
    return table


@pytest.mark.parametrize(
    ("axis", "numbers", "unit"),
    [
        (Axis("steps", (1, 10)), {1: 1.0, 10: 10.0}, ""),
        (
            Axis("traffic.0.rate", ("1000/s", "60/min")),
            {"1000/s": 1000.0, "60/min": 1.0},
            " (users/s)",
        ),
        (Axis("network.service.median", ("50ms", "1s")), {"50ms": 0.05, "1s": 1.0}, " (s)"),
    ],
)
def test_numeric_reads_counts_rates_and_durations(
    axis: Axis, numbers: dict[object, float], unit: str
) -> None:
    found = _numeric(axis)
    assert found is not None and found.numbers == numbers and found.unit == unit


def test_numeric_leaves_words_alone() -> None:
    assert _numeric(Axis("pinterest.retry_after", (True, False))) is None
    assert _numeric(Axis("step.0.action", ("add", "remove"))) is None


def test_seed_means_average_and_keep_nan() -> None:
    table = pd.DataFrame(
        {
            "steps": [1, 1, 2, 2],
            "seed": [1, 2, 1, 2],
            "lag_p99_s": [1.0, 3.0, 5.0, 7.0],
            "errored_share": [0.0] * 4,
            "drain_s": [1.0, math.nan, 2.0, 4.0],
        }
    )
    means = _seed_means(table, ["steps"])
    assert means["lag_p99_s"].tolist() == [2.0, 6.0]
    drain_s = means["drain_s"]
    assert math.isnan(drain_s.loc[0]) and drain_s.loc[1] == 3.0


@pytest.mark.parametrize(
    "axes",
    [
        [
            Axis("traffic.0.rate", ("10/s", "100/s")),
            Axis("steps", (1, 5, 10)),
            Axis("seed", (1, 2)),
        ],
        [Axis("traffic.0.rate", ("10/s", "100/s")), Axis("seed", (1, 2))],
        [Axis("traffic.0.rate", ("10/s", "100/s")), Axis("steps", (1, 2)), Axis("sync.x", (1, 2))],
        [Axis("step.0.action", ("add", "remove")), Axis("steps", (1, 2))],
        [Axis("step.0.action", ("add", "remove"))],
    ],
    ids=["heatmap", "one-axis", "three-axes", "categories", "only-words"],
)
def test_write_sweep_plots_writes_one_png_per_metric(axes: list[Axis], tmp_path: Path) -> None:
    paths = write_sweep_plots(_table(axes), axes, tmp_path)
    assert [path.name for path in paths] == [f"sweep_{metric}.png" for metric in PLOTTED]
    assert all(path.read_bytes()[:8] == PNG for path in paths)


def test_write_sweep_plots_needs_an_axis_besides_seed(tmp_path: Path) -> None:
    axes = [Axis("seed", (1, 2))]
    assert write_sweep_plots(_table(axes), axes, tmp_path) == []
