"""A run's ``report.html``: the summary and the plots as one self-contained page.

Responsibility: render the page from the summary.json document (``sim.results.folder``) and
the PNGs written beside it.

Rules:
- The page needs no other file: plots are embedded as base64 PNGs.
- Every string that came from the run is HTML-escaped.
- Deterministic: the same summary and plots give the same page (the summary's wall clock
  aside).
- It explains itself: each counter, the Requests table and each check carry their one-line
  meaning (``sim.results.glossary``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Final

from sim.results.glossary import CHECK_MEANINGS, COUNTER_MEANINGS, EXPECT_MEANING, REQUESTS_NOTE
from sim.results.recorder import COUNTERS

__all__ = ["render_html"]

_PAGE: Final = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pinsim: $scenario</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1040px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child,td.detail{text-align:left}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0 0 1.5em}
dt{font-weight:bold}dd{margin:0}
.ok{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}img{max-width:100%}
</style></head><body>
<h1>pinsim run: $scenario</h1>
<p>seed $seed · $sim_seconds s simulated · $wall_seconds s wall clock · $verdict</p>
<h2>Steps</h2>$steps
$counters
<h2>Entry → synced lag (s)</h2>$lag
<h2>Requests</h2>
<p>$requests_note</p>$requests
<h2>Pacing</h2>$pacing
<h2>Checks</h2>$checks
<h2>Expectations</h2>
<p>$expect_note</p>$expect
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
        counters=_definitions(COUNTER_MEANINGS),
        requests_note=_esc(REQUESTS_NOTE),
        expect_note=_esc(EXPECT_MEANING),
        lag=_lag_table(steps, _mapping(summary["lag_s"])),
        requests=_table(
            ["status", "requests"],
            [*_mapping(requests["by_status"]).items(), ("total", requests["total"])],
        ),
        pacing=_pacing_table(_mapping(summary["pacing"])),
        checks=_verdict_table(checks, CHECK_MEANINGS),
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


def _verdict_table(results: Mapping[str, object], meanings: Mapping[str, str] | None = None) -> str:
    """One row a result: its name, its verdict, what it means (when given) and the detail."""
    meaning_head = "<th>meaning</th>" if meanings is not None else ""
    rows = []
    for name, result in results.items():
        verdict = _mapping(result)
        mark = '<td class="ok">✔</td>' if verdict["ok"] else '<td class="fail">✘</td>'
        meaning = (
            f'<td class="detail">{_esc(meanings.get(name, ""))}</td>'
            if meanings is not None
            else ""
        )
        rows.append(
            f"<tr><td>{_esc(name)}</td>{mark}{meaning}"
            f'<td class="detail">{_esc(verdict["detail"])}</td></tr>'
        )
    head = f"<tr><th>check</th><th></th>{meaning_head}<th>detail</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _definitions(meanings: Mapping[str, str]) -> str:
    items = "".join(
        f"<dt>{_esc(name)}</dt><dd>{_esc(text)}</dd>" for name, text in meanings.items()
    )
    return f"<dl>{items}</dl>"


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
