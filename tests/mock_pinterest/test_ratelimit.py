from __future__ import annotations

from mock_pinterest.config import MockConfig
from mock_pinterest.ratelimit import RateLimiter, windows_for


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
