"""sim.results.plots: each figure renders when there is data, stays out when not; byte-stable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.results.plots import FIGURES, counters_figure, lag_cdf_figure, records_figure, write_plots
from sim.results.recorder import FaultWindow, RunData
from tests.sim.rundata_samples import sample_run


@pytest.fixture(scope="module")
def data() -> RunData:
    return sample_run(storm=(20.0, 40.0))


def test_write_plots_writes_every_figure_as_png(tmp_path: Path, data: RunData) -> None:
    written = write_plots(data, tmp_path)
    assert list(written) == list(FIGURES)
    for path in written.values():
        assert path.read_bytes().startswith(b"\x89PNG")


def test_write_plots_is_byte_stable(tmp_path: Path, data: RunData) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_plots(data, tmp_path / "a")
    second = write_plots(data, tmp_path / "b")
    for name in FIGURES:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_write_plots_png_has_no_software_or_date_metadata(tmp_path: Path, data: RunData) -> None:
    png = write_plots(data, tmp_path)["counters"].read_bytes()
    assert b"Software" not in png
    assert b"Creation Time" not in png


def test_figures_skip_when_nothing_to_show(data: RunData) -> None:
    no_requests = dataclasses.replace(data, requests=data.requests.iloc[0:0])
    assert records_figure(no_requests) is None
    nobody_synced = dataclasses.replace(data, users=data.users.assign(outcome="pending"))
    assert lag_cdf_figure(nobody_synced) is None


def test_counters_figure_one_panel_per_step_then_totals(data: RunData) -> None:
    figure = counters_figure(data)
    assert figure is not None
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["step vip-add", "step lapsed-add"]
    many = sample_run(steps=tuple(f"s{i}" for i in range(6)), users_per_step=5)
    figure = counters_figure(many)
    assert figure is not None
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["all 6 steps summed"]


def test_counters_figure_uses_hours_for_long_runs_and_shades_faults(data: RunData) -> None:
    long_run = dataclasses.replace(
        data,
        sim_seconds=6 * 3600.0,
        fault_windows=(FaultWindow(kind="server_errors", start_s=3600.0, end_s=7200.0),),
    )
    figure = counters_figure(long_run)
    assert figure is not None
    ax = figure.axes[-1]
    assert ax.get_xlabel() == "sim time (h)"
    assert any(text.get_text() == "server_errors" for text in ax.texts)
    assert len(ax.patches) == 1  # the shaded fault window


def test_records_figure_plots_aggregates_not_every_request(data: RunData) -> None:
    many = pd.concat([data.requests] * 200, ignore_index=True)
    figure = records_figure(dataclasses.replace(data, requests=many))
    assert figure is not None
    # matplotlib types get_xdata() as ArrayLike (scalars included): count through an array
    points = sum(np.asarray(line.get_xdata()).size for line in figure.axes[0].get_lines())
    assert points < len(many) / 10
