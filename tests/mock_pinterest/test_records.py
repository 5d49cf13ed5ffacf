from __future__ import annotations

import hashlib

import pytest

from mock_pinterest.records import parse_records
from mock_pinterest.wire import HexText

SHA256 = hashlib.sha256(b"a").hexdigest()
MD5 = hashlib.md5(b"a").hexdigest()
SHA1 = hashlib.sha1(b"a").hexdigest()


def test_records_counts_duplicates_and_skips_empty_items() -> None:
    parsed = parse_records(f"{SHA256},{SHA256},,{MD5},", "MAID")
    assert (parsed.sent, parsed.invalid) == (3, 0)
    assert parsed.valid == {SHA256, MD5}


def test_records_maid_lists_take_hashes_only() -> None:
    parsed = parse_records(f"a@b.co,{SHA256.upper()},{SHA256}", "MAID")
    assert parsed.valid == {SHA256} and parsed.invalid == 2


def test_records_email_lists_take_lowercase_emails_and_hashes() -> None:
    parsed = parse_records(f"ok@b.co,Bad@B.co,{SHA256},{SHA256[:-1]}", "EMAIL")
    assert parsed.valid == {"ok@b.co", SHA256} and parsed.invalid == 2


def test_records_partner_ids_take_any_item_without_spaces() -> None:
    assert parse_records("abc,x y", "LR_ID").valid == {"abc"}


@pytest.mark.parametrize("digest", [SHA256, SHA1, MD5])
def test_records_uniform_digests_keep_every_item(digest: str) -> None:
    records = f"{digest},{digest[::-1]},{digest}"
    for given in (records, HexText(records)):
        parsed = parse_records(given, "EMAIL")
        assert (parsed.valid, parsed.sent, parsed.invalid) == ({digest, digest[::-1]}, 3, 0)


@pytest.mark.parametrize(
    "records",
    [
        f"{SHA256[:-1]},{SHA256}0",  # the right total, but the comma is off its stride
        f"{SHA256},{SHA256[:-2]}",
        f"{SHA256},{SHA256},",
        f"{MD5},{SHA256}",
        SHA256[:31],
        "",
    ],
)
def test_records_non_uniform_hex_takes_the_general_path(records: str) -> None:
    items = [item for item in records.split(",") if item]
    valid = {item for item in items if len(item) in (32, 40, 64)}
    parsed = parse_records(HexText(records), "MAID")
    assert parsed.valid == valid
    assert (parsed.sent, parsed.invalid) == (len(items), sum(item not in valid for item in items))
