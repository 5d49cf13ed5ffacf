"""The three packages import and the console script is declared."""

import importlib
import tomllib
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["sync_core", "mock_pinterest", "sim"])
def test_packaging_package_imports(package: str) -> None:
    assert importlib.import_module(package).__doc__


def test_packaging_declares_pinsim_script() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["pinsim"] == "sim.cli:main"
