"""Normalising and hashing identifiers."""

import hashlib

import pytest

from sync_core.identity import email_digests, hash_email, hash_maid, maid_digests

GOLDEN_EMAIL = "321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"
GOLDEN_MAID = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"


def test_hash_email_matches_the_golden_vector_after_trim_and_lowercase() -> None:
    assert hash_email(" Foo@Example.COM ") == GOLDEN_EMAIL
    assert hash_email("foo@example.com") == GOLDEN_EMAIL


def test_hash_maid_matches_the_golden_vector_and_keeps_hyphens() -> None:
    maid = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert hash_maid(maid) == GOLDEN_MAID
    assert hash_maid(f"  {maid.lower()}\t") == GOLDEN_MAID
    assert hash_maid(maid.replace("-", "")) != GOLDEN_MAID  # hyphens are part of the value


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "no-at-sign", "a@b", "a@@b.com", "a b@c.com", "a,b@c.com", "@example.com"],
)
def test_hash_email_rejects_empty_and_malformed_values(raw: str | None) -> None:
    assert hash_email(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not-a-maid",
        "6d92078a-8246-4ba4-ae5b",
        "x" * 36,
        "6d92078a82464ba4-ae5b-76104861e7dc",  # half-hyphenated: mangled, not a MAID
        "6d92078a-8246-4ba4-ae5b76104861e7dc",
    ],
)
def test_hash_maid_rejects_empty_and_malformed_values(raw: str | None) -> None:
    assert hash_maid(raw) is None


def test_hash_passes_an_existing_sha256_through_lowercased() -> None:
    assert hash_email(f" {GOLDEN_EMAIL.upper()} ") == GOLDEN_EMAIL
    assert hash_maid(GOLDEN_MAID.upper()) == GOLDEN_MAID


def test_digests_bulk_agree_with_the_single_value_functions() -> None:
    emails = [" A@b.co ", None, "bad", GOLDEN_EMAIL]
    assert [d.hex() if d else None for d in email_digests(emails)] == [
        hashlib.sha256(b"a@b.co").hexdigest(),
        None,
        None,
        GOLDEN_EMAIL,
    ]
    assert [
        d.hex() if d else None for d in maid_digests(["6D92078A-8246-4BA4-AE5B-76104861E7DC"])
    ] == [GOLDEN_MAID]


def test_blank_class_is_what_strip_removes_but_the_line_break() -> None:
    from sync_core.identity import _BLANK

    assert set(_BLANK) | {"\n"} == {chr(c) for c in range(0x110000) if chr(c).isspace()}


MESSY = [
    " A@b.co ",
    None,
    "",
    "   ",
    "bad",
    "a b@c.com",
    "a,b@c.com",
    "Σ@Χ.gr",
    "xΣ@y.gr\u3000",
    "İ@x.com",
    "\u00a0a@b.co\u2028",
    "a@b.c@d.e",
    "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    " 6d92078a82464ba4ae5b76104861e7dc\t",
    "6d92078a82464ba4-ae5b-76104861e7dc",
    "ä@ö.de",
]


@pytest.mark.parametrize(
    "column",
    [
        MESSY,
        [*MESSY, GOLDEN_EMAIL.upper()],  # a digest passes through: the one-by-one path
        [*MESSY, f"\u3000{GOLDEN_EMAIL}\t"],  # a padded digest, found among unusable values
        [*MESSY, "a\nb@c.com"],  # a line break: the one-by-one path
        [],
    ],
)
def test_columns_agree_with_the_single_value_functions(column: list[str | None]) -> None:
    from sync_core.identity import email_column, email_digest, maid_column, maid_digest

    for bulk, single in ((email_column, email_digest), (maid_column, maid_digest)):
        usable, digests = bulk(column)
        expected = [single(raw) for raw in column]
        assert list(usable) == [int(d is not None) for d in expected]
        assert digests == [d or b"" for d in expected]


@pytest.mark.parametrize(
    ("use_email", "use_maid"), [(True, False), (False, True), (True, True)], ids=str
)
def test_user_digests_carry_each_users_usable_fields_email_first(
    use_email: bool, use_maid: bool
) -> None:
    from sync_core.identity import email_digest, hex_records, maid_digest, user_digests

    maid = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    emails = ["foo@example.com", None, "bad", "bar@example.com"]
    maids = [maid, maid, None, "nope"]
    records, blob = user_digests(emails, maids, use_email=use_email, use_maid=use_maid)
    expected = [
        [d for d in (use_email and email_digest(e), use_maid and maid_digest(m)) if d]
        for e, m in zip(emails, maids, strict=True)
    ]
    assert list(records) == [len(digests) for digests in expected]
    assert hex_records(blob) == ",".join(d.hex() for digests in expected for d in digests)
