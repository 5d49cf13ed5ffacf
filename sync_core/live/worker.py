"""The live worker: one ``SyncEngine`` on the wall clock, fed from the store, over real sockets.

Rules:
- The engine decides everything; the loop only does: read new entries from the store and
  ``enter_many`` them; take ``next_action(now)`` until it is not a ``SendRequest``, handing each
  request to the transport; feed every fate back with ``receive``; sleep until the engine's
  timer, an answer, or the next look at the store.
- Time is ``time.time()`` (entries carry wall-clock instants), floored so it never goes back,
  not even across a restart (the checkpoint's instant is the floor).
- Recovery (see ``store``): start from the last checkpoint (or a fresh engine), then re-enter
  every entry after its ``entered_through``. Checkpoints are taken when something changed, at
  most every ``checkpoint_interval_s`` (in a gap between the engine's sends when there is one,
  ``_checkpoint_due``), and on stop; each is one transaction with the outcomes it settles.
  Given ``open_store``, the loop only copies the engine and a thread writes the copy, one
  checkpoint at a time, in order.
- Tokens: the store's are the truth. After every answer, rotated tokens are saved before the
  next action, with their expiry (the engine refreshes ahead of it); at start and every
  second, tokens changed in the store (a reconnect through ``pinsim live connect``) are
  handed to the engine with ``reconnect``, their stored expiry with them. New steps and
  connections in the store are picked up the same way.
- An entry for a step the store does not know cannot be entered: it is skipped with a warning
  (the intake is expected to refuse such entries; ``Store.steps`` says which exist).
- SIGTERM/SIGINT: stop taking entries and sending, wait for the requests in flight (at most
  the engine's request timeout), checkpoint, exit 0.
- Logs are ``key=value`` lines of counts and ids of steps and connections: never a token, an
  email, a MAID or a user id.

``pinsim live run`` (``sync_core.live.command``) runs it with its intake and metrics; the config
file is ``sync_core.live.config``'s.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sync_core.engine import SyncEngine
from sync_core.errors import LaunchError, UsageError
from sync_core.events import Outcome, SendRequest, WaitUntil
from sync_core.live.config import WorkerSettings
from sync_core.live.store import EntryColumns, Store
from sync_core.live.transport import Transport
from sync_core.metrics import OutcomeColumns, StepCounters, UserOutcome, UserState
from sync_core.model import SyncConfig
from sync_core.preflight import EntryProfile

__all__ = ["Worker", "normalise_api_base"]

log = logging.getLogger(__name__)

_SETUP_POLL_S = 1.0  # how often the store's connections and steps are looked at again
_MAX_SLEEP_S = 1.0
# A deferred checkpoint waits for a gap this many times as long as the last one took.
_CHECKPOINT_ROOM = 1.25
_CHECKPOINT_SHARE = 0.1  # the most of the worker's time checkpoints may take


class Worker:
    """The wall-clock loop around one engine; ``start`` then ``run`` (until ``request_stop``)."""

    def __init__(
        self,
        store: Store,
        api_base: str,
        *,
        sync: SyncConfig | None = None,
        settings: WorkerSettings | None = None,
        seed: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        open_store: Callable[[], Store] | None = None,
        expected: EntryProfile | None = None,
    ) -> None:
        self._store = store
        self._expected = expected  # the steps' expected traffic: the preflight logged at start
        # With a way to open a second store, ``run`` writes checkpoints on a thread of their
        # own: the loop then only pickles the engine, and the write (tens of MB and an fsync
        # at a million users) no longer delays a send.
        self._open_store = open_store
        self._writer: _CheckpointWriter | None = None
        self._on_outcome = on_outcome  # e.g. the metrics' request counters
        # held around every engine call, never while waiting on the network: a metrics scrape
        # reads the engine under it
        self.lock = threading.Lock()
        self._api_base = normalise_api_base(api_base)
        self._sync = sync or SyncConfig()
        self._settings = settings or WorkerSettings()
        self._rng = random.Random(seed)  # backoff jitter only; the driver owns the seed
        self._engine: SyncEngine | None = None
        self._transport: Transport | None = None
        self._floor = -float("inf")
        self._entered_through = 0
        self._outcomes_through = 0
        self._tokens: dict[str, tuple[str, str | None]] = {}  # as last saved or applied
        self._steps: set[str] = set()  # launched in the engine
        self._stopping = False
        self._dirty = False
        self._checkpointed_at = -float("inf")
        self._checkpoint_cost_s = 0.0  # how long the last checkpoint held the loop
        self._setup_at = -float("inf")
        self._wake_at: float | None = None
        self.skipped = 0  # entries for steps the store does not know

    def __repr__(self) -> str:
        return f"Worker(store={self._store!r}, entered_through={self._entered_through})"

    @property
    def step_ids(self) -> frozenset[str]:
        """The steps launched in the engine: the ones entries can be taken for."""
        return frozenset(self._steps)

    @property
    def connection_ids(self) -> tuple[str, ...]:
        """The connections the engine holds."""
        return tuple(self._tokens)

    @property
    def entered_through(self) -> int:
        """The store's sequence number of the last entry the engine took in."""
        return self._entered_through

    @property
    def engine(self) -> SyncEngine:
        if self._engine is None:
            raise UsageError("start() the worker first")
        return self._engine

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Restore the last checkpoint (or make a fresh engine) and apply the store's setup."""
        saved = self._store.last_checkpoint()
        if saved is None:
            self._engine = SyncEngine(self._sync, rng=self._rng)
        else:
            self._engine = SyncEngine.restore(saved.snapshot, self._rng)
            self._entered_through = saved.entered_through
            self._outcomes_through = saved.outcomes_through
            self._floor = saved.taken_at
            # Read once: the step ids come with a copy of every user's columns.
            self._steps = set(self._engine.outcome_columns().step_ids)
        config = self._engine.config
        self._transport = Transport(
            self._api_base, max_in_flight=config.max_in_flight, timeout_s=config.request_timeout_s
        )
        now = self._now()
        self._apply_setup(now)
        self._log_preflight()
        log.info(
            "worker started restored=%s entered_through=%d backlog=%d",
            saved is not None,
            self._entered_through,
            self._store.last_seq() - self._entered_through,
        )

    def _log_preflight(self) -> None:
        """The capacity preflight of the launched steps' expected traffic, one line per
        connection (``TokenPreflight.verdict``: no token in it)."""
        if self._expected is None:
            return
        steps = [step for step in self._store.steps() if step.id in self._steps]
        launched = {step.id for step in steps}
        profile = EntryProfile(
            flows=tuple(row for row in self._expected.flows if row.step in launched),
            blasts=tuple(row for row in self._expected.blasts if row.step in launched),
            round_trip_s=self._expected.round_trip_s,
        )
        for result in self.engine.preflight(steps, profile):
            log.info("%s", result.verdict)

    def request_stop(self) -> None:
        """Stop taking entries and sending; ``run`` returns once in-flight requests are done.
        Safe from a signal handler (it only sets a flag)."""
        self._stopping = True

    def refresh_setup(self) -> None:
        """Look at the store's connections, tokens and steps at the loop's next turn rather than
        at the next once-a-second look (say, right after a reconnect saved new tokens). Safe
        from any thread: it only clears when the last look was (the look itself runs in the
        worker's thread, which owns the store)."""
        with self.lock:
            self._setup_at = -float("inf")

    def run(self) -> None:
        """The loop; returns after ``request_stop`` with a final checkpoint written."""
        transport = self._transport
        if transport is None:
            raise UsageError("start() the worker first")
        stop_deadline: float | None = None
        if self._open_store is not None:
            self._writer = _CheckpointWriter(self._open_store)
        try:
            while True:
                with self.lock:
                    now = self._now()
                    if not self._stopping:
                        self._send_due(now)  # before entering a batch, which takes a while
                        self._take_entries(now)
                        # read afresh: entering a batch can take a tenth of a second, and the
                        # engine plans the next sends from the instant it is told this one left
                        now = self._now()
                        self._send_due(now)
                    elif stop_deadline is None:
                        stop_deadline = now + self._grace_s()
                        log.info("stopping in_flight=%d", transport.in_flight)
                    if self._checkpoint_due(now):
                        self._checkpoint_in_loop(now)
                    sleep_s = self._sleep_s(now)
                if stop_deadline is not None and (transport.in_flight == 0 or now >= stop_deadline):
                    break
                outcomes = transport.collect(sleep_s)
                with self.lock:
                    self._receive(outcomes)
        finally:
            transport.close()
            try:
                with self.lock:
                    self.checkpoint(self._now())
            finally:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        log.info("worker stopped entered_through=%d", self._entered_through)

    def checkpoint(self, now: float) -> None:
        """Snapshot the engine with its entry watermark and newly settled outcomes, and write
        it to the store before returning (after any checkpoint still being written)."""
        if self._writer is not None:
            self._writer.wait()
        self._capture(now).write(self._store)

    def _checkpoint_in_loop(self, now: float) -> None:
        started = time.perf_counter()
        if self._writer is None:
            self.checkpoint(now)
        else:
            self._writer.submit(self._capture(now))
        self._checkpoint_cost_s = time.perf_counter() - started
        log.debug(
            "checkpoint taken users=%d loop_s=%.3f", self._entered_through, self._checkpoint_cost_s
        )

    def _capture(self, now: float) -> _Checkpoint:
        """Everything a checkpoint writes, copied from the engine; the watermarks move on."""
        engine = self.engine
        columns = engine.outcome_columns()  # a copy: rows are built from it off the lock
        frontier = columns.state.find(bytes([UserState.PENDING]), self._outcomes_through)
        if frontier < 0:
            frontier = len(columns.user_ids)
        captured = _Checkpoint(
            snapshot=engine.snapshot(),
            entered_through=self._entered_through,
            taken_at=now,
            counters={step: engine.counters(step) for step in columns.step_ids},
            columns=columns,
            outcomes_from=self._outcomes_through,
            outcomes_through=frontier,
        )
        self._outcomes_through = frontier
        self._checkpointed_at = now
        self._dirty = False
        return captured

    # -- one turn of the loop ----------------------------------------------------------------

    def _now(self) -> float:
        self._floor = max(self._floor, time.time())
        return self._floor

    def _take_entries(self, now: float) -> None:
        if now >= self._setup_at + _SETUP_POLL_S:
            self._apply_setup(now)
        batch = self._store.entries_after(self._entered_through, self._settings.batch_limit)
        if not batch:
            return
        if set(batch.step_ids) - self._steps:
            self._apply_setup(now)  # a step launched since the last look
        self._enter(batch, now)
        self._entered_through = batch.seqs[-1]
        self._dirty = True

    def _enter(self, batch: EntryColumns, now: float) -> None:
        for step_id, group in batch.by_step():
            if step_id not in self._steps:
                self.skipped += len(group)
                log.warning("entries skipped: unknown step step=%s count=%d", step_id, len(group))
                continue
            entered_at = array("d", group.entered_at)
            if max(entered_at) > now:  # the clock stepped back since they were accepted
                entered_at = array("d", [min(at, now) for at in entered_at])
            self.engine.enter_many(
                step_id, group.user_ids, group.emails, group.maids, now, entered_at=entered_at
            )

    def _send_due(self, now: float) -> None:
        engine, transport = self.engine, self._transport
        assert transport is not None
        while isinstance(action := engine.next_action(now), SendRequest):
            transport.submit(action)
        self._wake_at = action.at if isinstance(action, WaitUntil) else None

    def _receive(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        engine, now = self.engine, self._now()
        for outcome in outcomes:
            engine.receive(outcome, now)
            if self._on_outcome is not None:
                self._on_outcome(outcome)
        self._save_rotated_tokens()
        self._dirty = True

    def _checkpoint_due(self, now: float) -> bool:
        """Due an interval after the last one, taken in the first gap before the engine's next
        timer that is long enough for it, and at the latest a second interval later.

        A checkpoint pickles the whole engine under the lock and the GIL (~0.1 s at 800,000
        users), so one that straddles a send instant delays the send, and a saturated token
        loses that time for good; one taken while requests are out stalls the transport's
        threads, and a burst that reaches Pinterest late and bunched draws 429s, which widen
        the pacer's margin for minutes. At a saturated token the sends come in bursts of
        ``requests_per_second`` a second: the gap after a burst's answers is idle, and the
        engine's next timer (``_wake_at``) says how long it is (``benchmarks.live_load``)."""
        interval = self._checkpoint_interval_s()
        if not self._dirty or now < self._checkpointed_at + interval:
            return False
        if self._writer is not None and self._writer.busy:
            return False  # one write at a time, in order: the outcome rows follow each other
        quiet = self._transport is None or self._transport.in_flight == 0
        room_s = float("inf") if self._wake_at is None else self._wake_at - now
        fits = quiet and room_s >= self._checkpoint_cost() * _CHECKPOINT_ROOM
        return fits or now >= self._checkpointed_at + 2 * interval

    def _checkpoint_cost(self) -> float:
        """What the last checkpoint cost: the loop's copy, and the writer's work (building
        rows, the commit), which contends for the GIL too."""
        return self._checkpoint_cost_s + (0.0 if self._writer is None else self._writer.write_s)

    def _checkpoint_interval_s(self) -> float:
        """The configured interval, stretched so checkpoints take at most ``_CHECKPOINT_SHARE``
        of the worker's time: a snapshot grows with the users entered (0.1 s and 30 MB at
        800,000), and taken every second it starved the sends. Longer apart, a crash replays
        more entries (their adds are re-sent: idempotent), and loses or double-counts none."""
        stretched = self._checkpoint_cost() / _CHECKPOINT_SHARE
        return max(self._settings.checkpoint_interval_s, stretched)

    def _sleep_s(self, now: float) -> float:
        wakes = [now + min(self._settings.poll_interval_s, _MAX_SLEEP_S)]
        if self._wake_at is not None:
            wakes.append(self._wake_at)
        if self._dirty:
            # once due and deferred for want of a gap, only its latest instant wakes the loop
            interval = self._checkpoint_interval_s()
            due_at = self._checkpointed_at + interval
            wakes.append(due_at if now < due_at else due_at + interval)
        return max(0.0, min(wakes) - now)

    def _grace_s(self) -> float:
        grace = self._settings.stop_grace_s
        return self.engine.config.request_timeout_s if grace is None else grace

    # -- tokens, connections and steps -------------------------------------------------------

    def _save_rotated_tokens(self) -> None:
        for connection_id, known in self._tokens.items():
            current = self.engine.connection_tokens(connection_id)
            if current != known:
                expires_at = self.engine.connection_expires_at(connection_id)
                self._store.save_tokens(connection_id, *current, expires_at=expires_at)
                self._tokens[connection_id] = current
                log.info("tokens rotated and saved connection=%s", connection_id)

    def _apply_setup(self, now: float) -> None:
        """Connections, tokens and steps from the store into the engine (the store wins)."""
        engine = self.engine
        self._setup_at = now
        for connection in self._store.connections():
            stored = (connection.access_token, connection.refresh_token)
            try:
                current = engine.connection_tokens(connection.id)
            except UsageError:
                engine.connect(connection, now)
                log.info("connection added connection=%s", connection.id)
            else:
                if stored != current and stored != self._tokens.get(connection.id):
                    engine.reconnect(
                        connection.id,
                        access_token=stored[0],
                        refresh_token=stored[1],
                        expires_at=connection.expires_at,
                        now=now,
                    )
                    log.info("connection reconnected connection=%s", connection.id)
            self._tokens[connection.id] = engine.connection_tokens(connection.id)
        for step in self._store.steps():
            if step.id in self._steps:
                continue
            try:
                engine.launch([step], now)
            except LaunchError as error:  # its message names the step and what is missing
                log.warning("step not launched step=%s reason=%s", step.id, error)
            else:
                self._steps.add(step.id)
                log.info("step launched step=%s", step.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checkpoint:
    """A checkpoint taken but not yet written: the outcome rows are built by ``write``."""

    snapshot: bytes
    entered_through: int
    taken_at: float
    counters: Mapping[str, StepCounters]
    columns: OutcomeColumns
    outcomes_from: int
    outcomes_through: int

    def write(self, store: Store) -> None:
        store.checkpoint(
            self.snapshot,
            self.entered_through,
            taken_at=self.taken_at,
            counters=self.counters,
            outcomes=_outcome_rows(self.columns, self.outcomes_from, self.outcomes_through),
            outcomes_through=self.outcomes_through,
        )


class _CheckpointWriter:
    """Writes checkpoints one at a time, in order, on its own thread and its own store (a
    SQLite connection stays in the thread that opened it). A failed write is raised in the
    loop at the next ``submit`` or ``wait``: the worker stops rather than run on unsaved."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._queue: queue.SimpleQueue[_Checkpoint | None] = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._error: BaseException | None = None
        self.write_s = 0.0  # how long the last write took
        self._thread = threading.Thread(target=self._run, name="checkpoint-writer", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def submit(self, checkpoint: _Checkpoint) -> None:
        self.wait()
        self._idle.clear()
        self._queue.put(checkpoint)

    def wait(self) -> None:
        """Until the checkpoint being written, if any, is in the store."""
        self._idle.wait()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        store = self._open_store()
        try:
            while (checkpoint := self._queue.get()) is not None:
                started = time.perf_counter()
                try:
                    checkpoint.write(store)
                    self.write_s = time.perf_counter() - started
                except BaseException as error:  # handed to the loop's thread
                    self._error = error
                finally:
                    self._idle.set()
        finally:
            store.close()


def _outcome_rows(columns: OutcomeColumns, first: int, end: int) -> list[tuple[int, UserOutcome]]:
    """Rows ``[first, end)`` of the engine's columns as (position, ``UserOutcome``)."""
    if end <= first:
        return []
    step = memoryview(columns.step).cast("H")
    entered_at = memoryview(columns.entered_at).cast("d")
    outcome_at = memoryview(columns.outcome_at).cast("d")
    attempts = memoryview(columns.attempts).cast("H")
    last_status = memoryview(columns.last_status).cast("h")
    rows = []
    for i in range(first, end):
        state = columns.state[i]
        rows.append(
            (
                i,
                UserOutcome(
                    user_id=columns.user_ids[i],
                    step_id=columns.step_ids[step[i]],
                    entered_at=entered_at[i],
                    outcome=columns.state_labels[state],
                    outcome_at=None if state == UserState.PENDING else outcome_at[i],
                    attempts=attempts[i],
                    last_status=last_status[i] or None,
                    reason=columns.reason_labels[columns.reason[i]]
                    if state in (UserState.ERRORED, UserState.NOT_SYNCED)
                    else None,
                ),
            )
        )
    return rows


def normalise_api_base(api_base: str) -> str:
    """The origin the engine's ``/v5/…`` paths go under: ``https://api.pinterest.com`` (a
    trailing ``/`` or ``/v5`` is dropped, so the mock banner's URL works as given)."""
    base = api_base.rstrip("/")
    return base.removesuffix("/v5")
