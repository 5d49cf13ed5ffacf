"""Scenario builders for the tests: a small valid scenario with only what a test is about.

A test states the parts it cares about as plain data — tables as dicts, rows from ``step``,
``traffic`` and ``fault`` — and ``scenario_toml`` writes the TOML a user would, which
``build_scenario`` then parses through ``sim.scenario.parse`` like any file. Tests about the
file format itself (a key's error message, a unit) keep their TOML literal instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sim.scenario import Scenario, parse

__all__ = [
    "AUDIENCE_A",
    "EVERYONE_HAS_EMAIL",
    "FAST_NETWORK",
    "build_scenario",
    "fault",
    "scenario_toml",
    "step",
    "tiny_toml",
    "traffic",
]

TomlTable = Mapping[str, object]

# ~1 ms one-way legs, each drawn anew, no server time: the closed forms' near-zero network
FAST_NETWORK: TomlTable = {
    "propagation": {"median": "1ms", "p99": "2ms"},
    "service": "0s",
    "paths": "independent",
}
# a traffic row's users all have a valid email and no MAID: one record each, every one syncable
EVERYONE_HAS_EMAIL: TomlTable = {"missing": {"email": 0.0, "maid": 1.0}, "malformed": 0.0}


def step(step_id: str, **keys: object) -> dict[str, object]:
    """A ``[[step]]`` row."""
    return {"id": step_id, **keys}


def traffic(step_id: str, kind: str, **keys: object) -> dict[str, object]:
    """A ``[[traffic]]`` row into ``step_id``."""
    return {"step": step_id, "kind": kind, **keys}


def fault(kind: str, at: str, **keys: object) -> dict[str, object]:
    """A ``[[fault]]`` row at the duration ``at``."""
    return {"at": at, "kind": kind, **keys}


# one add step into a new audience "A", matched on email only
AUDIENCE_A = step("a", audience={"new": "A"}, match_fields=["email"])


def scenario_toml(
    *,
    name: str | None = None,
    seed: int | None = None,
    duration: str | None = None,
    description: str | None = None,
    network: TomlTable | None = None,
    pinterest: TomlTable | None = None,
    sync: TomlTable | None = None,
    connections: Sequence[TomlTable] = (),
    steps: Sequence[TomlTable] = (),
    traffic: Sequence[TomlTable] = (),
    faults: Sequence[TomlTable] = (),
    expect: TomlTable | None = None,
) -> str:
    """The scenario file with these parts; a part left out (or empty) is left out of the file
    too, and so takes its default. Nested tables (``expect``'s ``steps``) are written inline."""
    head = {"name": name, "seed": seed, "duration": duration, "description": description}
    tables = {
        "[scenario]": {key: value for key, value in head.items() if value is not None},
        "[network]": network,
        "[pinterest]": pinterest,
        "[sync]": sync,
    }
    rows = {"[[connection]]": connections, "[[step]]": steps, "[[traffic]]": traffic}
    rows |= {"[[fault]]": faults, "[expect]": [expect] if expect else []}
    lines: list[str] = []
    for header, table in tables.items():
        lines += _table(header, table) if table else []
    for header, items in rows.items():
        for row in items:
            lines += _table(header, row)
    return "\n".join(lines) + "\n"


def build_scenario(source: str = "<string>", /, **parts: Any) -> Scenario:
    """``scenario_toml(**parts)`` parsed as the file ``source``, whose stem names a scenario
    given no ``name``."""
    return parse(scenario_toml(**parts), source)


def tiny_toml(**parts: Any) -> str:
    """A two-minute run named "tiny": one step "vip" that a user enters each second for the first
    minute, expected to error no one; ``parts`` (as ``scenario_toml`` takes them) replace these."""
    tiny: dict[str, Any] = {
        "name": "tiny",
        "duration": "2m",
        "steps": [step("vip")],
        "traffic": [traffic("vip", "constant", rate="1/s", end="1m")],
        "expect": {"errored": 0},
    }
    return scenario_toml(**(tiny | parts))


def _table(header: str, table: TomlTable) -> list[str]:
    return [header, *(f"{_key(key)} = {_value(value)}" for key, value in table.items())]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # JSON's escapes are a subset of a TOML basic string's
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__} {value!r}")
