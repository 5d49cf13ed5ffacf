"""The ways to a ``Scenario``: a file, TOML text, the built-in file, an already-parsed document,
or another scenario's document with one value replaced.

Rules:
- Every way ends in ``sim.scenario.sections.build``, so each returns a fully valid scenario
  or raises ``ScenarioError``; a file that cannot be read or is not TOML is one too.
- A scenario's document (``Scenario.raw``) is never changed in place: ``override`` and
  ``from_raw`` work on a deep copy.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from sim.scenario.reader import ScenarioError
from sim.scenario.sections import build
from sim.scenario.spec import Scenario

__all__ = ["default", "from_raw", "load", "override", "parse"]


def load(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, "", exc.strerror or "cannot be read") from None
    except UnicodeDecodeError:
        raise ScenarioError(source, "", "not UTF-8 text") from None
    return parse(text, source)


def parse(text: str, source: str = "<string>") -> Scenario:
    """Validate the TOML ``text``; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"TOML syntax error: {exc}") from None
    return build(raw, source)


def from_raw(raw: Mapping[str, Any], source: str = "<string>") -> Scenario:
    """Validate an already-parsed TOML document (such as ``Scenario.raw``); ``source`` names it.

    ``raw`` is plain data (picklable, unlike ``Scenario``), so processes can ship it and rebuild.
    """
    return build(copy.deepcopy(dict(raw)), source)


def default() -> Scenario:
    """The built-in scenario (``sim/scenario/default.toml``): a small steady day."""
    text = resources.files("sim.scenario").joinpath("default.toml").read_text(encoding="utf-8")
    return parse(text, "sim/scenario/default.toml")


def override(scenario: Scenario, key: str, value: object) -> Scenario:
    """A copy of ``scenario`` with the TOML value at dotted ``key`` replaced, re-validated.

    ``key`` walks tables by name and arrays by index: ``"traffic.0.rate"``,
    ``"sync.retry_window"``, ``"network.service.p99"``. Missing tables are created.
    """
    raw: dict[str, Any] = copy.deepcopy(dict(scenario.raw))
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _descend(node, part, parts[: depth + 1], scenario.source)
    _assign(node, parts[-1], value, key, scenario.source)
    return build(raw, scenario.source)


def _descend(node: Any, part: str, path: list[str], source: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path, source)]
    if isinstance(node, dict):
        return node.setdefault(part, {})
    raise ScenarioError(source, ".".join(path), "not a table or an array")


def _assign(node: Any, part: str, value: object, key: str, source: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, key.split("."), source)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ScenarioError(source, key, "not a table or an array")


def _index(node: list[Any], part: str, path: list[str], source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(source, ".".join(path), f"no element {part} (has {len(node)})")
    return int(part)
