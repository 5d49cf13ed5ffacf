"""sim.book: the feed in this process or in a helper process gives the same run;
a helper that fails or vanishes is reported, never waited on forever, and always ended."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sim.book.helper as helper_module
from sim.book import helper_pays, open_feed
from sim.book.feed import InlineFeed, new_ledger
from sim.book.helper import FeedError, HelperFeed
from sim.results.recorder import RunData
from sim.scenario import Scenario, load, parse
from sim.world.driver import simulate
from tests.sim.builders import fault, scenario_toml, step, traffic

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"

# an add step, a remove step replaying it, and a revoke: every ledger path in a few seconds
MIXED = scenario_toml(
    name="feed_mixed",
    seed=7,
    duration="20m",
    steps=[
        step("add", audience={"new": "A"}),
        step("drop", action="remove", audience={"new": "A"}),
    ],
    traffic=[
        traffic("add", "poisson", rate="30/s", missing={"email": 0.1, "maid": 0.3}, malformed=0.05),
        traffic("drop", "poisson", rate="10/s", start="5m", replay="add"),
    ],
    faults=[fault("revoke_token", "12m"), fault("reconnect", "14m")],
)


def _assert_same_run(inline: RunData, helped: RunData) -> None:
    for name in ("users", "requests", "timeseries"):
        pd.testing.assert_frame_equal(getattr(inline, name), getattr(helped, name))
    assert inline.members == helped.members
    assert inline.expected_members == helped.expected_members
    assert len(inline.requests) > 100 and any(inline.expected_members.values())


@pytest.mark.parametrize(
    "scenario",
    [parse(MIXED, "feed_mixed.toml"), load(SCENARIOS / "audience_deleted.toml")],
    ids=["mixed", "audience_deleted"],
)
def test_a_helper_process_gives_the_same_run_as_the_inline_feed(scenario: Scenario) -> None:
    inline = simulate(scenario, scenario.seed, feed_helper=False)
    helped = simulate(scenario, scenario.seed, feed_helper=True)
    _assert_same_run(inline, helped)


def test_a_forkserver_helper_gives_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # a process that runs threads starts its helper through a forkserver: all by pickle
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    scenario = parse(MIXED, "feed_mixed.toml")
    inline = simulate(scenario, scenario.seed, feed_helper=False)
    helped = simulate(scenario, scenario.seed, feed_helper=True)
    _assert_same_run(inline, helped)


def test_a_helper_that_vanishes_is_reported_not_waited_on() -> None:
    scenario = parse(MIXED, "feed_mixed.toml")
    helper = HelperFeed(scenario, scenario.seed, 1.0)
    try:
        helper.draw()
        helper._process.kill()
        helper._process.join()
        with pytest.raises(FeedError, match="ended unexpectedly"):
            while True:  # windows it sent before dying may still be in the pipe
                helper.draw()
    finally:
        helper.close()


def test_closing_mid_run_ends_the_helper() -> None:
    scenario = parse(MIXED, "feed_mixed.toml")
    helper = HelperFeed(scenario, scenario.seed, 1.0)
    helper.draw()
    helper.close()
    assert not helper._process.is_alive()
    assert not [p for p in multiprocessing.active_children() if p.name == "pinsim-feed"]


class _Pipe:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


def test_a_helper_failure_reaches_the_driver_with_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> None:
        raise ValueError("the ledger broke")

    monkeypatch.setattr(helper_module, "book", broken)
    # The helper ignores Ctrl-C, in its own process; run here, it must not leave this test
    # process ignoring it: every process it starts later would inherit that (a server the
    # tests stop with SIGINT would then never stop).
    monkeypatch.setattr(signal, "signal", lambda signum, handler: signal.getsignal(signum))
    scenario = parse(MIXED, "feed_mixed.toml")
    pipe = _Pipe()
    helper_module._helper_main(pipe, queue.Queue(), scenario, scenario.seed, 1.0)
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    kind, message = pipe.sent[-1]
    assert kind == "error"
    assert "ValueError: the ledger broke" in message


def test_the_helper_is_used_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    small = parse(MIXED, "feed_mixed.toml")  # ~40 k users
    big = load(SCENARIOS / "black_friday_blast.toml")  # 2 M users
    assert isinstance(open_feed(small, 1, 1.0), InlineFeed)
    assert isinstance(open_feed(big, 1, 1.0, helper=False), InlineFeed)
    assert helper_pays(big)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert not helper_pays(big)  # one core: nothing to overlap with


class _Quiet:
    def get(self, **_: object) -> Any:
        raise queue.Empty


class _Gone:
    def is_alive(self) -> bool:
        return False


def test_a_helper_waiting_on_a_dead_driver_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: _Gone())
    scenario = parse(MIXED, "feed_mixed.toml")
    with pytest.raises(FeedError, match="the driver is gone"):
        helper_module._await_run_end(new_ledger(scenario), _Quiet())
