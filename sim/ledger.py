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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["BodyAudit", "Ledger", "normalise_email", "normalise_maid"]

_HEX = frozenset(string.hexdigits.lower())
_DIGESTS = re.compile(r"(?:[0-9a-f]{64},)*[0-9a-f]{64},?")
_UUID_HYPHENS = (8, 13, 18, 23)


def _is_digest(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


# one @, a local part and a domain of two or more dot-separated labels; no blank or comma
# (which would break the comma-separated wire format)
_WELL_FORMED_EMAIL = re.compile(r"[^\s@,]+@(?:[^\s@,.]+\.)+[^\s@,.]+")


def normalise_email(raw: str | None) -> str | None:
    """The hashed form of an email per DESIGN.md, or None when it cannot be matched."""
    if not raw:
        return None
    value = raw.strip().lower()
    if _is_digest(value):
        return value
    if _WELL_FORMED_EMAIL.fullmatch(value) is None:
        return None
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_maid(raw: str | None) -> str | None:
    """The hashed form of a mobile advertising id (a UUID, hyphens kept), or None."""
    if not raw:
        return None
    value = raw.strip().lower()
    if _is_digest(value):
        return value
    hyphenated = len(value) == 36 and all(value[i] == "-" for i in _UUID_HYPHENS)
    bare = value.replace("-", "") if hyphenated else value
    if len(bare) != 32 or not set(bare) <= _HEX:
        return None
    return hashlib.sha256(value.encode()).hexdigest()


_NORMALISERS = {"email": normalise_email, "maid": normalise_maid}


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
        self._ids: dict[str, dict[str, tuple[str, ...]]] = {step: {} for step in match_fields}
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
        fields = self._fields[step]
        book, deadlines, entries = self._ids[step], self._deadline, self._entered
        columns = {"email": emails, "maid": maids}
        hashers = [(_NORMALISERS[name], columns[name]) for name in fields]
        for k, user in enumerate(user_ids):
            hashed = tuple(h for fn, column in hashers if (h := fn(column[k])) is not None)
            if not hashed:
                continue
            book[user] = hashed
            entered = float(entered_at[k])
            deadline = entered + self._window
            for h in hashed:
                if deadlines.get(h, -math.inf) < deadline:
                    deadlines[h] = deadline
                if entries.get(h, math.inf) > entered:
                    entries[h] = entered

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
            hashed = self._ids[step].get(user, ())
            target = members[audiences[step]]
            if step in removing:
                target.difference_update(hashed)
            else:
                target.update(hashed)
        return {key: frozenset(value) for key, value in members.items()}
