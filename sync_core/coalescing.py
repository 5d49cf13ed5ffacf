"""Coalescing: an add and a remove of one hashed id, both still unsent, reduced to the last.

Rules:
- One ``Coalescer`` per target that has both add and remove steps, inside its ``TargetQueue``
  (a target only added to, or only removed from, has none: its hot path is untouched). It sees
  every record pushed and every record taken out of the queue (cut into a batch, or dropped
  because its deadline is too close); a record taken out is forgotten, so a batch already cut
  is never coalesced into.
- Records are named by their *position*: the count of records pushed to the queue before
  them. Positions never move, so a record is found again without searching the queue.
- "Last" is by entry instant, a tie going to the record pushed later: of an add and a remove
  of one digest, both queued, the one entered earlier is *superseded* and never sent. That is
  the net membership of sending both in entry order, whatever order the steps were fed in.
- Two records of the same operation are left alone (both go out; Pinterest applies them in
  order). The index keeps the later one, which a later opposite record supersedes; the earlier
  one goes out before that record, so the entry-order effect still holds.
- Per record, not per user: a user whose every queued record was superseded is superseded
  (the engine counts them Not Synced, reason ``superseded``); a user with a record left is
  sent with it and synced when it is accepted. If the superseding record then fails (its user
  errors), the superseded one was not sent either: its user's deadline came first anyway.
- Superseded records stay in the queue's buffers, as tombstones, until they are taken out
  (deleting from the middle of a queue of millions would copy it each time); ``take`` filters
  them, ``live_counts`` counts around them.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from sync_core.identity import DIGEST_SIZE

__all__ = ["Coalescer"]

# per queued digest: (its position, user, operation, user's first position, user's records)
_Entry = tuple[int, int, str, int, int]


class Coalescer:
    """The unsent records of one target, indexed by digest; the superseded ones."""

    __slots__ = ("_latest", "dead")

    def __init__(self) -> None:
        self._latest: dict[bytes, _Entry] = {}  # the last entered unsent record of each digest
        self.dead: set[int] = set()  # positions of superseded records still queued

    def __len__(self) -> int:
        return len(self._latest)

    def push(
        self,
        operation: str,
        users: Sequence[int],
        nrec: bytes,
        blob: bytes,
        first: int,
        entered_at: Sequence[float],
    ) -> list[int]:
        """Index records just queued (``first``: the position of the first); supersede what
        they meet. Returns the users every queued record of whom is now superseded."""
        latest, dead = self._latest, self.dead
        superseded: list[int] = []
        start = first
        for user, count in zip(users, nrec, strict=True):
            at = entered_at[user]
            for here in range(start, start + count):
                offset = (here - first) * DIGEST_SIZE
                digest = blob[offset : offset + DIGEST_SIZE]
                mine = (here, user, operation, start, count)
                prev = latest.get(digest)
                later = prev is None or at >= entered_at[prev[1]]
                if later:
                    latest[digest] = mine
                if prev is None or prev[2] == operation:
                    continue
                loser = prev if later else mine
                dead.add(loser[0])
                if all(p in dead for p in range(loser[3], loser[3] + loser[4])):
                    superseded.append(loser[1])
            start += count
        return superseded

    def live_counts(self, first: int, nrec: bytes) -> bytes:
        """Per queued user (``nrec`` from position ``first``), their records not superseded."""
        dead = self.dead
        if not dead:
            return nrec
        counts = bytearray(nrec)
        start = first
        for k, count in enumerate(nrec):
            for here in range(start, start + count):
                if here in dead:
                    counts[k] -= 1
            start += count
        return bytes(counts)

    def leading_dead(self, first: int, nrec: bytes) -> int:
        """How many users at the front (``nrec`` from position ``first``) are superseded."""
        dead = self.dead
        if not dead:
            return 0
        start = first
        for k, count in enumerate(nrec):
            if not all(here in dead for here in range(start, start + count)):
                return k
            start += count
        return len(nrec)

    def take(
        self, first: int, users: array[int], nrec: bytes, blob: bytes
    ) -> tuple[array[int], bytes, bytes]:
        """Records leaving the queue (from position ``first``): forgotten here, and returned
        without the superseded ones (a user left with none is left out)."""
        latest, dead = self._latest, self.dead
        gone = 0
        for k in range(len(blob) // DIGEST_SIZE):
            here = first + k
            digest = blob[k * DIGEST_SIZE : (k + 1) * DIGEST_SIZE]
            entry = latest.get(digest)
            if entry is not None and entry[0] == here:
                del latest[digest]
            if here in dead:
                gone += 1
        if not gone:
            return users, nrec, blob
        kept_users, kept_nrec, parts = array("q"), bytearray(), []
        start = first
        for user, count in zip(users, nrec, strict=True):
            live = 0
            for here in range(start, start + count):
                if here in dead:
                    dead.discard(here)
                    continue
                offset = (here - first) * DIGEST_SIZE
                parts.append(blob[offset : offset + DIGEST_SIZE])
                live += 1
            if live:
                kept_users.append(user)
                kept_nrec.append(live)
            start += count
        return kept_users, bytes(kept_nrec), b"".join(parts)
