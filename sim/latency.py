"""Simulated network latency: one-way delays drawn from a log-normal fitted to median and p99.

Rules:
- A log-normal is the usual shape of request latency (a floor of work times multiplicative
  noise). Fitted so its median and 99th percentile are the scenario's: μ = ln(median),
  σ = ln(p99 / median) / z₀.₉₉.
- Draws come from an injected ``random.Random`` only, so a run is reproducible.
- A ``latency`` fault swaps the distribution for a window: ``LatencyModel.at(now)`` picks the
  one in force, the most recently started window winning.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LatencyModel", "LogNormal"]

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A one-way delay distribution given by its median and 99th percentile (seconds)."""

    median_s: float
    p99_s: float

    def __post_init__(self) -> None:
        if not 0 < self.median_s <= self.p99_s:
            raise ValueError(f"latency needs 0 < median ≤ p99, got {self.median_s}, {self.p99_s}")

    @property
    def sigma(self) -> float:
        return math.log(self.p99_s / self.median_s) / _Z99

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_s), self.sigma)


@dataclass(frozen=True, slots=True)
class _Window:
    start_s: float
    end_s: float
    latency: LogNormal


class LatencyModel:
    """The baseline distribution plus fault windows that replace it for a while."""

    def __init__(self, baseline: LogNormal, rng: random.Random) -> None:
        self._baseline = baseline
        self._rng = rng
        self._windows: list[_Window] = []

    def add_window(self, start_s: float, end_s: float, latency: LogNormal) -> None:
        self._windows.append(_Window(start_s, end_s, latency))

    def at(self, now: float) -> LogNormal:
        active: Sequence[_Window] = [w for w in self._windows if w.start_s <= now < w.end_s]
        return max(active, key=lambda w: w.start_s).latency if active else self._baseline

    def draw(self, now: float) -> float:
        """One one-way delay for a message leaving at ``now``."""
        return self.at(now).draw(self._rng)
