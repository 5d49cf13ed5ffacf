from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock as patching

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_pinterest import Backend, MockConfig, members
from mock_pinterest.members import MemberSet
from mock_pinterest.records import parse_records
from tests.mock_pinterest.harness import FakeClock, Harness, hashed

# The match rule itself (crc32 of the text, seeded), from a real backend: half the ids match.
MATCHES = Backend(MockConfig(seed=7, match_rate=0.5), FakeClock()).is_matched
PROPERTY = settings(max_examples=150, deadline=None)

# Digests sharing their first 8 bytes (the base searches on those) and their last 24 bytes
# drawn from a few values, so the same digest recurs across batches.
SHARED_PREFIX = st.tuples(
    st.sampled_from([bytes(8), b"\xff" * 8, b"\x80" + bytes(7)]),
    st.sampled_from([bytes(24), b"\x01" * 24, b"\xfe" * 24, bytes(23) + b"\x01"]),
).map(lambda parts: (parts[0] + parts[1]).hex())
DIGEST = st.binary(min_size=32, max_size=32).map(bytes.hex)
# What a list's ``records.valid`` may hold beside lowercase 64-hex ids.
NOT_DIGEST = st.one_of(
    st.from_regex(r"[a-z0-9.]{1,8}@[a-z]{1,6}\.com", fullmatch=True),  # raw emails
    DIGEST.map(str.upper),  # partner id types take any item without spaces
    st.binary(min_size=16, max_size=16).map(bytes.hex),  # MD5
    st.binary(min_size=20, max_size=20).map(bytes.hex),  # SHA-1
    DIGEST.map(lambda text: text[:-1]),  # 63 hex digits
    DIGEST.map(lambda text: text + "0"),  # 65 hex digits
    st.text(min_size=1, max_size=70),
)
# One kind in three each (``one_of`` would flatten NOT_DIGEST's seven kinds into nine equal).
ITEM = st.integers(0, 2).flatmap(lambda kind: (DIGEST, SHARED_PREFIX, NOT_DIGEST)[kind])
# Pending changes merged into the base after every change, after a few, or at the default.
THRESHOLDS = [1, 3, 6, members._MIN_PENDING]


@contextmanager
def _merging_from(pending: int) -> Iterator[None]:
    with patching.patch.object(members, "_MIN_PENDING", pending):
        yield


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[str], list[tuple[bool, list[str]]]]:
    """A pool of items, and adds (True) and removes (False) of batches drawn from it."""
    pool = draw(st.lists(ITEM, min_size=4, max_size=40, unique=True))
    # small batches mostly, so that changes are often left pending between merges
    size = st.sampled_from([2, 4, 8, 30])
    batches = size.flatmap(lambda most: st.lists(st.sampled_from(pool), min_size=1, max_size=most))
    return pool, draw(st.lists(st.tuples(st.booleans(), batches), min_size=2, max_size=16))


def _is_digest(item: str) -> bool:
    return len(item) == 64 and all(c in "0123456789abcdef" for c in item)


@pytest.mark.parametrize("pending", THRESHOLDS)
@PROPERTY
@given(history=_histories())
def test_members_behave_as_a_set_of_strings(
    pending: int, history: tuple[list[str], list[tuple[bool, list[str]]]]
) -> None:
    pool, steps = history
    with _merging_from(pending):
        kept, plain = MemberSet(MATCHES), set[str]()
        for adding, batch in steps:
            if adding:
                kept.add(batch)
                plain |= set(batch)
            else:
                kept.remove(batch)
                plain -= set(batch)
            assert len(kept) == len(plain)
            assert kept.matched == sum(1 for item in plain if MATCHES(item))
            assert [item in kept for item in pool] == [item in plain for item in pool]
        # reads that merge what is pending come last: above, changes stay pending across steps
        assert kept == plain and plain == kept
        assert list(kept) == sorted(plain)
        column = kept.digests()
        assert column.dtype == "S32"
        assert column.tobytes().hex() == "".join(sorted(i for i in plain if _is_digest(i)))
        assert kept.others() == {item for item in plain if not _is_digest(item)}


@pytest.mark.parametrize("pending", THRESHOLDS)
def test_members_order_digests_sharing_their_first_8_bytes_by_the_rest(pending: int) -> None:
    """The base searches on the first 8 bytes: digests sharing them, entering in any order
    across merges, still iterate sorted and are found or not found exactly."""
    shared = [bytes.fromhex("ab" * 8 + f"{i:048x}") for i in range(0, 60, 3)]
    ids = [digest.hex() for digest in shared]
    other = ["ab" * 8 + f"{i:048x}" for i in range(1, 60, 3)]  # same prefix, never added
    rng = random.Random(2)
    with _merging_from(pending):
        kept = MemberSet(MATCHES)
        entering = rng.sample(ids, len(ids))
        for start in range(0, len(ids), 4):
            kept.add(entering[start : start + 4])
        assert list(kept) == sorted(ids)
        kept.remove(ids[5:9])
        assert list(kept) == sorted(set(ids) - set(ids[5:9]))
        assert [i in kept for i in ids + other] == [i not in ids[5:9] for i in ids] + [False] * 20
        assert kept.matched == sum(map(MATCHES, set(ids) - set(ids[5:9])))


def test_members_removed_then_added_again_before_a_merge() -> None:
    ids = hashed(10)
    with _merging_from(6):
        kept = MemberSet(MATCHES, ids)  # merged into the base
        kept.remove(ids[:2])  # pending
        kept.add(ids[1:3])
        assert ids[0] not in kept and ids[1] in kept and len(kept) == 9
        assert kept.matched == sum(map(MATCHES, ids[1:]))
        kept.remove(ids[1:2])
        kept.add(["kim@example.com", *ids[:1]])
        assert list(kept) == sorted({*ids[:1], *ids[2:], "kim@example.com"})


def test_members_count_matches_only_when_matched_is_read_and_once_a_member() -> None:
    """``matched`` is lazy: changes call ``matches`` on no digest; a read counts each member
    not yet counted, once (an independent count over the plain set is the truth)."""
    calls: list[str] = []

    def counting(item: str) -> bool:
        calls.append(item)
        return MATCHES(item)

    ids = hashed(300)
    with _merging_from(50):
        kept = MemberSet(counting, ids[:200])
        kept.add(ids[150:250])  # merged: pending reaches 50
        kept.remove(ids[:20])
        assert calls == [] and len(kept) == 230
        assert kept.matched == sum(map(MATCHES, ids[20:250]))
        assert sorted(calls) == sorted(ids[20:250])
        calls.clear()
        kept.remove(ids[20:40])  # counted rows leave, taking their count
        kept.add(ids[250:])
        assert calls == []
        assert kept.matched == sum(map(MATCHES, ids[40:]))
        assert sorted(calls) == sorted(ids[250:])


def test_members_find_a_pending_digest_only_at_a_digest_boundary() -> None:
    """Pending batches are joined raw digests: 32 bytes straddling two of them are no member."""
    first, second = bytes(16) + b"\x11" * 16, b"\x22" * 16 + bytes(16)
    straddling = (b"\x11" * 16 + b"\x22" * 16).hex()
    kept = MemberSet(MATCHES, [first.hex(), second.hex()])  # pending: fewer than _MIN_PENDING
    assert first.hex() in kept and second.hex() in kept and straddling not in kept
    kept.remove([straddling])
    assert len(kept) == 2 and straddling not in kept


# Batches that pass some of the joined checks (length, spaces every 65 characters, hex digits)
# but hold items that are not lowercase 64-hex ids.
DIGITS = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "batch",
    [
        [DIGITS[:63] + " ", DIGITS],  # a space inside an item
        [DIGITS[:62] + "  ", DIGITS],
        [DIGITS[:62] + "\t\t", DIGITS],  # whitespace bytes.fromhex skips
        [DIGITS + " " + DIGITS[:60], "000"],  # lengths that add up, a space inside
        [DIGITS, DIGITS[:63] + "A"],  # upper case
        [DIGITS[:63] + "\u0660", DIGITS],  # a non-ASCII digit
        [DIGITS[:63], DIGITS + "0"],  # 63 and 65 characters
        ["", DIGITS, DIGITS[::-1] + "0"],
    ],
)
def test_members_tell_lowercase_64_hex_ids_from_items_that_look_alike(batch: list[str]) -> None:
    kept = MemberSet(MATCHES, batch)
    digests = {item for item in batch if _is_digest(item)}
    assert kept.others() == set(batch) - digests
    assert kept.digests().tobytes().hex() == "".join(sorted(digests))
    assert list(kept) == sorted(set(batch))


def test_members_take_any_iterable_and_repeats_once() -> None:
    ids = hashed(5)
    kept = MemberSet(MATCHES, iter(ids + ids[:2] + ["a@b.com", "a@b.com"]))
    assert len(kept) == 6 and kept.matched == sum(map(MATCHES, {*ids, "a@b.com"}))
    kept.remove(ids[:1] * 3)
    number: object = 5
    assert len(kept) == 5 and ids[0] not in kept and number not in kept


def test_members_repr_shows_no_member() -> None:
    assert repr(MemberSet(MATCHES, ["kim@example.com", *hashed(1)])) == "MemberSet(<2 members>)"


def test_members_set_algebra_gives_plain_frozensets() -> None:
    kept = MemberSet(MATCHES, hashed(3))
    assert kept - set(hashed(1)) == frozenset(hashed(3)[1:])
    assert isinstance(kept & set(hashed(2)), frozenset)


@pytest.mark.parametrize("pending", THRESHOLDS)
def test_members_matched_is_the_count_over_members_at_every_refresh(pending: int) -> None:
    """Through the backend: an EMAIL list's size after each change and refresh is the count of
    ``is_matched`` over a plain set of what it holds (the definition before issue 14)."""
    clock = FakeClock()
    backend = Backend(MockConfig(seed=3, match_rate=0.5, size_refresh_delay_s=10), clock)
    account = backend.ad_accounts[next(iter(backend.ad_accounts))]
    rng = random.Random(5)
    pool = hashed(400) + [f"user{i}@example.com" for i in range(60)] + hashed(20, salt="md5")
    pool += [hashlib.md5(str(i).encode()).hexdigest() for i in range(20)]
    with _merging_from(pending):
        first = rng.sample(pool, 100)
        created = backend.create_customer_list(
            account, "l", "EMAIL", parse_records(",".join(first), "EMAIL")
        )
        plain = set(first)
        for _ in range(30):
            adding = rng.random() < 0.6
            batch = rng.sample(pool, rng.randrange(1, 120))
            records = parse_records(",".join(batch), "EMAIL")
            backend.update_customer_list(
                account, created.id, "ADD" if adding else "REMOVE", records
            )
            plain = plain | set(batch) if adding else plain - set(batch)
            clock.advance(10)
            backend.customer_list_for(account, created.id)  # the refresh falls due: applied
            assert created.matched == sum(1 for item in plain if backend.is_matched(item))
            assert created.members == plain


def test_members_admin_state_lists_mixed_members_in_sorted_order() -> None:
    mock = Harness()
    records = [*hashed(300), "zed@example.com", "amy@example.com", "0" * 32, "f" * 40]
    mock.new_list(mock.auth(), mock.account(), records)
    state = mock.http.get("/_mock/state").json()
    assert state["customer_lists"][0]["members"] == sorted(records)


def test_members_keep_a_hashed_id_in_about_32_bytes() -> None:
    """Once merged, a hashed id costs its 32 raw bytes and a state byte (the old ``set[str]``:
    ~140 bytes, the string and its table slot); pending changes add a few bytes a member at
    most."""
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(200_000)]
    tracemalloc.start()
    try:
        kept = MemberSet(MATCHES)
        for start in range(0, len(ids), 1900):
            kept.add(set(ids[start : start + 1900]))
        pending = tracemalloc.get_traced_memory()[0]
        assert len(kept.digests()) == len(ids)  # merges what is pending; the column is dropped
        merged = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == len(ids)
    assert merged / len(ids) <= 34 and pending / len(ids) <= 48
