"""sim.sweep.progress: a bar with an eta on a terminal, one line otherwise."""

import io

from sim.sweep.progress import RunsProgressBar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_runs_progress_bar_draws_eta_on_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = RunsProgressBar(stream, tty=True, clock=clock)
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
    bar = RunsProgressBar(stream, tty=False, clock=clock)
    bar(1, 2)
    assert stream.getvalue() == ""
    clock.now += 5.0
    bar(2, 2)
    bar.finish()
    assert stream.getvalue() == "runs 2/2 in 5s\n"
