"""TOML text from a scenario document: the writer ``tomllib`` lacks, for the types scenarios use.

Responsibility: ``dumps(document)`` gives TOML that ``tomllib.loads`` reads back as exactly
``document`` (a test holds the round trip over generated documents).

Rules:
- Types: tables (dicts with string keys), arrays of tables (non-empty lists of dicts), strings,
  ints, floats (``inf``/``nan`` included), bools, and lists of any of these. Anything else is a
  ``TypeError``: a writer that guessed would write a file that reads back differently.
- Layout as a person writes a scenario: a table's plain values first, then its sub-tables as
  ``[a.b]`` sections and its arrays of tables as ``[[a.b]]`` rows; inside a row, a nested
  table is written inline (``audience = { new = "VIP" }``), as docs/SCENARIOS.md does.
- Keys are bare when TOML allows (letters, digits, ``_``, ``-``), quoted otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["dumps"]

_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text (ending in a newline when not empty)."""
    blocks = _table_blocks(document, ())
    return "\n".join(block for block in blocks if block)


def _table_blocks(table: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    """The table's own ``key = value`` lines (under its header), then its sub-tables' blocks."""
    plain = [(key, value) for key, value in table.items() if not _is_section(value)]
    header = f"[{_dotted(path)}]\n" if path and (plain or not _has_sections(table)) else ""
    blocks = [header + "".join(f"{_key(key)} = {_value(value)}\n" for key, value in plain)]
    for key, value in table.items():
        if isinstance(value, Mapping):
            blocks += _table_blocks(value, (*path, key))
        elif _is_table_array(value):
            blocks += [_row_block(row, (*path, key)) for row in value]
    return blocks


def _row_block(row: Mapping[str, Any], path: tuple[str, ...]) -> str:
    _check_keys(row)
    lines = "".join(f"{_key(key)} = {_value(value)}\n" for key, value in row.items())
    return f"[[{_dotted(path)}]]\n{lines}"


def _is_section(value: object) -> bool:
    return isinstance(value, Mapping) or _is_table_array(value)


def _has_sections(table: Mapping[str, Any]) -> bool:
    return any(_is_section(value) for value in table.values())


def _is_table_array(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(part) for part in path)


def _check_keys(table: Mapping[Any, Any]) -> None:
    for key in table:
        if not isinstance(key, str):
            raise TypeError(f"TOML keys are strings, got {type(key).__name__}")


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys are strings, got {type(key).__name__}")
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    """One inline value: scalars, lists and (inline) tables."""
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        _check_keys(value)
        inner = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):  # not any Sequence: bytes would become a list of ints
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)  # the shortest text that reads back as the same float
    return text if any(mark in text for mark in ".en") else text + ".0"


def _string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's (``\\uXXXX`` for control characters);
    DEL is escaped too, which TOML forbids raw and JSON leaves alone."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
