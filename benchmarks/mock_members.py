"""The mock's customer-list members at scale: ``MemberSet`` against the plain ``set[str]``.

Run: ``python -m benchmarks.mock_members [--members N] [--baseline N] [--batch N]``. Prints one
JSON line a case:
- ``member_set``: N random SHA-256 hex ids added to one ``MemberSet`` in batches of ``--batch``
  (the sim's 1,900-record PATCH), then a tenth of them removed in batches, as the backend
  does it (``is_matched`` as the match rule). Reports wall microseconds a member inside
  ``add`` and ``remove`` (making the random ids is not timed), the seconds of the first size
  refresh (reading ``matched`` counts every member once, lazily) and of ``digests()``, and
  bytes a member: traced by tracemalloc in a second build (numpy reports its arrays to it),
  and the growth of the resident set in the first (an upper bound: the allocator keeps
  some freed memory); ``peak_rss_mib`` includes the merges' transient copies.
- ``plain_set``: the same on ``--baseline`` members with the ``set[str]`` the mock held before
  issue 14, whose size refresh counted ``is_matched`` over every member.
Exit status 0 when ``member_set`` keeps ≤ 40 traced bytes a member, 1 otherwise.

Why (10 M added, 9 M kept; 2-core machine shared with other work): ``member_set`` 34.1
traced bytes a member (~100 at the peak of a merge with removals), 0.66 µs a member added
(0.55 merging at 1/8 of the base, but 40.2 bytes a member; 2.6 when each batch was looked
up in the base at once and ``matches`` ran on each new member) and 1.8 removed (3.1
before), the first size refresh 4.4-5.1 s (each member counted once; later refreshes count
only new members); ``plain_set`` (1 M) 147 traced bytes a member, 0.14 µs added, and a size
refresh of 0.54 µs a member, every time. Not part of the test run; figures depend on the
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from mock_pinterest import Backend, MockConfig
from mock_pinterest.members import MemberSet

TARGET_BYTES_PER_MEMBER = 40.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _batches(members: int, batch: int, seed: int) -> Iterator[list[str]]:
    """Random 64-hex ids, ``batch`` at a time (the same ids for the same seed)."""
    rng = random.Random(seed)
    for start in range(0, members, batch):
        count = min(batch, members - start)
        yield rng.randbytes(32 * count).hex(",", 32).split(",")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _matcher() -> Callable[[str], bool]:
    backend = Backend(MockConfig(seed=1, match_rate=0.6), lambda: 0.0)
    return backend.is_matched


def _build(members: int, batch: int) -> tuple[MemberSet, float, float]:
    """The set after adding ``members`` and removing a tenth; seconds adding, removing."""
    kept = MemberSet(_matcher())
    added = removed = 0.0
    for ids in _batches(members, batch, seed=1):
        items = set(ids)
        started = time.perf_counter()
        kept.add(items)
        added += time.perf_counter() - started
    for ids in _batches(members // 10, batch, seed=1):
        items = set(ids)
        started = time.perf_counter()
        kept.remove(items)
        removed += time.perf_counter() - started
    return kept, added, removed


def member_set(members: int, batch: int) -> dict[str, Any]:
    before = _rss()
    kept, added_s, removed_s = _build(members, batch)
    rss_growth = _rss() - before
    size = len(kept)
    started = time.perf_counter()
    matched = kept.matched
    refresh_s = time.perf_counter() - started
    started = time.perf_counter()
    column = kept.digests()
    digests_s = time.perf_counter() - started
    assert len(column) == size == members - members // 10
    del column, kept
    tracemalloc.start()
    kept, _, _ = _build(members, batch)
    traced, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "case": "member_set",
        "members": size,
        "batch": batch,
        "matched": matched,
        "add_us_per_member": round(added_s / members * 1e6, 3),
        "remove_us_per_member": round(removed_s / (members // 10) * 1e6, 3),
        "refresh_s": refresh_s,
        "digests_s": round(digests_s, 3),
        "traced_bytes_per_member": round(traced / len(kept), 1),
        "traced_peak_bytes_per_member": round(traced_peak / len(kept), 1),
        "rss_bytes_per_member": round(rss_growth / size, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def plain_set(members: int, batch: int) -> dict[str, Any]:
    is_matched = _matcher()
    tracemalloc.start()
    kept: set[str] = set()
    added_s = 0.0
    for ids in _batches(members, batch, seed=1):
        items = set(ids)
        started = time.perf_counter()
        kept |= items
        added_s += time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    started = time.perf_counter()
    matched = sum(1 for member in kept if is_matched(member))
    refresh_s = time.perf_counter() - started
    return {
        "case": "plain_set",
        "members": len(kept),
        "batch": batch,
        "matched": matched,
        "add_us_per_member": round(added_s / members * 1e6, 3),
        "refresh_s": round(refresh_s, 3),
        "refresh_us_per_member": round(refresh_s / members * 1e6, 3),
        "traced_bytes_per_member": round(traced / len(kept), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mock_members")
    parser.add_argument("--members", type=int, default=10_000_000)
    parser.add_argument("--baseline", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1900)
    args = parser.parse_args(argv)
    compact = member_set(args.members, args.batch)
    print(json.dumps(compact), flush=True)
    print(json.dumps(plain_set(args.baseline, args.batch)), flush=True)
    return 0 if compact["traced_bytes_per_member"] <= TARGET_BYTES_PER_MEMBER else 1


if __name__ == "__main__":
    sys.exit(main())
