"""sim.scenario.limits: every numeric value has a range, a run has a budget, a name is a folder.

Each case of issue 13 that used to crash, hang or run silently wrong is refused here with one
``ScenarioError`` naming the key; the shipped scenarios and the benchmarks' builders all stay
inside every bound, and docs/SCENARIOS.md tables the same ranges as the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.scenario import ScenarioError, default, load, parse
from sim.scenario.limits import MAX_FLUSHES, MAX_USERS, RANGES, expected_users
from sim.scenario.units import parse_duration, parse_rate
from sim.world.driver import simulate

REPO = Path(__file__).parents[3]
DOC = REPO / "docs" / "SCENARIOS.md"
ONE_STEP = '[scenario]\nname = "probe"\nduration = "2m"\n[[step]]\nid = "a"\n'
POISSON = '[[traffic]]\nstep = "a"\nkind = "poisson"\nrate = "1/s"\n'


def _refused(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "probe.toml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("probe.toml: ")
    return caught.value


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        # a latency fault's median of 0 with a p99 above it crashed the driver (LogNormal)
        (
            ONE_STEP + POISSON + '[[fault]]\nkind = "latency"\nat = "10s"\nmedian = "0s"\n'
            'p99 = "1s"\n',
            "fault[0].p99",
            "median of 0",
        ),
        # a blast of a trillion users ended in a numpy allocation error in the feed helper
        (
            ONE_STEP + '[[traffic]]\nstep = "a"\nkind = "blast"\ncount = 1_000_000_000_000\n',
            "traffic[0].count",
            "at most 10,000,000",
        ),
        # so did a rate of 10¹⁵/s
        (
            ONE_STEP + '[[traffic]]\nstep = "a"\nkind = "constant"\nrate = "1000000000000000/s"\n',
            "traffic[0].rate",
            "at most 1e+06/s",
        ),
        # within each row's range, but ten of them bring more users than a run may hold
        (
            ONE_STEP
            + '[[traffic]]\nstep = "a"\nkind = "blast"\ncount = 6_000_000\n'
            + '[[traffic]]\nstep = "a"\nkind = "blast"\ncount = 7_000_000\n',
            "traffic[1]",
            "13,000,000 users",
        ),
        (
            ONE_STEP.replace('"2m"', '"30d"') + '[[traffic]]\nstep = "a"\nkind = "ramp"\n'
            'rate = "0/s"\nrate_end = "10/s"\n',
            "traffic[0]",
            "at most 10,000,000",
        ),
        # a run of 10²⁹ days, or of hundreds of digits (infinity), hung with no output
        (ONE_STEP.replace('"2m"', '"99999999999999999999999999999d"'), "scenario.duration", "30d"),
        (ONE_STEP.replace('"2m"', '"' + "9" * 400 + 's"'), "scenario.duration", "too large"),
        # so did a flush interval of a nanosecond, and a month of 100 ms flushes
        ('[sync]\nflush_interval = "0.000001ms"\n', "sync.flush_interval", "at least 100ms"),
        (
            '[scenario]\nduration = "30d"\n[sync]\nflush_interval = "100ms"\n',
            "sync.flush_interval",
            "25,920,000 flushes",
        ),
        # delays beyond an hour, and counts beyond what a simulation can hold
        ('[network]\nservice = { median = "1ms", p99 = "1000d" }\n', "network.service", "1h"),
        ("[network]\nconnections = 100_000_000_000\n", "network.connections", "10,000"),
        ("[sync]\nmax_in_flight = 100_000_000_000\n", "sync.max_in_flight", "10,000"),
        ('[sync]\npacing_margin = "100000d"\n', "sync.pacing_margin", "at most 1m"),
        # a replay row naming its own step ran zero users without a word
        (ONE_STEP + POISSON + 'replay = "a"\n', "traffic[0].replay", "own step"),
        # an end (or until, or drain_by) past the run's end was accepted without a word
        (ONE_STEP + POISSON + 'end = "1h"\n', "traffic[0].end", "after the end of the run"),
        (
            ONE_STEP + '[[fault]]\nkind = "rate_limit_storm"\nat = "1m"\nuntil = "3m"\n',
            "fault[0].until",
            "after the end of the run",
        ),
        (ONE_STEP + '[expect]\ndrain_by = "100d"\n', "expect.drain_by", "after"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_its_key(text: str, key: str, reason: str) -> None:
    error = _refused(text)
    assert error.key == key
    assert reason in error.reason


@pytest.mark.parametrize(
    "name", ["../escape", "/tmp/abs", "a/b", "a\\b", "..", ".hidden", "x" * 101, "tab\there", ""]
)
def test_a_name_that_is_not_one_safe_folder_is_refused(name: str) -> None:
    text = f"[scenario]\nname = {name!r}\n".replace("'", '"').replace("\\", "\\\\")
    assert _refused(text).key == "scenario.name"


def test_a_safe_name_is_kept_and_a_nameless_text_gets_a_folder_name() -> None:
    assert parse('[scenario]\nname = "black_friday-2.v1"\n').name == "black_friday-2.v1"
    assert parse("", "<string>").name == "scenario"  # "<string>" is no folder name
    assert parse("", "dir/my_run.toml").name == "my_run"


@pytest.mark.parametrize(
    "row",
    [
        # the boundary values themselves run (p99 equal to the median, zero delays, a one-user
        # blast, the shortest flush interval)
        '[[fault]]\nkind = "latency"\nat = "10s"\nmedian = "1s"\np99 = "1s"\n',
        '[[fault]]\nkind = "latency"\nat = "10s"\nmedian = "0s"\np99 = "0s"\n',
        '[[fault]]\nkind = "latency"\nat = "10s"\nextra = "1h"\n',
        '[[traffic]]\nstep = "a"\nkind = "blast"\ncount = 1\nend = "2m"\n',
        '[sync]\nflush_interval = "100ms"\n[network]\nservice = "0s"\npropagation = "0s"\n',
    ],
)
def test_boundary_values_load_and_run(row: str) -> None:
    scenario = parse(ONE_STEP + POISSON + row, "probe.toml")
    data = simulate(scenario, 1)
    assert len(data.users) > 0


def _shipped() -> list[Path]:
    return [*sorted((REPO / "scenarios").glob("*.toml")), REPO / "examples" / "twin_steady.toml"]


@pytest.mark.parametrize("path", _shipped(), ids=lambda path: path.stem)
def test_every_shipped_scenario_is_within_the_budget(path: Path) -> None:
    scenario = load(path)
    assert sum(map(expected_users, scenario.traffic)) <= MAX_USERS
    assert scenario.duration_s / scenario.sync.flush_interval_s <= MAX_FLUSHES


def test_the_benchmarks_scenarios_load() -> None:
    from benchmarks import pacing, simulation

    assert parse(simulation._STEADY).name == "steady_16h_100_per_s"  # 5.76 M users, the largest
    for case in pacing.CASES.values():
        assert case.scenario().steps
    assert default().name == "default"


def _documented_ranges() -> dict[str, tuple[str, str]]:
    """The "Limits" table of docs/SCENARIOS.md: key → (lowest, highest) as written."""
    section = DOC.read_text(encoding="utf-8").split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_.]+)` \| (.+?) \| (.+?) \|$", section, re.MULTILINE)
    return {key: (low, high) for key, low, high in rows}


def _value(text: str) -> float:
    """A documented bound, read with the file format's own parsers or as a plain number."""
    text = text.removeprefix("> ").strip("`").replace(",", "")
    if "/" in text:
        return parse_rate(text)
    return float(text) if text.replace(".", "").isdigit() else parse_duration(text)


def test_the_documented_limits_are_the_code_ranges() -> None:
    documented = _documented_ranges()
    assert sorted(documented) == sorted(RANGES)
    for key, (low, high) in documented.items():
        bounds = RANGES[key]
        assert (_value(low), _value(high)) == (bounds.low, bounds.high), key
        assert low.startswith("> ") == bounds.open_low, key
