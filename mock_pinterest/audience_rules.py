"""The audience ``rule`` object: which fields Pinterest checks, and how.

Responsibility: ``check_rule`` refuses (400, code 1) a rule one of whose fields has the wrong
type or shape, as Pinterest does, so the mock never stores and echoes back a rule the spec's
``Audience`` answer could not carry.

Rules:
- ``FIELDS`` is derived by hand from the spec's ``components.schemas.AudienceRule``
  (tests/mock_pinterest/openapi/openapi.yaml); the mock never reads the spec at runtime. For
  each property it declares: the type, the ``pattern`` and ``enum`` where the schema gives
  them, and the ranges and value lists its descriptions state ("Percentage should be 1-10",
  "Accepted range is 1-540", "Engager type value should be 1-2", "Supported values are
  click, save, closeup, comment and like"). Nested objects (``event_data``, ``event_source``,
  ``ingestion_source``) are checked to be objects only.
- Unknown properties are ignored, as the mock ignores unknown body fields.
- The spec's ``^\\d+$`` is read as JavaScript reads it: ASCII digits only, no trailing newline.
- JSON ``true`` is a boolean, never an integer or a number; ``1.0`` is a number, not an integer.
- A message names the field and what it must be, never the value sent.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mock_pinterest.errors import InvalidParameters

__all__ = ["FIELDS", "FieldCheck", "Kind", "check_rule"]


class Kind(enum.Enum):
    """A JSON type a rule field may have; the value is how messages spell it."""

    STRING = "a string"
    INTEGER = "an integer"
    NUMBER = "a number"
    BOOLEAN = "a boolean"
    STRINGS = "a list of strings"
    OBJECT = "a JSON object"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_IS_KIND: Mapping[Kind, Callable[[object], bool]] = {
    Kind.STRING: lambda value: isinstance(value, str),
    Kind.INTEGER: lambda value: isinstance(value, int) and not isinstance(value, bool),
    Kind.NUMBER: _is_number,
    Kind.BOOLEAN: lambda value: isinstance(value, bool),
    Kind.STRINGS: _is_strings,
    Kind.OBJECT: lambda value: isinstance(value, dict),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldCheck:
    """What one rule field must be. ``pattern`` and ``enum`` apply to a string, or to each
    string of a list; ``minimum`` and ``maximum`` (inclusive) to a number."""

    kind: Kind
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def accepts(self, value: object) -> bool:
        if not _IS_KIND[self.kind](value):
            return False
        if self.kind is Kind.STRINGS:
            assert isinstance(value, list)
            return all(self._accepts_text(item) for item in value)
        if isinstance(value, str):
            return self._accepts_text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self._in_range(value)
        return True

    def expected(self) -> str:
        """What the field must be, for the error message."""
        parts = [self.kind.value]
        if self.pattern is not None:
            parts.append(f"matching {self.pattern_text}")
        if self.enum:
            parts.append(f"among {', '.join(self.enum)}")
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"from {self.minimum} to {self.maximum}")
        return " ".join(parts)

    def _accepts_text(self, text: str) -> bool:
        matches = self.pattern is None or self.pattern.fullmatch(text) is not None
        return matches and (not self.enum or text in self.enum)

    def _in_range(self, number: float) -> bool:
        low_ok = self.minimum is None or number >= self.minimum
        return low_ok and (self.maximum is None or number <= self.maximum)


# ``^\d+$`` as JavaScript reads it; Python's ``\d`` takes any Unicode digit and its ``$`` a
# trailing newline, which the spec's validators refuse.
_DIGITS = re.compile(r"[0-9]+")
_DIGITS_TEXT = r"^\d+$"
_ID = FieldCheck(kind=Kind.STRING, pattern=_DIGITS, pattern_text=_DIGITS_TEXT)
_IDS = FieldCheck(kind=Kind.STRINGS, pattern=_DIGITS, pattern_text=_DIGITS_TEXT)
# components.schemas.ObjectiveType.enum
_OBJECTIVE_TYPES = (
    "AWARENESS",
    "CONSIDERATION",
    "WEB_CONVERSION",
    "CATALOG_SALES",
    "VIDEO_COMPLETION",
)
# AudienceRule.engagement_type's description: "Supported values are ..."
_ENGAGEMENT_TYPES = ("click", "save", "closeup", "comment", "like")

FIELDS: Mapping[str, FieldCheck] = {
    "ad_account_id": _ID,
    "ad_id": _IDS,
    "campaign_id": _IDS,
    "country": FieldCheck(kind=Kind.STRING),
    "customer_list_id": _ID,
    "engagement_domain": FieldCheck(kind=Kind.STRINGS),
    "engagement_type": FieldCheck(kind=Kind.STRING, enum=_ENGAGEMENT_TYPES),
    "engager_type": FieldCheck(kind=Kind.INTEGER, minimum=1, maximum=2),
    "event": FieldCheck(kind=Kind.STRING),
    "event_data": FieldCheck(kind=Kind.OBJECT),
    "event_source": FieldCheck(kind=Kind.OBJECT),
    "ingestion_source": FieldCheck(kind=Kind.OBJECT),
    "objective_type": FieldCheck(kind=Kind.STRINGS, enum=_OBJECTIVE_TYPES),
    "percentage": FieldCheck(kind=Kind.INTEGER, minimum=1, maximum=10),
    "pin_id": _IDS,
    "prefill": FieldCheck(kind=Kind.BOOLEAN),
    "retention_days": FieldCheck(kind=Kind.INTEGER, minimum=1, maximum=540),
    "seed_id": _IDS,
    "url": FieldCheck(kind=Kind.STRINGS),
    "visitor_source_id": _ID,
}


def check_rule(rule: Mapping[str, object]) -> None:
    """Refuse the first declared field of *rule* (in ``FIELDS`` order) that is not as the spec
    says; unknown fields pass."""
    for name, check in FIELDS.items():
        if name in rule and not check.accepts(rule[name]):
            raise InvalidParameters(f"rule.{name} must be {check.expected()}.")
