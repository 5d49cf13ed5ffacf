"""Three clocks of a wall-clock twin at speed K, and the engine's settings scaled to match.

Clocks (``Timebase``):
- scenario seconds ``t``: the scenario's own time, 0 at the run's start — what every output
  holds, as ``pinsim run``'s do;
- wall seconds (Unix time): what the live worker and its engine run on — ``wall_zero + t / K``;
- mock seconds: ``pinsim mock serve --speed K``'s clock, ``start_at + K × elapsed`` (Unix-like,
  K times faster) — ``mock_zero + t``. Its journal, fault windows and rate windows read it.
  The admin API does not tell the mock's time, so ``mock_zero`` comes from one reading of it
  (a request the mock journals, stamped between two wall readings: ``ClockReading``) and the
  known slope K.

Rules:
- ``wall_zero`` is a flush tick of the scaled engine (a multiple of ``flush_interval_s / K``):
  the engine flushes at multiples of its interval in absolute time, the simulation at
  multiples of ``T`` from 0, so only then do the two flush on the same scenario instants.
- ``scale_sync``: every ``SyncConfig`` field is in one of two tables — a duration (divided
  by K) or unscaled (a count, a choice, a rate per server second), each with why. A field in
  neither is refused, so a new setting cannot silently run at the wrong speed.

The server's own second is scaled too (``SyncConfig.server_second_s`` = 1/K): the pacer
counts ``requests_per_second`` in windows of one mock second and reads ``x-ratelimit-reset``
in mock seconds, so a saturated token paces and holds in scenario time as in its simulated
twin. What stays in wall seconds is what the engine learns from the path (the one-way
estimate, its margin's floor of 1 ms): K times that in scenario time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

from sync_core import SyncConfig

__all__ = ["ClockReading", "Timebase", "first_tick_after", "scale_sync"]


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The mock's clock read once: ``mock`` was its time at the wall instant ``wall``."""

    wall: float
    mock: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Timebase:
    """Scenario seconds ↔ wall seconds ↔ mock seconds at ``speed`` (works on numpy arrays)."""

    speed: float
    wall_zero: float  # the wall instant of scenario second 0
    mock_zero: float  # the mock's clock at scenario second 0

    @classmethod
    def at(cls, speed: float, wall_zero: float, reading: ClockReading) -> Timebase:
        """Scenario 0 at ``wall_zero``; the mock's clock placed by ``reading`` and its slope."""
        return cls(
            speed=speed,
            wall_zero=wall_zero,
            mock_zero=reading.mock + speed * (wall_zero - reading.wall),
        )

    def wall(self, t: float) -> float:
        return self.wall_zero + t / self.speed

    def scenario(self, wall: float) -> float:
        return (wall - self.wall_zero) * self.speed

    def mock(self, t: float) -> float:
        return self.mock_zero + t

    def from_mock(self, mock: float) -> float:
        return mock - self.mock_zero


def first_tick_after(wall: float, interval_s: float) -> float:
    """The first multiple of ``interval_s`` at or after ``wall``."""
    return math.ceil(wall / interval_s) * interval_s


# --- SyncConfig at speed K ---------------------------------------------------------------------

_DURATIONS: Final = {
    "flush_interval_s": "the engine flushes every T scenario seconds",
    "retry_window_s": "a user errors a retry window of scenario time after entry",
    "request_timeout_s": "a request times out after the scenario's timeout",
    "backoff_base_s": "retries back off in scenario seconds",
    "backoff_max_s": "retries back off in scenario seconds",
    "slow_retry_s": "a failing audience is probed in scenario seconds",
    "default_reset_s": "the mock's rate window is 1 mock second, 1/K wall seconds",
    "pacing_margin_s": "spacing beyond the window is judged in scenario seconds",
    "refresh_lead_s": "a token is refreshed that many scenario seconds before its expiry",
    "server_second_s": "a second the mock counts in or states in a header is a mock second, "
    "1/K wall seconds",
}
_UNSCALED: Final = {
    "requests_per_second": "counted per server second, which server_second_s scales",
    "requests_per_minute": "counted per 60 server seconds, which server_second_s scales",
    "max_records_per_request": "a count",
    "max_in_flight": "a count",
    "page_size": "a count",
    "pacing": "a choice of pacer",
}


def scale_sync(config: SyncConfig, speed: float) -> SyncConfig:
    """``config`` for an engine on the wall clock that behaves as ``config`` does in scenario
    time when the scenario runs ``speed`` times faster than the wall clock."""
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive finite number; got {speed!r}")
    names = {field.name for field in dataclasses.fields(SyncConfig)}
    unclassified = sorted(names - set(_DURATIONS) - set(_UNSCALED))
    if unclassified:
        raise TypeError(f"SyncConfig fields without a speed rule: {', '.join(unclassified)}")
    changes = {
        name: value / speed
        for name in _DURATIONS
        if name in names and (value := getattr(config, name)) is not None  # None: off
    }
    return dataclasses.replace(config, **changes)
