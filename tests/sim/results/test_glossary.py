"""The report and the printed summary explain themselves: every counter, the Requests table and
every check carry their meaning (sim.results.glossary)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from sim.cli import summary_table
from sim.judge.checks import CHECKS, run_checks
from sim.results.folder import write_outputs
from sim.results.glossary import CHECK_MEANINGS, COUNTER_MEANINGS, REQUESTS_NOTE
from sim.results.recorder import COUNTERS, RunData
from sim.runner import RunOutcome
from sim.scenario import default
from tests.sim.rundata_samples import sample_run


@pytest.fixture(scope="module")
def data() -> RunData:
    return sample_run(storm=(20.0, 40.0))


@pytest.fixture(scope="module")
def page(data: RunData, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = write_outputs(data, run_checks(data), {}, tmp_path_factory.mktemp("run"))
    return (out / "report.html").read_text()


def _section(page: str, title: str) -> str:
    return page.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def test_every_counter_and_every_check_has_a_meaning() -> None:
    assert list(COUNTER_MEANINGS) == list(COUNTERS)  # in the tables' order
    assert set(CHECK_MEANINGS) == set(CHECKS)
    assert "last step" in COUNTER_MEANINGS["proceeded"]  # the vendor's sense: they exit instead
    assert "302" in REQUESTS_NOTE and "set-up" in REQUESTS_NOTE


def test_the_report_defines_each_counter_under_the_steps(page: str) -> None:
    steps = _section(page, "Steps")
    for name, meaning in COUNTER_MEANINGS.items():
        assert f"<dt>{name}</dt><dd>{html.escape(meaning)}</dd>" in steps


def test_the_report_says_what_requests_are_set_up_and_what_are_writes(page: str) -> None:
    assert html.escape(REQUESTS_NOTE) in _section(page, "Requests")


def test_the_report_puts_each_check_s_meaning_beside_its_verdict(page: str) -> None:
    checks = _section(page, "Checks")
    assert "<th>meaning</th>" in checks
    for name, meaning in CHECK_MEANINGS.items():
        row = checks.split(f"<tr><td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        assert f'<td class="detail">{html.escape(meaning)}</td>' in row


def test_the_printed_summary_defines_each_counter(data: RunData, tmp_path: Path) -> None:
    outcome = RunOutcome(
        scenario=default(),
        data=data,
        checks={},
        expectations={},
        out_dir=tmp_path,
        report=tmp_path / "report.html",
    )
    text = summary_table(outcome)
    for name, meaning in COUNTER_MEANINGS.items():
        assert f"  {name:<11} {meaning}" in text.splitlines()
