"""The simulation's own book of who entered: the independent truth the checks compare against.

Rules:
- Identifiers are hashed by ``sim.book.hashing`` (the simulation's own reading of the
  identity rules, never ``sync_core``'s), a whole column at a time.
- Per request body the ledger says what the journal cannot: the earliest deadline among the
  users the body carries (``entered_at + retry window``), the latest entry instant among them,
  and whether any record is not a SHA-256 digest (raw PII on the wire). When a hashed id
  belongs to several users (a replayed user, a shared email) the ledger takes the reading that
  cannot flag a legitimate send: the latest deadline and the earliest entry — among the users
  entered when the body was sent.
- A user is their row in their step's book: the k-th user booked for a step is the k-th the
  engine was given for it (the feed books in the order it hands users over), so no user id
  is kept. After the run the ledger is told the step and row of each user the engine counted
  synced (and superseded), and says which hashed ids each audience should hold: an audience
  only added to holds what it held and every synced entry's ids; one with a remove step holds,
  per hashed id, what the *last* synced entry of it did, last by the book's own entry instants
  (ties: booking order), never by the engine's completion times. Coalescing (an add and a
  remove of one id, both unsent, reduced to the later entered) sends only the later, so a
  superseded entry is never what the list shows — unless it is the id's last entry of all: a
  correct engine never supersedes that one (nothing later took its place), so then its own
  operation is expected, and an engine that kept the wrong one of the pair fails the members
  check. If the entry that took a superseded one's place then failed (errored, still
  pending), neither reached Pinterest: the last synced entry still decides.
- Millions of users: ``enter`` only books instants and ranks and queues the raw values;
  every ``_BATCH`` users of a step (and before anything is read) a field's queued values are
  hashed as one column, and digests are kept as 32-byte columns. A user's verdicts hang on
  the rank ``enter`` gave it, never on when it was hashed. Bodies noted with ``note`` are
  audited in bulk when ``audits`` is read: every carried digest looked up at once in one
  index of the bookings (``_Index``), each body against the users entered before it was noted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.book.digests import DigestSet, Records, parse_records
from sim.book.hashing import hash_column

__all__ = ["Audits", "BodyAudit", "Ledger"]

# users a step queues before hashing them: a few hundred lines of text stay in the CPU cache;
# 8192 at a time hashed 1.5-2x slower per value
_BATCH = 1 << 9

_DIGEST = 32

Floats = npt.NDArray[np.float64]
_Digests = tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bool_]]  # S32 digests, usable mask


@dataclass(frozen=True, slots=True)
class BodyAudit:
    """What one request body carried, by the ledger's book."""

    records: int
    min_deadline_at: float  # NaN when the body carries no known user
    max_entered_at: float  # NaN when the body carries no known user
    raw_pii: bool


@dataclass(frozen=True, slots=True)
class Audits:
    """``BodyAudit`` of every noted body, as columns in note order."""

    records: npt.NDArray[np.int64]
    min_deadline_at: Floats
    max_entered_at: Floats
    raw_pii: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Synced:
    """Users the engine counted synced, in the order their syncs completed: each one's step
    (a code into ``steps``) and row in it (the k-th user booked for that step)."""

    steps: tuple[str, ...]
    step: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]


@dataclass(slots=True)
class _Column:
    """One match field of one step: per entered user (in the ledger's order), the digest."""

    chunks: list[tuple[bytes, npt.NDArray[np.bool_]]] = field(default_factory=list)
    waiting: list[str | None] = field(default_factory=list)  # raw values not hashed yet

    def digests(self) -> _Digests:
        """Digests as ``S32`` (zero where unusable) and the usable mask, row by row."""
        usable = np.concatenate([mask for _, mask in self.chunks]) if self.chunks else None
        if usable is None:
            return np.zeros(0, dtype="S32"), np.zeros(0, dtype=bool)
        out = np.zeros(len(usable), dtype="S32")
        out[usable] = np.frombuffer(b"".join(blob for blob, _ in self.chunks), dtype="S32")
        return out, usable


@dataclass(slots=True)
class _StepBook:
    fields: tuple[str, ...]
    booked: int = 0  # users booked in this step (its rows 0 … booked - 1)
    columns: dict[str, _Column] = field(default_factory=dict)
    # users whose values wait to be hashed: per ``enter`` call, its first rank and instants
    waiting: list[tuple[int, Floats]] = field(default_factory=list)
    waiting_users: int = 0
    # per hashed batch, its users' entry instants and booking ranks (the bookings' own arrays)
    instants: list[Floats] = field(default_factory=list)
    ranks: list[npt.NDArray[np.int64]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Body:
    """A noted body: its records, and how many users the ledger had booked when noted."""

    records: Records
    seen: int


_LOOK_UP_BLOCK = 1 << 18  # items looked up at once


class _Index:
    """Every booked digest with the entry instant and booking rank of each booking.

    Bookings in groups that share their digest's first 8 bytes (as an integer), found through
    one hash table of those prefixes; within a group the full 32 bytes tell digests apart.
    When no two bookings share a prefix (the shipped heavy scenarios) each booking is its own
    group and stays in place (sorting anyway cost 1.6x there); a digest booked twice (a
    replayed user, a shared email), or two distinct digests sharing a prefix, sort the
    bookings by prefix so that each group lies side by side. One look-up for all three;
    ``benchmarks.book`` measures it against a unique-only hash table and sorted searches.
    """

    def __init__(self, keys: npt.NDArray[np.bytes_], rank: npt.NDArray[np.int64], at: Floats):
        prefix = _prefix(keys)
        self.table = pd.Index(prefix, copy=False)
        # where each group's bookings start, and how many: None while every booking is a group
        # of its own (millions of ones and a counting range are worth not keeping)
        self.first: npt.NDArray[np.int64] | None = None
        self.count: npt.NDArray[np.int64] | None = None
        if not self.table.is_unique:
            order = np.argsort(prefix)
            prefix, keys, rank, at = prefix[order], keys[order], rank[order], at[order]
            first = np.flatnonzero(np.r_[True, prefix[1:] != prefix[:-1]])
            self.table = pd.Index(prefix[first], copy=False)
            self.first, self.count = first, np.diff(np.r_[first, len(keys)])
        self.keys, self.rank, self.at = keys, rank, at

    def look_up(
        self, items: npt.NDArray[np.bytes_], seen: npt.NDArray[np.int64]
    ) -> tuple[Floats, Floats]:
        """Per item: the latest and the earliest entry among users booked under that digest
        before ``seen`` users were booked (NaN for both when there were none)."""
        latest = np.full(len(items), math.nan)
        earliest = np.full(len(items), math.nan)
        if not len(self.keys):
            return latest, earliest
        # a block at a time: the pairs below copy each item's digest twice, which for a whole
        # run's bodies at once would cost hundreds of MiB more than the book itself
        for lo in range(0, len(items), _LOOK_UP_BLOCK):
            hi = lo + _LOOK_UP_BLOCK
            latest[lo:hi], earliest[lo:hi] = self._look_up_block(items[lo:hi], seen[lo:hi])
        return latest, earliest

    def _look_up_block(
        self, items: npt.NDArray[np.bytes_], seen: npt.NDArray[np.int64]
    ) -> tuple[Floats, Floats]:
        latest = np.full(len(items), math.nan)
        earliest = np.full(len(items), math.nan)
        group = self.table.get_indexer(pd.Index(_prefix(items), copy=False))
        found = group >= 0
        count = (
            found.astype(np.int64) if self.count is None else np.where(found, self.count[group], 0)
        )
        first = group if self.first is None else self.first[group]
        # one pair per item and booking in its group, an item's pairs side by side
        start = np.cumsum(count) - count
        item = np.repeat(np.arange(len(items)), count)
        booking = np.repeat(first - start, count) + np.arange(len(item))
        known = (self.keys[booking] == items[item]) & (self.rank[booking] < seen[item])
        entered = np.where(known, self.at[booking], math.nan)
        carried = np.flatnonzero(count)
        if len(carried):
            latest[carried] = np.fmax.reduceat(entered, start[carried])
            earliest[carried] = np.fmin.reduceat(entered, start[carried])
        return latest, earliest


class Ledger:
    """Every entered user's hashed ids and entry instant, kept by the simulation itself."""

    def __init__(self, retry_window_s: float, match_fields: Mapping[str, Sequence[str]]) -> None:
        self._window = retry_window_s
        self._steps = {
            step: _StepBook(tuple(fields), columns={name: _Column() for name in fields})
            for step, fields in match_fields.items()
        }
        # per hashed batch and field: (usable mask, digests, ranks and instants of its users)
        self._bookings: list[tuple[npt.NDArray[np.bool_], bytes, npt.NDArray[np.int64], Floats]]
        self._bookings = []
        self._booked = 0  # users booked so far (their ranks are 0 … _booked - 1)
        self._bodies: list[_Body] = []
        self._index: _Index | None = None
        self._columns: dict[str, object] = {}  # per step, derived columns, until the next enter

    def enter(
        self,
        step: str,
        emails: Sequence[str | None],
        maids: Sequence[str | None],
        entered_at: npt.NDArray[np.float64],
    ) -> None:
        """Book users entering ``step`` (their ranks follow the last booked); their values are
        hashed later, in whole columns. No user id is kept: a user is their row."""
        columns = {"email": emails, "maid": maids}
        book = self._steps[step]
        count = len(entered_at)
        for name in book.fields:
            book.columns[name].waiting.extend(columns[name])
        book.waiting.append((self._booked, np.asarray(entered_at, dtype=np.float64)))
        book.waiting_users += count
        book.booked += count
        self._booked += count
        if book.waiting_users >= _BATCH:
            self._hash_waiting(book)
        self._index = None
        self._columns = {}

    def _hash_waiting(self, book: _StepBook) -> None:
        """Hash a step's waiting users: one whole-column call per field."""
        if not book.waiting:
            return
        sizes = np.array([len(at) for _, at in book.waiting], dtype=np.int64)
        instants = _concat([at for _, at in book.waiting], np.float64)
        # rank = its call's first rank + the row's position in the call
        offset = np.array([first for first, _ in book.waiting], dtype=np.int64)
        offset -= np.cumsum(sizes) - sizes
        ranks = np.repeat(offset, sizes) + np.arange(len(instants), dtype=np.int64)
        book.instants.append(instants)
        book.ranks.append(ranks)
        for name in book.fields:
            column = book.columns[name]
            blob, usable = hash_column(name, column.waiting)
            column.waiting = []
            column.chunks.append((blob, usable))
            self._bookings.append((usable, blob, ranks, instants))
        book.waiting = []
        book.waiting_users = 0

    # -- bodies ------------------------------------------------------------------------------

    def note(self, body: bytes | None, *, seen: int | None = None) -> int:
        """Keep a request body for ``audits``, against the first ``seen`` users booked (by
        default, all booked so far: a ledger that books ahead of the feed says how many the
        engine had been given); its number."""
        self._bodies.append(_Body(parse_records(body), self._booked if seen is None else seen))
        return len(self._bodies) - 1

    def audit(self, body: bytes | None) -> BodyAudit:
        """Deadline and PII verdict for a request body (only customer-list writes carry ids)."""
        records = parse_records(body)
        audits = self._audit_bodies([_Body(records, self._booked)])
        return BodyAudit(
            records=records.count,
            min_deadline_at=float(audits.min_deadline_at[0]),
            max_entered_at=float(audits.max_entered_at[0]),
            raw_pii=records.raw_pii,
        )

    def audits(self) -> Audits:
        """The audit of every body given to ``note``, in order, each against the users entered
        before it was noted (later bookings never count for it)."""
        return self._audit_bodies(self._bodies)

    def _audit_bodies(self, bodies: Sequence[_Body]) -> Audits:
        sizes = np.array([len(b.records.digests) // _DIGEST for b in bodies], dtype=np.int64)
        items = np.frombuffer(b"".join(b.records.digests for b in bodies), dtype="S32")
        seen = np.repeat(np.array([b.seen for b in bodies], dtype=np.int64), sizes)
        latest, earliest = self._index_bookings().look_up(items, seen)
        deadline = latest + self._window
        lowest = np.full(len(bodies), math.nan)
        highest = np.full(len(bodies), math.nan)
        carrying = np.flatnonzero(sizes)
        if len(carrying):
            starts = (np.cumsum(sizes) - sizes)[carrying]
            lowest[carrying] = np.fmin.reduceat(deadline, starts)
            highest[carrying] = np.fmax.reduceat(earliest, starts)
        return Audits(
            records=np.array([b.records.count for b in bodies], dtype=np.int64),
            min_deadline_at=lowest,
            max_entered_at=highest,
            raw_pii=np.array([b.records.raw_pii for b in bodies], dtype=bool),
        )

    def _index_bookings(self) -> _Index:
        if self._index is None:
            for book in self._steps.values():
                self._hash_waiting(book)
            bookings = self._bookings
            keys = np.frombuffer(b"".join(blob for _, blob, _, _ in bookings), dtype="S32")
            ranks = _concat([rank[usable] for usable, _, rank, _ in bookings], np.int64)
            instants = _concat([at[usable] for usable, _, _, at in bookings], np.float64)
            self._index = _Index(keys, ranks, instants)
        return self._index

    # -- audiences ---------------------------------------------------------------------------

    def expected_members(
        self,
        synced: Synced,
        audiences: Mapping[str, str],
        removes: Iterable[str],
        initial: Mapping[str, frozenset[str]],
        *,
        entered: Mapping[str, int] | None = None,
        superseded: Synced | None = None,
    ) -> dict[str, AbstractSet[str]]:
        """Per audience key, the hashed ids it should hold at the end.

        ``audiences`` maps each step to its audience key; ``removes`` names the remove steps;
        ``initial`` is what each audience held before the run; ``entered`` (per step, the
        users the engine holds) must be what the book holds, or rows would name other users:
        a driver bug, refused. ``superseded``: the users coalescing left unsent. An audience
        only added to is a ``DigestSet`` (no hex text until
        read); one with a remove step is its last operation per id (``_net``), a ``frozenset``.
        """
        if entered is not None:
            self._check_entered(entered)
        removing = frozenset(removes)
        members: dict[str, AbstractSet[str]] = {}
        for key in sorted(set(audiences.values())):
            writers = [step for step, target in audiences.items() if target == key]
            start = initial.get(key, frozenset())
            start_digests = DigestSet.of(start)
            if any(step in removing for step in writers) or start_digests is None:
                members[key] = self._net(start, writers, removing, synced, superseded)
                continue
            added = [start_digests.digests]
            for step in writers:
                if step in self._steps and step in synced.steps:
                    rows = synced.row[synced.step == synced.steps.index(step)]
                    added.extend(self._take_digests(step, rows))
            members[key] = DigestSet(np.concatenate(added))
        return members

    def _check_entered(self, entered: Mapping[str, int]) -> None:
        booked = {step: book.booked for step, book in self._steps.items() if book.booked}
        held = {step: count for step, count in entered.items() if count}
        if held != booked:
            raise ValueError(f"the engine holds {held} users a step, the book {booked}")

    def _take_digests(
        self, step: str, rows: npt.NDArray[np.int64]
    ) -> Iterator[npt.NDArray[np.bytes_]]:
        """The digests of ``step``'s booked ``rows``, read a hashed batch at a time."""
        book = self._steps[step]
        self._hash_waiting(book)
        take = np.zeros(book.booked, dtype=bool)
        take[rows] = True
        for name in book.fields:
            first = 0
            for blob, usable in book.columns[name].chunks:
                end = first + len(usable)
                picked = take[first:end][usable]
                first = end
                yield np.frombuffer(blob, dtype="S32")[picked]

    def _digest_columns(self, step: str) -> list[_Digests]:
        key = f"digests/{step}"
        if key not in self._columns:
            book = self._steps[step]
            self._hash_waiting(book)
            self._columns[key] = [book.columns[name].digests() for name in book.fields]
        digests: list[_Digests] = self._columns[key]  # type: ignore[assignment]
        return digests

    def _net(
        self,
        start: frozenset[str],
        writers: list[str],
        removing: frozenset[str],
        synced: Synced,
        superseded: Synced | None,
    ) -> frozenset[str]:
        """What ``start`` becomes when, per hashed id, its last synced entry (by entry instant,
        then booking rank) is applied — or its last entry of all, if that one was superseded:
        an add inserts the id, a remove discards it."""
        keys, instants, ranks, removes, fates = [], [], [], [], []
        for step in writers:
            if step not in self._steps:
                continue
            book = self._steps[step]
            columns = self._digest_columns(step)  # hashes what waits, so instants are whole
            fate = np.zeros(book.booked, dtype=np.int8)  # 0 unsent, 1 synced, 2 superseded
            for code, chosen in ((1, synced), (2, superseded)):
                if chosen is not None and step in chosen.steps:
                    fate[chosen.row[chosen.step == chosen.steps.index(step)]] = code
            at = _concat(book.instants, np.float64)
            rank = _concat(book.ranks, np.int64)
            for digests, usable in columns:
                keys.append(digests[usable])
                instants.append(at[usable])
                ranks.append(rank[usable])
                fates.append(fate[usable])
                removes.append(np.full(int(usable.sum()), step in removing))
        key = _concat(keys, np.bytes_)
        if not len(key):
            return start
        order = np.lexsort((_concat(ranks, np.int64), _concat(instants, np.float64)))[::-1]
        key, fate = key[order], _concat(fates, np.int8)[order]  # latest entry first
        remove = _concat(removes, np.bool_)[order]
        ids, last = np.unique(key, return_index=True)  # each id's last entry of all
        rule = fate[last] == 2  # a superseded last entry: its own operation is expected
        decided = [(ids[rule], remove[last][rule])]
        ok = np.flatnonzero(fate == 1)
        sids, slast = np.unique(key[ok], return_index=True)  # each id's last synced entry
        keep = ~np.isin(sids, ids[rule])  # the ids a superseded last entry decided are done
        decided.append((sids[keep], remove[ok][slast][keep]))
        added = frozenset().union(*(_hex(d[~r]) for d, r in decided))
        removed = frozenset().union(*(_hex(d[r]) for d, r in decided))
        return frozenset((start - removed) | added)


def _concat(parts: list[Any], dtype: type) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _hex(digests: npt.NDArray[np.bytes_]) -> frozenset[str]:
    """``S32`` digests as lowercase hex (whole 32 bytes: numpy drops an item's trailing zeros
    when it is read alone)."""
    blob = np.ascontiguousarray(digests).tobytes()
    return frozenset(blob.hex(",", _DIGEST).split(",")) if blob else frozenset()


def _prefix(digests: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each 32-byte digest, as an integer."""
    return np.ascontiguousarray(digests).view(np.uint64)[::4].copy()
