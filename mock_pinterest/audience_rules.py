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
  click, save, closeup, comment and like"). A nested object declares its own fields the same
  way (``event_data`` is the spec's ``EventData``, its ``line_items`` a ``LineItem``);
  ``event_source`` and ``ingestion_source``, which the spec leaves open, are checked to be
  objects only. Pinterest answers with the rule it stored, so whatever the ``Audience`` schema
  could not carry back is refused here.
- Unknown properties are ignored, as the mock ignores unknown body fields.
- The spec's ``^\\d+$`` is read as JavaScript reads it: ASCII digits only, no trailing newline.
- JSON ``true`` is a boolean, never an integer or a number; ``1.0`` is a number, not an integer.
- A message names the field by its path (``rule.event_data.line_items.product_id``) and what
  it must be, never the value sent.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mock_pinterest.errors import InvalidParameters

__all__ = ["EVENT_DATA", "FIELDS", "LINE_ITEM", "FieldCheck", "Kind", "check_rule", "first_refusal"]


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
    string of a list; ``minimum`` and ``maximum`` (inclusive) to a number; ``fields`` to the
    declared properties of an object (others pass)."""

    kind: Kind
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    fields: Mapping[str, FieldCheck] = field(default_factory=dict)

    def accepts(self, value: object) -> bool:
        return self.refusal(value, "value") is None

    def refusal(self, value: object, path: str) -> str | None:
        """Why *value*, found at *path*, is refused (the innermost field at fault), or None."""
        if not self._accepts_self(value):
            return f"{path} must be {self.expected()}."
        if self.fields:
            assert isinstance(value, dict)
            return first_refusal(self.fields, value, path)
        return None

    def _accepts_self(self, value: object) -> bool:
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
# components.schemas.Currency.enum
_CURRENCIES = (
    "UNK", "USD", "GBP", "CAD", "EUR", "AUD", "NZD", "SEK", "ILS", "CHF", "HKD", "JPY", "SGD",
    "KRW", "NOK", "DKK", "PLN", "RON", "HUF", "CZK", "BRL", "MXN", "ARS", "CLP", "COP", "INR",
    "TRY",
)  # fmt: skip
_STRING = FieldCheck(kind=Kind.STRING)
_INTEGER = FieldCheck(kind=Kind.INTEGER)

# components.schemas.LineItem
LINE_ITEM: Mapping[str, FieldCheck] = {
    "product_brand": _STRING,
    "product_category": _STRING,
    "product_id": _INTEGER,
    "product_name": _STRING,
    "product_price": _STRING,
    "product_quantity": _INTEGER,
    "product_variant": _STRING,
    "product_variant_id": _STRING,
}
# components.schemas.EventData
EVENT_DATA: Mapping[str, FieldCheck] = {
    "currency": FieldCheck(kind=Kind.STRING, enum=_CURRENCIES),
    "lead_type": _STRING,
    "line_items": FieldCheck(kind=Kind.OBJECT, fields=LINE_ITEM),
    "order_id": _STRING,
    "order_quantity": _INTEGER,
    "page_name": _STRING,
    "promo_code": _STRING,
    "property": _STRING,
    "search_query": _STRING,
    "value": _STRING,
    "video_title": _STRING,
}

FIELDS: Mapping[str, FieldCheck] = {
    "ad_account_id": _ID,
    "ad_id": _IDS,
    "campaign_id": _IDS,
    "country": _STRING,
    "customer_list_id": _ID,
    "engagement_domain": FieldCheck(kind=Kind.STRINGS),
    "engagement_type": FieldCheck(kind=Kind.STRING, enum=_ENGAGEMENT_TYPES),
    "engager_type": FieldCheck(kind=Kind.INTEGER, minimum=1, maximum=2),
    "event": _STRING,
    "event_data": FieldCheck(kind=Kind.OBJECT, fields=EVENT_DATA),
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


def first_refusal(
    fields: Mapping[str, FieldCheck], value: Mapping[str, object], path: str
) -> str | None:
    """Why the first declared field of the object *value* (in *fields* order) is refused, or
    None; undeclared fields pass."""
    for name, check in fields.items():
        if name in value:
            refusal = check.refusal(value[name], f"{path}.{name}")
            if refusal is not None:
                return refusal
    return None


def check_rule(rule: Mapping[str, object]) -> None:
    """Refuse *rule* when a declared field, at any depth, is not as the spec says."""
    refusal = first_refusal(FIELDS, rule, "rule")
    if refusal is not None:
        raise InvalidParameters(refusal)
