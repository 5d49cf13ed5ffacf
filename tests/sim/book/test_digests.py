"""sim.book.digests: ``DigestSet``, a set of hex ids that behaves like the frozenset it replaces,
and ``parse_digest_list``, the wire's digest-only records."""

from __future__ import annotations

import hashlib
import pickle
import re

import numpy as np
import pytest

from sim.book.digests import DigestSet, parse_digest_list

GOLDEN_EMAIL = "321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"
GOLDEN_MAID = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"


def _ids(*words: str) -> list[str]:
    return [hashlib.sha256(word.encode()).hexdigest() for word in words]


def test_a_digest_set_behaves_like_the_frozenset_of_its_ids() -> None:
    ids = _ids(*(f"user{k}@example.com" for k in range(200)))
    other = frozenset(ids[50:] + _ids("raw@example.com") + ["not-a-digest"])
    digest_set = DigestSet.from_hex(ids + ids[:10])  # repeats fold
    plain = frozenset(ids)
    assert len(digest_set) == len(plain) == 200
    assert sorted(digest_set) == sorted(plain)
    assert all(i in digest_set for i in ids)
    assert ids[0].upper() not in digest_set and "not-a-digest" not in digest_set
    assert digest_set == plain and plain == digest_set
    assert digest_set - other == plain - other
    assert other - digest_set == other - plain
    assert (digest_set & other) == (plain & other)
    assert digest_set <= plain and not digest_set <= other


def test_two_digest_sets_compare_by_their_columns() -> None:
    ids = _ids("a", "b", "c")
    raw = np.frombuffer(bytes.fromhex("".join(reversed(ids))), dtype="S32")
    assert DigestSet(raw) == DigestSet.from_hex(ids)
    assert DigestSet(raw) != DigestSet.from_hex(ids[:2])
    assert DigestSet() == frozenset() and len(DigestSet()) == 0


def test_a_digest_set_survives_pickling() -> None:
    digest_set = DigestSet.from_hex(_ids("a", "b"))
    assert pickle.loads(pickle.dumps(digest_set)) == digest_set


@pytest.mark.parametrize(
    "ids",
    [["raw@example.com"], [_ids("a")[0].upper()], [_ids("a")[0][:63], _ids("b")[0] + "0"]],
    ids=["raw", "uppercase", "misaligned"],
)
def test_only_sha256_hex_ids_belong(ids: list[str]) -> None:
    with pytest.raises(ValueError, match="64-hex SHA-256 ids only"):
        DigestSet.from_hex(ids)


def test_the_column_is_np_unique_even_where_digests_share_their_first_bytes() -> None:
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=(4000, 32), dtype=np.uint8)
    raw[:1000, :8] = raw[0, :8]  # a long run of equal prefixes, tails all different
    raw[1000:1500, :8] = rng.integers(0, 256, size=8, dtype=np.uint8)
    raw[2000:2400] = raw[2400:2800]  # exact repeats
    raw[3000:3100, 8:] = 0  # trailing zero bytes, which S32 does not show
    column = np.frombuffer(raw.tobytes(), dtype="S32")
    shuffled = column[rng.permutation(len(column))]
    assert np.array_equal(DigestSet(shuffled).digests, np.unique(column))


def test_missing_ids_are_found_against_a_frozenset() -> None:
    ids = _ids(*map(str, range(100)))
    assert len(DigestSet.from_hex(ids) - frozenset(ids[:90])) == 10
    assert not DigestSet.from_hex(ids) - frozenset(ids)
    assert not DigestSet.from_hex(ids) - DigestSet.from_hex(ids)


def test_of_gives_none_for_anything_but_digests() -> None:
    assert DigestSet.of(_ids("a", "b")) == DigestSet.from_hex(_ids("a", "b"))
    assert DigestSet.of(frozenset()) == DigestSet()
    assert DigestSet.of(["raw@example.com", *_ids("a")]) is None


@pytest.mark.parametrize(
    "records",
    [
        "",
        ",",
        GOLDEN_EMAIL,
        f"{GOLDEN_EMAIL},",
        f"{GOLDEN_EMAIL},,",
        f"{GOLDEN_EMAIL},{GOLDEN_MAID}",
        f"{GOLDEN_EMAIL},{GOLDEN_MAID},",
        f",{GOLDEN_EMAIL}",
        f"{GOLDEN_EMAIL}{GOLDEN_MAID}",
        f"{GOLDEN_EMAIL[:-1]},{GOLDEN_MAID}0",
        f"{GOLDEN_EMAIL.upper()}",
        f"{GOLDEN_EMAIL[:-1]}é",
        f"{GOLDEN_EMAIL} ",
    ],
)
def test_parse_digest_list_agrees_with_the_regex(records: str) -> None:
    listed = re.fullmatch(r"(?:[0-9a-f]{64},)*[0-9a-f]{64},?", records) is not None
    assert parse_digest_list(records) == (
        bytes.fromhex(records.replace(",", "")) if listed else None
    )
