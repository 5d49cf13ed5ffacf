"""Canvas entry traffic: how many users reach each step in a tick, when, and who they are.

Rules:
- Arrivals are produced in bulk per tick ``[t0, t1)``, never one SimPy event per user.
- Every kind is one cumulative intensity ``Λ(t)`` (expected arrivals since ``start``), in the
  ``_CUMULATIVE`` table. Deterministic kinds (constant, blast) deliver ``⌊Λ(t1)⌋ - ⌊Λ(t0)⌋``,
  so ticks never drift; random kinds (poisson, ramp, diurnal) draw a Poisson count of mean
  ``Λ(t1) - Λ(t0)``, a non-homogeneous Poisson process whatever the tick size.
- Randomness comes from a ``numpy.random.Generator`` per traffic row, seeded from the
  scenario seed and the row's index (``row_rng``); never the global ``random``.
- ``TrafficSource`` is what a driver uses: one ``tick(t0, t1)`` gives every row's arrivals
  with instants and profiles. Users are numbered in arrival order; a ``replay`` row sends
  users a named step already received (ticks before this one), in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sim.scenario import Scenario, TrafficKind, TrafficSpec
from sim.world.profiles import DEFAULT_POOL_SIZE, ProfilePool, Profiles

__all__ = [
    "Arrivals",
    "ProfilePool",
    "Profiles",
    "TrafficSource",
    "arrival_instants",
    "arrivals",
    "expected_arrivals",
    "row_rng",
]

Instants = npt.NDArray[np.float64]


def _poisson_cumulative(spec: TrafficSpec, elapsed: float) -> float:
    return spec.rate_per_s * elapsed


def _blast_cumulative(spec: TrafficSpec, elapsed: float) -> float:
    # a blast lands at `start`: the tick containing `start` gets all `count` users
    return float(spec.count) if elapsed > 0 else 0.0


def _ramp_cumulative(spec: TrafficSpec, elapsed: float) -> float:
    span = spec.end_s - spec.start_s
    slope = (spec.rate_end_per_s - spec.rate_per_s) / span
    return spec.rate_per_s * elapsed + slope * elapsed * elapsed / 2


def _diurnal_cumulative(spec: TrafficSpec, elapsed: float) -> float:
    # λ(u) = trough + (peak - trough) · (1 - cos 2πu/P) / 2 : trough at start, peak at P/2
    swing = (spec.peak_per_s - spec.rate_per_s) / 2
    omega = 2 * math.pi / spec.period_s
    return spec.rate_per_s * elapsed + swing * (elapsed - math.sin(omega * elapsed) / omega)


_CUMULATIVE: dict[TrafficKind, Callable[[TrafficSpec, float], float]] = {
    TrafficKind.POISSON: _poisson_cumulative,
    TrafficKind.CONSTANT: _poisson_cumulative,
    TrafficKind.BLAST: _blast_cumulative,
    TrafficKind.RAMP: _ramp_cumulative,
    TrafficKind.DIURNAL: _diurnal_cumulative,
}
_DETERMINISTIC = frozenset({TrafficKind.CONSTANT, TrafficKind.BLAST})


def _cumulative(spec: TrafficSpec, t: float) -> float:
    """Expected arrivals in ``[start, t)``, clipped to the row's window."""
    elapsed = min(t, spec.end_s) - spec.start_s
    return _CUMULATIVE[spec.kind](spec, elapsed) if elapsed > 0 else 0.0


def expected_arrivals(spec: TrafficSpec, t0: float, t1: float) -> float:
    """Mean number of users ``spec`` brings in ``[t0, t1)``."""
    return _cumulative(spec, t1) - _cumulative(spec, t0)


def arrivals(spec: TrafficSpec, rng: np.random.Generator, t0: float, t1: float) -> int:
    """How many users ``spec`` brings in ``[t0, t1)`` (drawn from ``rng`` for random kinds)."""
    if spec.kind in _DETERMINISTIC:
        # the 1e-9 absorbs float error so that e.g. 10/s over 0.1 s ticks gives exactly 1 each
        return math.floor(_cumulative(spec, t1) + 1e-9) - math.floor(_cumulative(spec, t0) + 1e-9)
    return int(rng.poisson(max(expected_arrivals(spec, t0, t1), 0.0)))


def arrival_instants(spec: TrafficSpec, rng: np.random.Generator, t0: float, t1: float) -> Instants:
    """The sorted arrival instants of ``spec`` in ``[t0, t1)``.

    Blasts arrive at ``start``; constant traffic is evenly spaced; random kinds are uniform
    within the tick (exact for poisson, a fine approximation for short ticks otherwise).
    """
    count = arrivals(spec, rng, t0, t1)
    if spec.kind is TrafficKind.BLAST:
        return np.full(count, spec.start_s)
    if spec.kind is TrafficKind.CONSTANT:
        first = math.floor(_cumulative(spec, t0) + 1e-9)
        return spec.start_s + np.arange(first, first + count, dtype=np.float64) / spec.rate_per_s
    low, high = max(t0, spec.start_s), min(t1, spec.end_s)
    return np.sort(rng.uniform(low, high, count)) if count else np.empty(0)


def row_rng(seed: int, row: int) -> np.random.Generator:
    """The generator of traffic row ``row``: independent of every other row's draws."""
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, row, 0x7AFF1C])


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Users entering ``step`` during one tick, with their entry instants (sorted)."""

    step: str
    entered_at: Instants
    profiles: Profiles


@dataclass(frozen=True, slots=True)
class _Block:
    """A run of consecutive user numbers a row sent to a step (for replays)."""

    first: int
    count: int
    row: int


@dataclass(slots=True)
class _History:
    """What a step received, and how far a replay has consumed it (block, offset)."""

    blocks: list[_Block] = field(default_factory=list)
    visible: int = 0  # blocks a replay may use: those received before the current tick
    block: int = 0
    offset: int = 0


class TrafficSource:
    """All of a scenario's traffic: call ``tick`` with consecutive intervals."""

    def __init__(
        self, scenario: Scenario, *, seed: int | None = None, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        run_seed = scenario.seed if seed is None else seed
        self._rows = scenario.traffic
        self._rngs = [row_rng(run_seed, i) for i in range(len(self._rows))]
        self._pool = ProfilePool(run_seed, pool_size)
        self._next_user = 0
        self._history = {step.id: _History() for step in scenario.steps}

    @property
    def users_made(self) -> int:
        """How many distinct users have arrived so far (replays not counted)."""
        return self._next_user

    def tick(self, t0: float, t1: float) -> list[Arrivals]:
        """Every row's arrivals in ``[t0, t1)``, rows in file order, empty ones left out."""
        for history in self._history.values():
            history.visible = len(history.blocks)
        batches = []
        for index, spec in enumerate(self._rows):
            instants = arrival_instants(spec, self._rngs[index], t0, t1)
            if not len(instants):
                continue  # most ticks of a quiet row: skip the profile machinery entirely
            if spec.replay is None:
                profiles = self._new_users(index, spec, len(instants))
            else:
                profiles = self._replayed(spec.replay, len(instants))
                instants = instants[: len(profiles)]
            if len(profiles):
                batches.append(Arrivals(spec.step, instants, profiles))
        return batches

    def _new_users(self, row: int, spec: TrafficSpec, count: int) -> Profiles:
        first, self._next_user = self._next_user, self._next_user + count
        if count:
            self._history[spec.step].blocks.append(_Block(first, count, row))
        return self._profiles(row, first, count)

    def _profiles(self, row: int, first: int, count: int) -> Profiles:
        spec = self._rows[row]
        return self._pool.batch(
            first,
            count,
            missing_email=spec.missing.email,
            missing_maid=spec.missing.maid,
            malformed=spec.malformed,
        )

    def _replayed(self, step: str, wanted: int) -> Profiles:
        """The next ``wanted`` users ``step`` received before this tick (fewer if not enough)."""
        history = self._history[step]
        parts: list[Profiles] = []
        remaining = wanted
        while remaining and history.block < history.visible:
            block = history.blocks[history.block]
            take = min(block.count - history.offset, remaining)
            parts.append(self._profiles(block.row, block.first + history.offset, take))
            remaining -= take
            history.offset += take
            if history.offset == block.count:
                history.block, history.offset = history.block + 1, 0
        return _concat(parts)


def _concat(parts: list[Profiles]) -> Profiles:
    if not parts:
        return Profiles(user_ids=[], emails=[], maids=[])
    if len(parts) == 1:
        return parts[0]
    return Profiles(
        user_ids=[user for part in parts for user in part.user_ids],
        emails=[email for part in parts for email in part.emails],
        maids=[maid for part in parts for maid in part.maids],
    )
