"""The simulated network: where a request's time goes between the engine and Pinterest.

A request's life, as the driver plays it (each part drawn from its own distribution):

====================  ======================================================================
part                  what it is
====================  ======================================================================
pool                  wait for a free keep-alive connection; one request at a time on each
                      (``sim.world.pool``)
propagation (up)      one-way path delay to Pinterest: drawn once per connection when it opens
                      (a warm connection keeps its route) or, with ``paths = "independent"``
                      (the old model), anew for every leg
arrival               the mock admits or refuses it: rate limits count *here*
service               Pinterest's processing after arrival, heavy tailed; a 429 is refused at
                      the door and costs none; a mock ``latency_s`` fault rule adds to it
propagation (down)    the path back
====================  ======================================================================

Rules:
- Each part is a log-normal fitted to a median and a 99th percentile (a floor of work times
  multiplicative noise): μ = ln(median), σ = ln(p99 / median) / z₀.₉₉. A median equal to its
  p99 is a constant delay (``0`` for none), which is how the old model — independent one-way
  legs and no service time — is written.
- Draws come from an injected ``random.Random`` only, so a run is reproducible.
- A ``latency`` fault replaces one part's distribution for a window (the path or the server):
  ``NetworkModel.draw(part, now)`` uses the one in force, the most recently started winning.
  While a path fault is in force every leg draws from it, whatever the connection.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

__all__ = ["LogNormal", "NetworkModel", "Part", "Paths"]

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


class Part(enum.StrEnum):
    """The two parts of a request's time that the network model draws."""

    PROPAGATION = "propagation"
    SERVICE = "service"


class Paths(enum.StrEnum):
    """Whether a connection keeps its path delay or every message leg draws one."""

    PER_CONNECTION = "per_connection"
    INDEPENDENT = "independent"


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A delay distribution given by its median and 99th percentile (seconds)."""

    median_s: float
    p99_s: float

    def __post_init__(self) -> None:
        if not (self.median_s >= 0 and math.isfinite(self.median_s + self.p99_s)):
            raise ValueError(
                f"a delay needs a finite median ≥ 0 and p99, got {self.median_s}, {self.p99_s}"
            )
        if self.p99_s < self.median_s:
            raise ValueError("p99 must not be below the median")
        if self.median_s == 0 < self.p99_s:
            raise ValueError("a median of 0 needs a p99 of 0 (no delay)")

    @property
    def sigma(self) -> float:
        return 0.0 if self.median_s == self.p99_s else math.log(self.p99_s / self.median_s) / _Z99

    @property
    def mean_s(self) -> float:
        """exp(μ + σ²/2): what a delay costs on average."""
        return self.median_s * math.exp(self.sigma**2 / 2)

    def draw(self, rng: random.Random) -> float:
        if self.median_s == self.p99_s:
            return self.median_s  # constant: no draw, so adding it changes no other stream
        return rng.lognormvariate(math.log(self.median_s), self.sigma)


@dataclass(frozen=True, slots=True)
class _Window:
    start_s: float
    end_s: float
    delay: LogNormal


class NetworkModel:
    """The baseline propagation and service distributions, plus fault windows on either."""

    def __init__(
        self,
        *,
        propagation: LogNormal,
        service: LogNormal,
        rng: random.Random,
        paths: Paths = Paths.PER_CONNECTION,
    ) -> None:
        self._baseline = {Part.PROPAGATION: propagation, Part.SERVICE: service}
        self._paths = paths
        self._rng = rng
        self._windows: dict[Part, list[_Window]] = {part: [] for part in Part}

    def add_window(self, part: Part, start_s: float, end_s: float, delay: LogNormal) -> None:
        self._windows[part].append(_Window(start_s, end_s, delay))

    def at(self, part: Part, now: float) -> LogNormal:
        """The distribution of ``part`` in force at ``now``."""
        active = [w for w in self._windows[part] if w.start_s <= now < w.end_s]
        return max(active, key=lambda w: w.start_s).delay if active else self._baseline[part]

    def draw(self, part: Part, now: float) -> float:
        """One delay of ``part`` for a message leaving (or a request arriving) at ``now``."""
        return self.at(part, now).draw(self._rng)

    def open_path(self) -> float:
        """The path delay of a connection opening now (per-connection paths)."""
        return self._baseline[Part.PROPAGATION].draw(self._rng)

    def leg(self, connection_path_s: float, now: float) -> float:
        """One leg's path delay on a connection opened with ``connection_path_s``."""
        delay = self.at(Part.PROPAGATION, now)
        if self._paths is Paths.PER_CONNECTION and delay is self._baseline[Part.PROPAGATION]:
            return connection_path_s
        return delay.draw(self._rng)
