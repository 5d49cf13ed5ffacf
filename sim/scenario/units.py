"""Durations and rates as scenario files write them, turned into seconds and users per second.

Rules:
- A duration is a string: a non-negative number followed by a unit, ``"250ms"``, ``"5s"``,
  ``"2m"``, ``"13h"``, ``"1d"`` (``"min"`` is accepted for minutes), or several of them
  summed, largest first as ``format_duration`` writes them (``"1h30m"``). ``"0"`` is zero.
- A rate is a string ``"<number>/<unit>"``: ``"50/s"``, ``"3000/min"``, ``"1000/h"``, ``"5/d"``.
- A number too large to be a float (hundreds of digits) is refused, never read as infinity.
- Numbers given without a unit are refused: a ``5`` in a scenario could mean seconds or hours,
  and guessing wrong silently would falsify a whole run.
- Errors are ``UnitError`` with a message fit for a user (it names what was expected).
"""

from __future__ import annotations

import math
import re

__all__ = ["UnitError", "format_duration", "parse_duration", "parse_rate"]

_SECONDS_PER_UNIT: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_RATE_UNITS: dict[str, float] = {"s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_HUGE_S = 1000 * 86400.0  # beyond this format_duration writes seconds, "1e+20s"

_DIGITS = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_NUMBER = rf"(?P<number>{_DIGITS})"
_DURATION = re.compile(rf"{_NUMBER}\s*(?P<unit>[a-z]+)")
_DURATIONS = re.compile(rf"(?:(?:{_DIGITS})\s*[a-z]+\s*)+")
_RATE = re.compile(rf"{_NUMBER}\s*/\s*(?P<unit>[a-z]+)")


class UnitError(ValueError):
    """A duration or rate string that cannot be read."""


def parse_duration(text: object) -> float:
    """Return the duration ``text`` (such as ``"13h"``) in seconds."""
    if not isinstance(text, str):
        raise UnitError(f"expected a duration string such as '5s', got {_describe(text)}")
    stripped = text.strip().lower()
    _refuse_negative(text, stripped)
    if stripped == "0":
        return 0.0
    if _DURATIONS.fullmatch(stripped) is None:
        raise UnitError(f"bad duration {text!r}: expected a number and a unit (ms, s, m, h, d)")
    seconds = sum(
        float(match["number"]) * _unit_seconds(text, match, _SECONDS_PER_UNIT, "ms, s, m, h, d")
        for match in _DURATION.finditer(stripped)
    )
    return _finite(text, seconds)


def parse_rate(text: object) -> float:
    """Return the rate ``text`` (such as ``"3000/min"``) in events per second."""
    if not isinstance(text, str):
        raise UnitError(f"expected a rate string such as '50/s', got {_describe(text)}")
    stripped = text.strip().lower()
    _refuse_negative(text, stripped)
    match = _RATE.fullmatch(stripped)
    if match is None:
        raise UnitError(f"bad rate {text!r}: expected '<number>/<unit>' with unit s, min, h, d")
    per_seconds = _unit_seconds(text, match, _RATE_UNITS, "s, min, h, d")
    return _finite(text, float(match["number"]) / per_seconds)


def format_duration(seconds: float) -> str:
    """Render ``seconds`` compactly for humans (``"13h"``, ``"1h30m"``, ``"250ms"``)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= _HUGE_S:  # a value being refused: its digits would say nothing
        return f"{seconds:.3g}s"
    whole = round(seconds)
    if not math.isclose(whole, seconds, abs_tol=1e-9):
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _unit_seconds(text: str, match: re.Match[str], units: dict[str, float], known: str) -> float:
    unit = match["unit"]
    if unit not in units:
        raise UnitError(f"bad unit {unit!r} in {text!r}: expected one of {known}")
    return units[unit]


def _finite(text: str, value: float) -> float:
    if not math.isfinite(value):
        raise UnitError(f"{text[:20]!r}… is too large")
    return value


def _refuse_negative(text: str, stripped: str) -> None:
    if stripped.startswith("-"):
        raise UnitError(f"{text!r} is negative: durations and rates are at least 0")


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"
