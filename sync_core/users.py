"""Every entered user's state, kept in columns (one array per field, indexed by user).

Rules:
- A user is an index into the columns, given in arrival order. Deadlines (entry + retry
  window) follow entry instants, which a driver may report slightly out of order across calls
  (one step's tick fed after another's). So users are kept in *runs*: index ranges whose entry
  instants never decrease; a heap keyed by each run's oldest pending entry gives the next
  deadline, and ``bytearray.find`` skips the settled users of a run. A call in order extends
  the last run, so the usual case is one run.
- Compact on purpose (~30 bytes per user and their id's bytes, ids packed in ``UserIds``): the
  engine holds millions.
- Hashed identifiers do not live here but in the queue or batch that will send them.
- Every write to the columns is a method here; the ones on the hot path (``add``,
  ``mark_synced``) work on whole slices when they can, not a Python step per user.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterator, Sequence

from sync_core.metrics import OutcomeColumns, StepTally, UserOutcome, UserState
from sync_core.outcomes import NO_STATUS, Reason
from sync_core.user_ids import UserIds

__all__ = ["UserTable"]

_PENDING = bytes([UserState.PENDING])
_PENDING_STATE, _SYNCED_STATE = int(UserState.PENDING), int(UserState.SYNCED)  # plain ints: fast
# a user's state from their number of usable records: none is not synced, else pending
_STATE_OF_RECORDS = bytes([UserState.NOT_SYNCED]) + bytes(255)
# the outcomes whose reason is told: why they errored, or why records they had were not sent
_WITH_REASON = frozenset({UserState.ERRORED, UserState.NOT_SYNCED})


class UserTable:
    __slots__ = (
        "_heap",
        "_runs",
        "_tail",
        "attempts",
        "entered_at",
        "ids",
        "last_status",
        "outcome_at",
        "reason",
        "state",
        "step",
    )

    def __init__(self) -> None:
        self.ids = UserIds()
        self.step = array("H")
        self.entered_at = array("d")
        self.state = bytearray()
        self.outcome_at = array("d")
        self.attempts = array("H")
        self.last_status = array("h")  # 0: no answer yet (or only transport failures)
        self.reason = bytearray()
        self._runs: list[list[int]] = []  # [first unchecked index, end) per run
        self._heap: list[tuple[float, int]] = []  # (entry instant of the run's head, run)
        self._tail = -1  # the run the next in-order arrivals extend, if it is still live

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self, ids: list[str], step: int, entered_at: array[float], now: float, records: bytes
    ) -> array[int]:
        """Append users entering ``step`` (in ``entered_at`` order), recorded at ``now``;
        ``records`` counts each one's usable records: with none they are not synced, else
        pending. Returns the pending ones' indices."""
        first = len(self.ids)
        n = len(ids)
        if b"\x00" not in records:  # the usual case: everyone has a record
            states = bytearray(n)
            pending = array("q", range(first, first + n))
        else:
            states = bytearray(records.translate(_STATE_OF_RECORDS))
            pending = array("q", [first + k for k, state in enumerate(states) if not state])
        self.ids.extend(ids)
        self.step.extend(array("H", [step]) * n)
        self.entered_at.extend(entered_at)
        self.state.extend(states)
        self.outcome_at.extend(array("d", [now]) * n)
        self.attempts.extend(array("H", [0]) * n)
        self.last_status.extend(array("h", [NO_STATUS]) * n)
        self.reason.extend(bytes(n))
        if n:
            self._add_run(first, first + n)
        return pending

    def first_pending(self) -> int:
        """Index of the pending user who entered first (so the earliest deadline), or -1."""
        heap, runs, state = self._heap, self._runs, self.state
        while heap:
            run_id = heap[0][1]
            run = runs[run_id]
            found = state.find(_PENDING, run[0], run[1])
            if found < 0:
                heapq.heappop(heap)
                if run_id == self._tail:
                    self._tail = -1
                continue
            if found != run[0]:  # the head settled: re-key the run by its new head
                run[0] = found
                heapq.heapreplace(heap, (self.entered_at[found], run_id))
                continue
            return found
        return -1

    def _add_run(self, first: int, end: int) -> None:
        tail = self._runs[self._tail] if self._tail >= 0 else None
        if (
            tail is not None
            and tail[1] == first
            and self.entered_at[first - 1] <= self.entered_at[first]
        ):
            tail[1] = end
            return
        self._tail = len(self._runs)
        self._runs.append([first, end])
        heapq.heappush(self._heap, (self.entered_at[first], self._tail))

    def resolve(self, index: int, state: UserState, now: float, tally: StepTally) -> None:
        """Settle one pending user (a no-op if it already has an outcome)."""
        if self.state[index] != UserState.PENDING:
            return
        self.state[index] = state
        self.outcome_at[index] = now
        if state is UserState.SYNCED:
            tally.synced += 1
        else:
            tally.errored += 1

    def expire(self, index: int, reason: Reason, deadline_at: float, tally: StepTally) -> None:
        """A pending user's deadline passed: errored at ``deadline_at`` for ``reason``."""
        self.reason[index] = reason
        self.resolve(index, UserState.ERRORED, deadline_at, tally)

    def supersede(self, members: Sequence[int], now: float, tallies: Sequence[StepTally]) -> None:
        """Users whose every record a later entry of the same ids superseded (``coalescing``):
        Not Synced at ``now``, reason ``superseded`` (``tallies``: per step code)."""
        state, step_of = self.state, self.step
        for index in members:
            if state[index] != _PENDING_STATE:
                continue
            state[index] = UserState.NOT_SYNCED
            self.reason[index] = Reason.SUPERSEDED
            self.outcome_at[index] = now
            tallies[step_of[index]].not_synced += 1

    def note_reason(self, index: int, reason: Reason) -> None:
        """Why a user will error (known before their deadline, while it is true)."""
        self.reason[index] = reason

    def note_attempts(self, members: Sequence[int], status: int, reason: Reason) -> None:
        """A request carrying ``members`` was answered ``status`` without syncing them;
        ``reason`` (unless NONE) is why they would error if it stays the last word."""
        attempts, last_status = self.attempts, self.last_status
        for index in members:
            attempts[index] = min(attempts[index] + 1, 0xFFFF)
            last_status[index] = status
        if reason is not Reason.NONE:
            for index in members:
                self.reason[index] = reason

    def mark_synced(
        self,
        members: array[int],
        fresh: bool,
        status: int,
        now: float,
        tallies: Sequence[StepTally],
    ) -> None:
        """A request carrying ``members`` (in entry order) was accepted with ``status``: each
        counts an attempt, the pending ones are synced (``tallies``: per step code). ``fresh``:
        no member has an attempt recorded yet."""
        first, count = members[0], len(members)
        state = self.state
        contiguous = members[-1] - first + 1 == count
        if fresh and contiguous and state.count(_PENDING_STATE, first, first + count) == count:
            # The common case (a first answer to a block of users who entered together) is
            # done with slice assignments instead of a Python step per user.
            end = first + count
            state[first:end] = bytes([UserState.SYNCED]) * count
            self.outcome_at[first:end] = array("d", [now]) * count
            self.attempts[first:end] = array("H", [1]) * count
            self.last_status[first:end] = array("h", [status]) * count
            self._count_synced(first, end, tallies)
            return
        # ``note_attempts`` then ``resolve`` per member, inlined: a retried or gappy batch
        attempts, last_status, outcome_at, step_of = (
            self.attempts,
            self.last_status,
            self.outcome_at,
            self.step,
        )
        synced = [0] * len(tallies)
        for index in members:
            tries = attempts[index]
            if tries < 0xFFFF:
                attempts[index] = tries + 1
            last_status[index] = status
            if state[index] == _PENDING_STATE:
                state[index] = _SYNCED_STATE
                outcome_at[index] = now
                synced[step_of[index]] += 1
        for tally, count_synced in zip(tallies, synced, strict=True):
            tally.synced += count_synced

    def _count_synced(self, first: int, end: int, tallies: Sequence[StepTally]) -> None:
        block = self.step[first:end]
        if block.count(block[0]) == len(block):
            tallies[block[0]].synced += len(block)
            return
        for step_code in block:
            tallies[step_code].synced += 1

    def outcome(self, index: int, step_id: str) -> UserOutcome:
        state = UserState(self.state[index])
        status = self.last_status[index]
        reason = Reason(self.reason[index])
        return UserOutcome(
            user_id=self.ids[index],
            step_id=step_id,
            entered_at=self.entered_at[index],
            outcome=state.label,
            outcome_at=None if state is UserState.PENDING else self.outcome_at[index],
            attempts=self.attempts[index],
            last_status=status or None,
            reason=reason.label if state in _WITH_REASON else None,
        )

    def indices(self) -> Iterator[int]:
        return iter(range(len(self.ids)))

    def columns(self, step_ids: tuple[str, ...]) -> OutcomeColumns:
        """Every user's outcome as columns (see ``OutcomeColumns``)."""
        return OutcomeColumns(
            user_ids=self.ids.copy(),
            step_ids=step_ids,
            step=self.step.tobytes(),
            entered_at=self.entered_at.tobytes(),
            state=bytes(self.state),
            outcome_at=self.outcome_at.tobytes(),
            attempts=self.attempts.tobytes(),
            last_status=self.last_status.tobytes(),
            reason=bytes(self.reason),
            state_labels=tuple(state.label for state in UserState),
            reason_labels=tuple(reason.label for reason in Reason),
        )
