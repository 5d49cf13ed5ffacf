"""The per-token sliding window."""

from sync_core.ratelimit import TokenLimiter


def test_token_limiter_allows_the_eighth_send_exactly_one_second_after_the_first() -> None:
    limiter = TokenLimiter(limit=7, max_in_flight=100)
    for k in range(7):
        assert limiter.can_send(0.1 + k * 0.01)
        limiter.record_send(0.1 + k * 0.01)
    assert limiter.next_free_at() == 0.1 + 1.0
    assert not limiter.can_send(1.0999999999)
    assert limiter.can_send(0.1 + 1.0)


def test_token_limiter_margin_delays_the_reopened_window_by_exactly_the_margin() -> None:
    limiter = TokenLimiter(limit=7, max_in_flight=100, margin_s=0.001)
    for k in range(7):
        limiter.record_send(k / 7)
    assert limiter.next_free_at() == 1.0 + 0.001
    assert not limiter.can_send(1.0) and limiter.can_send(1.001)


def test_token_limiter_bounds_requests_in_flight() -> None:
    limiter = TokenLimiter(limit=7, max_in_flight=2)
    limiter.record_send(0.0)
    limiter.record_send(0.0)
    assert not limiter.can_send(5.0)
    limiter.record_done()
    assert limiter.can_send(5.0)


def test_token_limiter_obeys_a_server_block_and_never_shortens_it() -> None:
    limiter = TokenLimiter(limit=7, max_in_flight=4)
    limiter.block_until(30.0, 1.0)
    limiter.block_until(10.0, 2.0)
    assert limiter.next_free_at() == 30.0
    assert not limiter.can_send(29.9) and limiter.can_send(30.0)
