"""tools.output_digests: two runs of one scenario and seed digest the same, wall clock aside;
a changed byte anywhere else shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import run
from sim.scenario import parse
from tests.sim.builders import tiny_toml
from tools.output_digests import digests, main


def _by_file(root: Path) -> dict[str, str]:
    return {name: md5 for md5, name in digests(root)}


def test_two_runs_digest_the_same_and_a_changed_byte_shows(tmp_path: Path) -> None:
    scenario = parse(tiny_toml(), "tiny.toml")
    for name in ("first", "second"):
        run(scenario, out_dir=tmp_path / name / scenario.name)
    first, second = _by_file(tmp_path / "first"), _by_file(tmp_path / "second")
    assert len(first) >= 6 and first == second  # their wall_seconds differ, nothing else
    timeseries = tmp_path / "second" / scenario.name / "timeseries.csv"
    timeseries.write_bytes(timeseries.read_bytes().replace(b",", b";", 1))
    changed = _by_file(tmp_path / "second")
    assert [name for name in first if changed[name] != first[name]] == ["tiny/timeseries.csv"]


def test_a_missing_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path / "nope")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("nope: no such folder")
