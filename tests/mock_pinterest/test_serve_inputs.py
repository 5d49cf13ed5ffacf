"""mock_pinterest.serve: a bad ``--config`` or flag is one line and exit status 2, never a
traceback, and a port outside 0-65535 is refused instead of the OS binding another one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_pinterest.serve import main

PREFIX = "pinsim mock serve: error: "


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(PREFIX)
    return err.strip().removeprefix(PREFIX)


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (None, "cannot be read: No such file or directory"),
        (b"x = [\n", "TOML syntax error"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (b"sped = 2\n", "sped: unknown MockConfig setting; did you mean 'speed'?"),
        (b"[faults]\nkind = 1\n", "faults: unknown MockConfig setting"),
        (b'match_rate = "high"\n', "match_rate: expected a number, got a string"),
        (b"retry_after = 1\n", "retry_after: expected true or false, got an integer"),
        (b'invalid_records = "drop"\n', "invalid_records: expected 'report' or 'reject'"),
        (b"seed = 1.5\n", "seed: expected an integer, got a number"),
        (b"speed = 0\n", "speed must be a positive finite number"),
    ],
)
def test_a_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, shown: str
) -> None:
    path = tmp_path / "mock.toml"
    if content is not None:
        path.write_bytes(content)
    assert main(["--port", "0", "--config", str(path)]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"--config: {path}: ") and shown in line


def test_a_folder_as_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--config", str(tmp_path)]) == 2
    assert "cannot be read" in _one_line(capsys)


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        (["--port", "99999"], "argument --port: expected a port from 0 to 65535, got '99999'"),
        (["--port", "65536"], "expected a port from 0 to 65535"),
        (["--port", "-1"], "expected a port from 0 to 65535"),
        (["--port", "http"], "expected a port from 0 to 65535"),
        (["--threads", "0"], "argument --threads: expected a number of threads from 1"),
        (["--threads", "-3"], "expected a number of threads"),
    ],
)
def test_a_bad_flag_is_refused_before_binding(
    capsys: pytest.CaptureFixture[str], flags: list[str], shown: str
) -> None:
    assert main(flags) == 2
    assert shown in _one_line(capsys)
