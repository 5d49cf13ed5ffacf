"""The members of one customer list, kept compact: a set of strings in ~33 bytes a member.

Rules:
- ``MemberSet`` is exactly a ``set[str]`` of the items a list took in (``AbstractSet[str]``:
  ``len``, ``in``, ``==`` with any set), changed only by ``add`` and ``remove`` of many items
  at once. Iteration is always in sorted order (what ``GET /_mock/state`` lists).
- A lowercase 64-hex id (a SHA-256 digest, nearly every member) is kept as its raw 32 bytes in
  a sorted base column, split in two so searches compare machine words: the first 8 bytes as
  a native ``uint64`` and the other 24 as a ``V24`` column. Bytes order equals hex text
  order, so the base iterates as sorted hex with no sort. Anything else (raw emails, MD5/SHA-1
  hex, upper-case hex, partner ids) is kept as is, in a plain ``set[str]`` beside, changed at
  once.
- ``add`` and ``remove`` of digests only record the operation: the batch as one ``bytes`` of
  raw digests (one join and one ``bytes.fromhex``, which also checks it) and whether it adds.
  Nothing is looked up then. A settle resolves them all at once: the pending digests sorted
  (stable, so the last operation on an id wins), looked up in the base with sorted keys, and
  merged into new base arrays (never edited in place) in one pass. A settle falls due when the
  pending digests reach 1/12 of the base (their 32 bytes: at most ~3 bytes a member), and before
  any read that needs the base whole: ``len``, iteration, ``digests()``, ``matched``. ``in``
  needs none: it scans the pending batches, newest first, then searches the base.
- ``matched`` is how many members ``matches`` holds for, exactly the count over a
  ``set[str]``, computed lazily: each base row has a state byte (not yet counted, counted
  unmatched, counted matched), rows enter uncounted, and reading ``matched`` counts only the
  uncounted rows (``matches`` sees each one's hex text, a block at a time). A run that never
  refreshes a list's size never pays ``matches`` per member; a row leaving takes its count
  with it. Items beside the base are counted as they enter or leave.
- The digests leave as one sorted ``S32`` column (``digests()``) and the rest as a
  ``frozenset`` (``others()``): no Python string per digest member on the way out.
- A lock serialises changes and snapshots: waitress serves the mock from several threads.
- Batch work is C loops (``str.join``, ``bytes.fromhex``, numpy); Python-level steps run per
  item only for ``matches`` on uncounted rows, for batches holding items that are not
  64-hex, and for digests sharing their first 8 bytes with another (a tie: a full sort of the
  pending ids on all 32 bytes, or a bisection in that run of the base).
- ``repr`` shows a count, never a member: ``others`` may hold raw emails.
"""

from __future__ import annotations

import heapq
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator, Set
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MemberSet"]

_HEX_DIGITS = 64
_DIGEST_BYTES = 32
_DIGEST_ITEM = re.compile(r"[0-9a-f]{64}")
_UPPER_HEX = "ABCDEF"
# One raw digest as the base keeps it: a big-endian word to search on, and the rest.
_ROW = np.dtype([("prefix", ">u8"), ("rest", "V24")])
_REST = np.dtype("V24")
_WORDS = np.dtype(">u8")
_HEX_BLOCK = 65_536  # base rows turned into hex text at a time (iteration, counting)
_MIN_PENDING = 16_384  # below this many pending digests a merge is not worth its overhead
# Pending digests may reach 1/12 of the base: a merge copies the base, so it costs ~12 base rows
# a pending digest, and the pending raw digests add at most ~3 bytes a member (at 1/8, pending
# removals took 10 M members to 40.2 bytes a member; benchmarks/mock_members.py).
_PENDING_SHARE = 12
# A base row's state byte: whether ``matches`` was counted for it yet, and its answer.
_UNCOUNTED, _UNMATCHED, _MATCHED = 0, 1, 2

Prefixes = npt.NDArray[np.uint64]
Rests = npt.NDArray[np.void]
States = npt.NDArray[np.uint8]


def _raw_digests(items: Collection[str]) -> bytes | None:
    """The items as raw digests, in order, when every one is a lowercase 64-hex id, else None.
    Checked in C loops: joined with spaces, a space after every 64 characters, and
    ``bytes.fromhex`` (which skips whitespace) finding 32 bytes an item: so the other
    characters are all hex digits, none of them upper case."""
    count = len(items)
    joined = " ".join(items)
    if len(joined) != count * (_HEX_DIGITS + 1) - 1:
        return None
    if joined[_HEX_DIGITS :: _HEX_DIGITS + 1] != " " * (count - 1):
        return None
    try:
        raw = bytes.fromhex(joined)
    except ValueError:
        return None
    if len(raw) != count * _DIGEST_BYTES or any(c in joined for c in _UPPER_HEX):
        return None
    return raw


def _split(ids: Iterable[str]) -> tuple[bytes, Set[str]]:
    """``(raw digests, others)``: the lowercase 64-hex ids as raw digests (repeats kept), and
    every other item."""
    items = ids if isinstance(ids, Collection) else list(ids)
    if not items:
        return b"", frozenset()
    raw = _raw_digests(items)
    if raw is not None:
        return raw, frozenset()
    digests = [item for item in items if len(item) == _HEX_DIGITS and _DIGEST_ITEM.fullmatch(item)]
    return bytes.fromhex("".join(digests)), set(items) - set(digests)


def _columns(raw: npt.NDArray[np.void]) -> tuple[Prefixes, Rests]:
    """The search word and the rest of each ``_ROW``, in the given order."""
    return raw["prefix"].astype(np.uint64), np.ascontiguousarray(raw["rest"])


def _rows(prefixes: Prefixes, rests: Rests) -> npt.NDArray[np.void]:
    rows = np.empty(len(prefixes), _ROW)
    rows["prefix"] = prefixes
    rows["rest"] = rests
    return rows


def _rest_key(rest: np.void) -> bytes:
    return rest.tobytes()


def _holds(batch: bytes, digest: bytes) -> bool:
    """Whether ``digest`` is one of the raw digests ``batch`` joins (at a 32-byte boundary)."""
    at = batch.find(digest)
    while at >= 0 and at % _DIGEST_BYTES:
        at = batch.find(digest, at + 1)
    return at >= 0


class MemberSet(Set[str]):
    """A customer list's members: a ``set[str]`` in compact form, with a lazy ``matched``."""

    __slots__ = (
        "_batches",
        "_lock",
        "_matched",
        "_matches",
        "_others",
        "_others_matched",
        "_pending",
        "_prefix",
        "_rest",
        "_state",
    )

    def __init__(self, matches: Callable[[str], bool], ids: Iterable[str] = ()) -> None:
        self._matches = matches
        self._matched = 0  # base rows counted and matched
        self._others_matched = 0
        self._prefix: Prefixes = np.zeros(0, np.uint64)
        self._rest: Rests = np.zeros(0, _REST)
        self._state: States = np.zeros(0, np.uint8)
        self._batches: list[tuple[bytes, bool]] = []  # (raw digests, adding), oldest first
        self._pending = 0  # digests in ``_batches``
        self._others: set[str] = set()
        self._lock = threading.Lock()
        self.add(ids)

    # -- changes -----------------------------------------------------------------------------

    def add(self, ids: Iterable[str]) -> None:
        """Add every item of ``ids`` (a member already in stays once)."""
        raw, others = _split(ids)
        with self._lock:
            if others:
                entering = others - self._others
                self._others |= entering
                self._others_matched += self._count(entering)
            self._record(raw, adding=True)

    def remove(self, ids: Iterable[str]) -> None:
        """Remove every item of ``ids`` that is a member (others are ignored)."""
        raw, others = _split(ids)
        with self._lock:
            if others:
                leaving = others & self._others
                self._others -= leaving
                self._others_matched -= self._count(leaving)
            self._record(raw, adding=False)

    def _record(self, raw: bytes, *, adding: bool) -> None:
        if not raw:
            return
        self._batches.append((raw, adding))
        self._pending += len(raw) // _DIGEST_BYTES
        if self._pending >= max(_MIN_PENDING, len(self._prefix) // _PENDING_SHARE):
            self._settle()

    def _count(self, ids: Iterable[str]) -> int:
        return sum(map(self._matches, ids))

    # -- reads -------------------------------------------------------------------------------

    @property
    def matched(self) -> int:
        """How many members ``matches`` holds for (counts the rows not yet counted)."""
        with self._lock:
            self._settle()
            uncounted = np.flatnonzero(self._state == _UNCOUNTED)
            for start in range(0, len(uncounted), _HEX_BLOCK):
                rows = uncounted[start : start + _HEX_BLOCK]
                texts = _rows(self._prefix[rows], self._rest[rows]).tobytes().hex(",", 32)
                hits = np.fromiter(map(self._matches, texts.split(",")), bool, len(rows))
                self._state[rows] = np.where(hits, _MATCHED, _UNMATCHED)
                self._matched += int(np.count_nonzero(hits))
            return self._matched + self._others_matched

    def __len__(self) -> int:
        with self._lock:
            self._settle()
            return len(self._prefix) + len(self._others)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        if len(item) != _HEX_DIGITS or not _DIGEST_ITEM.fullmatch(item):
            return item in self._others
        digest = bytes.fromhex(item)
        with self._lock:
            for batch, adding in reversed(self._batches):  # the last operation on it wins
                if _holds(batch, digest):
                    return adding
            return self._in_base(digest)

    def __iter__(self) -> Iterator[str]:
        """Every member, in sorted order (hex digests and the other items interleaved)."""
        with self._lock:
            self._settle()
            prefix, rest, others = self._prefix, self._rest, sorted(self._others)
        digests = self._hex(prefix, rest)
        return heapq.merge(digests, others) if others else digests

    @staticmethod
    def _hex(prefix: Prefixes, rest: Rests) -> Iterator[str]:
        for start in range(0, len(prefix), _HEX_BLOCK):
            block = _rows(prefix[start : start + _HEX_BLOCK], rest[start : start + _HEX_BLOCK])
            yield from block.tobytes().hex(",", 32).split(",")

    def digests(self) -> npt.NDArray[np.bytes_]:
        """The members that are lowercase 64-hex ids, as sorted raw digests (one ``S32``
        column, a fresh array the caller owns)."""
        with self._lock:
            self._settle()
            return _rows(self._prefix, self._rest).view("S32")

    def others(self) -> frozenset[str]:
        """The members that are not lowercase 64-hex ids."""
        with self._lock:
            return frozenset(self._others)

    def __eq__(self, other: object) -> bool:
        # ``Set``'s: equal to any set of the same strings (declared so type checkers know)
        return super().__eq__(other)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> frozenset[Any]:
        # what the Set mixins (``-``, ``&``, ``|``) build results with: a plain frozenset
        return frozenset(it)

    def __repr__(self) -> str:
        return f"MemberSet(<{len(self)} members>)"

    # -- the base column ---------------------------------------------------------------------

    def _in_base(self, digest: bytes) -> bool:
        row = np.frombuffer(digest, _ROW)
        prefix, rest = row["prefix"].astype(np.uint64)[0], row["rest"][0]
        at = self._position(prefix, rest)
        return at < len(self._prefix) and _same(self._prefix, self._rest, at, prefix, rest)

    def _position(self, prefix: np.uint64, rest: np.void) -> int:
        """Where a digest sits, or would, in the base order: by ``prefix``, then ``rest``."""
        low = int(np.searchsorted(self._prefix, prefix, side="left"))
        high = int(np.searchsorted(self._prefix, prefix, side="right"))
        return bisect_left(self._rest, rest.tobytes(), low, high, key=_rest_key)

    def _settle(self) -> None:
        """Resolve the pending operations and merge them into new base arrays: one pass over
        the base (the peak: about two bases and the pending digests)."""
        if not self._batches:
            return
        prefixes, rests, adding = _last_operations(self._batches)
        self._batches, self._pending = [], 0
        at, found = self._locate(prefixes, rests)
        gone = at[found & ~adding]
        entering = ~found & adding
        keep = np.ones(len(self._prefix), bool)
        keep[gone] = False
        self._matched -= int(np.count_nonzero(self._state[gone] == _MATCHED))
        # rows leaving before an entering digest's place move it back as many rows
        places = at[entering] - np.searchsorted(gone, at[entering])
        self._prefix, self._rest, self._state = _merge(
            (self._prefix, self._rest, self._state),
            keep,
            places,
            (prefixes[entering], rests[entering], np.full(len(places), _UNCOUNTED, np.uint8)),
        )

    def _locate(self, prefixes: Prefixes, rests: Rests) -> tuple[npt.NDArray[np.intp], Any]:
        """For sorted distinct digests: each one's place in the base order (its row when
        there), and whether it is there."""
        base = len(self._prefix)
        if not base:
            return np.zeros(len(prefixes), np.intp), np.zeros(len(prefixes), bool)
        at = np.searchsorted(self._prefix, prefixes)  # sorted keys: each search starts at the last
        row = np.minimum(at, base - 1)
        same = self._prefix[row] == prefixes
        found = same & (self._rest[row] == rests)
        for i in np.flatnonzero(same & ~found).tolist():  # a base digest shares the first 8 bytes
            key, key_rest = prefixes[i], rests[i]
            at[i] = place = self._position(key, key_rest)
            found[i] = place < base and _same(self._prefix, self._rest, place, key, key_rest)
        return at, found


def _same(prefix: Prefixes, rest: Rests, at: int, key: np.uint64, key_rest: np.void) -> bool:
    """Whether the base row ``at`` is the digest ``(key, key_rest)``."""
    return bool(prefix[at] == key and rest[at] == key_rest)


def _last_operations(batches: list[tuple[bytes, bool]]) -> tuple[Prefixes, Rests, Any]:
    """The distinct pending digests in sorted order, and whether the last operation on each
    adds. Sorted stably on the first 8 bytes; only when two distinct digests share them, on
    all 32 (stable too, so each id's operations stay in order)."""
    rows = np.frombuffer(b"".join(raw for raw, _ in batches), _ROW)
    counts = [len(raw) // _DIGEST_BYTES for raw, _ in batches]
    adding = np.repeat(np.array([add for _, add in batches], bool), counts)
    prefixes = rows["prefix"].astype(np.uint64)
    order = np.argsort(prefixes, kind="stable")
    prefixes, rests = prefixes[order], np.ascontiguousarray(rows["rest"][order])
    tied = prefixes[1:] == prefixes[:-1]
    repeated = tied & (rests[1:] == rests[:-1])
    if np.any(tied & ~repeated):
        words = rows.view(_WORDS).reshape(-1, 4).astype(np.uint64)
        order = np.lexsort(words.T[::-1])
        prefixes, rests = _columns(rows[order])
        repeated = (prefixes[1:] == prefixes[:-1]) & (rests[1:] == rests[:-1])
    last = np.append(~repeated, True)
    return prefixes[last], rests[last], adding[order][last]


def _merge(
    columns: tuple[Prefixes, Rests, States],
    keep: npt.NDArray[np.bool_],
    places: npt.NDArray[np.intp],
    entering: tuple[Prefixes, Rests, States],
) -> tuple[Prefixes, Rests, States]:
    """The base's kept rows with the entering rows put at ``places`` (sorted, counted in
    kept rows), each column built once."""
    size = int(np.count_nonzero(keep)) + len(places)
    slots = places + np.arange(len(places))
    stays = np.ones(size, bool)
    stays[slots] = False
    merged: list[Any] = []
    pairs: Iterable[tuple[npt.NDArray[Any], npt.NDArray[Any]]] = zip(columns, entering, strict=True)
    for old, new in pairs:
        column = np.empty(size, old.dtype)
        column[slots] = new
        column[stays] = old[keep] if len(old) > size - len(places) else old
        merged.append(column)
    return merged[0], merged[1], merged[2]
