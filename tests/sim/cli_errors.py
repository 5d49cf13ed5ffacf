"""What every ``pinsim`` command owes a user who made a mistake: one line on stderr,
``pinsim: error: …``, and no traceback."""

from __future__ import annotations

import pytest

__all__ = ["one_error_line"]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line the command wrote to stderr (asserting there is exactly one)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pinsim: error: "), err
    return lines[0]
