"""The feed in a helper process on another core: traffic drawn and booked there, running
ahead of the driver, with the same outputs as ``sim.book.feed.InlineFeed``.

Rules:
- The helper process only computes — it draws, books and audits; it never touches the engine or
  the mock. It hands a window over before booking it, so the ledger's hashing overlaps the
  engine's, and runs ahead by at most what the pipe holds, so memory stays bounded.
- Bodies sent are passed on in batches with the count of users handed over when each was sent,
  so the helper judges every body against exactly the users the engine had.
- A failing helper raises ``FeedError`` in the driver with the helper's own message; closing
  the feed always ends the helper, and a helper whose driver is gone ends itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

from sim.book.feed import (
    DueChunks,
    FeedChunk,
    Findings,
    PendingFindings,
    RunEnd,
    Windows,
    book,
    find,
    new_ledger,
)
from sim.book.ledger import Ledger
from sim.scenario import Scenario, from_raw

__all__ = ["FeedError", "HelperFeed", "can_fork"]

_PIPE_BYTES = 1 << 20  # Linux's default cap on a pipe's size
_NOTES_PER_MESSAGE = 256  # bodies sent to the helper at once: a message each costs GIL hand-offs
_DRIVER_CHECK_S = 1.0  # how often a waiting helper makes sure its driver is still there


class FeedError(RuntimeError):
    """The helper process failed or vanished (a harness fault, not a finding)."""


class HelperFeed(DueChunks):
    """Traffic and ledger in a helper process, running ahead of the driver."""

    def __init__(self, scenario: Scenario, seed: int, tick_s: float) -> None:
        super().__init__(scenario.duration_s)
        if can_fork():
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
        self._notes: list[tuple[bytes | None, int]] = []  # not yet sent to the helper
        self._noted = 0

    def draw(self) -> tuple[float, list[FeedChunk]]:
        return cast(tuple[float, list[FeedChunk]], self._receive())

    def sent(self, body: bytes | None) -> int:
        self._notes.append((body, self.handed))
        if len(self._notes) == _NOTES_PER_MESSAGE:
            self._send_notes()
        self._noted += 1
        return self._noted - 1

    def findings(self, end: RunEnd) -> PendingFindings:
        self._send_notes()
        self._to_helper.put(("findings", end))
        return _FromHelper(self)

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


@dataclass(frozen=True, slots=True)
class _FromHelper:
    """Findings the helper is working out: its next message."""

    feed: HelperFeed

    def result(self) -> Findings:
        return cast(Findings, self.feed._receive())


def can_fork() -> bool:
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


# -- the helper process -----------------------------------------------------------------------


class _ToDriver(Protocol):
    """The helper's end of the pipe: all it does is send."""

    def send(self, message: Any) -> None: ...


def _helper_main(
    to_driver: _ToDriver,
    from_driver: Any,
    shipped: Scenario | dict[str, Any],
    seed: int,
    tick_s: float,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it ends the helper
    try:
        scenario = shipped if isinstance(shipped, Scenario) else from_raw(shipped)
        ledger = new_ledger(scenario)
        windows = Windows(scenario, seed, tick_s)
        while not windows.done:
            chunks = windows.next()
            to_driver.send(("window", (windows.drawn_until, chunks)))  # before booking it
            book(ledger, chunks)
            _take_notes(ledger, from_driver)  # the driver keeps no body waiting
        to_driver.send(("findings", find(ledger, _await_run_end(ledger, from_driver))))
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
            raise FeedError("the findings were asked for before the last window was drawn")
        _note(ledger, payload)


def _await_run_end(ledger: Ledger, from_driver: Any) -> RunEnd:
    """Note the remaining bodies until the driver asks for the findings; the run's end."""
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
            return cast(RunEnd, payload)
        _note(ledger, payload)


def _note(ledger: Ledger, notes: list[tuple[bytes | None, int]]) -> None:
    for body, seen in notes:
        ledger.note(body, seen=seen)
