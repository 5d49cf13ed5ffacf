"""The progress bar over a sweep's runs: ``runs 7/24 [#####.....] eta 1m20s``.

Rules:
- Like ``sim.cli.ProgressBar``: on a terminal a ``\\r`` bar redrawn as runs finish; otherwise
  silent until ``finish`` writes one line. Progress goes to the stream given (stderr).
- The eta is wall-clock arithmetic for the reader only (mean seconds per finished run × runs
  left); nothing measured here reaches a sweep's table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from sim.scenario.units import format_duration

__all__ = ["RunsProgressBar"]


class RunsProgressBar:
    """``progress(done, total)`` as a bar with an eta; ``finish(failed)`` ends it in one line."""

    WIDTH = 30

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._clock = stream, clock
        self._tty = stream.isatty() if tty is None else tty
        self._started = clock()
        self._done = self._total = 0

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if not self._tty:
            return
        share = done / total if total else 1.0
        filled = round(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\rruns {done}/{total} [{bar}] eta {self._eta()}")
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
