"""sim.progress: a run's and a sweep's bars, drawn on a terminal, plain lines on a pipe."""

import io
import re

from sim.progress import RunBar, SweepBar
from sim.world.driver import simulate
from tests.sim.builders import build_scenario, step, traffic


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


def test_runs_progress_bar_writes_plain_lines_every_few_seconds_on_a_pipe() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = SweepBar(stream, tty=False, every_s=5.0, clock=clock)
    bar(1, 3)
    assert stream.getvalue() == ""  # not yet five seconds
    clock.now += 6.0
    bar(2, 3)
    clock.now += 1.0
    bar(3, 3)
    bar.finish()
    assert stream.getvalue() == "runs 2/3, eta 3s\nruns 3/3 in 7s\n"


def test_progress_bar_draws_on_a_terminal() -> None:
    stream = io.StringIO()
    bar = RunBar(stream, label="day", tty=True)
    bar(43200.0, 86400.0)
    bar.finish(1.5)
    text = stream.getvalue()
    assert "\r" in text and "50%" in text and "12h / 1d" in text
    assert text.endswith("day: simulated 1d in 1.5s\n")


def test_progress_bar_writes_plain_lines_on_a_pipe() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = RunBar(stream, label="day", tty=False, every_s=5.0, clock=clock)
    bar(3600.0, 86400.0, 100)
    assert stream.getvalue() == ""  # not yet five seconds
    clock.now += 5.0
    bar(43200.0, 86400.0, 12345)
    bar.finish(6.0)
    assert stream.getvalue() == (
        "day: simulated 12h / 1d, 12,345 users, 5s wall\nday: simulated 1d in 6.0s\n"
    )


def test_a_run_on_a_pipe_shows_a_line_every_simulated_hour_however_fast() -> None:
    """The driver reports at least once a simulated hour, so a log shows movement however
    fast or slow the wall clock runs (here ten wall seconds pass between reports)."""
    scenario = build_scenario(
        name="six-hours",
        duration="6h",
        steps=[step("vip", audience={"new": "VIP"})],
        traffic=[traffic("vip", "poisson", rate="1/min")],
    )
    stream, clock = io.StringIO(), FakeClock()
    bar = RunBar(stream, label="six-hours", tty=False, every_s=5.0, clock=clock)

    def progress(now: float, end: float, users: int | None = None) -> None:
        clock.now += 10.0
        bar(now, end, users)

    data = simulate(scenario, scenario.seed, progress=progress)
    lines = stream.getvalue().splitlines()
    hours = [int(m.group(1)) for m in map(re.compile(r"simulated (\d+)h / 6h").search, lines) if m]
    assert hours[:5] == [1, 2, 3, 4, 5]  # one line an hour at the latest
    users = [
        int(m.group(1).replace(",", ""))
        for line in lines
        if (m := re.search(r"([\d,]+) users", line))
    ]
    assert users == sorted(users) and 0 < users[-1] <= len(data.users)
