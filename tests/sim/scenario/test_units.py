"""sim.scenario.units: the duration and rate strings scenario files are written in."""

import pytest

from sim.scenario.units import UnitError, format_duration, parse_duration, parse_rate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("2m", 120.0),
        ("2min", 120.0),
        ("13h", 46800.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        ("0", 0.0),
        (" 5 s ", 5.0),
    ],
)
def test_parse_duration_reads_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("5", "unit"),
        (5, "duration string"),
        ("5x", "bad unit 'x'"),
        ("-1s", "negative"),
        ("1h h", "bad duration"),
        ("", "bad duration"),
    ],
)
def test_parse_duration_refuses_bad_input(value: object, reason: str) -> None:
    with pytest.raises(UnitError, match=reason):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("50/s", 50.0), ("3000/min", 50.0), ("1000/h", 1000 / 3600), ("86400/d", 1.0)],
)
def test_parse_rate_reads_units(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("value", ["50", "50/x", "-5/s", 50, "/s"])
def test_parse_rate_refuses_bad_input(value: object) -> None:
    with pytest.raises(UnitError):
        parse_rate(value)


@pytest.mark.parametrize("seconds", [0.25, 5.0, 5400.0, 46800.0, 90061.0])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
