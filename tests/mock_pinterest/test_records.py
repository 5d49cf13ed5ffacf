from __future__ import annotations

import hashlib

from mock_pinterest.records import parse_records

SHA256 = hashlib.sha256(b"a").hexdigest()
MD5 = hashlib.md5(b"a").hexdigest()


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
