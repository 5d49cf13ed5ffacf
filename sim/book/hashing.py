"""The simulation's own normalising and hashing of user identifiers, for the ledger's book.

Rules:
- The identity rules of docs/ARCHITECTURE.md, implemented here with ``hashlib`` and never by
  calling ``sync_core``, or the checks would agree with the engine by construction: trim,
  lowercase (MAIDs keep their hyphens), SHA-256; a value that already is a 64-hex digest
  passes through, lowercased; an empty or malformed value is unusable (``None``, or not
  usable in a column).
- What a usable value looks like is one table, ``_WELL_FORMED_TEXT``, per match field. Email:
  one @, a local part and a domain of two or more dot-separated labels, no blank or comma
  (which would break the comma-separated wire format). MAID: a UUID with all four hyphens, or
  bare.
- ``hash_value`` is the rule one value at a time: the reference ``hash_column`` must agree
  with. ``hash_column`` is the bulk path millions of users rest on: a whole column is joined,
  validated by one multi-line regex and hashed through ``map`` (no Python step per value);
  a column holding a line break or a 64-hex value takes the one-value-at-a-time path.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from operator import methodcaller

import numpy as np
import numpy.typing as npt

__all__ = ["hash_column", "hash_value"]

_HEX = frozenset(string.hexdigits.lower())
# Every character ``str.isspace`` (so ``str.strip`` and the regex ``\s``) calls blank, spelled
# out: a class of code points is several times faster to match than the ``\s`` category.
_BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT = "^" + re.escape(_BLANK)
# What a usable value of each match field looks like once trimmed and lowercased.
_WELL_FORMED_TEXT = {
    "email": rf"[{_NOT}@,]+@(?:[{_NOT}@,.]+\.)+[{_NOT}@,.]+",
    "maid": r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{32}",
}
_WELL_FORMED = {name: re.compile(text) for name, text in _WELL_FORMED_TEXT.items()}
# One line per value of a joined column: the value if well formed, else empty.
_COLUMN = {
    name: re.compile(rf"^(?:({text})|.*)$", re.MULTILINE)
    for name, text in _WELL_FORMED_TEXT.items()
}

_SHA256 = hashlib.sha256
_BYTES_OF = methodcaller("digest")


def hash_value(name: str, raw: str | None) -> str | None:
    """The hex SHA-256 of one ``name`` value ("email" or "maid") by those rules, or None when
    it cannot be matched."""
    value = raw.strip().lower() if raw else ""
    if _is_digest(value):
        return value
    if value and _WELL_FORMED[name].fullmatch(value):
        return _SHA256(value.encode()).hexdigest()
    return None


def hash_column(name: str, raws: Sequence[str | None]) -> tuple[bytes, npt.NDArray[np.bool_]]:
    """A whole column of ``name`` values: the 32-byte digests of the usable ones, in order,
    and which values were usable."""
    values = [raw.strip().lower() if raw else "" for raw in raws]
    text = "\n".join(values)
    well: list[str] = []
    if values and text.count("\n") == len(values) - 1:  # one line per value
        well = _COLUMN[name].findall(text)
    usable = np.fromiter(map(bool, well), dtype=bool, count=len(well))
    passed = [values[k] for k in np.flatnonzero(~usable).tolist() if _is_digest(values[k])]
    if len(well) != len(values) or not values or passed:  # one by one: digests pass through
        hexes = [hash_value(name, raw) for raw in raws]
        usable = np.array([h is not None for h in hexes], dtype=bool)
        return bytes.fromhex("".join(h for h in hexes if h is not None)), usable
    lines = "\n".join(filter(None, well)).encode().split(b"\n") if usable.any() else []
    return b"".join(map(_BYTES_OF, map(_SHA256, lines))), usable


def _is_digest(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX
