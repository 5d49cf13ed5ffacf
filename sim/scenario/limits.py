"""What a scenario may ask for: the range of every numeric value, a safe output-folder name,
and the budget of a whole run (users, flushes), all checked before anything runs.

Rules:
- Every bounded key is one row of ``RANGES`` (``section.key`` as a user writes it, rows of an
  array without their index); the readers (``sim.scenario.sections``, ``sim.scenario.kinds``)
  wrap a key's converter with ``within(key, convert)`` and never write a bound of their own.
  docs/SCENARIOS.md tables the same rows, and a test holds the two together.
- Bounds are what a simulation can afford and what a sane scenario needs, not Pinterest's
  figures: the largest shipped scenario or benchmark stays well inside every one.
- ``check_budget`` bounds what the whole run costs, which no single value shows: the users its
  traffic may bring (about 1 KB of memory each, measured) and its flushes (duration ÷ flush
  interval: the driver's work when nobody arrives). It names the key to change.
- A scenario's name is an output folder's name (``out/<name>``): it must stay one folder,
  inside the output root, on any file system (``folder_name``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sim.scenario.reader import ScenarioError
from sim.scenario.spec import Scenario, TrafficKind, TrafficSpec
from sim.scenario.units import format_duration

__all__ = [
    "MAX_FLUSHES",
    "MAX_USERS",
    "RANGES",
    "Range",
    "check_budget",
    "expected_users",
    "folder_name",
    "within",
]

T = TypeVar("T", int, float)

MINUTE_S, HOUR_S, DAY_S = 60.0, 3600.0, 86400.0
MAX_RUN_S = 30 * DAY_S  # a month of simulated time; the longest shipped run is a day
# ~1 KB of memory a user (a 400 k-user blast peaks at ~420 MiB more); 10 M is ~10 GB, and the
# largest benchmark (16 h at 100/s) brings 5.8 M
MAX_USERS = 10_000_000
MAX_FLUSHES = 10_000_000  # ~7-17 µs a flush tick with nobody arriving: at most a few minutes
_MAX_NAME = 100


def _seconds(value: float) -> str:
    return format_duration(value) if value else "0"


def _rate(value: float) -> str:
    return f"{value:g}/s"


def _count(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True, slots=True)
class Range:
    """``low ≤ value ≤ high`` (``low`` excluded when ``open_low``), shown with ``show``."""

    low: float
    high: float
    show: Callable[[float], str] = _seconds
    open_low: bool = False

    def check(self, value: T) -> T:
        below = value <= self.low if self.open_low else value < self.low
        if below or value > self.high:
            raise ValueError(f"must be {self.describe()}, got {self.show(value)}")
        return value

    def describe(self) -> str:
        low = (
            f"more than {self.show(self.low)}"
            if self.open_low
            else f"at least {self.show(self.low)}"
        )
        return f"{low} and at most {self.show(self.high)}"


def _durations(low: float, high: float, *, open_low: bool = False) -> Range:
    return Range(low, high, _seconds, open_low)


def _counts(high: float) -> Range:
    return Range(1, high, _count)


_DELAY = _durations(0.0, HOUR_S)  # one part of a request's time, or a fault's added delay
_LIMIT = _counts(10_000)  # requests a second, connections, requests in flight
_RECORDS = _counts(100_000)
_TRAFFIC_RATE = Range(0.0, 1_000_000.0, _rate)

RANGES: dict[str, Range] = {
    "scenario.duration": _durations(0.0, MAX_RUN_S, open_low=True),
    "network.propagation": _DELAY,
    "network.service": _DELAY,
    "network.connections": _LIMIT,
    "pinterest.ads_write_per_second": _LIMIT,
    "pinterest.ads_write_per_minute": _counts(600_000),
    "pinterest.max_records_per_request": _RECORDS,
    "pinterest.access_token_lifetime": _durations(MINUTE_S, 365 * DAY_S),
    "sync.flush_interval": _durations(0.1, HOUR_S),
    "sync.requests_per_second": _LIMIT,
    "sync.requests_per_minute": _counts(600_000),
    "sync.max_records_per_request": _RECORDS,
    "sync.retry_window": _durations(0.0, MAX_RUN_S, open_low=True),
    "sync.max_in_flight": _LIMIT,
    "sync.request_timeout": _durations(0.0, HOUR_S, open_low=True),
    "sync.pacing_margin": _durations(0.0, MINUTE_S),
    "sync.refresh_lead": _durations(0.0, DAY_S),
    "traffic.rate": _TRAFFIC_RATE,
    "traffic.rate_end": _TRAFFIC_RATE,
    "traffic.peak": _TRAFFIC_RATE,
    "traffic.period": _durations(0.0, MAX_RUN_S, open_low=True),
    "traffic.count": _counts(MAX_USERS),
    "fault.median": _DELAY,
    "fault.p99": _DELAY,
    "fault.extra": _DELAY,
    "fault.lifetime": _durations(MINUTE_S, MAX_RUN_S),
    "expect.lag_p99_max": _durations(0.0, MAX_RUN_S),
    "expect.records_sent_max": _counts(2 * MAX_USERS),  # a user has at most two records
    "expect.preflight_errored": Range(0, MAX_USERS, _count),  # _min and _max
    "expect.preflight_lag_p99_max": _durations(0.0, MAX_RUN_S),
    "expect.preflight_error_max": Range(0.0, 10.0, "{:g}".format),  # a relative error
}


def within(key: str, convert: Callable[[object], T]) -> Callable[[object], T]:
    """``convert``, then the range ``RANGES[key]``: a ``ValueError`` saying it when outside."""
    bounds = RANGES[key]

    def checked(value: object) -> T:
        return bounds.check(convert(value))

    return checked


# --------------------------------------------------------------------------- the run's budget


def expected_users(spec: TrafficSpec) -> float:
    """The most users ``spec`` may bring: a blast's count, else its highest rate over its
    window (an upper bound of every kind's mean, independent of how traffic draws them)."""
    if spec.kind is TrafficKind.BLAST:
        return float(spec.count)
    highest = max(spec.rate_per_s, spec.rate_end_per_s, spec.peak_per_s)
    return highest * (spec.end_s - spec.start_s)


def check_budget(scenario: Scenario) -> None:
    """Refuse a run that would need more than ``MAX_USERS`` users or ``MAX_FLUSHES`` flushes."""
    users = [expected_users(spec) for spec in scenario.traffic]
    if math.fsum(users) > MAX_USERS:
        biggest = max(range(len(users)), key=users.__getitem__)
        raise ScenarioError(
            scenario.source,
            f"traffic[{biggest}]",
            f"the run's traffic may bring {math.fsum(users):,.0f} users (this row "
            f"{users[biggest]:,.0f}); a run may have at most {MAX_USERS:,} (~1 KB of memory each)",
        )
    flushes = scenario.duration_s / scenario.sync.flush_interval_s
    if flushes > MAX_FLUSHES:
        raise ScenarioError(
            scenario.source,
            "sync.flush_interval",
            f"{format_duration(scenario.duration_s)} of flushes every "
            f"{format_duration(scenario.sync.flush_interval_s)} is {flushes:,.0f} flushes; a run "
            f"may have at most {MAX_FLUSHES:,} (a longer interval or a shorter duration)",
        )


# --------------------------------------------------------------------------- output folders

_FOLDER = re.compile(r"\w[\w.-]*")


def folder_name(value: object) -> str:
    """A scenario name that is one safe folder name: letters, digits, ``_``, ``-`` and ``.``,
    starting with a letter, digit or ``_``, no ``..``, at most 100 characters."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    if _FOLDER.fullmatch(value) is None or ".." in value or len(value) > _MAX_NAME:
        raise ValueError(
            f"{value!r} is not a safe output folder name: use letters, digits, '_', '-' and '.' "
            f"(no path separators, no '..', at most {_MAX_NAME} characters)"
        )
    return value
