"""Fixtures shared by the sim tests. The scenario builders themselves are plain functions in
``tests.sim.builders`` (importable, so module-scoped fixtures and ``parametrize`` can use them);
the fixtures here put their scenarios where a test needs them, such as on disk for the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sim.builders import tiny_toml


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[..., Path]:
    """``write(file_name="tiny.toml", **parts)``: ``tiny_toml(**parts)`` written as
    ``tmp_path / file_name``; returns its path."""

    def write(file_name: str = "tiny.toml", **parts: Any) -> Path:
        path = tmp_path / file_name
        path.write_text(tiny_toml(**parts), encoding="utf-8")
        return path

    return write
