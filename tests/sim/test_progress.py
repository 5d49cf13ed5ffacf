"""sim.progress: a run's and a sweep's bars, drawn on a terminal, one line otherwise."""

import io

from sim.progress import RunBar, SweepBar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_runs_progress_bar_draws_eta_on_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = SweepBar(stream, tty=True, clock=clock)
    clock.now += 30.0
    bar(1, 4)  # 30 s a run, three to go
    assert stream.getvalue().startswith("\rruns 1/4 [")
    assert stream.getvalue().endswith("eta 1m30s")
    clock.now += 90.0
    bar(4, 4)
    bar.finish(failed=1)
    assert stream.getvalue().endswith("\r\033[Kruns 4/4 in 2m, 1 failed\n")


def test_runs_progress_bar_quiet_off_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = SweepBar(stream, tty=False, clock=clock)
    bar(1, 2)
    assert stream.getvalue() == ""
    clock.now += 5.0
    bar(2, 2)
    bar.finish()
    assert stream.getvalue() == "runs 2/2 in 5s\n"


def test_progress_bar_draws_on_a_terminal() -> None:
    stream = io.StringIO()
    bar = RunBar(stream, label="day", tty=True)
    bar(43200.0, 86400.0)
    bar.finish(1.5)
    text = stream.getvalue()
    assert "\r" in text and "50%" in text and "12h / 1d" in text
    assert text.endswith("day: simulated 1d in 1.5s\n")


def test_progress_bar_quiet_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = RunBar(stream, label="day", tty=False)
    bar(43200.0, 86400.0)
    assert stream.getvalue() == ""
    bar.finish(2.0)
    assert stream.getvalue() == "day: simulated 1d in 2.0s\n"
