"""Reading one TOML table of a scenario: the keys it takes, the keys left over, and the value
converters; every failure becomes ``ScenarioError(file, key, reason)``.

Rules:
- ``ScenarioError`` is the only error a scenario reader raises; its ``key`` is dotted as a user
  would point at it (``traffic[2].rate``, ``expect.steps.vip-add.synced_min``) and its message
  is one line.
- A ``Table`` records each key it is asked for; ``done()`` rejects the rest with a did-you-mean,
  so a typo such as ``retry_windw`` never falls back silently to a default.
- A converter takes the TOML value and returns the typed one, or raises ``ValueError`` /
  ``TypeError`` whose text is the reason; the table adds the file and the key.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable
from typing import TypeVar

from sim.scenario.units import UnitError, parse_duration

__all__ = [
    "ScenarioError",
    "Table",
    "boolean",
    "choice",
    "integer",
    "positive_duration",
    "positive_integer",
    "share",
    "string",
    "type_name",
    "unknown_key",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)


class ScenarioError(ValueError):
    """A scenario file that cannot be used: which file, which key, and why."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        super().__init__(": ".join(part for part in (file, key, reason) if part))


class Table:
    """One TOML table being read: tracks the keys taken so leftovers are reported."""

    def __init__(self, source: str, path: str, value: object) -> None:
        if not isinstance(value, dict):
            raise ScenarioError(source, path, f"expected a table, got {type_name(value)}")
        self.source, self.path = source, path
        self._values: dict[str, object] = value
        self._taken: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, reason: str) -> ScenarioError:
        return ScenarioError(self.source, self.key(name), reason)

    def has(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, convert: Callable[[object], T], default: T) -> T:
        if name not in self._values:
            self._taken.add(name)
            return default
        return self.require(name, convert)

    def require(self, name: str, convert: Callable[[object], T]) -> T:
        self._taken.add(name)
        if name not in self._values:
            raise self.error(name, "missing")
        try:
            return convert(self._values[name])
        except (ValueError, TypeError) as exc:
            raise self.error(name, str(exc)) from None

    def table(self, name: str) -> Table:
        self._taken.add(name)
        return Table(self.source, self.key(name), self._values.get(name, {}))

    def rows(self, name: str) -> list[Table]:
        self._taken.add(name)
        value = self._values.get(name, [])
        if not isinstance(value, list):
            raise self.error(name, f"expected an array of tables ([[{name}]]), got a table")
        return [Table(self.source, f"{self.key(name)}[{i}]", row) for i, row in enumerate(value)]

    def names(self) -> list[str]:
        return list(self._values)

    def done(self, allowed: frozenset[str] | None = None) -> None:
        """Reject keys not taken (or, when given, not in ``allowed``)."""
        known = self._taken if allowed is None else allowed
        for name in self._values:
            if name not in known:
                raise self.error(name, unknown_key(name, known))


def unknown_key(name: str, known: set[str] | frozenset[str]) -> str:
    """The reason for an unknown key: the closest known one, or all of them."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return f"unknown key{hint}"


# --------------------------------------------------------------------------- value converters


def type_name(value: object) -> str:
    names = {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"{type(value).__name__} {value!r}")


def string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {type_name(value)}")
    return value


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type_name(value)}")
    return value


def integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type_name(value)}")
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def positive_integer(value: object) -> int:
    number = integer(value)
    if number == 0:
        raise ValueError("must be at least 1")
    return number


def share(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a share between 0 and 1, got {type_name(value)}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a share between 0 and 1, got {value}")
    return float(value)


def positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise UnitError(f"must be longer than 0, got {value!r}")
    return seconds


def choice(kind: type[E]) -> Callable[[object], E]:
    """A converter to the enum ``kind`` that lists its values when given another."""

    def convert(value: object) -> E:
        known = [member.value for member in kind]
        if not isinstance(value, str) or value not in known:
            raise ValueError(
                f"unknown {kind.__name__.lower()} {value!r}; expected one of: " + ", ".join(known)
            )
        return kind(value)

    return convert
