"""The simulation's book at scale: which strategy the ledger's index and ``DigestSet`` keep.

Run: ``python -m benchmarks.book [--bookings N] [--repeats SHARE] [--rounds N]``. Prints one
JSON line a case, each candidate's best wall seconds over ``--rounds`` (run round by round,
interleaved, so a busy machine slows all alike) and its time over the kept one's:
- ``index_unique`` / ``index_repeats``: the ledger's index built over N bookings (random
  32-byte digests, two a user, as email and MAID) and N digests looked up (every booking,
  shuffled, each against the users booked shortly after it), without and with a
  ``--repeats`` share of bookings repeating an earlier digest (replayed users, shared
  emails). The shipped heavy scenarios are the unique case (black_friday_blast books ~2.9 M
  digests, none twice). Candidates:
  ``prefix_groups`` (kept, ``sim.book.ledger._Index``): bookings in groups sharing their
  first 8 bytes, found through one hash table of those prefixes, whole keys compared in a
  group; sorted by prefix only when some prefix repeats. ``sorted_groups``: the same, always
  sorted. ``hash_table``: the ledger's fast path before issue 11, a hash table of bookings
  that answers only when no two share a prefix (so not with repeats). ``prefix_sort``:
  sorted by prefix, found by a sorted search, whole keys compared in a group (one path for
  repeats and shared prefixes). ``full_sort``: sorted and searched by all 32 bytes.
- ``digest_set_unique`` / ``digest_set_repeats``: the same N digests into ``DigestSet``'s
  sorted, duplicate-free column. Candidates: ``full_sort`` (kept,
  ``sim.book.digests._sort_unique``: ``np.sort``, adjacent repeats dropped), ``prefix_sort``
  (``DigestSet`` before issue 11: argsort by the first 8 bytes, ties sorted whole) and
  ``np_unique``.
Every candidate's answer is checked equal to the kept one's.

Why (2 M bookings and items, 1 % repeats, best seconds of ``--rounds 5``, on a 2-core machine
shared with other work; ``over_kept`` in brackets):
- index, unique: prefix_groups 0.63; hash_table 0.56 (0.88): a second, unique-only path
  would win 12 %, not worth its code. sorted_groups 1.01 (1.60), prefix_sort 1.10 (1.74),
  full_sort 1.71 (2.70): sorting every time costs more than 1.5x on the common case, so
  ``_Index`` skips the sort when no prefix repeats.
- index, 1 % repeats: prefix_groups 1.12; sorted_groups 1.13 (1.01), prefix_sort 0.95
  (0.85), full_sort 1.68 (1.50): the sorted search wins 15 % on the rare case, not enough
  for a second look-up path.
- DigestSet, unique / repeats: full_sort 0.24 / 0.25; prefix_sort 0.29 / 0.31 (1.20 /
  1.25); np_unique 2.25 / 1.92 (9.3 / 7.8). At 300 k digests (one black_friday_blast
  audience) the two tie (0.03 s); so ``DigestSet`` sorts with ``np.sort`` alone.
Not part of the test run; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.book.digests import DigestSet
from sim.book.ledger import _Index

Digests = npt.NDArray[np.bytes_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Answer = tuple[Floats, Floats] | None  # latest and earliest entry per item; None: cannot answer
_NOTED_WITHIN = 10_000  # a body is noted within this many bookings of its users' own


@dataclass(frozen=True, slots=True)
class _Book:
    keys: Digests
    rank: Ints
    at: Floats
    items: Digests
    seen: Ints


def _book(bookings: int, repeats: float, rng: np.random.Generator) -> _Book:
    keys = np.frombuffer(rng.bytes(32 * bookings), dtype="S32").copy()
    again = rng.choice(bookings, int(bookings * repeats), replace=False)
    keys[again] = keys[rng.integers(0, bookings, len(again))]
    rank = np.arange(bookings, dtype=np.int64) // 2  # a user's email and MAID share a rank
    at = np.sort(rng.uniform(0.0, 3600.0, bookings))
    sent = rng.permutation(bookings)
    seen = np.minimum(rank[sent] + rng.integers(1, _NOTED_WITHIN, bookings), rank[-1] + 1)
    return _Book(keys, rank, at, keys[sent], seen.astype(np.int64))


def _prefix(digests: Digests) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(digests).view(np.uint64)[::4].copy()


# -- index candidates: per looked-up item, the latest and earliest entry among its bookings --


def index_prefix_groups(book: _Book) -> Answer:
    return _Index(book.keys, book.rank, book.at).look_up(book.items, book.seen)


def index_sorted_groups(book: _Book) -> Answer:
    """The kept index, but its bookings sorted by prefix even when every group is one."""
    order = np.argsort(_prefix(book.keys))
    return _Index(book.keys[order], book.rank[order], book.at[order]).look_up(book.items, book.seen)


def index_hash_table(book: _Book) -> Answer:
    """The ledger's fast path before issue 11: one hash table on the 8-byte prefixes."""
    table = pd.Index(_prefix(book.keys), copy=False)
    if not table.is_unique:
        return None
    latest = np.full(len(book.items), math.nan)
    earliest = np.full(len(book.items), math.nan)
    slot = table.get_indexer(pd.Index(_prefix(book.items), copy=False))
    found = np.flatnonzero(slot >= 0)
    found = found[book.keys[slot[found]] == book.items[found]]
    known = found[book.rank[slot[found]] < book.seen[found]]
    latest[known] = earliest[known] = book.at[slot[known]]
    return latest, earliest


def index_prefix_sort(book: _Book) -> Answer:
    """Sorted by the 8-byte prefix, items found by a sorted search of theirs."""
    prefix = _prefix(book.keys)
    return _sorted_search(book, np.argsort(prefix), prefix, _prefix(book.items))


def index_full_sort(book: _Book) -> Answer:
    """Sorted and searched by all 32 bytes."""
    return _sorted_search(book, np.argsort(book.keys), book.keys, book.items)


def _sorted_search(
    book: _Book, order: Ints, key: npt.NDArray[Any], probe: npt.NDArray[Any]
) -> Answer:
    key = key[order]
    keys, rank, at = book.keys[order], book.rank[order], book.at[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count, key = np.diff(np.r_[first, len(keys)]), key[first]
    probe_order = np.argsort(probe)  # a sorted search runs through memory once
    group = np.empty(len(probe), dtype=np.int64)
    group[probe_order] = np.searchsorted(key, probe[probe_order])
    group = np.minimum(group, len(key) - 1)
    hits = np.where(key[group] == probe, count[group], 0)
    start = np.cumsum(hits) - hits
    item = np.repeat(np.arange(len(probe)), hits)
    booking = np.repeat(first[group] - start, hits) + np.arange(len(item))
    known = (keys[booking] == book.items[item]) & (rank[booking] < book.seen[item])
    entered = np.where(known, at[booking], math.nan)
    latest = np.full(len(probe), math.nan)
    earliest = np.full(len(probe), math.nan)
    carried = np.flatnonzero(hits)
    latest[carried] = np.fmax.reduceat(entered, start[carried])
    earliest[carried] = np.fmin.reduceat(entered, start[carried])
    return latest, earliest


# -- DigestSet candidates: a sorted, duplicate-free column -----------------------------------


def set_full_sort(book: _Book) -> Digests:
    return DigestSet(book.keys).digests


def set_prefix_sort(book: _Book) -> Digests:
    """``DigestSet``'s sort before issue 11: by the big-endian first 8 bytes, ties mended."""
    column = book.keys
    prefix = np.ascontiguousarray(column).view(">u8")[::4]
    order = np.argsort(prefix)
    out, prefix = column[order], prefix[order]
    tied = np.flatnonzero(prefix[1:] == prefix[:-1])
    if not len(tied):
        return out
    at = np.union1d(tied, tied + 1)
    out[at] = np.sort(out[at])
    repeat = np.zeros(len(out), dtype=bool)
    repeat[at[1:]] = out[at[1:]] == out[at[:-1]]
    repeat[at[1:]] &= np.diff(at) == 1
    return out[~repeat]


def set_np_unique(book: _Book) -> Digests:
    return np.unique(book.keys)


INDEX: dict[str, Callable[[_Book], Answer]] = {
    "prefix_groups": index_prefix_groups,  # kept: the first is the reference
    "sorted_groups": index_sorted_groups,
    "hash_table": index_hash_table,
    "prefix_sort": index_prefix_sort,
    "full_sort": index_full_sort,
}
DIGEST_SET: dict[str, Callable[[_Book], Digests]] = {
    "full_sort": set_full_sort,  # kept
    "prefix_sort": set_prefix_sort,
    "np_unique": set_np_unique,
}


def _same(kept: object, other: object) -> bool:
    if isinstance(kept, tuple) and isinstance(other, tuple):
        return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(kept, other, strict=True))
    if isinstance(kept, np.ndarray) and isinstance(other, np.ndarray):
        return np.array_equal(kept, other)
    return False


def measure(
    case: str, candidates: Mapping[str, Callable[[_Book], object]], book: _Book, rounds: int
) -> dict[str, object]:
    """Best wall seconds of each candidate, interleaved round by round; None: cannot answer."""
    best: dict[str, float | None] = dict.fromkeys(candidates, math.inf)
    for _ in range(rounds):
        answers: dict[str, object] = {}
        for name, candidate in candidates.items():
            started = time.perf_counter()
            answers[name] = candidate(book)
            elapsed = time.perf_counter() - started
            best[name] = None if answers[name] is None else min(elapsed, best[name] or math.inf)
        kept = next(iter(answers.values()))
        wrong = [n for n, a in answers.items() if a is not None and not _same(kept, a)]
        assert not wrong, f"{case}: {wrong} disagree with the kept strategy"
    kept_s = next(iter(best.values()))
    return {
        "case": case,
        "bookings": len(book.keys),
        "items": len(book.items),
        "seconds": {name: None if s is None else round(s, 3) for name, s in best.items()},
        "over_kept": {
            name: None if s is None or not kept_s else round(s / kept_s, 2)
            for name, s in best.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=float, default=0.01, help="share of repeated digests")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    for label, repeats in (("unique", 0.0), ("repeats", args.repeats)):
        book = _book(args.bookings, repeats, rng)
        for case, candidates in (("index", INDEX), ("digest_set", DIGEST_SET)):
            line = measure(f"{case}_{label}", candidates, book, args.rounds)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
