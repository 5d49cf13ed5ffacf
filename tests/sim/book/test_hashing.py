"""sim.book.hashing: the simulation's own normalising and hashing of ids.

Truths come from ``hashlib`` and hand-computed closed forms, and, for agreement, from
``sync_core.identity`` (an independent implementation of the same identity rules,
docs/ARCHITECTURE.md).
"""

import hashlib

import pytest

from sim.book.hashing import hash_column, hash_value
from sim.world.profiles import ProfilePool
from sync_core.identity import hash_email, hash_maid

GOLDEN_EMAIL = "321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"
GOLDEN_MAID = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"
MAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_hash_value_email_golden_vector() -> None:
    assert hash_value("email", " Foo@Example.COM ") == GOLDEN_EMAIL
    assert sha("foo@example.com") == GOLDEN_EMAIL


def test_hash_value_maid_golden_vector_keeps_hyphens() -> None:
    assert hash_value("maid", "6D92078A-8246-4BA4-AE5B-76104861E7DC") == GOLDEN_MAID
    assert sha(MAID) == GOLDEN_MAID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@b.co", sha("a@b.co")),
        ("\tMixed.Case+Tag@Sub.Example.ORG\n", sha("mixed.case+tag@sub.example.org")),
        ("josé.garcía@correo.es", sha("josé.garcía@correo.es")),
        ("\u00a0x@y.z\u00a0", sha("x@y.z")),  # Unicode whitespace is trimmed too
    ],
)
def test_hash_value_email_trims_lowercases_and_hashes(raw: str, expected: str) -> None:
    assert hash_value("email", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (MAID, sha(MAID)),
        (f"  {MAID.upper()}\n", sha(MAID)),
        (MAID.replace("-", "").upper(), sha(MAID.replace("-", ""))),  # bare 32-hex form
    ],
)
def test_hash_value_maid_trims_lowercases_and_hashes(raw: str, expected: str) -> None:
    assert hash_value("maid", raw) == expected


@pytest.mark.parametrize("name", ["email", "maid"])
@pytest.mark.parametrize(
    "digest", [GOLDEN_EMAIL, GOLDEN_EMAIL.upper(), f"  {GOLDEN_MAID.upper()} ", "0" * 64]
)
def test_hash_value_digest_passes_through_lowercased(name: str, digest: str) -> None:
    assert hash_value(name, digest) == digest.strip().lower()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "foo",
        "foo.example.com",
        "foo@@example.com",
        "foo@",
        "@example.com",
        "foo @example.com",
        "foo@exa mple.com",
        "foo@example",
        "foo@example.",
        "foo@.example.com",
        "foo@example..com",
        "a@b@c.com",
        "a,b@c.com",
        "a@b.com,c@d.com",
        "a" * 63,  # one short of a digest
        "g" * 64,  # digest length, not hex
    ],
)
def test_hash_value_malformed_email_is_none(raw: str | None) -> None:
    assert hash_value("email", raw) is None
    assert hash_email(raw) is None  # the engine agrees these are unusable


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "  ",
        "not-a-maid",
        MAID[:-1],  # 35 characters
        MAID + "0",  # 37 characters
        MAID.replace("-", "")[:-1],  # 31 bare hex digits
        MAID.replace("-", "") + "0",  # 33 bare hex digits
        MAID.replace("d", "g"),  # not hex
        MAID.replace("-", "_"),
        MAID.replace("-", " "),
        "6d92078-a8246-4ba4-ae5b-76104861e7dc",  # 36 characters, a hyphen misplaced
        "foo@example.com",
    ],
)
def test_hash_value_malformed_maid_is_none(raw: str | None) -> None:
    assert hash_value("maid", raw) is None
    assert hash_maid(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "6d92078a82464ba4-ae5b-76104861e7dc",  # first hyphen missing
        "6d92078a-8246-4ba4-ae5b76104861e7dc",  # last hyphen missing
    ],
)
def test_hash_value_maid_agrees_with_engine_on_partial_hyphens(raw: str) -> None:
    assert hash_value("maid", raw) == hash_maid(raw)


@pytest.fixture(scope="module")
def messy_profiles() -> list[tuple[str, str | None, str | None]]:
    pool = ProfilePool(seed=11, size=128)
    users = pool.batch(0, 4000, missing_email=0.1, missing_maid=0.3, malformed=0.15)
    return list(users)


def test_hash_value_agrees_with_engine_on_messy_profiles(
    messy_profiles: list[tuple[str, str | None, str | None]],
) -> None:
    emails = [email for _, email, _ in messy_profiles]
    maids = [maid for _, _, maid in messy_profiles]
    email_disagreements = [e for e in emails if hash_value("email", e) != hash_email(e)]
    maid_disagreements = [m for m in maids if hash_value("maid", m) != hash_maid(m)]
    assert email_disagreements == []
    assert maid_disagreements == []
    # the sample really is messy: both verdicts occur, so agreement is not vacuous
    unusable = sum(hash_value("email", e) is None for e in emails if e is not None)
    assert 0.1 * len(emails) < unusable < 0.3 * len(emails)
    assert any(e is not None and e != e.strip().lower() and hash_value("email", e) for e in emails)
    assert any(m is not None and m.isupper() for m in maids)


def test_hashing_blank_class_is_exactly_what_strip_removes() -> None:
    from sim.book.hashing import _BLANK

    assert set(_BLANK) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


@pytest.mark.parametrize("name", ["email", "maid"])
def test_hash_column_agrees_with_one_value_at_a_time(
    name: str, messy_profiles: list[tuple[str, str | None, str | None]]
) -> None:
    column = [email if name == "email" else maid for _, email, maid in messy_profiles]
    edge = [" Σ@Χ.gr ", "İ@x.com", "\u3000a@b.co\u00a0", "a\u2028b@c.co", GOLDEN_EMAIL.upper()]
    for raws in (column + edge, [*edge, "x\ny@z.com"], []):  # a line break: the slow path
        blob, usable = hash_column(name, raws)
        expected = [hash_value(name, raw) for raw in raws]
        assert usable.tolist() == [h is not None for h in expected]
        assert blob.hex() == "".join(h for h in expected if h is not None)
