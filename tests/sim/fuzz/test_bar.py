"""sim.progress.FuzzBar: a line every few seconds on a pipe, a redrawn bar on a terminal."""

from __future__ import annotations

import io

from sim.progress import FuzzBar


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_on_a_pipe_a_plain_line_every_few_seconds_then_the_last() -> None:
    stream, clock = io.StringIO(), _Clock()
    bar = FuzzBar(stream, 10, tty=False, every_s=5.0, clock=clock)
    for done in range(1, 11):
        clock.now = done * 1.5
        bar(done, done // 4)
    bar.shrinking(2)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "fuzz: 4/10 schedules, 1 failed, 6s"
    assert lines[-2] == "fuzz: 10/10 schedules, 2 failed, 15s"
    assert lines[-1] == "fuzz: shrinking 2 failures"
    assert len(lines) == 4  # at 6 s and 12 s (5 s apart at least), then the last two


def test_on_a_terminal_a_bar_redrawn_in_place() -> None:
    stream, clock = io.StringIO(), _Clock()
    bar = FuzzBar(stream, 4, tty=True, clock=clock)
    clock.now = 1.0
    bar(2, 0)
    bar.finish()
    text = stream.getvalue()
    assert text.startswith("\rfuzz: 2/4 schedules [###############...............], 0 failed")
    assert text.endswith("\r\033[Kfuzz: 2/4 schedules, 0 failed, 1s\n")
