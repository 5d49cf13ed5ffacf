"""The members of one customer list, kept compact: a set of strings in ~32 bytes a member.

Rules:
- ``MemberSet`` is exactly a ``set[str]`` of the items a list took in (``AbstractSet[str]``:
  ``len``, ``in``, ``==`` with any set), changed only by ``add`` and ``remove`` of many items
  at once. Iteration is always in sorted order (what ``GET /_mock/state`` lists).
- A lowercase 64-hex id (a SHA-256 digest, nearly every member) is kept as its raw 32 bytes in
  a sorted base column, split in two so the binary search compares machine words: the first
  8 bytes as a native ``uint64`` and the other 24 as a ``V24`` column. Bytes order equals hex
  text order, so the base iterates as sorted hex with no sort; a batch is looked up through
  a fence of every 16th word (``_search``). Anything else (raw emails, MD5/SHA-1 hex,
  upper-case hex, partner ids) is kept as is, in a plain ``set[str]`` beside.
- Changes to the base wait in two small sets of hex text (``_added``: not in the base;
  ``_removed``: in the base), merged into new base arrays (never edited in place) once they
  reach 1/32 of it: the merge is one pass over the base, so its cost per change stays
  constant, and the pending sets add at most a few bytes a member. Reading the members out
  (iteration, ``digests()``) merges first.
- ``matched`` is how many members ``matches`` holds for, kept as items truly enter or leave
  (an item already in, or not in, changes nothing), so reading it is O(1); ``matches`` sees
  the item's text, as it would over a ``set[str]``.
- The digests leave as one sorted ``S32`` column (``digests()``) and the rest as a
  ``frozenset`` (``others()``): no Python string per digest member on the way out.
- A lock serialises changes and snapshots: waitress serves the mock from several threads,
  and a change here is several steps (it was one C call on a ``set``).
- Batch work is C loops (set algebra, ``bytes.fromhex``, numpy); Python-level steps run per
  item only for ``matches`` on items that truly change, for items that are not 64-hex, and
  for a digest sharing its first 8 bytes with a base digest (a bisection in that run).
- ``repr`` shows a count, never a member: ``others`` may hold raw emails.
"""

from __future__ import annotations

import heapq
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Set
from itertools import compress
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MemberSet"]

_HEX_DIGITS = 64
_LOWER_HEX_AND_COMMA = b"0123456789abcdef,"
_DIGEST_ITEM = re.compile(r"[0-9a-f]{64}")
# One raw digest as the base keeps it: a big-endian word to search on, and the rest.
_ROW = np.dtype([("prefix", ">u8"), ("rest", "V24")])
_REST = np.dtype("V24")
_HEX_BLOCK = 65_536  # base rows turned into hex text at a time while iterating
_MIN_PENDING = 16_384  # below this many pending changes a merge is not worth its overhead
_PENDING_SHARE = 32  # pending changes may reach 1/32 of the base (benchmarks/mock_members.py)
# Every 16th search word, in a column small enough to stay in cache: a batch is searched there
# first, then in 16 adjacent words each (~4x a plain binary search of a 10 M base, whose
# probes miss the cache; benchmarks/mock_members.py).
_FENCE = 16
_FENCE_OFFSETS = np.arange(_FENCE)

Prefixes = npt.NDArray[np.uint64]
Rests = npt.NDArray[np.void]


def _all_digests(items: Set[str]) -> bool:
    """True when every item is a lowercase 64-hex id, checked in C loops: joined with commas,
    only hex digits and commas, and a comma after every 64 characters and nowhere else."""
    count = len(items)
    joined = ",".join(items)
    return (
        len(joined) == count * (_HEX_DIGITS + 1) - 1
        and not joined.encode().translate(None, _LOWER_HEX_AND_COMMA)
        and joined.count(",") == count - 1
        and joined[_HEX_DIGITS :: _HEX_DIGITS + 1] == "," * (count - 1)
    )


def _split(ids: Iterable[str]) -> tuple[Set[str], Set[str]]:
    """``(digests, others)``: the distinct lowercase 64-hex ids, and every other item."""
    items = ids if isinstance(ids, set | frozenset) else set(ids)
    if not items or _all_digests(items):
        return items, frozenset()
    digests = {item for item in items if len(item) == _HEX_DIGITS and _DIGEST_ITEM.fullmatch(item)}
    return digests, items - digests


def _columns(hex_ids: Iterable[str]) -> tuple[Prefixes, Rests]:
    """The search word and the rest of each id, in the given order."""
    rows = np.frombuffer(bytes.fromhex("".join(hex_ids)), _ROW)
    return rows["prefix"].astype(np.uint64), np.ascontiguousarray(rows["rest"])


def _rows(prefixes: Prefixes, rests: Rests) -> npt.NDArray[np.void]:
    rows = np.empty(len(prefixes), _ROW)
    rows["prefix"] = prefixes
    rows["rest"] = rests
    return rows


def _rest_key(rest: np.void) -> bytes:
    return rest.tobytes()


class MemberSet(Set[str]):
    """A customer list's members: a ``set[str]`` in compact form, with a running ``matched``."""

    __slots__ = (
        "_added",
        "_fence",
        "_lock",
        "_matched",
        "_matches",
        "_others",
        "_prefix",
        "_removed",
        "_rest",
    )

    def __init__(self, matches: Callable[[str], bool], ids: Iterable[str] = ()) -> None:
        self._matches = matches
        self._matched = 0
        self._prefix: Prefixes = np.zeros(0, np.uint64)
        self._fence: Prefixes = self._prefix
        self._rest: Rests = np.zeros(0, _REST)
        self._added: set[str] = set()
        self._removed: set[str] = set()
        self._others: set[str] = set()
        self._lock = threading.Lock()
        self.add(ids)

    # -- changes -----------------------------------------------------------------------------

    def add(self, ids: Iterable[str]) -> None:
        """Add every item of ``ids`` (a member already in stays once)."""
        digests, others = _split(ids)
        with self._lock:
            new_others = others - self._others
            self._others |= new_others
            fresh = digests - self._added
            back: Set[str] = frozenset()
            if fresh and len(self._prefix):
                listed = list(fresh)
                known = self._find(listed) >= 0
                if self._removed:
                    back = set(compress(listed, known.tolist())) & self._removed
                    self._removed -= back
                fresh = set(compress(listed, (~known).tolist()))
            self._added |= fresh
            self._matched += self._count(new_others) + self._count(fresh) + self._count(back)
            self._settle_if_due()

    def remove(self, ids: Iterable[str]) -> None:
        """Remove every item of ``ids`` that is a member (others are ignored)."""
        digests, others = _split(ids)
        with self._lock:
            gone_others = others & self._others
            self._others -= gone_others
            gone_added = digests & self._added
            self._added -= gone_added
            rest = list(digests - gone_added - self._removed)
            gone_base: Set[str] = frozenset()
            if rest and len(self._prefix):
                gone_base = set(compress(rest, (self._find(rest) >= 0).tolist()))
                self._removed |= gone_base
            self._matched -= (
                self._count(gone_others) + self._count(gone_added) + self._count(gone_base)
            )
            self._settle_if_due()

    def _count(self, ids: Set[str]) -> int:
        return sum(map(self._matches, ids)) if ids else 0

    # -- reads -------------------------------------------------------------------------------

    @property
    def matched(self) -> int:
        """How many members ``matches`` holds for."""
        return self._matched

    def __len__(self) -> int:
        with self._lock:
            base = len(self._prefix) - len(self._removed) + len(self._added)
            return base + len(self._others)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        if len(item) != _HEX_DIGITS or not _DIGEST_ITEM.fullmatch(item):
            return item in self._others
        with self._lock:
            if item in self._added or item in self._removed:
                return item in self._added
            return bool(len(self._prefix)) and self._find([item])[0] >= 0

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

    def _find(self, hex_ids: list[str]) -> npt.NDArray[np.intp]:
        """Each id's row in the base, or -1 (the base is not empty)."""
        prefixes, rests = _columns(hex_ids)
        last = len(self._prefix) - 1
        at = np.minimum(_search(self._prefix, self._fence, prefixes), last)
        same = self._prefix[at] == prefixes
        hit = same & (self._rest[at] == rests)
        found = np.where(hit, at, -1)
        for i in np.flatnonzero(same & ~hit).tolist():  # a base digest shares the first 8 bytes
            row = self._position(prefixes[i], rests[i])
            if row <= last and self._prefix[row] == prefixes[i] and self._rest[row] == rests[i]:
                found[i] = row
        return found

    def _position(self, prefix: np.uint64, rest: np.void) -> int:
        """Where a digest sits, or would, in the base order: by ``prefix``, then ``rest``."""
        low = int(np.searchsorted(self._prefix, prefix, side="left"))
        high = int(np.searchsorted(self._prefix, prefix, side="right"))
        return bisect_left(self._rest, rest.tobytes(), low, high, key=_rest_key)

    def _settle_if_due(self) -> None:
        pending = len(self._added) + len(self._removed)
        if pending >= max(_MIN_PENDING, len(self._prefix) // _PENDING_SHARE):
            self._settle()

    def _settle(self) -> None:
        """Merge the pending changes into new base arrays: one pass over the base. Each old
        array is dropped as soon as its successor exists, so the peak stays near two bases."""
        if not self._added and not self._removed:
            return
        if self._removed:
            keep = np.ones(len(self._prefix), bool)
            keep[self._find(list(self._removed))] = False
            self._prefix = self._prefix[keep]
            self._rest = self._rest[keep]
            self._removed = set()
        if self._added:
            raw = np.sort(np.frombuffer(bytes.fromhex("".join(self._added)), "S32"))
            new_prefix, new_rest = _columns_of_sorted(raw)
            self._added = set()
            self._prefix, self._rest = _merge(self._prefix, self._rest, new_prefix, new_rest)
        self._fence = self._prefix[::_FENCE].copy()


def _columns_of_sorted(raw: npt.NDArray[np.bytes_]) -> tuple[Prefixes, Rests]:
    rows = raw.view(_ROW)
    return rows["prefix"].astype(np.uint64), np.ascontiguousarray(rows["rest"])


def _search(prefix: Prefixes, fence: Prefixes, keys: Prefixes) -> npt.NDArray[np.intp]:
    """``np.searchsorted(prefix, keys)`` (the left insertion points), through ``fence``: keys
    sorted first, each finds its block of ``_FENCE`` words in the fence (the fence's word
    before it is smaller, the one after not), then counts the block's words below it."""
    order = np.argsort(keys)
    ordered = keys[order]
    block = np.maximum(np.searchsorted(fence, ordered) - 1, 0)
    rows = np.minimum(block[:, None] * _FENCE + _FENCE_OFFSETS, len(prefix) - 1)
    # a row clipped to the last word counts again only when that word is below the key,
    # and then every word is: the minimum restores the exact answer
    below = (prefix[rows] < ordered[:, None]).sum(axis=1)
    found = np.empty(len(keys), np.intp)
    found[order] = np.minimum(block * _FENCE + below, len(prefix))
    return found


def _merge(
    prefix: Prefixes, rest: Rests, new_prefix: Prefixes, new_rest: Rests
) -> tuple[Prefixes, Rests]:
    """The sorted union of a sorted base and sorted new digests (none in the base)."""
    at = np.searchsorted(prefix, new_prefix)  # sorted keys: the search walks forward
    last = len(prefix) - 1
    if last >= 0:
        tied = np.flatnonzero(prefix[np.minimum(at, last)] == new_prefix).tolist()
        for i in tied:  # a base digest shares the first 8 bytes: order those by the rest
            low = int(at[i])
            high = int(np.searchsorted(prefix, new_prefix[i], side="right"))
            at[i] = bisect_left(rest, new_rest[i].tobytes(), low, high, key=_rest_key)
    slots = at + np.arange(len(at))
    keep = np.ones(len(prefix) + len(at), bool)
    keep[slots] = False
    merged_prefix = np.empty(len(keep), np.uint64)
    merged_rest = np.empty(len(keep), _REST)
    merged_prefix[slots], merged_rest[slots] = new_prefix, new_rest
    merged_prefix[keep], merged_rest[keep] = prefix, rest
    return merged_prefix, merged_rest
