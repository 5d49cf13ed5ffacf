"""Step analytics and per-user outcome records, in Braze's names.

Rules:
- Seven counters per step: ``entered proceeded synced not_synced pending errored exited``.
  ``pending`` is derived, so ``entered == synced + not_synced + pending + errored`` holds by
  construction at every instant.
- Counters change only when the fact happens: entered/proceeded/exited at entry, synced when
  the 2xx arrives, errored at the deadline (or when a lone record is rejected).
- Not Synced counts users with no usable match field (at entry) and users *superseded* (when
  a later entry of the same hashed ids into an opposite step of the same audience, still
  unsent with them, took their place: ``coalescing``); their reason tells which.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sync_core.user_ids import UserIds

__all__ = ["OutcomeColumns", "StepCounters", "StepTally", "UserOutcome", "UserState"]


class UserState(enum.IntEnum):
    """A user's outcome; one byte per user in the engine's columns."""

    PENDING = 0
    SYNCED = 1
    NOT_SYNCED = 2
    ERRORED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCounters:
    entered: int
    proceeded: int
    synced: int
    not_synced: int
    pending: int
    errored: int
    exited: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UserOutcome:
    user_id: str
    step_id: str
    entered_at: float
    outcome: str
    outcome_at: float | None
    attempts: int
    last_status: int | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeColumns:
    """Every user's ``UserOutcome`` as columns, for drivers that hold millions of users.

    Row ``i`` is the ``i``-th user entered. Codes index the label tuples: ``step`` into
    ``step_ids``, ``state`` into ``state_labels``, ``reason`` into ``reason_labels`` (None for
    no reason; it is told for errored and not-synced users: a not-synced user has none, for
    no usable field, or ``superseded``). ``outcome_at`` is meaningless while pending;
    ``last_status`` is 0 before any answer. The arrays are copies: the engine goes on.
    """

    user_ids: UserIds  # packed: ``user_ids[i]``, or its ``text`` and ``ends`` buffers
    step_ids: tuple[str, ...]
    step: bytes  # little-endian uint16 codes
    entered_at: bytes  # float64
    state: bytes  # uint8 UserState
    outcome_at: bytes  # float64
    attempts: bytes  # uint16
    last_status: bytes  # int16
    reason: bytes  # uint8 Reason
    state_labels: tuple[str, ...]
    reason_labels: tuple[str | None, ...]


class StepTally:
    """The mutable counts behind one step's ``StepCounters``."""

    __slots__ = ("entered", "errored", "last_step", "not_synced", "synced")

    def __init__(self, *, last_step: bool) -> None:
        self.last_step = last_step
        self.entered = 0
        self.synced = 0
        self.not_synced = 0
        self.errored = 0

    def freeze(self) -> StepCounters:
        moved_on = self.entered  # users proceed (or exit, on a last step) at entry
        return StepCounters(
            entered=self.entered,
            proceeded=0 if self.last_step else moved_on,
            synced=self.synced,
            not_synced=self.not_synced,
            pending=self.entered - self.synced - self.not_synced - self.errored,
            errored=self.errored,
            exited=moved_on if self.last_step else 0,
        )
