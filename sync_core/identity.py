"""Normalise and hash user identifiers before they leave the engine.

Rules:
- Emails and MAIDs are trimmed and lowercased (MAIDs keep their hyphens), then SHA-256 hashed.
- A value that already is a 64-hex SHA-256 digest passes through, lowercased: the caller hashed
  it upstream and hashing twice would match nobody.
- Empty and malformed values give ``None``: the user has no usable value for that field.
- ``*_digest`` return the raw 32-byte digest, the compact form the engine queues; ``hash_*``
  return the hex text that goes on the wire. Raw values are never stored or logged.
- ``*_column`` is the bulk path the engine's entry throughput rests on: the column is joined,
  lowercased and matched as one multi-line text (trim included), then hashed through ``map``,
  so no Python step runs per value. Columns holding a line break or a 64-hex value take the
  one-value-at-a-time path; both give the same digests.
- ``user_digests`` is what the engine queues for users entering a step: per user, the digests
  of each field the step matches on, email before MAID, as one ``bytes``; ``hex_records``
  turns such digests into the wire's comma-separated text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from itertools import chain, compress
from operator import add, methodcaller, mul

__all__ = [
    "DIGEST_SIZE",
    "email_column",
    "email_digest",
    "email_digests",
    "hash_email",
    "hash_maid",
    "hex_records",
    "maid_column",
    "maid_digest",
    "maid_digests",
    "user_digests",
]

DIGEST_SIZE = 32  # bytes of one SHA-256 digest

_HEX64 = re.compile(r"[0-9a-f]{64}")
# Deliberately permissive (Pinterest matches what it can): one @, a non-empty local part, a
# dotted domain, and nothing that would break the comma-separated wire format or is blank.
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,.]+(?:\.[^@\s,.]+)+")
# Advertising ids (IDFA / GAID) are UUIDs; some SDKs send them without hyphens.
# Either every hyphen of the canonical form or none: a half-hyphenated id is mangled data.
_MAID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
_sha256 = hashlib.sha256
_digest_of = methodcaller("digest")

# Every character ``str.strip`` removes (``str.isspace``) but the line break, spelled out: a
# class of code points matches several times faster than the ``\s`` category.
_BLANK = (
    "\t\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_B = re.escape(_BLANK)
_NB = f"^{_B}\n"  # neither blank nor a line break
# Per line of a joined, lowercased column: the trimmed value when it is usable, else "".
_EMAIL_LINES = re.compile(
    rf"^[{_B}]*(?:([{_NB}@,]+@[{_NB}@,.]+(?:\.[{_NB}@,.]+)+)[{_B}]*|.*)$", re.MULTILINE
)
_HEX64_LINES = re.compile(rf"^[{_B}]*[0-9a-f]{{64}}[{_B}]*$", re.MULTILINE)
_FLIP = bytes.maketrans(b"\x00\x01", b"\x01\x00")
_MAID_LINES = re.compile(
    rf"^[{_B}]*(?:([0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}"
    rf"|[0-9a-f]{{32}})[{_B}]*|.*)$",
    re.MULTILINE,
)


def _digest(raw: str | None, pattern: re.Pattern[str]) -> bytes | None:
    if not raw:
        return None
    value = raw.strip().lower()
    if len(value) == 64 and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    if not pattern.fullmatch(value):
        return None
    return _sha256(value.encode()).digest()


def _digests(raws: Iterable[str | None], pattern: re.Pattern[str]) -> list[bytes | None]:
    # The bulk path of ``_digest``, inlined: entry throughput is bound by this loop.
    out: list[bytes | None] = []
    append, matches, is_hex, sha256 = out.append, pattern.fullmatch, _HEX64.fullmatch, _sha256
    for raw in raws:
        if not raw:
            append(None)
            continue
        value = raw.strip().lower()
        if matches(value):  # a digest never matches an email or a MAID: check it second
            append(sha256(value.encode()).digest())
        elif len(value) == 64 and is_hex(value):
            append(bytes.fromhex(value))
        else:
            append(None)
    return out


def _column(
    raws: Sequence[str | None], lines: re.Pattern[str], pattern: re.Pattern[str]
) -> tuple[bytes, list[bytes]]:
    values = [raw or "" for raw in raws]
    text = "\n".join(values).lower()
    usable: list[str] = []
    if values and text.count("\n") == len(values) - 1:  # no value holds a line break
        usable = lines.findall(text)
    flags = bytes(map(bool, usable))
    if len(usable) != len(values) or not values or _has_digest(values, flags):
        digests = _digests(raws, pattern)
        return bytes(d is not None for d in digests), [d or b"" for d in digests]
    # every line is hashed (an unusable one as the empty string) and blanked by ``* 0``
    hashed = map(_digest_of, map(_sha256, "\n".join(usable).encode().split(b"\n")))
    return flags, list(map(mul, hashed, flags))


def _has_digest(values: list[str], flags: bytes) -> bool:
    """Whether an unusable value (a 0 flag; few) is a 64-hex digest, to be passed through:
    one search over those values joined, as lines."""
    unusable = "\n".join(compress(values, flags.translate(_FLIP))).lower()
    return _HEX64_LINES.search(unusable) is not None


def email_column(raws: Sequence[str | None]) -> tuple[bytes, list[bytes]]:
    """Per value: 1 if usable else 0, and ``email_digest`` (``b""`` for an unusable value)."""
    return _column(raws, _EMAIL_LINES, _EMAIL)


def maid_column(raws: Sequence[str | None]) -> tuple[bytes, list[bytes]]:
    """Per value: 1 if usable else 0, and ``maid_digest`` (``b""`` for an unusable value)."""
    return _column(raws, _MAID_LINES, _MAID)


def email_digests(raws: Iterable[str | None]) -> list[bytes | None]:
    """``email_digest`` of each value, in order."""
    return _digests(raws, _EMAIL)


def maid_digests(raws: Iterable[str | None]) -> list[bytes | None]:
    """``maid_digest`` of each value, in order."""
    return _digests(raws, _MAID)


def email_digest(raw: str | None) -> bytes | None:
    """The 32-byte SHA-256 of a normalised email, or None if it is empty or malformed."""
    return _digest(raw, _EMAIL)


def maid_digest(raw: str | None) -> bytes | None:
    """The 32-byte SHA-256 of a normalised mobile advertising id, or None if unusable."""
    return _digest(raw, _MAID)


def hash_email(raw: str | None) -> str | None:
    """The lowercase hex SHA-256 of a normalised email, or None if it is empty or malformed."""
    digest = email_digest(raw)
    return None if digest is None else digest.hex()


def hash_maid(raw: str | None) -> str | None:
    """The lowercase hex SHA-256 of a normalised MAID, or None if it is empty or malformed."""
    digest = maid_digest(raw)
    return None if digest is None else digest.hex()


def user_digests(
    emails: Sequence[str | None], maids: Sequence[str | None], *, use_email: bool, use_maid: bool
) -> tuple[bytes, bytes]:
    """Per user, how many usable records they have of the fields in use (0, 1 or 2); and the
    digests of those records, concatenated in user order, a user's email before their MAID."""
    n = len(emails)
    if use_email != use_maid:  # one field: one record per usable user
        records, digests = email_column(emails) if use_email else maid_column(maids)
        return records, b"".join(digests)
    email_ok, email_ds = email_column(emails) if use_email else (bytes(n), [b""] * n)
    maid_ok, maid_ds = maid_column(maids) if use_maid else (bytes(n), [b""] * n)
    blob = b"".join(chain.from_iterable(zip(email_ds, maid_ds, strict=True)))
    return bytes(map(add, email_ok, maid_ok)), blob


def hex_records(digests: bytes) -> str:
    """Concatenated digests as the wire's ``records``: lowercase hex, comma-separated."""
    return digests.hex(",", DIGEST_SIZE)
