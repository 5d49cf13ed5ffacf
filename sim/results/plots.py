"""The run's PNG plots: counters, backlog, request pacing, batch sizes and the lag CDF.

Responsibility: turn a `RunData` into a few figures a reader understands at a glance, and write
them as byte-stable PNGs.

Rules:
- Aggregate before plotting: time axes are cut into at most `_MAX_BUCKETS` buckets and per-user
  data is reduced to quantiles, so a 2 M-user run plots as fast as a small one and no figure
  ever scatters millions of points.
- Every time axis is in the unit that suits the run's length (s, min or h) and shades the
  scenario's fault windows (instant faults are a dashed line), so cause and effect line up.
- Figures are built on `matplotlib.figure.Figure` with the Agg canvas — no pyplot, so no global
  figure registry to leak between runs — and saved without the Software/date metadata, so the
  same run gives byte-identical PNGs.
- One function per figure, listed in `FIGURES`; each returns a figure or None when the run has
  nothing to show for it (no requests, nobody synced).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from sim.results.recorder import COUNTERS, RunData, synced_lag_s

_MAX_BUCKETS: Final = 600
_MAX_STEP_PANELS: Final = 4
_CDF_POINTS: Final = 1000
_DPI: Final = 100

_LEGEND_ROWS: Final = 8

_COUNTER_STYLE: Final = {
    "entered": ("black", "-"),
    "proceeded": ("grey", ":"),
    "synced": ("tab:green", "-"),
    "not_synced": ("tab:olive", "--"),
    "pending": ("tab:blue", "-"),
    "errored": ("tab:red", "-"),
    "exited": ("tab:purple", ":"),
}


@dataclass(frozen=True, slots=True)
class _TimeUnit:
    label: str
    seconds: float


def _time_unit(sim_seconds: float) -> _TimeUnit:
    """Seconds for short runs, minutes up to two hours, hours beyond."""
    if sim_seconds > 2 * 3600:
        return _TimeUnit("h", 3600.0)
    if sim_seconds > 300:
        return _TimeUnit("min", 60.0)
    return _TimeUnit("s", 1.0)


def write_plots(data: RunData, out_dir: Path) -> dict[str, Path]:
    """Render every figure that has data into `out_dir`; name → PNG path, in `FIGURES` order."""
    written = {}
    for name, build in FIGURES.items():
        figure = build(data)
        if figure is not None:
            path = out_dir / f"{name}.png"
            save_png(figure, path)
            written[name] = path
    return written


def save_png(figure: Figure, path: Path) -> None:
    """Write `figure` as a PNG with no Software or date metadata, so the bytes are stable."""
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})


# --- figures --------------------------------------------------------------------------------


def counters_figure(data: RunData) -> Figure | None:
    """The seven counters over time: one panel per step, or all steps summed when many."""
    series = data.timeseries
    if series.empty:
        return None
    panels = _counter_panels(series)
    figure = Figure(figsize=(10, 2.6 * len(panels) + 0.8), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    unit = _time_unit(data.sim_seconds)
    for ax, (title, frame) in zip(axes, panels, strict=True):
        for counter in COUNTERS:
            color, style = _COUNTER_STYLE[counter]
            ax.plot(frame["t"] / unit.seconds, frame[counter], color=color, ls=style, label=counter)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("users")
        _shade_faults(ax, data, unit)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    axes[-1].set_xlabel(f"sim time ({unit.label})")
    figure.suptitle(f"{data.scenario}: step counters over time")
    return figure


def _counter_panels(series: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    steps = list(pd.unique(series["step"]))
    if len(steps) <= _MAX_STEP_PANELS:
        return [(f"step {step}", series[series["step"] == step]) for step in steps]
    totals = series.groupby("t", sort=True)[list(COUNTERS)].sum().reset_index()
    return [(f"all {len(steps)} steps summed", totals)]


def backlog_figure(data: RunData) -> Figure | None:
    """Users pending (all steps) and the age of the oldest pending user."""
    series = data.timeseries
    if series.empty:
        return None
    unit = _time_unit(data.sim_seconds)
    by_time = series.groupby("t", sort=True).agg(
        pending=("pending", "sum"), oldest=("oldest_pending_age_s", "max")
    )
    figure = Figure(figsize=(10, 5.5), layout="constrained")
    pending_ax, age_ax = figure.subplots(2, 1, sharex=True)
    hours = by_time.index.to_numpy(float) / unit.seconds
    pending_ax.fill_between(hours, by_time["pending"], color="tab:blue", alpha=0.35, lw=0)
    pending_ax.plot(hours, by_time["pending"], color="tab:blue")
    pending_ax.set_ylabel("users pending")
    pending_ax.set_title("pending backlog, all steps", loc="left", fontsize=10)
    age_unit = _time_unit(float(by_time["oldest"].max()))
    age_ax.plot(hours, by_time["oldest"] / age_unit.seconds, color="tab:orange")
    age_ax.set_ylabel(f"age ({age_unit.label})")
    age_ax.set_title("oldest pending user's age", loc="left", fontsize=10)
    age_ax.set_xlabel(f"sim time ({unit.label})")
    for ax in (pending_ax, age_ax):
        ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.15)  # headroom for the fault labels
        _shade_faults(ax, data, unit)
    figure.suptitle(f"{data.scenario}: backlog")
    return figure


def request_rate_figure(data: RunData) -> Figure | None:
    """Requests per second per token (busiest second of each bucket) against the limit."""
    requests = data.requests[data.requests["token_id"].notna()]
    if requests.empty:
        return None
    unit = _time_unit(data.sim_seconds)
    edges = _bucket_edges(data)
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    ax = figure.subplots()
    for token_id, group in requests.groupby("token_id", sort=True):
        busiest = _per_bucket_peak(group["t"], edges)
        ax.step(edges[:-1] / unit.seconds, busiest, where="post", label=f"{token_id}")
    limited = _per_bucket_peak(requests.loc[requests["status"] == 429, "t"], edges)
    if limited.any():
        marked = limited > 0
        ax.plot(
            edges[:-1][marked] / unit.seconds,
            limited[marked],
            "x",
            color="tab:red",
            label="429 answers (per s)",
        )
    ax.axhline(data.limits.requests_per_second, color="tab:red", ls="--", label="limit")
    ax.set_ylim(0, max(ax.get_ylim()[1], data.limits.requests_per_second * 1.3))
    ax.set_ylabel("requests per second")
    ax.set_xlabel(f"sim time ({unit.label})")
    ax.set_title(
        f"{data.scenario}: busiest second per {_bucket_label(edges)}, per token", fontsize=11
    )
    _shade_faults(ax, data, unit)
    # a token refreshed every few minutes makes dozens of lines: their labels in columns of
    # _LEGEND_ROWS, or the legend outgrows the axes
    lines = len(ax.get_legend_handles_labels()[1])
    ax.legend(fontsize=8, loc="upper right", ncols=-(-lines // _LEGEND_ROWS))
    return figure


def records_figure(data: RunData) -> Figure | None:
    """Records per customer-list write over time (largest and mean per bucket) against the cap."""
    writes = data.requests[data.requests["records"] > 0]
    if writes.empty:
        return None
    unit = _time_unit(data.sim_seconds)
    edges = _bucket_edges(data)
    bucket = np.clip(np.searchsorted(edges, writes["t"].to_numpy(float), "right") - 1, 0, None)
    stats = writes.groupby(bucket)["records"].agg(["max", "mean"])
    starts = edges[stats.index.to_numpy()] / unit.seconds
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    ax = figure.subplots()
    ax.plot(starts, stats["max"], ".", color="tab:blue", ms=4, label="largest request")
    ax.plot(starts, stats["mean"], ".", color="tab:cyan", ms=3, label="mean request")
    ax.axhline(data.limits.max_records_per_request, color="tab:red", ls="--", label="cap")
    ax.set_ylim(0, data.limits.max_records_per_request * 1.15)
    ax.set_ylabel("records per request")
    ax.set_xlabel(f"sim time ({unit.label})")
    ax.set_title(f"{data.scenario}: records per write, per {_bucket_label(edges)}", fontsize=11)
    _shade_faults(ax, data, unit)
    ax.legend(fontsize=8, loc="center right")
    return figure


def lag_cdf_figure(data: RunData) -> Figure | None:
    """Share of synced users synced within x of entering (log x: lags span ms to hours)."""
    lag = synced_lag_s(data.users)
    if lag.size == 0:
        return None
    shares = np.linspace(0.0, 1.0, _CDF_POINTS)
    quantiles = np.quantile(lag, shares)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.step(np.maximum(quantiles, 1e-3), shares * 100, where="post", color="tab:green")
    for q, style in ((0.5, ":"), (0.99, "--")):
        ax.axvline(max(float(np.quantile(lag, q)), 1e-3), color="grey", ls=style, lw=1)
        ax.annotate(
            f"p{q * 100:g} {np.quantile(lag, q):.3g} s",
            (max(float(np.quantile(lag, q)), 1e-3), q * 100),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
        )
    ax.set_xscale("log")
    # Plain numbers ("0.5", "30") read faster than 5×10⁻¹; minor labels would collide.
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 101)
    ax.set_xlabel("entry → synced lag (s, log scale)")
    ax.set_ylabel("synced users (%)")
    ax.set_title(f"{data.scenario}: entry→synced lag CDF ({lag.size:,} users)", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    return figure


FIGURES: Final[Mapping[str, Callable[[RunData], Figure | None]]] = {
    "counters": counters_figure,
    "backlog": backlog_figure,
    "request_rate": request_rate_figure,
    "records": records_figure,
    "lag_cdf": lag_cdf_figure,
}


# --- helpers --------------------------------------------------------------------------------


def _shade_faults(ax: Axes, data: RunData, unit: _TimeUnit) -> None:
    """Fault windows as a shaded band, instant faults as a dashed line, each labelled once."""
    for window in data.fault_windows:
        start = window.start_s / unit.seconds
        if window.end_s is None:
            ax.axvline(start, color="tab:red", ls="--", lw=1, alpha=0.6)
        else:
            ax.axvspan(start, window.end_s / unit.seconds, color="tab:red", alpha=0.1, lw=0)
        ax.annotate(
            window.kind,
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10),
            textcoords="offset points",
            fontsize=7,
            color="tab:red",
        )


def _bucket_edges(data: RunData) -> npt.NDArray[np.float64]:
    """Whole-second bucket edges covering the run, at most `_MAX_BUCKETS` buckets.

    A bucket spans at least one flush interval: sends come in bursts at each flush tick, and
    narrower buckets would draw every idle gap between ticks as a drop to zero.
    """
    span = max(data.sim_seconds / _MAX_BUCKETS, data.limits.flush_interval_s, 1.0)
    width = float(np.ceil(span))
    return np.arange(0.0, data.sim_seconds + width, width)


def _bucket_label(edges: npt.NDArray[np.float64]) -> str:
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    return "second" if width == 1.0 else f"{width:g} s bucket"


def _per_second_counts(times: npt.NDArray[np.float64]) -> pd.Series:
    """Requests in each whole second [k, k+1) of sim time, indexed by k."""
    return pd.Series(np.floor(times)).value_counts().sort_index()


def _per_bucket_peak(times: pd.Series, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The busiest whole second inside each bucket."""
    counts = _per_second_counts(times.to_numpy(float))
    peaks = np.zeros(len(edges) - 1, dtype=np.int64)
    bucket = np.clip(np.searchsorted(edges, counts.index.to_numpy(float), "right") - 1, 0, None)
    bucket = np.minimum(bucket, len(peaks) - 1)
    np.maximum.at(peaks, bucket, counts.to_numpy(np.int64))
    return peaks
