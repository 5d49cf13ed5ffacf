"""Normalise and hash user identifiers before they leave the engine.

Rules:
- Emails and MAIDs are trimmed and lowercased (MAIDs keep their hyphens), then SHA-256 hashed.
- A value that already is a 64-hex SHA-256 digest passes through, lowercased: the caller hashed
  it upstream and hashing twice would match nobody.
- Empty and malformed values give ``None``: the user has no usable value for that field.
- ``*_digest`` return the raw 32-byte digest, the compact form the engine queues; ``hash_*``
  return the hex text that goes on the wire. Raw values are never stored or logged.
- ``*_column`` is the bulk path the engine's entry throughput (and a live worker's) rests on:
  the column is trimmed, lowercased and validated as one Arrow array (``pyarrow.compute``), so
  the only Python step per value is its SHA-256. Arrow's case mapping agrees with Python's on
  ASCII alone (it lowercases the dotted capital I to "i", Python to "i" and a combining dot),
  so a non-ASCII value, like a 64-hex value to pass through, is redone by the per-value rules.
  A column shorter than ``_ARROW_MIN``, or with a line break in a value, goes one value at a
  time. All give the same digests.
- ``user_digests`` is what the engine queues for users entering a step: per user, the digests
  of each field the step matches on, email before MAID, as one ``bytes``; ``hex_records``
  turns such digests into the wire's comma-separated text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import add

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

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

# Arrow costs ~100 µs a call whatever the length (it compiles its regexes each time): the
# per-value path is faster below ~400 values.
_ARROW_MIN = 512
_ASCII_BLANK = "".join(c for c in map(chr, range(128)) if c.isspace())  # ``strip`` on ASCII
# RE2's ``\s`` is [\t\n\f\r ], Python's also \v and \x1c-\x1f: the class is spelled out.
_S = "".join(f"\\x{ord(c):02x}" for c in _ASCII_BLANK)
_ARROW_EMAIL = pc.MatchSubstringOptions(rf"^[^@,{_S}]+@[^@,.{_S}]+(?:\.[^@,.{_S}]+)+$")
_ARROW_MAID = pc.MatchSubstringOptions(f"^(?:{_MAID.pattern})$")
# Arrow constants taken from arrays built on buffers: ``pa.scalar``, ``pa.array``, a Python
# literal handed to ``pyarrow.compute`` and ``to_numpy`` all import pandas (~0.4 s, tens of
# MB), which a live worker has no other use for.
_LINE_BREAK = ord("\n")
_EMPTY = pa.LargeStringArray.from_buffers(1, pa.py_buffer(bytes(16)), pa.py_buffer(b""))[0]
_SIXTY_FOUR = pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(np.int64(64))])[0]


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
    raws: Sequence[str | None], arrow_pattern: pc.MatchSubstringOptions, pattern: re.Pattern[str]
) -> tuple[bytes, list[bytes]]:
    built = _arrow(raws) if len(raws) >= _ARROW_MIN else None
    if built is None:
        found = _digests(raws, pattern)
        return bytes(d is not None for d in found), [d or b"" for d in found]
    column, ascii = built
    values = pc.ascii_lower(pc.ascii_trim(column, _ASCII_BLANK))
    usable = pc.match_substring_regex(values, options=arrow_pattern)
    # a digest to pass through is 64 long: such values are few, and cheaper to check alone
    odd = pc.equal(pc.binary_length(values), _SIXTY_FOUR)
    if not ascii:
        is_ascii = pc.string_is_ascii(column)
        usable, odd = pc.and_(usable, is_ascii), pc.or_(odd, pc.invert(is_ascii))
    sha256 = _sha256
    digests = [
        sha256(value).digest() if value else b""
        for value in pc.if_else(usable, values, _EMPTY).cast(pa.large_binary()).to_pylist()
    ]
    flags = bytearray(_mask(usable))
    for i in np.flatnonzero(_mask(odd)).tolist():
        digest = _digest(raws[i], pattern)
        flags[i], digests[i] = digest is not None, digest or b""
    return bytes(flags), digests


def _arrow(raws: Sequence[str | None]) -> tuple[pa.LargeStringArray, bool] | None:
    """The column as one Arrow array (None as "", a value may keep a trailing line break,
    which trimming removes) and whether it is all ASCII; None if a value holds a line break or
    is no UTF-8 (a lone surrogate). Built on the buffers of the values joined by line breaks:
    ``pa.array`` would import pandas, and costs more."""
    values = [raw or "" for raw in raws]
    text = "\n".join(values)
    try:
        data = text.encode()
    except UnicodeEncodeError:
        return None
    breaks = np.flatnonzero(np.frombuffer(data, np.uint8) == _LINE_BREAK)
    if len(breaks) != len(values) - 1:
        return None
    offsets = np.empty(len(values) + 1, np.int64)
    offsets[0], offsets[1:-1], offsets[-1] = 0, breaks + 1, len(data)
    column = pa.LargeStringArray.from_buffers(
        len(values), pa.py_buffer(offsets), pa.py_buffer(data)
    )
    return column, len(data) == len(text)  # a non-ASCII character takes 2 to 4 bytes


def _mask(flags: pa.BooleanArray) -> npt.NDArray[np.uint8]:
    """An Arrow boolean column without nulls as one 0/1 byte per value, from its bitmap."""
    bits = np.frombuffer(flags.buffers()[1], np.uint8)
    return np.unpackbits(bits, count=flags.offset + len(flags), bitorder="little")[flags.offset :]


def email_column(raws: Sequence[str | None]) -> tuple[bytes, list[bytes]]:
    """Per value: 1 if usable else 0, and ``email_digest`` (``b""`` for an unusable value)."""
    return _column(raws, _ARROW_EMAIL, _EMAIL)


def maid_column(raws: Sequence[str | None]) -> tuple[bytes, list[bytes]]:
    """Per value: 1 if usable else 0, and ``maid_digest`` (``b""`` for an unusable value)."""
    return _column(raws, _ARROW_MAID, _MAID)


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
