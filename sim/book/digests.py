"""Hashed ids as raw 32-byte SHA-256 digests: read off the wire, and kept as one sorted set.

Rules:
- ``parse_records`` reads a request body's ``records`` (comma-separated ids, as Pinterest
  takes them): how many, the digests among them, and whether any record is not a lowercase
  64-hex digest — raw PII on the wire, as is an ``@`` anywhere in the body.
- ``DigestSet`` is an immutable ``AbstractSet[str]`` of lowercase 64-hex ids — what the checks
  compare with the mock's list members — stored as a sorted, duplicate-free numpy ``S32``
  column: 32 bytes an id instead of a ~100-byte Python string and a hash-table slot, and it
  crosses a process boundary as one buffer.
- Hex text is made only when the set is iterated, a block of ids at a time.
- Equality between two ``DigestSet`` compares the columns; everything else (``-``, ``<=``,
  ``==`` with a ``frozenset``) is ``collections.abc.Set`` over the hex ids, whose cost is one
  hex conversion and one lookup an id; ``other - digest_set`` is a ``frozenset`` (``other`` may
  hold anything).
- Only SHA-256 hex ids belong: ``from_hex`` rejects anything else with ``ValueError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DigestSet", "Records", "parse_digest_list", "parse_records"]

_DIGEST = 32
_LOWER_HEX_AND_COMMA = b"0123456789abcdef,"
_HEX_BLOCK = 65_536  # ids turned into hex text, or back, at a time
_DIGEST_ITEM = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Records:
    """What a request body's ``records`` carry."""

    count: int
    digests: bytes  # the records that are digests, raw, in order
    raw_pii: bool


_NO_RECORDS = Records(count=0, digests=b"", raw_pii=False)


class DigestSet(Set[str]):
    """Hashed ids (lowercase 64-hex SHA-256) as one sorted column of raw digests."""

    __slots__ = ("_digests",)

    def __init__(self, digests: npt.NDArray[np.bytes_] | None = None) -> None:
        """``digests``: raw 32-byte digests (``S32``), in any order, repeats allowed."""
        column = np.zeros(0, dtype="S32") if digests is None else np.asarray(digests, "S32")
        self._digests: npt.NDArray[np.bytes_] = _sort_unique(column)

    @classmethod
    def from_hex(cls, ids: Iterable[str]) -> DigestSet:
        """The set of ``ids``, each a lowercase 64-hex SHA-256 digest (checked in C loops: only
        hex digits and commas, and a comma after every 64 characters), a block at a time so
        that the text made on the way stays small."""
        listed = list(ids)
        blocks = [
            _parse_hex(listed[start : start + _HEX_BLOCK])
            for start in range(0, len(listed), _HEX_BLOCK)
        ]
        return cls(np.concatenate(blocks) if blocks else None)

    @classmethod
    def of(cls, ids: Iterable[str]) -> DigestSet | None:
        """``from_hex(ids)``, or None when some id is not a lowercase 64-hex digest."""
        try:
            return cls.from_hex(ids)
        except ValueError:
            return None

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> DigestSet:  # type: ignore[override]
        # what the Set mixins build results with; typeshed's is generic, ours holds str only
        return cls.from_hex(it)

    @property
    def digests(self) -> npt.NDArray[np.bytes_]:
        """The sorted raw digests (read-only)."""
        view = self._digests.view()
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._digests)

    def __iter__(self) -> Iterator[str]:
        for block in self._hex_blocks():
            yield from block

    def _hex_blocks(self) -> Iterator[list[str]]:
        for start in range(0, len(self._digests), _HEX_BLOCK):
            block = self._digests[start : start + _HEX_BLOCK]
            yield block.tobytes().hex(",", _DIGEST).split(",")

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or len(item) != 2 * _DIGEST or item != item.lower():
            return False
        try:
            key = np.array(bytes.fromhex(item), dtype="S32")
        except ValueError:
            return False
        at = int(np.searchsorted(self._digests, key))
        return at < len(self._digests) and bool(self._digests[at] == key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DigestSet):
            return np.array_equal(self._digests, other._digests)
        return super().__eq__(other)

    def __sub__(self, other: Any) -> Set[str]:
        if isinstance(other, DigestSet) and self == other:
            return DigestSet()
        if isinstance(other, set | frozenset) and all(map(other.issuperset, self._hex_blocks())):
            return DigestSet()  # the usual answer, nothing missing, from C loops only
        return super().__sub__(other)

    def __rsub__(self, other: Iterable[Any]) -> frozenset[Any]:
        # what ``other`` holds that is not here: any items, so a frozenset; one pass over this
        # set's hex ids instead of one search per item of ``other``
        return frozenset(other).difference(self)

    def __hash__(self) -> int:
        return self._hash()

    def __reduce__(self) -> tuple[Any, ...]:
        return (DigestSet, (self._digests,))

    def __repr__(self) -> str:
        return f"DigestSet(<{len(self)} ids>)"


def _sort_unique(column: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    """``np.unique(column)``: sorted by all 32 bytes, repeats dropped (``benchmarks.book``
    measures it against sorting by the first 8 bytes and mending ties)."""
    ordered = np.sort(column)
    repeat = ordered[1:] == ordered[:-1]
    # mostly nothing repeats: then a second copy of the column would only raise the peak
    return ordered[np.r_[True, ~repeat]] if repeat.any() else ordered


def parse_digest_list(text: str) -> bytes | None:
    """The raw digests of ``text`` when it is a comma-separated list of lowercase 64-hex ids
    (one comma between, at most one after: the wire's ``records``), else None. In C loops: hex
    digits and commas only, a comma after every 64 characters and nowhere else."""
    count, trailing = divmod(len(text) + 1, 2 * _DIGEST + 1)
    commas = count - 1 + trailing
    listed = (
        count > 0
        and trailing in (0, 1)
        and text.isascii()
        and not text.encode().translate(None, _LOWER_HEX_AND_COMMA)
        and text.count(",") == commas
        and text[2 * _DIGEST :: 2 * _DIGEST + 1] == "," * commas
    )
    return bytes.fromhex(text.replace(",", "")) if listed else None


def parse_records(body: bytes | None) -> Records:
    """The records of a request body (only customer-list writes carry any)."""
    if not body or b'"records"' not in body:
        return _NO_RECORDS
    records = str(json.loads(body).get("records", ""))
    listed = parse_digest_list(records)
    raw_pii = b"@" in body or (bool(records) and listed is None)
    if listed is not None:
        return Records(count=len(listed) // _DIGEST, digests=listed, raw_pii=raw_pii)
    items = [item for item in records.split(",") if item]
    carried = bytes.fromhex("".join(i for i in items if _DIGEST_ITEM.fullmatch(i)))
    return Records(count=len(items), digests=carried, raw_pii=raw_pii)


def _parse_hex(ids: list[str]) -> npt.NDArray[np.bytes_]:
    raw = parse_digest_list(",".join(ids))
    if raw is None or len(raw) != _DIGEST * len(ids):  # an empty id hides as a trailing comma
        raise ValueError("a DigestSet holds lowercase 64-hex SHA-256 ids only")
    return np.frombuffer(raw, dtype="S32")
