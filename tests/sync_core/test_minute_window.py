"""The pacer's minute window (rule 6, ``sync_core.minute_window``) on simulated time: a saturated
token against the mock's own limiter with both ads_write windows, over a jittery path."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from mock_pinterest.ratelimit import Decision, RateLimiter, Window
from sync_core.pacing import Pacer

R, N = 7, 400  # Pinterest's ads_write: 7 a second, 400 a minute
_SENT, _ARRIVED, _ANSWERED = 0, 1, 2  # event kinds, in the order ties resolve


@dataclass
class Run:
    """What a simulated stretch of sending showed."""

    sent: list[float] = field(default_factory=list)
    planned: list[float] = field(default_factory=list)  # the pacer's estimated arrivals
    arrived: list[float] = field(default_factory=list)
    refused_by: list[int] = field(default_factory=list)  # the refusing window's count
    refused_sent: list[float] = field(default_factory=list)  # when the refused were sent


def saturate(
    pacer: Pacer,
    algorithm: str,
    *,
    seconds: float,
    seed: int,
    learn: bool = True,
    legs: tuple[float, float] = (0.02, 0.08),
) -> Run:
    """Send as fast as the pacer allows for ``seconds``: each request's legs take ``legs``
    (20–80 ms) and the server 50–400 ms; arrivals reach the mock's limiter (7/s and 400/min,
    ``algorithm``) in their order, answers reach the pacer in theirs, with the mock's headers."""
    rng = random.Random(seed)
    limiter = RateLimiter({"ads_write": (Window(R, 1.0, algorithm), Window(N, 60.0, algorithm))})
    run, events, now = Run(), list[tuple[float, int, float, Decision | None]](), 0.0
    while True:
        send_at = max(now, pacer.next_free_at())
        if not pacer.saturated() and send_at < seconds and (not events or send_at < events[0][0]):
            now = send_at
            run.sent.append(now)
            run.planned.append(pacer.record_send(now))
            heapq.heappush(events, (now + rng.uniform(*legs), _ARRIVED, now, None))
            continue
        if not events:
            return run
        now, kind, sent_at, decision = heapq.heappop(events)
        if kind == _ARRIVED:
            decision = limiter.acquire("token", "ads_write", now)
            assert decision is not None
            run.arrived.append(now)
            back = now + rng.uniform(0.05, 0.4) + rng.uniform(*legs)
            heapq.heappush(events, (back, _ANSWERED, sent_at, decision))
            continue
        assert decision is not None
        answer(pacer, decision, sent_at, now, learn=learn, run=run)


def answer(
    pacer: Pacer, decision: Decision, sent_at: float, now: float, *, learn: bool, run: Run
) -> None:
    """What the engine does with an answer (``SyncEngine._interpret``), headers included."""
    pacer.record_done(sent_at=sent_at, now=now)
    pacer.on_round_trip(now - sent_at)
    headers = decision.headers(retry_after=False)
    reset_s = float(headers["x-ratelimit-reset"])
    if learn:
        pacer.on_window_stated(
            limit=int(headers["x-ratelimit-limit"]),
            remaining=int(headers["x-ratelimit-remaining"]),
            sent_at=sent_at,
        )
    if decision.remaining == 0:
        pacer.on_budget_spent(sent_at=sent_at, reset_s=reset_s, now=now)
    if decision.allowed:
        pacer.on_accepted()
        return
    run.refused_by.append(decision.limit)
    run.refused_sent.append(sent_at)
    hold_at, _ = pacer.on_refused(sent_at=sent_at, reset_s=reset_s, now=now)
    pacer.block_until(hold_at, now)


def busiest(instants: list[float], window_s: float) -> int:
    """Most instants in any half-open window of ``window_s`` (one starts at an instant)."""
    ordered = np.sort(np.asarray(instants))
    ends = np.searchsorted(ordered, ordered + window_s - 1e-9, side="left")
    return int((ends - np.arange(ordered.size)).max())


def pacer(per_minute: int | None = N) -> Pacer:
    return Pacer(limit=R, max_in_flight=16, margin_s=0.02, per_minute=per_minute)


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_minute_window_holds_n_a_minute_and_r_a_second_at_arrival(algorithm: str) -> None:
    run = saturate(pacer(), algorithm, seconds=600.0, seed=1)
    assert busiest(run.planned, 60.0) <= N  # the plan
    assert busiest(run.arrived, 60.0) <= N  # what Pinterest counted, jitter and all
    assert busiest(run.sent, 60.0) <= N
    assert busiest(run.sent, 1.0) <= R  # the second's rules still hold
    assert N not in run.refused_by  # the minute window refused nothing
    # and the token is used: ten minutes of 400, give or take the first's head start
    assert len(run.sent) >= 10 * N * 0.97


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_minute_window_leaves_the_second_no_refusal_to_learn_from(algorithm: str) -> None:
    """A long backlog under both windows, the path's legs 20–60 ms (a one-way spread of
    40 ms, inside the 50 ms the minute leaves the second: r·60/n − 1 s): neither window
    refuses a request. Without a minute window the learned margin finds the path's jitter
    by being refused (~1 in 400 writes); under one, rule (4) plans with the minute's slack."""
    run = saturate(pacer(), algorithm, seconds=1200.0, seed=4, legs=(0.02, 0.06))
    assert run.refused_by == []
    assert busiest(run.arrived, 1.0) <= R and busiest(run.arrived, 60.0) <= N
    # and the slack costs no throughput: twenty minutes of 400, less the first's head start
    assert len(run.sent) >= 20 * N * 0.985


def test_minute_window_slack_is_where_a_refusal_widens_the_margin_from() -> None:
    held = pacer()
    slack = R * 60.0 / N - 1.0  # 50 ms: 7 sends at 400 a minute take 1.05 s
    assert held.minute.slack_s(R, 1.0) == pytest.approx(slack)
    assert pacer(60 * R).minute.slack_s(R, 1.0) == 0.0  # a minute that never binds
    assert pacer(None).minute.slack_s(R, 1.0) == 0.0
    for k in range(R):  # a full window of ours, so the refusal is ours to learn from
        held.record_send(k / (2.0 * R))
    start = held.next_free_at()
    assert start == pytest.approx(1.0 + slack)  # rule (4), one way 0, margin 20 ms < slack
    held.on_refused(sent_at=0.4, reset_s=1.0, now=0.6)
    assert held.margin_s == pytest.approx(1.5 * slack + 0.001)


def test_minute_window_unknown_and_unlearned_is_refused_by_pinterest() -> None:
    """The same token without rule 6 (no configuration, headers not read): the minute window
    refuses, and each refusal holds the token until the window reopens."""
    run = saturate(pacer(None), "fixed_window", seconds=300.0, seed=1, learn=False)
    assert busiest(run.arrived, 60.0) > N  # more than the minute holds reached Pinterest
    assert N in run.refused_by  # (a request both windows refuse names the second's)


def test_minute_window_is_learned_from_the_headers_in_its_first_minute() -> None:
    """Not configured: the answers state the minute window once it is the tightest (more spent
    than a second's worth and than the last seconds' sends), in the first minute's last
    requests — those already on their way may be refused — and rule 6 holds it from then on."""
    learner = pacer(None)
    run = saturate(learner, "fixed_window", seconds=600.0, seed=2)
    assert learner.minute.limit == N
    first_minute = [at for at, by in zip(run.refused_sent, run.refused_by, strict=True) if by == N]
    assert max(first_minute, default=0.0) < 65.0
    assert busiest([at for at in run.arrived if at >= 65.0], 60.0) <= N


def test_minute_window_is_not_learned_from_the_seconds_own_answers() -> None:
    # a full second of our own sends, then the 1 s window's answers: a second's worth spent
    learner = pacer(None)
    for k in range(R):
        learner.record_send(10.0 + k / (2 * R))
    learner.on_window_stated(limit=R, remaining=0, sent_at=10.4)
    assert learner.minute.limit is None
    # a bigger 1 s window than the engine's r, but no more spent than we sent lately
    learner.on_window_stated(limit=2 * R, remaining=2 * R - R, sent_at=10.4)
    assert learner.minute.limit is None
    learner.on_window_stated(limit=N, remaining=3, sent_at=10.4)
    assert learner.minute.limit == N


def test_minute_window_waits_a_minute_after_the_nth_answer_not_its_estimated_arrival() -> None:
    held = pacer(3)
    for k in range(3):
        held.record_send(float(k))
    held.record_done(sent_at=0.0, now=0.5)  # the first's answer: it arrived by 0.5
    held.record_done(sent_at=1.0, now=1.2)
    # by send 60 s after the first; by arrival a minute and the margin after its answer
    assert held.next_free_at() == pytest.approx(0.5 + 60.0 + 0.02)
    unanswered = pacer(3)
    for k in range(3):
        unanswered.record_send(float(k))
    assert unanswered.next_free_at() == pytest.approx(60.0 + 0.02)  # its estimate (one way 0)


def test_minute_window_429_holds_the_token_until_the_reset_allows() -> None:
    # a minute window's refusal states the rest of the minute: the budget reopens within
    # (R − 1, R] of the refused arrival, so no send before sent_at + R − 1
    unaware = pacer(None)
    hold_at, streak = unaware.on_refused(sent_at=100.0, reset_s=40.0, now=100.3)
    unaware.block_until(hold_at, 100.3)
    assert (hold_at, streak) == (139.0, 1)
    assert unaware.next_free_at() == 139.0 and not unaware.can_send(138.9)


def test_fixed_pacer_holds_the_minute_by_send() -> None:
    fixed = Pacer(limit=R, max_in_flight=16, margin_s=0.001, adaptive=False, per_minute=N)
    now = 0.0
    for _ in range(N + 1):
        now = max(now, fixed.next_free_at())
        fixed.record_send(now)
        fixed.record_done(sent_at=now, now=now + 0.1)
    # the 401st went out a minute and the margin after the first's answer at 0.1
    assert now == pytest.approx(60.101)
    assert math.isinf(pacer(None).minute.free_at(0.02, 0.0))
