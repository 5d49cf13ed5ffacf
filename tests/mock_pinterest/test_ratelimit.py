from __future__ import annotations

import random

import pytest

from mock_pinterest import backend_of, create_app
from mock_pinterest.config import RATE_LIMIT_ALGORITHMS, MockConfig, coerce_config
from mock_pinterest.ratelimit import Decision, RateLimiter, Window, windows_for


def test_ratelimit_refused_requests_do_not_consume_budget() -> None:
    limiter = RateLimiter(windows_for(MockConfig(ads_write_per_second=2)))
    verdicts = [limiter.acquire("tok-1", "ads_write", 0.5) for _ in range(4)]
    assert [v.allowed for v in verdicts if v] == [True, True, False, False]
    later = limiter.acquire("tok-1", "ads_write", 1.5)
    assert later is not None and later.allowed and later.remaining == 1


def test_ratelimit_optional_minute_window_also_applies() -> None:
    limiter = RateLimiter(windows_for(MockConfig(ads_write_per_second=7, ads_write_per_minute=10)))
    allowed = sum(
        1
        for second in range(5)
        for _ in range(7)
        if (d := limiter.acquire("t", "ads_write", float(second))) and d.allowed
    )
    assert allowed == 10
    refused = limiter.acquire("t", "ads_write", 5.0)
    assert refused is not None and refused.limit == 10 and round(refused.reset_s) == 55


def test_ratelimit_categories_have_separate_budgets_and_headers() -> None:
    limiter = RateLimiter(windows_for(MockConfig(ads_write_per_second=1)))
    assert limiter.acquire("t", "ads_write", 0)
    read = limiter.acquire("t", "ads_read", 0)
    assert read is not None and read.allowed
    assert read.headers(retry_after=True) == {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": "999",
        "x-ratelimit-reset": "60",
    }
    assert limiter.acquire("t", "unknown", 0) is None


# -- the three algorithms (MockConfig.rate_limit_algorithm), on a fake clock ----------------


def _limiter(algorithm: str, **limits: int | None) -> RateLimiter:
    return RateLimiter(windows_for(MockConfig(rate_limit_algorithm=algorithm, **limits)))  # type: ignore[arg-type]


def _run(
    limiter: RateLimiter, arrivals: list[float], category: str = "ads_write"
) -> list[Decision]:
    decisions = [limiter.acquire("tok-1", category, t) for t in arrivals]
    assert all(d is not None for d in decisions)
    return [d for d in decisions if d is not None]


def _allowed(decisions: list[Decision]) -> list[bool]:
    return [d.allowed for d in decisions]


def test_config_rejects_unknown_rate_limit_algorithm() -> None:
    assert MockConfig().rate_limit_algorithm == "fixed_window"
    with pytest.raises(ValueError, match="rate_limit_algorithm") as caught:
        MockConfig(rate_limit_algorithm="leaky_bucket")
    for name in RATE_LIMIT_ALGORITHMS:
        assert repr(name) in str(caught.value)
    with pytest.raises(ValueError, match="rate_limit_algorithm"):
        coerce_config({"rate_limit_algorithm": "Sliding_Window"})


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_ratelimit_windows_take_the_algorithm_from_config(algorithm: str) -> None:
    app = create_app({"rate_limit_algorithm": algorithm, "ads_write_per_minute": 400})
    windows = windows_for(backend_of(app).config)
    assert {w.algorithm for ws in windows.values() for w in ws} == {algorithm}
    assert len(windows["ads_write"]) == 2


def test_ratelimit_window_rejects_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="expected one of: fixed_window, sliding_window"):
        Window(7, 1.0, "leaky_bucket")


def test_ratelimit_fixed_window_anchors_on_first_arrival() -> None:
    limiter = _limiter("fixed_window")
    burst = _run(limiter, [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96])
    assert _allowed(burst) == [True] * 7
    # [0.9, 1.9): still full at 1.5 (a token bucket has refilled by then), ...
    refused = _run(limiter, [1.5])[0]
    assert not refused.allowed and refused.remaining == 0
    assert refused.reset_s == pytest.approx(0.4)
    # ... and wholly fresh at 1.9 (a sliding window still holds 0.91..0.96 then).
    fresh = _run(limiter, [1.9])[0]
    assert fresh.allowed and fresh.remaining == 6 and fresh.reset_s == pytest.approx(1.0)


def test_ratelimit_sliding_window_admits_when_the_oldest_arrival_leaves() -> None:
    limiter = _limiter("sliding_window")
    assert _allowed(_run(limiter, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])) == [True] * 7
    late, on_time, next_one = _run(limiter, [0.99, 1.0, 1.05])
    # (−0.01, 0.99] holds 7 (a token bucket would have refilled enough by then).
    assert not late.allowed and late.remaining == 0 and late.reset_s == pytest.approx(0.01)
    # 0.0 leaves at 1.0; the refused 0.99 counts in nothing.
    assert on_time.allowed and on_time.remaining == 0 and on_time.reset_s == pytest.approx(0.1)
    # (0.05, 1.05] holds 0.1..0.6 and 1.0: full again (a fixed window opened at 1.0 is not).
    assert not next_one.allowed and next_one.reset_s == pytest.approx(0.05)


def test_ratelimit_sliding_window_headers_count_the_window_after_the_verdict() -> None:
    limiter = _limiter("sliding_window", ads_read_per_minute=3)
    first, second, third, refused, later = _run(limiter, [0, 10, 20, 30, 61], "ads_read")
    assert [first.remaining, second.remaining, third.remaining] == [2, 1, 0]
    assert [first.reset_s, second.reset_s, third.reset_s] == [60, 50, 40]
    assert refused.headers(retry_after=True) == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "30",
        "Retry-After": "30",
    }
    # At 61 only 10 and 20 remain in (1, 61]: admitted, one slot left, 10 leaves in 9 s.
    assert later.allowed and later.remaining == 0 and later.reset_s == 9


def test_ratelimit_token_bucket_refills_one_token_per_period_over_limit() -> None:
    limiter = _limiter("token_bucket")
    burst = _run(limiter, [0.0] * 8)
    assert _allowed(burst) == [True] * 7 + [False]
    assert [d.remaining for d in burst] == [6, 5, 4, 3, 2, 1, 0, 0]
    # Fixed and sliding windows refuse both of these; the bucket has one token back at 1/7 s.
    back, again = _run(limiter, [1 / 7, 1 / 7])
    assert back.allowed and not again.allowed
    assert again.reset_s == pytest.approx(1 / 7)


def test_ratelimit_token_bucket_admits_a_request_exactly_when_its_token_is_due() -> None:
    # After a burst, one arrival every 1/7 s finds its token back despite float rounding.
    limiter = _limiter("token_bucket")
    _run(limiter, [0.0] * 7)
    assert all(_allowed(_run(limiter, [k / 7 for k in range(1, 1000)])))


def test_ratelimit_token_bucket_reset_is_until_full_or_until_one_token() -> None:
    limiter = _limiter("token_bucket", ads_read_per_minute=10)  # one token every 6 s
    burst = _run(limiter, [0.0] * 10, "ads_read")
    assert burst[2].remaining == 7 and burst[2].reset_s == pytest.approx(18)
    assert burst[-1].remaining == 0 and burst[-1].reset_s == pytest.approx(60)
    refused, half, due, refilled = _run(limiter, [0.0, 3.0, 6.0, 36.0], "ads_read")
    assert refused.headers(retry_after=True)["Retry-After"] == "6"
    assert not half.allowed and half.reset_s == pytest.approx(3)
    assert due.allowed and due.remaining == 0 and due.reset_s == pytest.approx(60)
    # 30 s after `due`: 5 tokens back, one taken.
    assert refilled.allowed and refilled.remaining == 4 and refilled.reset_s == pytest.approx(36)


def test_ratelimit_token_bucket_never_admits_more_than_limit_plus_rate_times_span() -> None:
    rng = random.Random(20260101)
    for _ in range(500):
        limit = rng.randint(1, 6)
        limiter = _limiter("token_bucket", ads_write_per_second=limit)
        admitted = [t for t in _random_arrivals(rng) if _run(limiter, [t])[0].allowed]
        for i, start in enumerate(admitted):
            for j in range(i, len(admitted)):
                assert j - i + 1 <= limit + limit * (admitted[j] - start) + 1e-6


@pytest.mark.parametrize(
    ("algorithm", "verdicts", "reset"),
    [
        # The minute window (10) is full at 1.3 under all three; they part at 60.05.
        ("fixed_window", [False, True, True], "59"),
        ("sliding_window", [False, True, False], "59"),
        ("token_bucket", [False, True, True], "5"),
    ],
)
def test_ratelimit_every_window_of_a_category_uses_the_algorithm(
    algorithm: str, verdicts: list[bool], reset: str
) -> None:
    limiter = _limiter(algorithm, ads_write_per_second=7, ads_write_per_minute=10)
    filling = _run(limiter, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0, 1.1, 1.2])
    assert _allowed(filling) == [True] * 10
    refused, *later = _run(limiter, [1.3, 60.0, 60.05])
    assert _allowed([refused, *later]) == verdicts
    assert refused.headers(retry_after=False)["x-ratelimit-limit"] == "10"
    assert refused.headers(retry_after=False)["x-ratelimit-reset"] == reset


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_ratelimit_zero_limit_refuses_everything(algorithm: str) -> None:
    limiter = _limiter(algorithm, ads_read_per_minute=0)
    decisions = _run(limiter, [0.0, 30.0, 600.0], "ads_read")
    assert not any(_allowed(decisions)) and {d.remaining for d in decisions} == {0}
    assert all(0 < d.reset_s <= 60 for d in decisions)


# -- property: the sliding window against a brute-force reference --------------------------


def _random_arrivals(rng: random.Random) -> list[float]:
    """A non-decreasing arrival sequence: ties, bursts, gaps around and beyond one second."""
    t, arrivals = 0.0, []
    for _ in range(rng.randint(1, 40)):
        t += rng.choice((0.0, 0.05, 0.1, 0.25, 0.5, 1.0, rng.random(), rng.random() * 3))
        arrivals.append(t)
    return arrivals


def _sliding_reference(arrivals: list[float], limit: int, period: float) -> list[Decision]:
    """Every admitted arrival kept; each verdict counts them afresh."""
    admitted: list[float] = []
    decisions = []
    for now in arrivals:
        in_window = [t for t in admitted if now < t + period]
        allowed = len(in_window) < limit
        if allowed:
            admitted.append(now)
            in_window.append(now)
        decisions.append(
            Decision(
                allowed=allowed,
                limit=limit,
                remaining=limit - len(in_window),
                reset_s=min(in_window) + period - now,
            )
        )
    return decisions


def test_ratelimit_sliding_window_matches_brute_force_reference() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        limit = rng.randint(1, 5)
        arrivals = _random_arrivals(rng)
        got = _run(_limiter("sliding_window", ads_write_per_second=limit), arrivals)
        assert got == _sliding_reference(arrivals, limit, 1.0), arrivals
        admitted = [t for t, d in zip(arrivals, got, strict=True) if d.allowed]
        # No half-open [t, t + 1) holds more than `limit` admitted arrivals ...
        for first, last in zip(admitted, admitted[limit:], strict=False):
            assert last >= first + 1.0
        # ... and every refusal found `limit` of them in (now - 1, now].
        for now, decision in zip(arrivals, got, strict=True):
            if not decision.allowed:
                assert sum(1 for t in admitted if t <= now < t + 1.0) == limit
