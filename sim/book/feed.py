"""What the driver sees of traffic and the book: flush-interval windows of arrivals, cut into
feed chunks, handed over when due, and every request body booked as it is sent.

Rules:
- A window is one flush interval ``[t0, t1)`` of every traffic row, drawn at once and cut into
  the ticks that have users; a chunk enters the engine at the end of its tick (``at``), so quiet
  ticks cost nothing and every user enters at the end of their own tick. Windows are drawn a
  flush interval ahead of the driver.
- The ledger books chunks in feed order (the order the engine receives them) and judges each
  request body against the users handed to the engine before it was sent: the feed counts
  them itself as ``due`` hands them over.
- The driver sees one small interface, ``Feed``: when to look next, the chunks due, a body
  sent, and at the end the book's ``Findings`` (asked for as soon as the run's end is known,
  read when needed, so that a helper process can work on them meanwhile).
- Where the feed runs changes no result: ``InlineFeed`` here and ``sim.book.helper.HelperFeed``
  give the same outputs (tested).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sim.book.ledger import Audits, Ledger, Synced
from sim.scenario import Scenario
from sim.world.profiles import Profiles
from sim.world.traffic import Arrivals, TrafficSource

__all__ = [
    "Feed",
    "FeedChunk",
    "Findings",
    "InlineFeed",
    "PendingFindings",
    "RunEnd",
]


@dataclass(frozen=True, slots=True)
class FeedChunk:
    """Users who entered during one tick, to be fed to the engine when it ends (``at``)."""

    at: float
    arrivals: Arrivals


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What the book needs of the run's end to say what each audience should hold
    (``Ledger.expected_members`` arguments): no user ids, only each synced user's step and
    row in it — the k-th user the engine holds for a step is the k-th the book booked for it,
    in a simulation and in a live replay alike (a live worker may interleave steps otherwise
    than the feed did, never reorder one step)."""

    synced: Synced  # in completion order
    entered: Mapping[str, int]  # per step, users the engine holds: must be what the book holds
    audiences: Mapping[str, str]
    removes: Sequence[str]
    initial: Mapping[str, frozenset[str]]
    superseded: Synced | None = None  # users coalescing left unsent (reason ``superseded``)

    @classmethod
    def of(
        cls,
        users: pd.DataFrame,
        audiences: Mapping[str, str],
        removes: Sequence[str],
        initial: Mapping[str, frozenset[str]],
    ) -> RunEnd:
        """From the run's ``users`` frame, its rows in the order the engine was given them."""
        codes, names = pd.factorize(users["step"].astype(str))
        rows = np.zeros(len(codes), dtype=np.int64)
        for code in range(len(names)):
            mine = np.flatnonzero(codes == code)
            rows[mine] = np.arange(len(mine))
        synced = np.flatnonzero((users["outcome"] == "synced").to_numpy())
        completed = users["outcome_at"].to_numpy(float)[synced]
        synced = synced[np.argsort(completed, kind="stable")]
        reasons = users["reason"] if "reason" in users else pd.Series([None] * len(users))
        superseded = np.flatnonzero((reasons == "superseded").to_numpy(bool))
        return cls(
            synced=Synced(tuple(map(str, names)), codes[synced].astype(np.int64), rows[synced]),
            entered={str(name): int((codes == code).sum()) for code, name in enumerate(names)},
            audiences=dict(audiences),
            removes=list(removes),
            initial=dict(initial),
            superseded=Synced(
                tuple(map(str, names)), codes[superseded].astype(np.int64), rows[superseded]
            ),
        )


@dataclass(frozen=True, slots=True)
class Findings:
    """What the book says after the run: every sent body's audit, in the order sent, and the
    hashed ids each audience should hold."""

    audits: Audits
    expected_members: Mapping[str, AbstractSet[str]]


class PendingFindings(Protocol):
    """The book's findings, being worked out; ``result`` waits for them."""

    def result(self) -> Findings: ...


class Feed(Protocol):
    """Traffic and the book, as the driver sees them."""

    def next_due(self) -> float:
        """When the driver must next call ``due`` (infinite once all is handed over)."""
        ...

    def due(self, now: float) -> list[FeedChunk]:
        """The chunks whose tick has ended by ``now``, in feed order; from here on the book
        counts their users as given to the engine."""
        ...

    def sent(self, body: bytes | None) -> int:
        """Book a request body that reaches Pinterest now; its number among the bodies sent."""
        ...

    def findings(self, end: RunEnd) -> PendingFindings:
        """Start working out the book's findings on the run that ended with ``end``."""
        ...

    def close(self) -> None: ...


class Windows:
    """Consecutive flush-interval windows of a scenario's traffic, cut into feed chunks."""

    def __init__(self, scenario: Scenario, seed: int, tick_s: float) -> None:
        self._traffic = TrafficSource(scenario, seed=seed)
        self._flush_s = scenario.sync.flush_interval_s
        self._end_s = scenario.duration_s
        self._tick_s = tick_s
        self.drawn_until = 0.0

    @property
    def done(self) -> bool:
        return self.drawn_until >= self._end_s

    def next(self) -> list[FeedChunk]:
        """Draw ``[drawn_until, +flush)`` and cut it into ticks that have users, in feed order."""
        t0 = self.drawn_until
        t1 = min(t0 + self._flush_s, self._end_s)
        chunks: list[FeedChunk] = []
        for arrivals in self._traffic.tick(t0, t1):
            ticks = np.floor((arrivals.entered_at - t0) / self._tick_s + 1e-9).astype(np.int64)
            bounds = np.flatnonzero(np.diff(ticks)) + 1
            for lo, hi in zip([0, *bounds], [*bounds, len(ticks)], strict=True):
                at = min(t0 + (int(ticks[lo]) + 1) * self._tick_s, t1)
                chunks.append(FeedChunk(at, _slice(arrivals, int(lo), int(hi))))
        self.drawn_until = t1
        return sorted(chunks, key=lambda chunk: chunk.at)  # stable: file order kept


class DueChunks:
    """The driver's side of any feed: drawn chunks waiting for their tick to end, and the
    count of users handed over; ``draw`` brings the next window."""

    def __init__(self, end_s: float) -> None:
        self._end_s = end_s
        self._waiting: deque[FeedChunk] = deque()
        self.drawn_until = 0.0
        self.handed = 0  # users handed to the engine so far

    def next_due(self) -> float:
        candidates = [math.inf]
        if self._waiting:
            candidates.append(self._waiting[0].at)
        if self.drawn_until < self._end_s:
            candidates.append(self.drawn_until)
        return min(candidates)

    def due(self, now: float) -> list[FeedChunk]:
        while self.drawn_until <= now and self.drawn_until < self._end_s:
            self.drawn_until, chunks = self.draw()
            self._waiting.extend(chunks)
        due: list[FeedChunk] = []
        while self._waiting and self._waiting[0].at <= now:
            chunk = self._waiting.popleft()
            self.handed += len(chunk.arrivals.entered_at)
            due.append(chunk)
        return due

    def draw(self) -> tuple[float, list[FeedChunk]]:
        raise NotImplementedError


class InlineFeed(DueChunks):
    """Traffic and ledger in this process: each window is booked as it is drawn."""

    def __init__(self, scenario: Scenario, seed: int, tick_s: float) -> None:
        super().__init__(scenario.duration_s)
        self._windows = Windows(scenario, seed, tick_s)
        self._ledger = new_ledger(scenario)

    def draw(self) -> tuple[float, list[FeedChunk]]:
        chunks = self._windows.next()
        book(self._ledger, chunks)
        return self._windows.drawn_until, chunks

    def sent(self, body: bytes | None) -> int:
        return self._ledger.note(body, seen=self.handed)

    def findings(self, end: RunEnd) -> PendingFindings:
        return _WhenRead(self._ledger, end)

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _WhenRead:
    """Findings worked out in this process when read: after the caller has built what it
    builds meanwhile, so the book's look-up index is not yet alive while it does (that order
    keeps a run's peak memory lower)."""

    ledger: Ledger
    end: RunEnd

    def result(self) -> Findings:
        return find(self.ledger, self.end)


def new_ledger(scenario: Scenario) -> Ledger:
    return Ledger(scenario.sync.retry_window_s, {s.id: s.match_fields for s in scenario.steps})


def book(ledger: Ledger, chunks: list[FeedChunk]) -> None:
    """Book a window's users in feed order."""
    for chunk in chunks:
        profiles = chunk.arrivals.profiles
        ledger.enter(
            chunk.arrivals.step,
            profiles.emails,
            profiles.maids,
            chunk.arrivals.entered_at,
        )


def find(ledger: Ledger, end: RunEnd) -> Findings:
    return Findings(
        audits=ledger.audits(),
        expected_members=ledger.expected_members(
            end.synced,
            end.audiences,
            end.removes,
            end.initial,
            entered=end.entered,
            superseded=end.superseded,
        ),
    )


def _slice(arrivals: Arrivals, lo: int, hi: int) -> Arrivals:
    if lo == 0 and hi == len(arrivals.entered_at):
        return arrivals
    p = arrivals.profiles
    profiles = Profiles(user_ids=p.user_ids[lo:hi], emails=p.emails[lo:hi], maids=p.maids[lo:hi])
    return Arrivals(arrivals.step, arrivals.entered_at[lo:hi], profiles)
