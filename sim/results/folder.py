"""A run's output directory, exactly as DESIGN.md "Run outputs" lists it.

Responsibility: write `summary.json`, `timeseries.csv`, `users.parquet`, `requests.csv`, the
PNG plots and a self-contained `report.html` for one `RunData` and its check results.
summary.json's `pacing` holds the figures of `sim.judge.pacing`, over all tokens and per token.

Rules:
- Deterministic: the same `RunData` gives byte-identical files apart from the wall-clock field
  (`wall_seconds`, in summary.json and report.html). JSON keys are sorted, CSVs keep the
  contract's column order, nothing records when it was written.
- `report.html` needs no other file: plots are embedded as base64 PNGs and every string that
  came from the run is HTML-escaped.
- Nothing here judges the run; the verdicts come in from `sim.judge.checks`.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.judge import pacing
from sim.judge.checks import CheckResult
from sim.results.plots import write_plots
from sim.results.recorder import (
    COUNTERS,
    REQUESTS_COLUMNS,
    TIMESERIES_COLUMNS,
    USERS_COLUMNS,
    RunData,
    final_counters,
    lag_percentiles,
)


def write_outputs(
    data: RunData,
    checks: Mapping[str, CheckResult],
    expect_results: Mapping[str, CheckResult],
    out_dir: Path,
) -> Path:
    """Write every run output into `out_dir` (created if needed) and return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_summary(data, checks, expect_results)
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _write_csv(data.timeseries[list(TIMESERIES_COLUMNS)], out_dir / "timeseries.csv")
    _write_csv(data.requests[list(REQUESTS_COLUMNS)], out_dir / "requests.csv")
    _write_parquet(data.users[list(USERS_COLUMNS)], out_dir / "users.parquet")
    plots = write_plots(data, out_dir)
    (out_dir / "report.html").write_text(render_html(summary, plots), encoding="utf-8")
    return out_dir


# --- summary.json ---------------------------------------------------------------------------


def build_summary(
    data: RunData,
    checks: Mapping[str, CheckResult],
    expect_results: Mapping[str, CheckResult],
) -> dict[str, object]:
    """The summary.json document: counters and lag per step, requests, and every verdict."""
    final = final_counters(data.timeseries)[list(COUNTERS)].astype("int64").to_dict("index")
    steps = {}
    for step in data.step_ids:
        counters = {name: int(value) for name, value in final[step].items()}
        step_users = data.users[data.users["step"] == step]
        steps[step] = {**counters, "lag_s": _rounded(lag_percentiles(step_users))}
    statuses = data.requests["status"].astype(int).value_counts()
    return {
        "scenario": data.scenario,
        "seed": data.seed,
        "sim_seconds": data.sim_seconds,
        "wall_seconds": round(data.wall_seconds, 3),
        "steps": steps,
        "lag_s": _rounded(lag_percentiles(data.users)),
        "requests": {
            "total": len(data.requests),
            "by_status": {str(status): int(n) for status, n in sorted(statuses.items())},
        },
        "pacing": _pacing(data),
        "checks": _verdicts(checks),
        "expect": _verdicts(expect_results),
    }


def _rounded(percentiles: Mapping[str, float | None]) -> dict[str, float | None]:
    """Microsecond precision: enough for sim time, short enough to read."""
    return {k: _round(v) for k, v in percentiles.items()}


def _pacing(data: RunData) -> dict[str, object]:
    """The run's pacing figures over all tokens, then per token."""
    tokens = pacing.by_token(data)
    overall = pacing.combine(tokens.values(), data.limits.requests_per_second)
    return {**_figures(overall), "tokens": {token: _figures(one) for token, one in tokens.items()}}


def _figures(figures: pacing.Pacing) -> dict[str, object]:
    busiest = figures.busiest
    return {
        "writes": figures.writes,
        "refused_429": figures.refused_429,
        "share_429": _round(figures.share_429),
        "accepted_in_backlog": figures.accepted_in_backlog,
        "backlog_s": round(figures.backlog_s, 6),
        "utilisation": _round(figures.utilisation),
        "busiest_arrival_second": {
            "count": busiest.count,
            "start_s": _round(busiest.start_s),
            "token": busiest.token,
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _verdicts(results: Mapping[str, CheckResult]) -> dict[str, dict[str, object]]:
    return {name: {"ok": result.ok, "detail": result.detail} for name, result in results.items()}


# --- tables ---------------------------------------------------------------------------------


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path)


# --- report.html ----------------------------------------------------------------------------

_PAGE: Final = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pinsim: $scenario</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1040px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child,td.detail{text-align:left}
.ok{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}img{max-width:100%}
</style></head><body>
<h1>pinsim run: $scenario</h1>
<p>seed $seed · $sim_seconds s simulated · $wall_seconds s wall clock · $verdict</p>
<h2>Steps</h2>$steps
<h2>Entry → synced lag (s)</h2>$lag
<h2>Requests</h2>$requests
<h2>Pacing</h2>$pacing
<h2>Checks</h2>$checks
<h2>Expectations</h2>$expect
<h2>Plots</h2>$plots
</body></html>
""")


def render_html(summary: Mapping[str, object], plots: Mapping[str, Path]) -> str:
    """The self-contained HTML report for a summary and the PNGs written beside it."""
    steps = _mapping(summary["steps"])
    checks, expect = _mapping(summary["checks"]), _mapping(summary["expect"])
    failed = sum(not _mapping(v)["ok"] for v in (*checks.values(), *expect.values()))
    requests = _mapping(summary["requests"])
    return _PAGE.substitute(
        scenario=_esc(summary["scenario"]),
        seed=_esc(summary["seed"]),
        sim_seconds=_esc(summary["sim_seconds"]),
        wall_seconds=_esc(summary["wall_seconds"]),
        verdict=_verdict(failed),
        steps=_table(
            ["step", *COUNTERS],
            [[step, *(_mapping(row)[name] for name in COUNTERS)] for step, row in steps.items()],
        ),
        lag=_lag_table(steps, _mapping(summary["lag_s"])),
        requests=_table(
            ["status", "requests"],
            [*_mapping(requests["by_status"]).items(), ("total", requests["total"])],
        ),
        pacing=_pacing_table(_mapping(summary["pacing"])),
        checks=_verdict_table(checks),
        expect=_verdict_table(expect) if expect else "<p>No expectations set.</p>",
        plots="\n".join(_img(name, path) for name, path in plots.items()),
    )


def _verdict(failed: int) -> str:
    if failed:
        return f'<span class="fail">✘ {failed} failed</span>'
    return '<span class="ok">✔ all checks and expectations hold</span>'


def _lag_table(steps: Mapping[str, object], overall: Mapping[str, object]) -> str:
    quantiles = list(overall)
    rows = [[step, *_mapping(_mapping(row)["lag_s"]).values()] for step, row in steps.items()]
    return _table(["step", *quantiles], [*rows, ["all steps", *overall.values()]])


# summary key → (row label, its one-line definition)
_PACING_ROWS: Final = {
    "writes": ("writes", "customer-list PATCHes the engine sent"),
    "share_429": ("429 share", "share of those writes Pinterest answered 429"),
    "backlog_s": (
        "backlog (s)",
        "seconds in which a user was past the flush after their entry but not synced or errored",
    ),
    "utilisation": (
        "utilisation",
        "accepted writes arriving during the backlog ÷ (r × backlog seconds), r the limit a second",
    ),
    "busiest_arrival_second": (
        "busiest arrival second",
        "most requests arriving in any 1 s window (refused ones too), and when",
    ),
}


_PACING_SHARES: Final = frozenset({"share_429", "utilisation"})


def _pacing_table(figures: Mapping[str, object]) -> str:
    """Figures in rows, all tokens then each token in columns, each row with its definition."""
    columns = {"all tokens": figures, **_mapping(figures["tokens"])}
    head = "".join(f"<th>{_esc(name)}</th>" for name in ["figure", *columns, "definition"])
    rows = []
    for key, (label, definition) in _PACING_ROWS.items():
        cells = "".join(f"<td>{_pacing_cell(key, _mapping(c)[key])}</td>" for c in columns.values())
        rows.append(
            f'<tr><td>{_esc(label)}</td>{cells}<td class="detail">{_esc(definition)}</td></tr>'
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _pacing_cell(key: str, value: object) -> str:
    if isinstance(value, Mapping):  # the busiest second: how many, from when
        start = value["start_s"]
        return "—" if start is None else f"{_cell(value['count'])} at {_cell(start)} s"
    if key in _PACING_SHARES and isinstance(value, float):
        return f"{value:.2%}"  # a few 429s in thousands of writes must not show as 0.000
    return _cell(value)


def _verdict_table(results: Mapping[str, object]) -> str:
    rows = []
    for name, result in results.items():
        verdict = _mapping(result)
        mark = '<td class="ok">✔</td>' if verdict["ok"] else '<td class="fail">✘</td>'
        rows.append(
            f'<tr><td>{_esc(name)}</td>{mark}<td class="detail">{_esc(verdict["detail"])}</td></tr>'
        )
    return f"<table><tr><th>check</th><th></th><th>detail</th></tr>{''.join(rows)}</table>"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_esc(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return _esc(value)


def _img(name: str, path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<h3>{_esc(name)}</h3><img alt="{_esc(name)}" src="data:image/png;base64,{encoded}">'


def _esc(value: object) -> str:
    return html.escape(str(value))


def _mapping(value: object) -> Mapping[str, object]:
    """Narrow a summary node to a mapping (the summary is built above, so this always holds)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping in the summary, got {type(value).__name__}")
    return value
