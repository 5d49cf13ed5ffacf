"""Every entered user's state, kept in columns (one array per field, indexed by user).

Rules:
- A user is an index into the columns; indices are given in entry order, and since time never
  runs backwards, deadlines (entry + retry window) are in index order too. That makes
  "the next deadline" the first pending index, found with ``bytearray.find``.
- Compact on purpose (~100 bytes per user besides the id string): the engine holds millions.
- Hashed identifiers do not live here but in the queue or batch that will send them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from sync_core.metrics import StepTally, UserOutcome, UserState
from sync_core.outcomes import Reason

__all__ = ["UserTable"]

_PENDING = bytes([UserState.PENDING])


class UserTable:
    __slots__ = (
        "_cursor",
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
        self._cursor = 0

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
        return first

    def first_pending(self) -> int:
        """Index of the oldest pending user (so the earliest deadline), or -1."""
        found = self.state.find(_PENDING, self._cursor)
        self._cursor = len(self.state) if found < 0 else found
        return found

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
