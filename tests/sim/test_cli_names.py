"""Shipped scenarios by name: ``pinsim run|check|plan|sweep <name>`` from any working directory,
and a name that matches nothing answered with the close ones."""

import re
import shlex
from pathlib import Path

import pytest

from sim.cli import _parser, main
from sim.scenario import load
from sim.scenario.catalog import close_names, locate, shipped
from tests.sim.cli_errors import one_error_line

REPO = Path(__file__).parents[2]


def test_every_shipped_file_is_named_as_its_scenario() -> None:
    files = shipped()
    assert set(files) == {path.stem for path in (REPO / "scenarios").glob("*.toml")}
    for name, path in files.items():
        assert load(path).name == name


def test_a_name_resolves_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for text in ("steady_day", "steady_day.toml"):
        found = locate(text)
        assert found is not None and found.resolve() == REPO / "scenarios" / "steady_day.toml"
    own = tmp_path / "steady_day.toml"
    own.write_text('[scenario]\nname = "mine"\n')
    assert locate("steady_day.toml") == Path("steady_day.toml")  # a file here wins
    assert locate("elsewhere/steady_day") is None  # a path is a path, never a name


def test_check_runs_a_shipped_scenario_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "missing_fields", "--out", "out"]) == 0
    out = capsys.readouterr().out
    assert "PASS missing_fields" in out and "1 of 1 scenarios passed" in out
    assert (tmp_path / "out" / "missing_fields" / "users.parquet").is_file()


def test_plan_takes_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "steady_day", "--runs", str(tmp_path)]) == 0
    assert "== steady_day (no run in " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "typed", "offered"),
    [
        (["run"], "black_friday", "black_friday_blast"),
        (["check"], "stedy_day", "steady_day"),
        (["plan"], "token_expiri", "token_expiry"),
        (["sweep", "--vary", "seed=1,2", "--out", "x"], "remove_user", "remove_users"),
    ],
)
def test_a_miss_lists_the_close_names(
    command: list[str], typed: str, offered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command[:1], typed, *command[1:]]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"pinsim: error: {typed}: no such file or folder, nor a shipped")
    assert offered in line.split("close ones: ")[1]


def test_close_names_of_nothing_near_point_to_the_listing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert close_names("zzzzzz") == []
    assert main(["run", "zzzzzz"]) == 2
    assert "pinsim scenarios lists them" in one_error_line(capsys)


def test_the_readme_first_hour_commands_parse_and_name_real_scenarios() -> None:
    """Every ``pinsim`` command of the README's first-hour walk-through is one the CLI takes,
    and every scenario it names is shipped (mine.toml, the reader's own, aside)."""
    readme = (REPO / "README.md").read_text()
    walk = readme.split("## Your first hour", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"`\.venv/bin/pinsim ([^`]+)`", walk)
    assert len(commands) >= 5
    for command in commands:
        words = shlex.split(command)
        options = _parser().parse_args(words)  # a misspelt option would raise here
        named = [w for w in words[1:] if not w.startswith("-") and w not in ("out", "out/ci")]
        for name in named:
            assert name == "mine.toml" or locate(name) is not None, (command, name)
        assert options.command is not None
