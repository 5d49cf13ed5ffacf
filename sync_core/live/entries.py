"""What the Canvas side hands the live worker: one user entering one step.

Rules:
- An entry is accepted whole or not at all; ``validate`` names the field and the reason of the
  first thing wrong, never the value (it may be an email).
- ``entered_at`` is wall-clock seconds since the epoch, as the intake received it unless the
  caller says when the user entered (never in the future).
- ``parse_entries`` turns one decoded intake document into entries or raises
  ``EntriesRejected`` naming every bad entry (up to ``MAX_PROBLEMS``); it checks types and
  sizes only. A malformed email or MAID is the user's data, not the caller's mistake: the
  engine counts such a user not synced, so it is accepted here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["MAX_PROBLEMS", "EntriesRejected", "Entry", "Problem", "parse_entries"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One user entering one step; ``email``/``maid`` raw or already hashed, None when absent."""

    step_id: str
    user_id: str
    email: str | None
    maid: str | None
    entered_at: float


MAX_USER_ID = 256  # characters; Canvas's external ids are far shorter
MAX_EMAIL = 320  # the longest address SMTP allows (64 + 1 + 255)
MAX_MAID = 256  # a raw MAID is 36 characters, a digest 64
FUTURE_TOLERANCE_S = 1.0  # clock skew forgiven between the caller and us; clamped to now
MAX_PROBLEMS = 20  # problems named in one rejection; the rest are only counted

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")  # a key that can be echoed: not a value


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong and where: ``path`` like ``entries[3].user_id``, never the value."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class EntriesRejected(ValueError):
    """The whole document is refused; ``problems`` names the first ``MAX_PROBLEMS``."""

    def __init__(self, problems: Sequence[Problem], invalid: int) -> None:
        self.problems = tuple(problems[:MAX_PROBLEMS])
        self.invalid = invalid  # how many entries are bad (0: the document itself is)
        shown = "; ".join(map(str, self.problems))
        more = invalid - len(self.problems)
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))


class _Bad(Exception):
    def __init__(self, reason: str, field: str = "") -> None:
        self.reason, self.field = reason, field


_T = TypeVar("_T")
_ABSENT = object()  # a key left out, told apart from an explicit null


def _required_text(limit: int) -> Callable[[object, float], str]:
    def check(value: object, now: float) -> str:
        if value is _ABSENT:
            raise _Bad("missing")
        if not isinstance(value, str):
            raise _Bad("not a string")
        if not value:
            raise _Bad("empty")
        if len(value) > limit:
            raise _Bad(f"longer than {limit} characters")
        return value

    return check


def _optional_text(limit: int) -> Callable[[object, float], str | None]:
    def check(value: object, now: float) -> str | None:
        if value is _ABSENT or value is None:
            return None
        if not isinstance(value, str):
            raise _Bad("not a string or null")
        if len(value) > limit:
            raise _Bad(f"longer than {limit} characters")
        return value

    return check


def _instant(value: object, now: float) -> float:
    if value is _ABSENT or value is None:
        return now
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("not a number or null")
    if not math.isfinite(value) or value < 0:
        raise _Bad("not a finite number of seconds since the epoch")
    if value > now + FUTURE_TOLERANCE_S:
        raise _Bad("in the future")
    return min(float(value), now)


_user_id = _required_text(MAX_USER_ID)
_email = _optional_text(MAX_EMAIL)
_maid = _optional_text(MAX_MAID)
_FIELDS = frozenset({"user_id", "email", "maid", "entered_at"})


def _field(
    item: dict[str, object], name: str, check: Callable[[object, float], _T], now: float
) -> _T:
    try:
        return check(item.get(name, _ABSENT), now)
    except _Bad as bad:
        bad.field = name
        raise


def _plain_entry(step_id: str, item: object, now: float) -> Entry | None:
    """The entry, when ``item`` is the usual well-formed one; None sends it to ``_entry``,
    which names what is wrong. The intake takes tens of thousands a second: per field checks
    and closures cost a core's quarter there (``benchmarks.live_load``)."""
    if type(item) is not dict or not item.keys() <= _FIELDS:
        return None
    user_id, email, maid = item.get("user_id"), item.get("email"), item.get("maid")
    at = item.get("entered_at", now)
    if (
        type(user_id) is str
        and 0 < len(user_id) <= MAX_USER_ID
        and (email is None or (type(email) is str and len(email) <= MAX_EMAIL))
        and (maid is None or (type(maid) is str and len(maid) <= MAX_MAID))
        and type(at) in (float, int)
        and 0 <= at <= now + FUTURE_TOLERANCE_S  # False for NaN; rules out infinities
    ):
        return Entry(step_id, user_id, email, maid, min(float(at), now))
    return None


def _entry(step_id: str, item: object, now: float) -> Entry:
    if not isinstance(item, dict):
        raise _Bad("not an object")
    unknown = sorted(str(key) for key in item.keys() - _FIELDS)
    if unknown:
        raise _Bad("unknown field", unknown[0] if _NAME.fullmatch(unknown[0]) else "")
    return Entry(
        step_id=step_id,
        user_id=_field(item, "user_id", _user_id, now),
        email=_field(item, "email", _email, now),
        maid=_field(item, "maid", _maid, now),
        entered_at=_field(item, "entered_at", _instant, now),
    )


def _entry_list(document: object) -> list[object]:
    if not isinstance(document, dict):
        raise EntriesRejected([Problem("body", "not an object")], 0)
    extra = sorted(str(key) for key in document.keys() - {"entries"})
    if extra:
        path = f"body.{extra[0]}" if _NAME.fullmatch(extra[0]) else "body"
        raise EntriesRejected([Problem(path, "unknown field")], 0)
    items = document.get("entries", _ABSENT)
    if isinstance(items, list) and items:
        return items
    reason = "missing" if items is _ABSENT else "empty" if isinstance(items, list) else "not a list"
    raise EntriesRejected([Problem("entries", reason)], 0)


def parse_entries(step_id: str, document: object, *, now: float) -> list[Entry]:
    """``{"entries": [{"user_id", "email"?, "maid"?, "entered_at"?}, ...]}`` → entries.

    All or nothing: every entry is checked, and any problem rejects the whole document.
    ``entered_at`` absent or null means ``now``; up to ``FUTURE_TOLERANCE_S`` ahead of ``now``
    is clamped to it.
    """
    items = _entry_list(document)
    entries: list[Entry] = []
    problems: list[Problem] = []
    invalid = 0
    for index, item in enumerate(items):
        try:
            entries.append(_plain_entry(step_id, item, now) or _entry(step_id, item, now))
        except _Bad as bad:
            invalid += 1
            if len(problems) < MAX_PROBLEMS:
                path = f"entries[{index}]" + (f".{bad.field}" if bad.field else "")
                problems.append(Problem(path, bad.reason))
    if invalid:
        raise EntriesRejected(problems, invalid)
    return entries
