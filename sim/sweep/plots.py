"""A sweep's pictures: heatmaps over two numeric axes, else lines over one.

Responsibility: draw ``lag_p99_s``, ``errored_share`` and ``drain_s`` of a sweep table against
its axes and write them as PNGs (``sweep_<metric>.png``).

Rules:
- ``seed`` is never an axis of a picture: runs that differ only by seed are averaged, and a
  NaN in any seed (never drained, nobody synced) keeps the cell NaN rather than hiding it.
- Exactly two non-seed axes, both numeric → one annotated heatmap per metric (first axis
  across, second down). Otherwise → line plots against the first numeric axis (or the first
  axis, as categories), one line per combination of the other axes.
- Values such as ``"1000/s"`` or ``"300ms"`` are read as numbers for plotting (users/s, s) with
  ``sim.scenario.units``; tick labels keep the values as given.
- Built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global state), saved
  without Software/date metadata so the same table gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.scenario.units import UnitError, parse_duration, parse_rate
from sim.sweep.axes import SEED, Axis, Scalar

__all__ = ["PLOTTED", "write_sweep_plots"]

_DPI: Final = 100


@dataclass(frozen=True, slots=True)
class _Metric:
    title: str
    missing: str  # what a NaN means, written in its heatmap cell
    fmt: str


PLOTTED: Final = {
    "lag_p99_s": _Metric("p99 lag, entry → synced (s)", "none", "{:.3g}"),
    "errored_share": _Metric("errored share of entered", "n/a", "{:.1%}"),
    "drain_s": _Metric("drain: last entry → nothing pending (s)", "never", "{:.3g}"),
}
"""Metric column → how it is titled and annotated."""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnitError("not a number")
    return float(value)


# how axis values may be read as numbers, tried in order: conversion, unit for the label
_CONVERSIONS: Final[tuple[tuple[Callable[[object], float], str], ...]] = (
    (_number, ""),
    (parse_rate, " (users/s)"),
    (parse_duration, " (s)"),
)


@dataclass(frozen=True, slots=True)
class _NumericAxis:
    key: str
    numbers: dict[Scalar, float]  # value as given → its number
    unit: str


def _numeric(axis: Axis) -> _NumericAxis | None:
    for convert, unit in _CONVERSIONS:
        try:
            numbers = {value: convert(value) for value in axis.values}
        except (UnitError, ValueError):
            continue
        return _NumericAxis(axis.key, numbers, unit)
    return None


def write_sweep_plots(table: pd.DataFrame, axes: Sequence[Axis], out_dir: Path) -> list[Path]:
    """Write the sweep's PNGs into ``out_dir``; return their paths (none without an axis)."""
    shown = [axis for axis in axes if axis.key != SEED]
    if not shown or table.empty:
        return []
    means = _seed_means(table, [axis.key for axis in shown])
    numeric = [found for axis in shown if (found := _numeric(axis)) is not None]
    draw = _heatmap if len(shown) == 2 and len(numeric) == 2 else _lines
    paths = []
    for metric, style in PLOTTED.items():
        figure = draw(means, shown, numeric, metric, _title(style, axes))
        path = out_dir / f"sweep_{metric}.png"
        FigureCanvasAgg(figure)
        figure.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})
        paths.append(path)
    return paths


def _seed_means(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The plotted metrics averaged over seeds (NaN if any seed's is NaN)."""
    columns = list(PLOTTED)
    values = table[keys + columns].astype({name: "float64" for name in columns})
    grouped = values.groupby(keys, sort=False, dropna=False)[columns]
    return grouped.agg(_mean_keeping_nan).reset_index()


def _mean_keeping_nan(values: pd.Series) -> float:
    return float(np.mean(values.to_numpy(float)))


def _heatmap(
    means: pd.DataFrame,
    shown: Sequence[Axis],
    numeric: Sequence[_NumericAxis],
    metric: str,
    title: str,
) -> Figure:
    across, down = numeric
    columns = sorted(across.numbers, key=across.numbers.__getitem__)
    rows = sorted(down.numbers, key=down.numbers.__getitem__)
    grid = means.pivot_table(
        index=down.key, columns=across.key, values=metric, aggfunc="mean", dropna=False
    ).reindex(index=rows, columns=columns)
    cells = grid.to_numpy(float)
    figure = Figure(figsize=(max(1.2 * len(columns) + 3, 6), 0.6 * len(rows) + 2.5))
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(cells), cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax)
    _annotate(ax, cells, PLOTTED[metric])
    ax.set_xticks(range(len(columns)), [str(value) for value in columns])
    ax.set_yticks(range(len(rows)), [str(value) for value in rows])
    ax.set_xlabel(across.key + across.unit)
    ax.set_ylabel(down.key + down.unit)
    ax.set_title(title)
    figure.tight_layout()
    return figure


def _annotate(ax: Axes, cells: np.ndarray, style: _Metric) -> None:
    finite = cells[np.isfinite(cells)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    middle = (low + high) / 2
    for (row, column), value in np.ndenumerate(cells):
        text = style.missing if np.isnan(value) else style.fmt.format(value)
        # light text on the dark (low) end of viridis, dark text on the light end
        colour = "white" if np.isnan(value) or value < middle else "black"
        ax.text(column, row, text, ha="center", va="center", color=colour, fontsize=8)


def _lines(
    means: pd.DataFrame,
    shown: Sequence[Axis],
    numeric: Sequence[_NumericAxis],
    metric: str,
    title: str,
) -> Figure:
    x_axis = numeric[0] if numeric else _categories(shown[0])
    others = [axis.key for axis in shown if axis.key != x_axis.key]
    figure = Figure(figsize=(7, 4.5))
    ax = figure.add_subplot()
    groups = means.groupby(others, sort=False) if others else [((), means)]
    for label, group in groups:
        ordered = group.assign(_x=group[x_axis.key].map(x_axis.numbers)).sort_values("_x")
        ax.plot(ordered["_x"], ordered[metric], marker="o", label=_legend(others, label))
    if not numeric:
        ax.set_xticks(list(x_axis.numbers.values()), [str(v) for v in x_axis.numbers])
    ax.set_xlabel(x_axis.key + x_axis.unit)
    ax.set_ylabel(PLOTTED[metric].title)
    ax.set_title(title)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _categories(axis: Axis) -> _NumericAxis:
    """A non-numeric axis placed at 0, 1, 2… in the order given."""
    return _NumericAxis(axis.key, {value: float(i) for i, value in enumerate(axis.values)}, "")


def _legend(keys: Sequence[str], label: object) -> str:
    values = label if isinstance(label, tuple) else (label,)
    return ", ".join(f"{key}={value}" for key, value in zip(keys, values, strict=True))


def _title(style: _Metric, axes: Sequence[Axis]) -> str:
    seeds = next((len(axis.values) for axis in axes if axis.key == SEED), 1)
    return style.title + (f", mean of {seeds} seeds" if seeds > 1 else "")
