"""The pacer's rules, one by one, on scripted sends and answers (``now`` is the only clock)."""

import math

import pytest

from mock_pinterest.ratelimit import RateLimiter, Window
from sync_core.pacing import Pacer

R = 7


def adaptive(*, margin_s: float = 0.02, max_in_flight: int = 100) -> Pacer:
    return Pacer(limit=R, max_in_flight=max_in_flight, margin_s=margin_s)


def send_window(pacer: Pacer, start: float, count: int = R) -> list[float]:
    """``count`` sends from ``start``, each as soon as the pacer allows, their answers back at
    once (in flight stays free); returns the send instants."""
    sent = []
    for _ in range(count):
        now = max(start, pacer.next_free_at())
        assert pacer.can_send(now)
        pacer.record_send(now)
        pacer.record_done(sent_at=now, now=now)
        sent.append(now)
    return sent


def test_pacer_reopens_the_window_one_second_and_the_margin_after_the_rth_arrival() -> None:
    pacer = adaptive(margin_s=0.02)
    send_window(pacer, 0.5)
    assert pacer.next_free_at() == pytest.approx(1.52)
    assert not pacer.can_send(1.519) and pacer.can_send(pacer.next_free_at())


def test_pacer_spreads_a_window_over_its_second_by_estimated_arrival() -> None:
    pacer = adaptive(margin_s=0.02)
    pacer.on_round_trip(0.2)  # one way 0.1 s
    sent = send_window(pacer, 0.0)
    assert sent == pytest.approx([k / (2 * R) for k in range(R)])  # over half the second
    pacer.on_round_trip(0.1)  # one way 0.05 s: by arrival, 1 s and the margin after the first
    assert pacer.next_free_at() == pytest.approx(0.1 + 1.02 - 0.05)
    pacer = adaptive()
    pacer.record_send(3.0)
    pacer.record_done(sent_at=3.0, now=3.0)
    assert pacer.next_free_at() == pytest.approx(3.0 + 1 / (2 * R))


@pytest.mark.parametrize("window_s", [1.0, 0.1])
@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_pacer_a_late_arrival_costs_at_most_one_refusal(algorithm: str, window_s: float) -> None:
    """A saturated token for a minute of the server's seconds against the mock's own limiter,
    every request arriving 2 ms (of a 1 s window) after its send but one held up 40 ms (a
    stall at either end): one 429 at most, where a burst of r arriving late put the whole
    next burst in its window. With a window of 0.1 s (a mock 10 times faster than the
    engine's clock, every duration a tenth) the same holds, in a tenth of the time."""
    limiter = RateLimiter({"ads_write": (Window(R, window_s, algorithm),)})
    pacer = Pacer(limit=R, max_in_flight=100, margin_s=0.001, window_s=window_s)
    refused, now, sends = 0, 0.0, 0
    while now < 60.0 * window_s:
        now = max(now, pacer.next_free_at())
        pacer.record_send(now)
        arrival = now + window_s * (0.002 + (0.04 if sends == 28 * R else 0.0))
        decision = limiter.acquire("token", "ads_write", arrival)
        assert decision is not None
        pacer.record_done(sent_at=now, now=now)
        pacer.on_round_trip(0.004 * window_s)
        if decision.allowed:
            pacer.on_accepted()
        else:
            refused += 1
            reset_s = math.ceil(decision.reset_s / window_s) * window_s  # whole server seconds
            hold_at, _ = pacer.on_refused(sent_at=now, reset_s=reset_s, now=now)
            pacer.block_until(hold_at, now)
        sends += 1
    assert refused <= 1
    assert sends >= 60 * R * 0.97


def test_pacer_plans_by_estimated_arrival_when_the_path_speeds_up() -> None:
    pacer = adaptive(margin_s=0.02)
    pacer.on_round_trip(0.2)  # one way 0.1 s
    send_window(pacer, 0.0)  # the first estimated to arrive at 0.1
    pacer.on_round_trip(0.04)  # the path got faster: one way 0.02 s
    assert pacer.one_way_s == pytest.approx(0.02)
    # a send at 1.02 would arrive at 1.04, only 0.94 s after the burst: wait until 1.1
    assert pacer.next_free_at() == pytest.approx(0.1 + 1.0 + 0.02 - 0.02)
    assert not pacer.can_send(1.05)


def test_pacer_never_plans_more_than_r_sends_in_a_second_of_sending() -> None:
    pacer = adaptive(margin_s=0.0)
    send_window(pacer, 0.0)  # estimated arrivals = sends (no round trip yet)
    for _ in range(200):
        pacer.on_round_trip(5.0)  # the path slowed: one way rises, a step per answer
    assert pacer.one_way_s > 0.01
    # by arrival alone a send at 0.99 would do; the ceiling on sends says 1.0
    assert pacer.next_free_at() == pytest.approx(1.0)


def test_pacer_one_way_estimate_falls_at_once_and_rises_a_tenth_of_a_millisecond_per_answer() -> (
    None
):
    pacer = adaptive()
    pacer.on_round_trip(0.1)
    assert pacer.one_way_s == pytest.approx(0.05)
    pacer.on_round_trip(0.06)
    assert pacer.one_way_s == pytest.approx(0.03)
    for _ in range(128):  # the 0.06 s sample ages out of the window of 128
        pacer.on_round_trip(1.0)
    assert pacer.one_way_s == pytest.approx(0.03 + 0.0001)
    pacer.on_round_trip(1.0)
    assert pacer.one_way_s == pytest.approx(0.03 + 0.0002)


@pytest.mark.parametrize(
    ("round_trip_s", "max_in_flight", "expected"),
    [
        (0.2, 100, R),  # answers within a window: one window's worth, a burst of r
        (1.5, 100, 2 * R),  # a pessimistic round trip spans two windows: two bursts
        (1.5, 10, 10),  # never above the configured ceiling
        (0.001, 1, 1),  # the ceiling wins over the floor of 2
    ],
)
def test_pacer_sizes_in_flight_by_littles_law(
    round_trip_s: float, max_in_flight: int, expected: int
) -> None:
    pacer = adaptive(max_in_flight=max_in_flight)
    for _ in range(50):  # a steady round trip: rttvar decays towards 0
        pacer.on_round_trip(round_trip_s)
    assert pacer.in_flight_limit == expected


def test_pacer_in_flight_bound_stops_sends_until_an_answer() -> None:
    pacer = adaptive(max_in_flight=2)
    pacer.record_send(0.0)
    pacer.record_send(0.0)
    assert pacer.saturated() and not pacer.can_send(5.0)
    pacer.record_done(sent_at=0.0, now=0.0)
    assert pacer.can_send(5.0)


def test_pacer_narrows_the_margin_additively_on_each_accepted_write_down_to_1_ms() -> None:
    pacer = adaptive(margin_s=0.02)
    for _ in range(100):
        pacer.on_accepted()
    assert pacer.margin_s == pytest.approx(0.02 - 100 * 0.00005)
    for _ in range(1000):
        pacer.on_accepted()
    assert pacer.margin_s == pytest.approx(0.001)


def test_pacer_widens_the_margin_on_a_refusal_once_per_cause() -> None:
    pacer = adaptive(margin_s=0.02)
    send_window(pacer, 9.0)  # a full window of ours: our spacing may be the cause
    hold_at, streak = pacer.on_refused(sent_at=10.0, reset_s=1.0, now=10.1)
    assert pacer.margin_s == pytest.approx(1.5 * 0.02 + 0.001)
    assert (hold_at, streak) == (10.0, 1)
    # sent before that widening: refused for the same reason; no second widening
    assert pacer.on_refused(sent_at=10.05, reset_s=1.0, now=10.12) == (10.05, 0)
    assert pacer.margin_s == pytest.approx(0.031)


def test_pacer_narrows_a_widening_back_over_400_accepted_writes_at_any_scale() -> None:
    pacer = adaptive(margin_s=0.2)  # heavy jitter: a wide margin
    send_window(pacer, 9.0)
    pacer.on_refused(sent_at=10.0, reset_s=1.0, now=10.1)
    assert pacer.margin_s == pytest.approx(0.301)
    for _ in range(400):
        pacer.on_accepted()
    assert pacer.margin_s == pytest.approx(0.2)  # steps of 0.101 s / 400, not 0.05 ms


def test_pacer_a_storm_of_refusals_widens_the_margin_only_once() -> None:
    pacer = adaptive(margin_s=0.02)
    send_window(pacer, 9.0)
    streaks = [pacer.on_refused(sent_at=10.0 + k, reset_s=1.0, now=10.1 + k)[1] for k in range(20)]
    assert streaks == list(range(1, 21))  # the engine escalates its backoff on these
    assert pacer.margin_s == pytest.approx(0.031)
    pacer.on_accepted()  # the streak ends; the next refusal widens again
    send_window(pacer, 39.0)
    pacer.on_refused(sent_at=40.0, reset_s=1.0, now=40.1)
    assert pacer.margin_s == pytest.approx(1.5 * (0.031 - 0.00005) + 0.001)


def test_pacer_a_refusal_without_a_full_window_of_ours_widens_nothing() -> None:
    # a storm refusing a share of light traffic: one send a second, every other one refused;
    # each refusal ends a streak's accepted write, so counting streaks alone would ratchet
    # the margin up at every other send, to its cap
    pacer = adaptive(margin_s=0.02)
    for k in range(60):
        pacer.record_send(float(k))
        pacer.record_done(sent_at=float(k), now=float(k))
        if k % 2:
            pacer.on_refused(sent_at=float(k), reset_s=1.0, now=k + 0.1)
        else:
            pacer.on_accepted()
    assert pacer.margin_s <= 0.02


@pytest.mark.parametrize(("reset_s", "hold_at"), [(1.0, 10.0), (5.0, 14.0), (0.5, 10.0)])
def test_pacer_holds_a_refused_token_until_the_earliest_reset_the_header_allows(
    reset_s: float, hold_at: float
) -> None:
    # R whole seconds rounded up: the budget reopens within (R - 1, R] of the refused arrival
    pacer = adaptive()
    assert pacer.on_refused(sent_at=10.0, reset_s=reset_s, now=10.2)[0] == hold_at


def test_pacer_obeys_a_spent_budget_it_cannot_explain_from_the_reset() -> None:
    pacer = adaptive()
    pacer.record_send(3.0)
    pacer.on_budget_spent(sent_at=3.0, reset_s=4.0, now=3.2)  # someone else spends it
    assert pacer.next_free_at() == 7.0 and pacer.blocked_at == 3.2


def test_pacer_ignores_a_spent_budget_its_own_full_window_explains() -> None:
    pacer = adaptive()
    last = send_window(pacer, 3.0)[-1]
    pacer.on_budget_spent(sent_at=last, reset_s=1.0, now=last + 0.01)
    assert pacer.blocked_until == 0.0


def test_pacer_never_shortens_a_server_hold() -> None:
    pacer = adaptive()
    pacer.block_until(30.0, 1.0)
    pacer.block_until(10.0, 2.0)
    assert pacer.next_free_at() == 30.0 and pacer.blocked_at == 1.0


def test_fixed_pacer_spaces_sends_by_its_margin_and_holds_a_refusal_from_the_answer() -> None:
    pacer = Pacer(limit=R, max_in_flight=4, margin_s=0.001, adaptive=False)
    for _ in range(50):
        pacer.on_round_trip(3.0)
        pacer.on_accepted()
    assert (pacer.in_flight_limit, pacer.one_way_s, pacer.margin_s) == (4, 0.0, 0.001)
    for k in range(R):
        pacer.record_send(k / R)
    assert pacer.next_free_at() == pytest.approx(1.001)
    assert pacer.on_refused(sent_at=0.5, reset_s=1.0, now=0.7) == (1.7, 1)
    assert pacer.margin_s == 0.001
