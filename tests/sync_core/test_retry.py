"""Backoff delays."""

import random

from sync_core.retry import Backoff


def test_backoff_doubles_within_jitter_bounds_and_caps() -> None:
    backoff = Backoff(base_s=1.0, max_s=8.0)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (500, 8.0)]:
        delay = backoff.delay_s(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_reproducible_from_the_seed() -> None:
    backoff = Backoff(base_s=1.0, max_s=300.0)
    draws = [backoff.delay_s(5, random.Random(7)) for _ in range(2)]
    assert draws[0] == draws[1] != backoff.delay_s(5, random.Random(8))
