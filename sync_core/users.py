"""Every entered user's state, kept in columns (one array per field, indexed by user).

Rules:
- A user is an index into the columns, given in arrival order. Deadlines (entry + retry
  window) follow entry instants, which a driver may report slightly out of order across calls
  (one step's tick fed after another's). So users are kept in *runs*: index ranges whose entry
  instants never decrease; a heap keyed by each run's oldest pending entry gives the next
  deadline, and ``bytearray.find`` skips the settled users of a run. A call in order extends
  the last run, so the usual case is one run.
- Compact on purpose (~100 bytes per user besides the id string): the engine holds millions.
- Hashed identifiers do not live here but in the queue or batch that will send them.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterator

from sync_core.metrics import OutcomeColumns, StepTally, UserOutcome, UserState
from sync_core.outcomes import Reason

__all__ = ["UserTable"]

_PENDING = bytes([UserState.PENDING])


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
        self.ids: list[str] = []
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
        self, ids: list[str], step: int, entered_at: array[float], now: float, states: bytearray
    ) -> int:
        """Append users entering ``step`` (in ``entered_at`` order), recorded at ``now``;
        returns the first new index."""
        first = len(self.ids)
        n = len(ids)
        self.ids.extend(ids)
        self.step.extend(array("H", [step]) * n)
        self.entered_at.extend(entered_at)
        self.state.extend(states)
        self.outcome_at.extend(array("d", [now]) * n)
        self.attempts.extend(array("H", [0]) * n)
        self.last_status.extend(array("h", [0]) * n)
        self.reason.extend(bytes(n))
        if n:
            self._add_run(first, first + n)
        return first

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

    def note_attempt(self, index: int, status: int, reason: Reason) -> None:
        self.attempts[index] = min(self.attempts[index] + 1, 0xFFFF)
        self.last_status[index] = status
        if reason is not Reason.NONE:
            self.reason[index] = reason

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
            reason=reason.label if state is UserState.ERRORED else None,
        )

    def indices(self) -> Iterator[int]:
        return iter(range(len(self.ids)))

    def columns(self, step_ids: tuple[str, ...]) -> OutcomeColumns:
        """Every user's outcome as columns (see ``OutcomeColumns``)."""
        return OutcomeColumns(
            user_ids=list(self.ids),
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
