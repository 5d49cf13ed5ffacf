"""A set of hashed ids kept as one sorted column of 32-byte SHA-256 digests.

Rules:
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

from collections.abc import Iterable, Iterator, Set
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DigestSet", "digest_list"]

_DIGEST = 32
_LOWER_HEX_AND_COMMA = b"0123456789abcdef,"
_HEX_BLOCK = 65_536  # ids turned into hex text, or back, at a time


class DigestSet(Set[str]):
    """Hashed ids (lowercase 64-hex SHA-256) as one sorted column of raw digests."""

    __slots__ = ("_digests",)

    def __init__(self, digests: npt.NDArray[np.bytes_] | None = None) -> None:
        """``digests``: raw 32-byte digests (``S32``), in any order, repeats allowed."""
        column = np.zeros(0, dtype="S32") if digests is None else np.asarray(digests, "S32")
        self._digests: npt.NDArray[np.bytes_] = _sorted_unique(column)

    @classmethod
    def from_hex(cls, ids: Iterable[str]) -> DigestSet:
        """The set of ``ids``, each a lowercase 64-hex SHA-256 digest (checked in C loops: only
        hex digits and commas, and a comma after every 64 characters), a block at a time so
        that the text made on the way stays small."""
        listed = list(ids)
        blocks = [
            _digests_of(listed[start : start + _HEX_BLOCK])
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


def _sorted_unique(column: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    """``np.unique(column)``, but sorted by the first 8 bytes as a big-endian integer (the same
    order as the bytes') — several times faster than comparing 32-byte strings; only digests
    that share those 8 bytes (repeats, mostly) are compared whole."""
    if len(column) < 2:
        return column.copy()
    prefix = np.ascontiguousarray(column).view(">u8")[::4]
    order = np.argsort(prefix)
    out, prefix = column[order], prefix[order]
    tied = np.flatnonzero(prefix[1:] == prefix[:-1])
    if not len(tied):
        return out
    # sorting every tied digest by its whole value keeps each in its run of equal prefixes
    at = np.union1d(tied, tied + 1)
    out[at] = np.sort(out[at])
    repeat = np.zeros(len(out), dtype=bool)
    repeat[at[1:]] = out[at[1:]] == out[at[:-1]]
    repeat[at[1:]] &= np.diff(at) == 1
    return out[~repeat]


def digest_list(text: str) -> bytes | None:
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


def _digests_of(ids: list[str]) -> npt.NDArray[np.bytes_]:
    raw = digest_list(",".join(ids))
    if raw is None or len(raw) != _DIGEST * len(ids):  # an empty id hides as a trailing comma
        raise ValueError("a DigestSet holds lowercase 64-hex SHA-256 ids only")
    return np.frombuffer(raw, dtype="S32")
