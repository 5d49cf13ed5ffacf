"""The simulation's own book of who entered: the independent truth the checks compare against.

Rules:
- Identifiers are normalised and hashed *here*, with ``hashlib``, from DESIGN.md's rules
  (trim, lowercase, MAIDs keep hyphens; a 64-hex value passes through; empty or malformed
  values are unusable) — never by calling ``sync_core``, or the checks would agree with the
  engine by construction.
- Per request body the ledger says what the journal cannot: the earliest deadline among the
  users the body carries (``entered_at + retry window``), the latest entry instant among them,
  and whether any record is not a SHA-256 digest (raw PII on the wire). When a hashed id
  belongs to several users (a replayed user, a shared email) the ledger takes the reading that
  cannot flag a legitimate send: the latest deadline and the earliest entry — among the users
  entered when the body was sent.
- After the run it says which hashed ids each audience should hold: those of users the engine
  counted synced, replayed in the order their syncs completed (adds insert, removes discard).
- Millions of users: ``enter`` only books ids, instants and ranks and queues the raw values;
  every ``_BATCH`` users of a step (and before anything is read) a field's queued values are
  validated by one multi-line regex over the joined column and hashed through ``map`` (no
  Python step per value), and digests are kept as 32-byte columns. A user's verdicts hang on
  the rank ``enter`` gave it, never on when it was hashed. Bodies noted with ``note`` are
  audited in bulk when ``audits`` is read (one hash lookup of every carried digest, a sorted
  search when some digest was booked twice), each against the users entered before it was
  noted.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sim.book.digests import DigestSet, digest_list

__all__ = ["Audits", "BodyAudit", "Ledger", "normalise_email", "normalise_maid"]

_HEX = frozenset(string.hexdigits.lower())
_DIGEST_ITEM = re.compile(r"[0-9a-f]{64}")
# Every character ``str.isspace`` (so ``str.strip`` and the regex ``\s``) calls blank, spelled
# out: a class of code points is several times faster to match than the ``\s`` category.
_BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT = "^" + re.escape(_BLANK)
# What a usable value of each match field looks like once trimmed and lowercased. Email: one
# @, a local part and a domain of two or more dot-separated labels, no blank or comma (which
# would break the comma-separated wire format). MAID: a UUID with all four hyphens, or bare.
_WELL_FORMED_TEXT = {
    "email": rf"[{_NOT}@,]+@(?:[{_NOT}@,.]+\.)+[{_NOT}@,.]+",
    "maid": r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{32}",
}
_WELL_FORMED = {name: re.compile(text) for name, text in _WELL_FORMED_TEXT.items()}
# One line per value of a joined column: the value if well formed, else empty.
_COLUMN = {
    name: re.compile(rf"^(?:({text})|.*)$", re.MULTILINE)
    for name, text in _WELL_FORMED_TEXT.items()
}

# users a step queues before hashing them: a few hundred lines of text stay in the CPU cache;
# 8192 at a time hashed 1.5-2x slower per value
_BATCH = 1 << 9

_DIGEST = 32
_SHA256 = hashlib.sha256
_BYTES_OF = methodcaller("digest")

Floats = npt.NDArray[np.float64]


def normalise_email(raw: str | None) -> str | None:
    """The hashed form of an email per DESIGN.md, or None when it cannot be matched."""
    return _hash_one("email", raw)


def normalise_maid(raw: str | None) -> str | None:
    """The hashed form of a mobile advertising id (a UUID, hyphens kept), or None."""
    return _hash_one("maid", raw)


def _hash_one(name: str, raw: str | None) -> str | None:
    """The rule, one value at a time: the reference the bulk path must agree with."""
    value = raw.strip().lower() if raw else ""
    if len(value) == 64 and set(value) <= _HEX:
        return value
    if value and _WELL_FORMED[name].fullmatch(value):
        return _SHA256(value.encode()).hexdigest()
    return None


def _digest_column(name: str, raws: Sequence[str | None]) -> tuple[bytes, npt.NDArray[np.bool_]]:
    """A whole column of ``name`` values: the 32-byte digests of the usable ones, in order,
    and which values were usable."""
    values = [raw.strip().lower() if raw else "" for raw in raws]
    text = "\n".join(values)
    well: list[str] = []
    if values and text.count("\n") == len(values) - 1:  # one line per value
        well = _COLUMN[name].findall(text)
    usable = np.fromiter(map(bool, well), dtype=bool, count=len(well))
    passed = [values[k] for k in np.flatnonzero(~usable).tolist() if _digest_text(values[k])]
    if len(well) != len(values) or not values or passed:  # one by one: digests pass through
        hexes = [_hash_one(name, raw) for raw in raws]
        usable = np.array([h is not None for h in hexes], dtype=bool)
        return bytes.fromhex("".join(h for h in hexes if h is not None)), usable
    lines = "\n".join(filter(None, well)).encode().split(b"\n") if usable.any() else []
    return b"".join(map(_BYTES_OF, map(_SHA256, lines))), usable


def _digest_text(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


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


@dataclass(slots=True)
class _Column:
    """One match field of one step: per entered user (in the ledger's order), the digest."""

    chunks: list[tuple[bytes, npt.NDArray[np.bool_]]] = field(default_factory=list)
    waiting: list[str | None] = field(default_factory=list)  # raw values not hashed yet

    def digests(self) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bool_]]:
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
    user_ids: list[str] = field(default_factory=list)
    columns: dict[str, _Column] = field(default_factory=dict)
    # users whose values wait to be hashed: per ``enter`` call, its first rank and instants
    waiting: list[tuple[int, Floats]] = field(default_factory=list)
    waiting_users: int = 0


@dataclass(slots=True)
class _Body:
    """A noted body, parsed: its record count, PII verdict and the digests it carries."""

    records: int
    raw_pii: bool
    digests: bytes
    seen: int  # users the ledger had booked when the body was noted


_EMPTY_BODY = _Body(records=0, raw_pii=False, digests=b"", seen=0)


class _Index:
    """Every booked digest with the entry instant and booking rank of each booking.

    Keyed by the digests' first 8 bytes as an integer, the full 32 bytes compared after: when
    no two bookings share those 8 bytes, one hash table of them (the common case); otherwise
    the bookings sorted by them, a digest's bookings side by side, and searched — should two
    distinct digests share those 8 bytes, sorted and searched by the full 32 bytes."""

    def __init__(self, keys: npt.NDArray[np.bytes_], rank: npt.NDArray[np.int64], at: Floats):
        prefix = _prefix(keys)
        table = pd.Index(prefix, copy=False)
        self.table: pd.Index | None = table if table.is_unique else None
        if self.table is not None:  # every booking is its digest's only one
            self.unique, self.rank, self.at = keys, rank, at
            return
        order = np.argsort(prefix)  # by digest prefix; a digest's bookings in any order
        self.by_prefix = True
        sorted_prefix = prefix[order]
        same = sorted_prefix[1:] == sorted_prefix[:-1]
        twins = np.flatnonzero(same)  # few: the full keys are compared only there
        if np.any(keys[order[twins + 1]] != keys[order[twins]]):
            self.by_prefix = False  # two digests share a prefix: sort by all 32 bytes
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            same = sorted_keys[1:] == sorted_keys[:-1]
        self.rank, self.at = rank[order], at[order]
        starts = np.flatnonzero(np.r_[len(keys) > 0, ~same])
        self.unique = keys[order[starts]]
        self.search = sorted_prefix[starts] if self.by_prefix else self.unique
        self.first = starts
        self.count = np.diff(np.r_[starts, len(keys)])

    def lookup(
        self, items: npt.NDArray[np.bytes_], seen: npt.NDArray[np.int64]
    ) -> tuple[Floats, Floats]:
        """Per item: the latest and the earliest entry among users booked under that digest
        before ``seen`` users were booked (NaN for both when there were none)."""
        latest = np.full(len(items), math.nan)
        earliest = np.full(len(items), math.nan)
        if not len(self.unique) or not len(items):
            return latest, earliest
        if self.table is not None:
            slot = self.table.get_indexer(pd.Index(_prefix(items), copy=False))
            found = np.flatnonzero(slot >= 0)
            booked = _words(self.unique)[slot[found]]
            found = found[np.all(booked == _words(items)[found], axis=1)]
            known = found[self.rank[slot[found]] < seen[found]]
            latest[known] = earliest[known] = self.at[slot[known]]
            return latest, earliest
        probe = _prefix(items) if self.by_prefix else items
        order = np.argsort(probe, kind="stable")  # a sorted search runs through memory once
        slot = np.empty(len(items), dtype=np.int64)
        slot[order] = np.searchsorted(self.search, probe[order])
        slot = np.minimum(slot, len(self.unique) - 1)
        hit = self.unique[slot] == items
        first = self.first[slot]
        single = hit & (self.count[slot] == 1)
        known = single & (self.rank[first] < seen)
        latest[known] = earliest[known] = self.at[first[known]]
        for k in np.flatnonzero(hit & ~single).tolist():
            lo = int(first[k])
            hi = lo + int(self.count[slot[k]])
            booked = self.at[lo:hi][self.rank[lo:hi] < seen[k]]
            if len(booked):
                latest[k] = float(booked.max())
                earliest[k] = float(booked.min())
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
        user_ids: Sequence[str],
        emails: Sequence[str | None],
        maids: Sequence[str | None],
        entered_at: npt.NDArray[np.float64],
    ) -> None:
        """Book users entering ``step``; their values are hashed later, in whole columns."""
        columns = {"email": emails, "maid": maids}
        book = self._steps[step]
        book.user_ids.extend(user_ids)
        for name in book.fields:
            book.columns[name].waiting.extend(columns[name])
        book.waiting.append((self._booked, np.asarray(entered_at, dtype=np.float64)))
        book.waiting_users += len(user_ids)
        self._booked += len(user_ids)
        if book.waiting_users >= _BATCH:
            self._hash(book)
        self._index = None
        self._columns = {}

    def _hash(self, book: _StepBook) -> None:
        """Hash a step's waiting users: one whole-column call per field."""
        if not book.waiting:
            return
        sizes = np.array([len(at) for _, at in book.waiting], dtype=np.int64)
        instants = _concat([at for _, at in book.waiting], np.float64)
        # rank = its call's first rank + the row's position in the call
        offset = np.array([first for first, _ in book.waiting], dtype=np.int64)
        offset -= np.cumsum(sizes) - sizes
        ranks = np.repeat(offset, sizes) + np.arange(len(instants), dtype=np.int64)
        for name in book.fields:
            column = book.columns[name]
            blob, usable = _digest_column(name, column.waiting)
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
        self._bodies.append(self._parse(body, self._booked if seen is None else seen))
        return len(self._bodies) - 1

    def audit(self, body: bytes | None) -> BodyAudit:
        """Deadline and PII verdict for a request body (only customer-list writes carry ids)."""
        parsed = self._parse(body, self._booked)
        audits = self._audit([parsed])
        return BodyAudit(
            records=parsed.records,
            min_deadline_at=float(audits.min_deadline_at[0]),
            max_entered_at=float(audits.max_entered_at[0]),
            raw_pii=parsed.raw_pii,
        )

    def audits(self) -> Audits:
        """The audit of every body given to ``note``, in order, each against the users entered
        before it was noted (later bookings never count for it)."""
        return self._audit(self._bodies)

    def _parse(self, body: bytes | None, seen: int) -> _Body:
        if not body or b'"records"' not in body:
            return _EMPTY_BODY
        records = str(json.loads(body).get("records", ""))
        listed = digest_list(records)
        raw_pii = b"@" in body or (bool(records) and listed is None)
        if listed is not None:
            carried, count = listed, len(listed) // _DIGEST
        else:
            items = [item for item in records.split(",") if item]
            count = len(items)
            carried = bytes.fromhex("".join(i for i in items if _DIGEST_ITEM.fullmatch(i)))
        return _Body(records=count, raw_pii=raw_pii, digests=carried, seen=seen)

    def _audit(self, bodies: Sequence[_Body]) -> Audits:
        sizes = np.array([len(b.digests) // _DIGEST for b in bodies], dtype=np.int64)
        items = np.frombuffer(b"".join(b.digests for b in bodies), dtype="S32")
        seen = np.repeat(np.array([b.seen for b in bodies], dtype=np.int64), sizes)
        latest, earliest = self._book().lookup(items, seen)
        deadline = latest + self._window
        lowest = np.full(len(bodies), math.nan)
        highest = np.full(len(bodies), math.nan)
        carrying = np.flatnonzero(sizes)
        if len(carrying):
            starts = (np.cumsum(sizes) - sizes)[carrying]
            lowest[carrying] = np.fmin.reduceat(deadline, starts)
            highest[carrying] = np.fmax.reduceat(earliest, starts)
        return Audits(
            records=np.array([b.records for b in bodies], dtype=np.int64),
            min_deadline_at=lowest,
            max_entered_at=highest,
            raw_pii=np.array([b.raw_pii for b in bodies], dtype=bool),
        )

    def _book(self) -> _Index:
        if self._index is None:
            for book in self._steps.values():
                self._hash(book)
            bookings = self._bookings
            keys = np.frombuffer(b"".join(blob for _, blob, _, _ in bookings), dtype="S32")
            ranks = _concat([rank[usable] for usable, _, rank, _ in bookings], np.int64)
            instants = _concat([at[usable] for usable, _, _, at in bookings], np.float64)
            self._index = _Index(keys, ranks, instants)
        return self._index

    # -- audiences ---------------------------------------------------------------------------

    def expected_members(
        self,
        users: pd.DataFrame,
        audiences: Mapping[str, str],
        removes: Iterable[str],
        initial: Mapping[str, frozenset[str]],
    ) -> dict[str, AbstractSet[str]]:
        """Per audience key, the hashed ids it should hold at the end.

        ``audiences`` maps each step to its audience key; ``removes`` names the remove steps;
        ``initial`` is what each audience held before the run. An audience only added to is a
        ``DigestSet`` (no hex text until read); one with a remove step is replayed user by user
        into a ``frozenset``.
        """
        removing = frozenset(removes)
        synced = users.loc[users["outcome"] == "synced", ["step", "user_id", "outcome_at"]]
        if any(step in removing for step in audiences):  # replayed in completion order
            synced = synced.sort_values("outcome_at", kind="stable")
        codes, names = pd.factorize(synced["step"].astype(str))
        code_of = {str(name): code for code, name in enumerate(names.tolist())}
        user_ids = synced["user_id"]
        # per synced user (in completion order): its row in its step's book, -1 if unknown
        rows = np.full(len(synced), -1, dtype=np.int64)
        for step, code in code_of.items():
            mine = np.flatnonzero(codes == code)
            rows[mine] = self._rows_of(step, user_ids.iloc[mine])
        members: dict[str, AbstractSet[str]] = {}
        for key in sorted(set(audiences.values())):
            writers = [step for step, target in audiences.items() if target == key]
            start = initial.get(key, frozenset())
            start_digests = DigestSet.of(start)
            if any(step in removing for step in writers) or start_digests is None:
                steps = np.asarray(names, dtype=object)[codes]
                members[key] = self._replayed(start, writers, removing, steps, rows)
                continue
            added = [start_digests.digests]
            for step in writers:
                if step not in self._steps or step not in code_of:
                    continue
                mine = rows[(codes == code_of[step]) & (rows >= 0)]
                added.extend(self._digests_of_rows(step, mine))
            members[key] = DigestSet(np.concatenate(added))
        return members

    def _digests_of_rows(
        self, step: str, rows: npt.NDArray[np.int64]
    ) -> Iterator[npt.NDArray[np.bytes_]]:
        """The digests of ``step``'s booked ``rows``, read a hashed batch at a time."""
        book = self._steps[step]
        self._hash(book)
        take = np.zeros(len(book.user_ids), dtype=bool)
        take[rows] = True
        for name in book.fields:
            first = 0
            for blob, usable in book.columns[name].chunks:
                end = first + len(usable)
                picked = take[first:end][usable]
                first = end
                yield np.frombuffer(blob, dtype="S32")[picked]

    def _rows_of(self, step: str, user_ids: pd.Series) -> npt.NDArray[np.int64]:
        """Each user's latest row in ``step``'s book (-1 when the step never booked them)."""
        book = self._steps.get(step)
        if book is None or not book.user_ids:
            return np.full(len(user_ids), -1, dtype=np.int64)
        # the book read backwards: a hash lookup finds a value's first occurrence, so a user
        # booked more than once is found at their latest row
        booked = self._booked_ids_backwards(step)
        last = len(booked) - 1
        probe = pa.array(user_ids.astype(str)).cast(pa.large_string())
        found = pc.index_in(probe, value_set=booked).fill_null(last + 1)
        return last - np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)

    def _booked_ids_backwards(self, step: str) -> Any:
        key = f"ids/{step}"
        if key not in self._columns:
            ids = self._steps[step].user_ids
            self._columns[key] = pa.array(ids[::-1], type=pa.large_string())
        return self._columns[key]

    def _digests(self, step: str) -> list[tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bool_]]]:
        key = f"digests/{step}"
        if key not in self._columns:
            book = self._steps[step]
            self._hash(book)
            self._columns[key] = [book.columns[name].digests() for name in book.fields]
        digests: list[tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bool_]]]
        digests = self._columns[key]  # type: ignore[assignment]
        return digests

    def _replayed(
        self,
        start: frozenset[str],
        writers: list[str],
        removing: frozenset[str],
        steps: npt.NDArray[np.object_],
        rows: npt.NDArray[np.int64],
    ) -> frozenset[str]:
        """Adds and removes applied one synced user at a time, in completion order."""
        columns = {step: self._digests(step) for step in writers if step in self._steps}
        target = set(start)
        for step, row in zip(steps.tolist(), rows.tolist(), strict=True):
            if step not in columns or row < 0:
                continue
            hashed = [d[row : row + 1].tobytes().hex() for d, ok in columns[step] if ok[row]]
            if step in removing:
                target.difference_update(hashed)
            else:
                target.update(hashed)
        return frozenset(target)


def _concat(parts: list[Any], dtype: type) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _prefix(digests: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each 32-byte digest, as an integer."""
    return _words(digests)[:, 0].copy()


def _words(digests: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """Each 32-byte digest as a row of four 8-byte integers (a view when contiguous)."""
    return np.ascontiguousarray(digests).view(np.uint64).reshape(-1, 4)
