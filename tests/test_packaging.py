"""The three packages import, the console script is declared, and the Makefile says what it
does on a fresh machine."""

import importlib
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["sync_core", "mock_pinterest", "sim"])
def test_packaging_package_imports(package: str) -> None:
    assert importlib.import_module(package).__doc__


def test_packaging_declares_pinsim_script() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["pinsim"] == "sim.cli:main"


def _dry_run(target: str, tmp_path: Path) -> list[str]:
    """What ``make <target>`` would do on a machine with no environment yet (``make -n``)."""
    root = Path(__file__).parents[1]
    venv = f"VENV={tmp_path / 'venv'}"
    command = ["make", "-n", "-C", str(root), target, venv]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["run", "test"])
def test_make_says_what_it_does_the_first_time(target: str, tmp_path: Path) -> None:
    lines = _dry_run(target, tmp_path)
    said = [line for line in lines if line.startswith("echo ")]
    # each set-up step is announced before it runs, then what the target itself runs
    for announced, step in [("creating", "-m venv"), ("installing", " -e ")]:
        at = next(i for i, line in enumerate(lines) if step in line)
        assert any(announced in line for line in lines[:at] if line in said), announced
    expected = "running the default scenario" if target == "run" else "[pytest]"
    assert any(expected in line for line in said)
