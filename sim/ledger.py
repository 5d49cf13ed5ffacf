"""The simulation's own book of who entered: the independent truth the checks compare against.

Rules:
- Identifiers are normalised and hashed *here*, with ``hashlib``, from DESIGN.md's rules
  (trim, lowercase, MAIDs keep hyphens; a 64-hex value passes through; empty or malformed
  values are unusable) — never by calling ``sync_core``, or the checks would agree with the
  engine by construction.
- Per request body the ledger says what the journal cannot: the earliest deadline among the
  users the body carries (``entered_at + retry window``), the latest entry instant among them,
  and whether any record is not a SHA-256 digest (raw PII on the wire). When a hashed id
  belongs to several users (a replayed user, a shared email) the ledger takes the reading that
  cannot flag a legitimate send: the latest deadline and the earliest entry.
- After the run it says which hashed ids each audience should hold: those of users the engine
  counted synced, replayed in the order their syncs completed (adds insert, removes discard).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["BodyAudit", "Ledger", "normalise_email", "normalise_maid"]

_HEX = frozenset(string.hexdigits.lower())
_DIGESTS = re.compile(r"(?:[0-9a-f]{64},)*[0-9a-f]{64},?")
# What a usable value of each match field looks like once trimmed and lowercased. Email: one
# @, a local part and a domain of two or more dot-separated labels, no blank or comma (which
# would break the comma-separated wire format). MAID: a UUID with all four hyphens, or bare.
_WELL_FORMED = {
    "email": re.compile(r"[^\s@,]+@(?:[^\s@,.]+\.)+[^\s@,.]+"),
    "maid": re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{32}"),
}


def normalise_email(raw: str | None) -> str | None:
    """The hashed form of an email per DESIGN.md, or None when it cannot be matched."""
    return _hash_column("email", [raw])[0]


def normalise_maid(raw: str | None) -> str | None:
    """The hashed form of a mobile advertising id (a UUID, hyphens kept), or None."""
    return _hash_column("maid", [raw])[0]


def _hash_column(field: str, raws: Sequence[str | None]) -> list[str | None]:
    """Normalise and hash a whole column of ``field`` values: comprehensions, no call per
    value. A 64-hex value is already a SHA-256 digest and passes through."""
    sha256, match = hashlib.sha256, _WELL_FORMED[field].fullmatch
    values = [raw.strip().lower() if raw else "" for raw in raws]
    return [
        value
        if len(value) == 64 and set(value) <= _HEX
        else sha256(value.encode()).hexdigest()
        if value and match(value)
        else None
        for value in values
    ]


@dataclass(frozen=True, slots=True)
class BodyAudit:
    """What one request body carried, by the ledger's book."""

    records: int
    min_deadline_at: float  # NaN when the body carries no known user
    max_entered_at: float  # NaN when the body carries no known user
    raw_pii: bool


_NO_RECORDS = BodyAudit(records=0, min_deadline_at=math.nan, max_entered_at=math.nan, raw_pii=False)


class Ledger:
    """Every entered user's hashed ids and deadline, kept by the simulation itself."""

    def __init__(self, retry_window_s: float, match_fields: Mapping[str, Sequence[str]]) -> None:
        self._window = retry_window_s
        self._fields = {step: tuple(fields) for step, fields in match_fields.items()}
        # per step: user id → row, and per match field the hashed id of each row (or None)
        self._rows: dict[str, dict[str, int]] = {step: {} for step in match_fields}
        self._hashed: dict[str, list[list[str | None]]] = {
            step: [[] for _ in fields] for step, fields in self._fields.items()
        }
        self._deadline: dict[str, float] = {}
        self._entered: dict[str, float] = {}

    def enter(
        self,
        step: str,
        user_ids: Sequence[str],
        emails: Sequence[str | None],
        maids: Sequence[str | None],
        entered_at: npt.NDArray[np.float64],
    ) -> None:
        columns = {"email": emails, "maid": maids}
        rows, hashed = self._rows[step], self._hashed[step]
        first = len(hashed[0])
        rows.update(zip(user_ids, range(first, first + len(user_ids)), strict=True))
        entered = entered_at.tolist()
        deadlines = (entered_at + self._window).tolist()
        for name, book in zip(self._fields[step], hashed, strict=True):
            hashes = _hash_column(name, columns[name])
            book.extend(hashes)
            self._remember(hashes, deadlines, self._deadline, keep=max)
            self._remember(hashes, entered, self._entered, keep=min)

    @staticmethod
    def _remember(
        hashes: list[str | None],
        values: list[float],
        book: dict[str, float],
        keep: Callable[[float, float], float],
    ) -> None:
        """Book ``keep`` (max or min) of each hash's values. A call's entries come in time
        order, so for a hash repeated within it the last write is the latest value (max) or,
        read backwards, the earliest (min); only hashes booked by earlier calls need ``keep``."""
        pairs = zip(hashes, values, strict=True)
        ordered = pairs if keep is max else reversed(list(pairs))
        fresh = {h: v for h, v in ordered if h is not None}
        known = {h: keep(book[h], fresh[h]) for h in fresh.keys() & book.keys()}
        book.update(fresh)
        book.update(known)

    def audit(self, body: bytes | None) -> BodyAudit:
        """Deadline and PII verdict for a request body (only customer-list writes carry ids)."""
        if not body or b'"records"' not in body:
            return _NO_RECORDS
        records = str(json.loads(body).get("records", ""))
        raw_pii = b"@" in body or (bool(records) and _DIGESTS.fullmatch(records) is None)
        items = [item for item in records.split(",") if item]
        deadlines = [d for item in items if (d := self._deadline.get(item)) is not None]
        entries = [e for item in items if (e := self._entered.get(item)) is not None]
        return BodyAudit(
            records=len(items),
            min_deadline_at=min(deadlines, default=math.nan),
            max_entered_at=max(entries, default=math.nan),
            raw_pii=raw_pii,
        )

    def expected_members(
        self,
        users: pd.DataFrame,
        audiences: Mapping[str, str],
        removes: Iterable[str],
        initial: Mapping[str, frozenset[str]],
    ) -> dict[str, frozenset[str]]:
        """Per audience key, the hashed ids it should hold at the end.

        ``audiences`` maps each step to its audience key; ``removes`` names the remove steps;
        ``initial`` is what each audience held before the run.
        """
        removing = frozenset(removes)
        members = {key: set(initial.get(key, frozenset())) for key in set(audiences.values())}
        synced = users[users["outcome"] == "synced"].sort_values("outcome_at", kind="stable")
        # plain lists: iterating Arrow-backed string columns element by element is slow
        for step, user in zip(synced["step"].tolist(), synced["user_id"].tolist(), strict=True):
            row = self._rows[step].get(user)
            if row is None:
                continue
            hashed = [h for column in self._hashed[step] if (h := column[row]) is not None]
            target = members[audiences[step]]
            if step in removing:
                target.difference_update(hashed)
            else:
                target.update(hashed)
        return {key: frozenset(value) for key, value in members.items()}
