"""Queued users of one customer list, and the batches cut from them.

Rules:
- One ``TargetQueue`` per customer list, fed by every step that writes to that list, in entry
  order. Each queued user carries its 32-byte digests (1 or 2 records) in one shared
  ``bytearray``, so cutting a batch is a slice and ``identity.hex_records`` gives the wire's
  comma-separated ``records`` string without a per-user Python step.
- Operations are run-length encoded: a batch never crosses from ADD to REMOVE, so a user added
  then removed goes out in entry order. The engine further waits for every outstanding batch
  of one operation before cutting a batch of the other.
- A batch's contents are decided when it is cut (when a rate-limit slot is granted): only users
  that entered at or before the last flush tick, at most ``max_records`` records. After that
  its members only ever shrink: users whose deadline a request could outlive are dropped from
  the front (entry order is deadline order) before each send, and a 400 splits it in halves.
- A queue written by both add and remove steps coalesces (``coalescing``): of an add and a
  remove of one digest, both queued, only the later entered is sent. Its tombstones are
  skipped when users are counted for a cut and filtered out of what is taken; a user all of
  whose records were superseded is dropped as soon as they reach the front.
- Release and expiry cuts are bisections on entry instants. When steps sharing a list are fed
  slightly out of order, a cut can be off by that skew (well under ``request_timeout_s``);
  a user is never errored early by it: errors come only from the deadline heap (``users``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from itertools import accumulate

from sync_core.coalescing import Coalescer
from sync_core.identity import DIGEST_SIZE, hex_records

__all__ = ["Batch", "TargetQueue"]

_LOOK_AHEAD = 256  # queued users checked at a time for superseded ones at the front


class Batch:
    """A request's users: ``users`` (entry order), records per user and their digests."""

    __slots__ = ("attempts", "blob", "fresh", "nrec", "operation", "reason", "retry_at", "users")

    def __init__(self, operation: str, users: array[int], nrec: bytes, blob: bytes) -> None:
        self.operation = operation
        self.users = users
        self.nrec = nrec
        self.blob = blob
        self.attempts = 0  # failed sends, drives the backoff
        self.fresh = True  # never answered: members have no attempt recorded yet
        self.retry_at = 0.0
        self.reason = 0

    def __len__(self) -> int:
        return len(self.users)

    def records(self) -> str:
        return hex_records(self.blob)

    def drop_expired(self, entered_at: array[float], entered_before: float) -> None:
        """Forget users that entered at or before ``entered_before`` (deadline too close to
        send them): the first ones, as members are in entry order."""
        count = bisect_right(self.users, entered_before, key=entered_at.__getitem__)
        if count:
            cut = sum(self.nrec[:count]) * DIGEST_SIZE
            self.users = self.users[count:]
            self.nrec = self.nrec[count:]
            self.blob = self.blob[cut:]

    def split(self) -> tuple[Batch, Batch]:
        """Two halves, to isolate bad records after a 400."""
        half = len(self.users) // 2
        cut = sum(self.nrec[:half]) * DIGEST_SIZE
        parts = (
            Batch(self.operation, self.users[:half], self.nrec[:half], self.blob[:cut]),
            Batch(self.operation, self.users[half:], self.nrec[half:], self.blob[cut:]),
        )
        for part in parts:
            part.fresh = False
        return parts


class _Run:
    """A stretch of consecutive queued users sharing one operation."""

    __slots__ = ("count", "operation")

    def __init__(self, operation: str, count: int) -> None:
        self.operation = operation
        self.count = count


class TargetQueue:
    """Users waiting for one customer list, in entry order."""

    __slots__ = ("_blob", "_coalescer", "_nrec", "_runs", "_taken", "_users")

    def __init__(self) -> None:
        self._users = array("q")
        self._nrec = bytearray()
        self._blob = bytearray()
        self._runs: deque[_Run] = deque()  # oldest first
        self._taken = 0  # records ever taken out: the position of the first queued one
        self._coalescer: Coalescer | None = None

    def __len__(self) -> int:
        return len(self._users)

    def coalesce(self) -> None:
        """From now on, coalesce adds and removes of one digest (records queued before are
        left as they are)."""
        if self._coalescer is None:
            self._coalescer = Coalescer()

    def push(
        self,
        operation: str,
        users: array[int],
        nrec: bytes,
        blob: bytes,
        entered_at: Sequence[float] = (),
    ) -> Sequence[int]:
        """Queue users (``entered_at``: every user's entry instant, by index, needed when
        coalescing). Returns the users this superseded entirely (none unless coalescing)."""
        if not users:
            return ()
        first = self._taken + len(self._blob) // DIGEST_SIZE
        self._users.extend(users)
        self._nrec.extend(nrec)
        self._blob.extend(blob)
        if self._runs and self._runs[-1].operation == operation:
            self._runs[-1].count += len(users)
        else:
            self._runs.append(_Run(operation, len(users)))
        if self._coalescer is None:
            return ()
        return self._coalescer.push(operation, users, nrec, blob, first, entered_at)

    def head(self) -> tuple[str, int] | None:
        """The oldest queued user's operation and index, if any (superseded users at the
        front are dropped first: they will never be sent)."""
        coalescer = self._coalescer
        if coalescer is not None and coalescer.dead:
            while count := coalescer.leading_dead(self._taken, bytes(self._nrec[:_LOOK_AHEAD])):
                self._take(count)
        if not self._users:
            return None
        return self._runs[0].operation, self._users[0]

    def drop_expired(self, entered_at: array[float], entered_before: float) -> array[int]:
        """Forget users that entered at or before ``entered_before`` (deadline too close);
        returns them."""
        count = bisect_right(self._users, entered_before, key=entered_at.__getitem__)
        return self._take(count)[0]

    def cut(
        self, entered_at: array[float], released_before: float, max_records: int
    ) -> Batch | None:
        """A batch of the oldest users that entered before ``released_before`` (a flush tick:
        someone entering exactly at a tick waits for the next one): one operation, at most
        ``max_records`` records."""
        if self.head() is None:
            return None
        run = self._runs[0]
        limit = min(run.count, max_records, len(self._users))
        released = bisect_left(self._users, released_before, 0, limit, key=entered_at.__getitem__)
        if not released:
            return None
        counts: bytes | bytearray = self._nrec[:released]
        if self._coalescer is not None:
            counts = self._coalescer.live_counts(self._taken, bytes(counts))
        cumulative = list(accumulate(counts))
        count = bisect_right(cumulative, max_records)
        users, nrec, blob = self._take(count)
        return Batch(run.operation, users, nrec, blob)

    def _take(self, count: int) -> tuple[array[int], bytes, bytes]:
        if not count:
            return array("q"), b"", b""
        users = self._users[:count]
        nrec = bytes(self._nrec[:count])
        size = sum(nrec) * DIGEST_SIZE
        blob = bytes(self._blob[:size])
        del self._users[:count]
        del self._nrec[:count]
        del self._blob[:size]
        self._consume_runs(count)
        first, self._taken = self._taken, self._taken + size // DIGEST_SIZE
        if self._coalescer is not None:
            return self._coalescer.take(first, users, nrec, blob)
        return users, nrec, blob

    def _consume_runs(self, count: int) -> None:
        while count:
            run = self._runs[0]
            if run.count > count:
                run.count -= count
                return
            count -= run.count
            self._runs.popleft()
