"""Entry traffic as the driver feeds it: flush-interval windows of arrivals, cut into feed
chunks and booked by the ledger — in this process, or in a helper process on another core.

Rules:
- A window is one flush interval ``[t0, t1)`` of every traffic row, drawn at once and cut into
  the ticks that have users; a chunk enters the engine at the end of its tick (``at``), so quiet
  ticks cost nothing and every user enters at the end of their own tick.
- The ledger books chunks in feed order (the order the engine receives them) and judges each
  request body against the users fed before it was sent (``seen``, counted by the driver).
  Where the feed runs changes no result: ``InlineFeed`` and ``HelperFeed`` give the same
  outputs (tested).
- The helper process only computes — it draws, books and audits; it never touches the engine or
  the mock. It hands a window over before booking it, so the ledger's hashing overlaps the
  engine's, and runs ahead by at most what the pipe holds, so memory stays bounded.
- A failing helper raises ``FeedError`` in the driver with the helper's own message; closing
  the feed always ends the helper. ``open_feed`` uses a helper only where it pays: big runs,
  two or more cores, and not inside a worker that already parallelises (sweeps).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from sim.book.ledger import Audits, Ledger
from sim.scenario import Scenario, from_raw
from sim.world.profiles import Profiles
from sim.world.traffic import Arrivals, TrafficSource, expected_arrivals

__all__ = [
    "HELPER_MIN_USERS",
    "Feed",
    "FeedChunk",
    "FeedError",
    "HelperFeed",
    "InlineFeed",
    "Outcome",
    "Verdict",
    "open_feed",
]

_PIPE_BYTES = 1 << 20  # Linux's default cap on a pipe's size
_NOTES_PER_MESSAGE = 256  # bodies sent to the helper at once: a message each costs GIL hand-offs
_DRIVER_CHECK_S = 1.0  # how often a waiting helper makes sure its driver is still there

HELPER_MIN_USERS = 200_000
"""Expected users from which ``open_feed`` runs the feed in a helper process: below it, the
helper's start-up and the pickling of every window cost more than the second core gives."""


class FeedError(RuntimeError):
    """The helper process failed or vanished (a harness fault, not a finding)."""


@dataclass(frozen=True, slots=True)
class FeedChunk:
    """Users who entered during one tick, to be fed to the engine when it ends (``at``)."""

    at: float
    arrivals: Arrivals


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the ledger says after the run: every noted body's audit, in note order, and the
    hashed ids each audience should hold."""

    audits: Audits
    expected_members: Mapping[str, AbstractSet[str]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the ledger needs of the run's outcome to give its verdict (``Ledger.expected_members``
    arguments)."""

    users: pd.DataFrame
    audiences: Mapping[str, str]
    removes: Sequence[str]
    initial: Mapping[str, frozenset[str]]


class Feed(Protocol):
    """What the driver uses: windows in order, body notes, then the verdict (asked for as soon
    as the outcome is known, read when needed: a helper works on it meanwhile)."""

    @property
    def drawn_until(self) -> float: ...

    def window(self) -> list[FeedChunk]: ...

    def note(self, body: bytes | None, seen: int) -> int: ...

    def ask(self, outcome: Outcome) -> None: ...

    def verdict(self) -> Verdict: ...

    def close(self) -> None: ...


class InlineFeed:
    """Traffic and ledger in this process: each window is booked as it is drawn."""

    def __init__(self, scenario: Scenario, seed: int, tick_s: float) -> None:
        self._windows = _Windows(scenario, seed, tick_s)
        self._ledger = _ledger(scenario)
        self._outcome: Outcome | None = None

    @property
    def drawn_until(self) -> float:
        return self._windows.drawn_until

    def window(self) -> list[FeedChunk]:
        chunks = self._windows.next()
        _book(self._ledger, chunks)
        return chunks

    def note(self, body: bytes | None, seen: int) -> int:
        return self._ledger.note(body, seen=seen)

    def ask(self, outcome: Outcome) -> None:
        self._outcome = outcome

    def verdict(self) -> Verdict:
        if self._outcome is None:
            raise FeedError("the verdict was not asked for")
        return _verdict(self._ledger, self._outcome)

    def close(self) -> None:
        pass


class HelperFeed:
    """Traffic and ledger in a helper process, running ahead of the driver."""

    def __init__(self, scenario: Scenario, seed: int, tick_s: float) -> None:
        if _can_fork():
            context: Any = multiprocessing.get_context("fork")
            shipped: Scenario | dict[str, Any] = scenario  # inherited, never pickled
        elif scenario.raw:
            context = multiprocessing.get_context("forkserver")
            shipped = dict(scenario.raw)  # a Scenario does not pickle; its TOML document does
        else:
            raise FeedError("a scenario built without TOML cannot be shipped to a helper")
        self._from_helper, helper_end = context.Pipe(duplex=False)
        _widen(helper_end)
        self._to_helper = context.Queue()
        self._process = context.Process(
            target=_helper_main,
            args=(helper_end, self._to_helper, shipped, seed, tick_s),
            name="pinsim-feed",
            daemon=True,
        )
        self._process.start()
        helper_end.close()
        self.drawn_until = 0.0
        self._notes: list[tuple[bytes | None, int]] = []  # not yet sent to the helper
        self._noted = 0

    def window(self) -> list[FeedChunk]:
        self.drawn_until, chunks = self._receive()
        return cast(list[FeedChunk], chunks)

    def note(self, body: bytes | None, seen: int) -> int:
        self._notes.append((body, seen))
        if len(self._notes) == _NOTES_PER_MESSAGE:
            self._send_notes()
        self._noted += 1
        return self._noted - 1

    def ask(self, outcome: Outcome) -> None:
        self._send_notes()
        self._to_helper.put(("verdict", _slim(outcome)))

    def verdict(self) -> Verdict:
        return cast(Verdict, self._receive())

    def close(self) -> None:
        self._to_helper.cancel_join_thread()  # never wait on a helper that is gone
        self._to_helper.close()
        self._from_helper.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()

    def _send_notes(self) -> None:
        if self._notes:
            self._to_helper.put(("notes", self._notes))
            self._notes = []

    def _receive(self) -> Any:
        try:
            kind, payload = self._from_helper.recv()
        except EOFError:
            raise FeedError(
                f"the feed's helper process ended unexpectedly (exit code {self._process.exitcode})"
            ) from None
        if kind == "error":
            raise FeedError(f"the feed's helper process failed:\n{payload}")
        return payload


def open_feed(scenario: Scenario, seed: int, tick_s: float, *, helper: bool | None = None) -> Feed:
    """The feed for a run: ``helper`` forces one or the other; ``None`` decides by size."""
    if helper is None:
        helper = _helper_pays(scenario)
    return (HelperFeed if helper else InlineFeed)(scenario, seed, tick_s)


def _helper_pays(scenario: Scenario) -> bool:
    users = sum(expected_arrivals(spec, 0.0, scenario.duration_s) for spec in scenario.traffic)
    in_worker = multiprocessing.current_process().name != "MainProcess"
    shippable = _can_fork() or bool(scenario.raw)
    linux = sys.platform == "linux"  # where it was measured; elsewhere only when asked for
    cores = len(os.sched_getaffinity(0)) if linux else 1
    return users >= HELPER_MIN_USERS and linux and cores >= 2 and not in_worker and shippable


def _can_fork() -> bool:
    """Fork is near-instant, but only safe on Linux while this process runs no other thread."""
    return sys.platform == "linux" and threading.active_count() == 1


def _widen(pipe_end: Connection) -> None:
    """Let the pipe hold ~20 steady-traffic windows instead of one, so that neither process
    waits on the other's every hiccup (Linux only; elsewhere the default size stays)."""
    try:
        import fcntl  # not on every platform

        fcntl.fcntl(pipe_end.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


# -- the windows ------------------------------------------------------------------------------


class _Windows:
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


def _slice(arrivals: Arrivals, lo: int, hi: int) -> Arrivals:
    if lo == 0 and hi == len(arrivals.entered_at):
        return arrivals
    p = arrivals.profiles
    profiles = Profiles(user_ids=p.user_ids[lo:hi], emails=p.emails[lo:hi], maids=p.maids[lo:hi])
    return Arrivals(arrivals.step, arrivals.entered_at[lo:hi], profiles)


def _book(ledger: Ledger, chunks: list[FeedChunk]) -> None:
    for chunk in chunks:
        profiles = chunk.arrivals.profiles
        ledger.enter(
            chunk.arrivals.step,
            profiles.user_ids,
            profiles.emails,
            profiles.maids,
            chunk.arrivals.entered_at,
        )


def _ledger(scenario: Scenario) -> Ledger:
    return Ledger(scenario.sync.retry_window_s, {s.id: s.match_fields for s in scenario.steps})


def _slim(outcome: Outcome) -> Outcome:
    """Only the synced users (all ``expected_members`` reads), and only the columns it reads:
    what crosses to the helper is pickled."""
    users = outcome.users
    synced = users.loc[users["outcome"] == "synced", ["user_id", "step", "outcome", "outcome_at"]]
    return Outcome(synced, dict(outcome.audiences), list(outcome.removes), dict(outcome.initial))


def _verdict(ledger: Ledger, outcome: Outcome) -> Verdict:
    return Verdict(
        audits=ledger.audits(),
        expected_members=ledger.expected_members(
            outcome.users, outcome.audiences, outcome.removes, outcome.initial
        ),
    )


# -- the helper process -----------------------------------------------------------------------


def _helper_main(
    to_driver: Connection,
    from_driver: Any,
    shipped: Scenario | dict[str, Any],
    seed: int,
    tick_s: float,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it ends the helper
    try:
        scenario = shipped if isinstance(shipped, Scenario) else from_raw(shipped)
        ledger = _ledger(scenario)
        windows = _Windows(scenario, seed, tick_s)
        while not windows.done:
            chunks = windows.next()
            to_driver.send(("window", (windows.drawn_until, chunks)))  # before booking it
            _book(ledger, chunks)
            _take_notes(ledger, from_driver)  # the driver keeps no body waiting
        to_driver.send(("verdict", _verdict(ledger, _await_verdict(ledger, from_driver))))
    except BaseException:  # the driver shows it: the helper's stderr may go nowhere
        with contextlib.suppress(OSError):  # unless the driver is gone already
            to_driver.send(("error", traceback.format_exc()))


def _take_notes(ledger: Ledger, from_driver: Any) -> None:
    """Note the bodies the driver has sent so far, without waiting for more."""
    while True:
        try:
            kind, payload = from_driver.get(block=False)
        except queue.Empty:
            return
        if kind != "notes":
            raise FeedError("the verdict was asked for before the last window was drawn")
        _note(ledger, payload)


def _await_verdict(ledger: Ledger, from_driver: Any) -> Outcome:
    """Note the remaining bodies until the driver asks for the verdict; its ``Outcome``."""
    while True:
        try:
            kind, payload = from_driver.get(timeout=_DRIVER_CHECK_S)
        except queue.Empty:
            # the queue's write end lives on in this process too: a dead driver is no EOF
            driver = multiprocessing.parent_process()
            if driver is not None and not driver.is_alive():
                raise FeedError("the driver is gone") from None
            continue
        if kind != "notes":
            return cast(Outcome, payload)
        _note(ledger, payload)


def _note(ledger: Ledger, notes: list[tuple[bytes | None, int]]) -> None:
    for body, seen in notes:
        ledger.note(body, seen=seen)
