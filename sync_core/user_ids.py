"""Users' ids packed: one UTF-8 text and the end offset of each id in it.

Rules:
- Append-only, read by index: the engine's user ``i`` has id ``ids[i]``. An id costs its bytes
  and 8 bytes of offset, where a Python string and a list slot cost ~60 bytes: a run of
  millions of users holds every id it ever took in.
- A call's ids are packed together: joined and encoded once when all are ASCII (the usual
  case: no Python step per id), else encoded one by one.
- ``copy`` hands out a frozen copy (``OutcomeColumns``); ``text`` and ``ends`` are the two
  buffers a columnar reader (Arrow's large string layout) takes without a string per id.
- It pickles as its two buffers.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from itertools import accumulate

__all__ = ["UserIds"]


class UserIds:
    __slots__ = ("_ends", "_text")

    def __init__(self) -> None:
        self._text = bytearray()
        self._ends = array("q")  # the end of id i in the text; it starts where i - 1 ends

    def extend(self, ids: list[str]) -> None:
        """Append ``ids`` in order."""
        joined = "".join(ids)
        if joined.isascii():  # one byte a character: lengths are the strings' own
            text, lengths = joined.encode("ascii"), list(map(len, ids))
        else:
            encoded = [user_id.encode() for user_id in ids]
            text, lengths = b"".join(encoded), list(map(len, encoded))
        ends = accumulate(lengths, initial=len(self._text))
        next(ends)  # the initial: where the last id ended
        self._ends.extend(ends)
        self._text += text

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if not -len(self._ends) <= index < len(self._ends):
            raise IndexError("user index out of range")
        index %= len(self._ends)
        end = self._ends[index]
        start = self._ends[index - 1] if index else 0
        return self._text[start:end].decode()

    def __iter__(self) -> Iterator[str]:
        return map(self.__getitem__, range(len(self._ends)))

    def copy(self) -> UserIds:
        clone = UserIds()
        clone._text, clone._ends = bytearray(self._text), array("q", self._ends)
        return clone

    @property
    def text(self) -> bytes:
        """Every id's UTF-8 bytes, back to back."""
        return bytes(self._text)

    @property
    def ends(self) -> array[int]:
        """Each id's end offset in ``text`` (int64)."""
        return self._ends

    def __getstate__(self) -> tuple[bytearray, array[int]]:
        return self._text, self._ends

    def __setstate__(self, state: tuple[bytearray, array[int]]) -> None:
        self._text, self._ends = state
