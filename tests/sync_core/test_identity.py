"""Normalising and hashing identifiers.

The per-value functions are the truth the bulk ``*_column`` path (Arrow, for columns of
``_ARROW_MIN`` values or more) is held to, on chosen and on generated messy values."""

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_core import identity
from sync_core.identity import (
    email_column,
    email_digest,
    email_digests,
    hash_email,
    hash_maid,
    maid_column,
    maid_digest,
    maid_digests,
)

Column = Callable[[list[str | None]], tuple[bytes, list[bytes]]]
Single = Callable[[str | None], bytes | None]
FIELDS: list[tuple[Column, Single]] = [(email_column, email_digest), (maid_column, maid_digest)]

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


@contextmanager
def bulk_path(name: str) -> Iterator[None]:
    """Force a column of any length (but empty) through Arrow, or through the per-value path."""
    saved = identity._ARROW_MIN
    identity._ARROW_MIN = {"arrow": 1, "per_value": sys.maxsize}[name]
    try:
        yield
    finally:
        identity._ARROW_MIN = saved


def assert_columns_agree(column: list[str | None]) -> None:
    for bulk, single in FIELDS:
        usable, digests = bulk(column)
        expected = [single(raw) for raw in column]
        assert list(usable) == [int(d is not None) for d in expected]
        assert digests == [d or b"" for d in expected]


# every character ``str.strip`` removes: Arrow's own idea of a blank differs beyond " \t\n\r\f"
SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]


@pytest.mark.parametrize("path", ["arrow", "per_value"])
@pytest.mark.parametrize(
    "column",
    [
        MESSY,
        [*MESSY, GOLDEN_EMAIL.upper()],  # a digest passes through
        [*MESSY, f"\u3000{GOLDEN_EMAIL}\t"],  # a padded digest
        [*MESSY, f"{GOLDEN_EMAIL}x"],  # 65 long after trim: no digest, no email
        [*MESSY, "a\nb@c.com", "a@b.co\n", "\na@b.co"],  # line breaks: inside, around
        [*MESSY, "a\udc80", "\ud800"],  # lone surrogates, unusable
        [f"{s}A@B.co{s}" for s in SPACES] + [f"a{s}b@c.co" for s in SPACES],
        [f"{s}6D92078A82464BA4AE5B76104861E7DC{s}" for s in SPACES],
        [f"x{k}@Example.COM" for k in range(300)],  # ASCII only
        [],
    ],
)
def test_columns_agree_with_the_single_value_functions(path: str, column: list[str | None]) -> None:
    with bulk_path(path):
        assert_columns_agree(column)


def test_a_long_column_takes_the_arrow_path_and_a_short_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[int] = []
    arrow = identity._arrow

    def counted(raws: list[str | None]) -> object:
        built.append(len(raws))
        return arrow(raws)

    monkeypatch.setattr(identity, "_arrow", counted)
    n = identity._ARROW_MIN
    assert email_column(["a@b.co"] * (n - 1)) == (
        b"\x01" * (n - 1),
        [email_digest("a@b.co")] * (n - 1),
    )
    assert built == []
    assert email_column(["a@b.co"] * n) == (b"\x01" * n, [email_digest("a@b.co")] * n)
    assert built == [n]


# Messy values from parts: the separators and blanks the rules care about, case, line
# breaks, non-ASCII letters whose lowercase differs between Arrow and Python, digests, MAIDs.
PARTS = st.sampled_from(
    [
        "a", "B", "x.y", "@", ".", ",", "-", "\n", "\r\n", " ", "\t", "\x0b", "\x1c", "\x85",
        "\xa0", "\u2028", "\u3000", "İ", "Σ", "ß", "é", "K", "COM", "example", "6D92078A",
        "8246", "4BA4", "AE5B", "76104861E7DC", GOLDEN_EMAIL, GOLDEN_EMAIL.upper(),
    ]
)  # fmt: skip
MAIDS = st.uuids().map(str) | st.uuids().map(lambda u: u.hex.upper())
PADS = st.sampled_from(["", " ", "\t", "\x0b", "\x1f", "\u3000", "\n"])


def emails(local: str, domain: str, tld: list[str]) -> st.SearchStrategy[str]:
    """Near-emails, padded: the alphabets hold what breaks one."""
    parts = (st.text(local, min_size=1), st.text(domain, min_size=1), st.sampled_from(tld))
    return st.builds("{}{}@{}.{}{}".format, PADS, *parts, PADS)


VALUES = (
    st.lists(PARTS, max_size=8).map("".join)
    | emails("aZ.,\x0b\x1c", "bY-", ["com", "CO"])  # ASCII: Arrow decides
    | emails("aZé.", "bY-İ", ["com", "Σ"])  # not ASCII: redone by Python
    | MAIDS
    | st.text(max_size=12)
    | st.sampled_from([None, ""])
)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUES, max_size=40))
def test_arrow_columns_agree_with_the_single_value_functions_on_messy_values(
    column: list[str | None],
) -> None:
    with bulk_path("arrow"):
        assert_columns_agree(column)


def test_the_arrow_path_does_not_import_pandas() -> None:
    # pyarrow imports pandas on first use of ``pa.array`` and friends: a live worker would pay
    # ~0.4 s and tens of MB for it on its first entries
    code = (
        "import sys\n"
        "from sync_core.identity import email_column, maid_column\n"
        "email_column(['A@b.co', None, 'é@x.de'] * 300)\n"
        "maid_column(['6d92078a-8246-4ba4-ae5b-76104861e7dc', 'x' * 64] * 300)\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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
