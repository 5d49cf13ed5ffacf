"""Progress shown to a person while long work runs: one callback type, three bars.

Rules:
- Work reports progress through one type, ``Progress``: ``progress(done, total, users)`` —
  simulated seconds and the users entered so far for a run (``sim.world.driver.simulate``,
  which calls it at least once a simulated hour), runs for a sweep. It never prints.
- A bar draws on a terminal as a ``\\r`` line (``RunBar``: a run's simulated time and users;
  ``SweepBar``: a sweep's runs with an eta; ``FuzzBar``: a fuzz campaign's schedules and
  failures), redrawn at most ten times a wall second so fast work is not slowed by it. On a
  pipe (a CI log) each writes a plain line every few wall seconds instead, so long work shows
  movement, then ``finish`` writes the last one.
- Bars write to the stream given (the CLI gives stderr, keeping stdout for results). Wall
  times and the eta are for the reader only; nothing measured here reaches an output.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from sim.scenario.units import format_duration

__all__ = ["FuzzBar", "Progress", "RunBar", "SweepBar"]


class Progress(Protocol):
    """``progress(done, total, users)``, called as work advances (``users``: entered so far,
    when the work has users)."""

    def __call__(self, done: float, total: float, /, users: int | None = None) -> None: ...


_WIDTH = 30
_REDRAW_S = 0.1
_PIPE_EVERY_S = 5.0  # on a pipe: a line this often


def _bar(share: float) -> str:
    filled = round(share * _WIDTH)
    return "#" * filled + "." * (_WIDTH - filled)


class RunBar:
    """``progress(sim_now, sim_end, users)`` as a bar of simulated time; ``finish(wall_s)``."""

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str,
        tty: bool | None = None,
        every_s: float = _PIPE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._label, self._clock = stream, label, clock
        self._tty = stream.isatty() if tty is None else tty
        self._every_s = _REDRAW_S if self._tty else every_s
        self._started = clock()
        # a terminal shows the bar at once; a pipe's first line comes after ``every_s``
        self._last_draw = -math.inf if self._tty else self._started
        self._end = 0.0

    def __call__(self, sim_now: float, sim_end: float, users: int | None = None) -> None:
        self._end = sim_end
        wall = self._clock()
        if wall - self._last_draw < self._every_s:
            return
        self._last_draw = wall
        share = min(sim_now / sim_end, 1.0) if sim_end > 0 else 1.0
        clock = f"{format_duration(int(sim_now))} / {format_duration(sim_end)}"
        entered = "" if users is None else f", {users:,} users"
        if self._tty:
            self._stream.write(f"\r{self._label} [{_bar(share)}] {share:4.0%} {clock}{entered}")
        else:
            elapsed = _seconds(wall - self._started)
            self._stream.write(f"{self._label}: simulated {clock}{entered}, {elapsed} wall\n")
        self._stream.flush()

    def finish(self, wall_seconds: float) -> None:
        """End the bar with one line saying how long the run took."""
        prefix = "\r\033[K" if self._tty else ""
        simulated = format_duration(self._end) if self._end else "the run"
        self._stream.write(f"{prefix}{self._label}: simulated {simulated} in {wall_seconds:.1f}s\n")
        self._stream.flush()


class SweepBar:
    """``progress(done, total)`` over a sweep's runs, with an eta; ``finish(failed)``."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        every_s: float = _PIPE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._clock = stream, clock
        self._tty = stream.isatty() if tty is None else tty
        self._every_s = 0.0 if self._tty else every_s
        self._started = self._last_line = clock()
        self._done = self._total = 0

    def __call__(self, done: float, total: float, users: int | None = None) -> None:
        self._done, self._total = int(done), int(total)
        now = self._clock()
        if now - self._last_line < self._every_s:
            return
        self._last_line = now
        share = done / total if total else 1.0
        if self._tty:
            line = f"\rruns {self._done}/{self._total} [{_bar(share)}] eta {self._eta()}"
        else:
            line = f"runs {self._done}/{self._total}, eta {self._eta()}\n"
        self._stream.write(line)
        self._stream.flush()

    def _eta(self) -> str:
        if not self._done:
            return "?"
        per_run = (self._clock() - self._started) / self._done
        return _seconds(per_run * (self._total - self._done))

    def finish(self, failed: int = 0) -> None:
        """One line: how many runs, in how long, and how many failed."""
        prefix = "\r\033[K" if self._tty else ""
        wall = _seconds(self._clock() - self._started)
        note = f", {failed} failed" if failed else ""
        self._stream.write(f"{prefix}runs {self._done}/{self._total} in {wall}{note}\n")
        self._stream.flush()


def _seconds(wall_s: float) -> str:
    """Whole seconds, the way ``format_duration`` writes them (``"1m30s"``); ``"<1s"`` below."""
    return format_duration(round(wall_s)) if wall_s >= 1 else "<1s"


class FuzzBar:
    """Progress over ``total`` schedules: how many ran, how many failed, how long it took."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        tty: bool | None = None,
        every_s: float = _PIPE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._total, self._clock = stream, total, clock
        self._tty = stream.isatty() if tty is None else tty
        self._every_s = _REDRAW_S if self._tty else every_s
        self._started = self._last = clock()
        self._done = self._failed = 0

    def __call__(self, done: int, failed: int) -> None:
        self._done, self._failed = done, failed
        now = self._clock()
        if now - self._last < self._every_s:
            return
        self._last = now
        if self._tty:
            self._stream.write(f"\r{self._line(now)}")
        else:
            self._stream.write(f"{self._line(now)}\n")
        self._stream.flush()

    def shrinking(self, count: int) -> None:
        """Every schedule has run; ``count`` failures are being shrunk (each many runs)."""
        self.finish()
        if count:
            self._stream.write(f"fuzz: shrinking {count} failures\n")
            self._stream.flush()

    def finish(self) -> None:
        """The last line: every schedule run, the failures, the wall time."""
        prefix = "\r\033[K" if self._tty else ""
        self._stream.write(f"{prefix}{self._line(self._clock(), bar=False)}\n")
        self._stream.flush()

    def _line(self, now: float, *, bar: bool = True) -> str:
        share = self._done / self._total if self._total else 1.0
        drawn = f" [{_bar(share)}]" if bar and self._tty else ""
        return (
            f"fuzz: {self._done}/{self._total} schedules{drawn}, "
            f"{self._failed} failed, {now - self._started:.0f}s"
        )
