"""Rate limiting per token per category, on the injected clock.

Rules:
- Budgets are keyed by (token id, ``x-ratelimit-category`` of the operation); operations of one
  category share a budget (FIDELITY.md "Rate limits").
- Each category has one or more windows (e.g. ads_write: 7 per 1 s, optionally also 400 per
  60 s), all counted by the algorithm ``MockConfig.rate_limit_algorithm`` names. A request
  counts at its arrival ``now``. It is admitted only if every window of its category has room;
  an admitted request counts in all of them, a refused one in none.
- The algorithms, for a window of ``limit`` requests per ``period`` seconds (``_ALGORITHMS``):

  ``fixed_window`` (default)
      A window opens at the first request after the previous one expired and lasts
      ``[opened, opened + period)``; it admits while fewer than ``limit`` were admitted in it.
      remaining = ``limit`` − admitted in it; reset = ``opened + period − now``.
  ``sliding_window``
      Admits at ``now`` iff fewer than ``limit`` admitted arrivals ``t`` lie in
      ``(now − period, now]`` (an arrival leaves once ``now >= t + period``); only the last
      ``limit`` admitted instants are kept. remaining = ``limit`` − arrivals in that window after
      the verdict; reset = ``oldest counted arrival + period − now``.
  ``token_bucket``
      A bucket of ``limit`` tokens, full before the first request, refilled continuously at
      ``limit / period`` tokens per second up to ``limit``; admits iff it holds a whole token
      (to within 1e-9 of a token, so float rounding never refuses a request arriving exactly
      when its token is back) and takes it. remaining = whole tokens left after the verdict;
      reset = seconds until the bucket is full again when admitted, until one whole token is
      back when refused.

  So on a refusal, under every algorithm, reset is the wait until that window admits again.
  A window with a limit of 0 refuses every request (sliding_window, token_bucket: reset is one
  period).
- Answers carry ``x-ratelimit-limit``/``-remaining``/``-reset`` for the tightest window (when
  refused the first window without room, when admitted the one with the fewest remaining;
  seconds until reset, rounded up, at least 1); ``Retry-After`` only when the config asks.
- The limiter never reads a clock: every call takes ``now``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter

from mock_pinterest.config import MockConfig

# A token bucket holding this little less than a whole token still admits (float rounding).
_TOKEN_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` requests per ``period_s`` seconds, counted by ``algorithm``."""

    limit: int
    period_s: float
    algorithm: str = "fixed_window"

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(
                f"unknown rate limit algorithm {self.algorithm!r}; "
                f"expected one of: {', '.join(_ALGORITHMS)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The limiter's verdict on one request, with the headers describing the budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float

    def headers(self, *, retry_after: bool) -> dict[str, str]:
        reset = str(max(1, math.ceil(self.reset_s)))
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": reset,
        }
        if retry_after and not self.allowed:
            headers["Retry-After"] = reset
        return headers


def windows_for(config: MockConfig) -> dict[str, tuple[Window, ...]]:
    """The category table of FIDELITY.md, filled from the config."""
    algorithm = config.rate_limit_algorithm
    ads_write = [Window(config.ads_write_per_second, 1.0, algorithm)]
    if config.ads_write_per_minute is not None:
        ads_write.append(Window(config.ads_write_per_minute, 60.0, algorithm))
    return {
        "ads_write": tuple(ads_write),
        "ads_read": (Window(config.ads_read_per_minute, 60.0, algorithm),),
        "org_read": (Window(config.org_read_per_minute, 60.0, algorithm),),
        "org_write": (Window(config.org_write_per_minute, 60.0, algorithm),),
    }


class _Budget:
    """The mutable state of one window for one key; one subclass per algorithm.

    ``room`` brings the state up to ``now`` and says how many requests it could admit,
    ``take`` counts one admitted request, ``decision`` describes the state after a verdict.
    ``acquire`` is all three for a category with this one window.
    """

    __slots__ = ()

    def room(self, now: float) -> int:
        raise NotImplementedError

    def take(self, now: float) -> None:
        raise NotImplementedError

    def decision(self, now: float, *, allowed: bool) -> Decision:
        raise NotImplementedError

    def acquire(self, now: float) -> Decision:
        allowed = self.room(now) > 0
        if allowed:
            self.take(now)
        return self.decision(now, allowed=allowed)


class _FixedWindow(_Budget):
    __slots__ = ("count", "limit", "opened_at", "period_s")

    def __init__(self, window: Window) -> None:
        self.limit = window.limit
        self.period_s = window.period_s
        self.opened_at = -math.inf  # expired: the first request opens a window
        self.count = 0

    def room(self, now: float) -> int:
        if now >= self.opened_at + self.period_s:
            self.opened_at = now
            self.count = 0
        return self.limit - self.count

    def take(self, now: float) -> None:
        self.count += 1

    def decision(self, now: float, *, allowed: bool) -> Decision:
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, self.limit - self.count),
            reset_s=self.opened_at + self.period_s - now,
        )

    def acquire(self, now: float) -> Decision:
        # The common case (the default, and most categories have one window), inlined.
        if now >= self.opened_at + self.period_s:
            self.opened_at = now
            self.count = 0
        allowed = self.count < self.limit
        if allowed:
            self.count += 1
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, self.limit - self.count),
            reset_s=self.opened_at + self.period_s - now,
        )


class _SlidingWindow(_Budget):
    __slots__ = ("arrivals", "limit", "period_s")

    def __init__(self, window: Window) -> None:
        self.limit = window.limit
        self.period_s = window.period_s
        self.arrivals: deque[float] = deque(maxlen=window.limit)  # admitted, oldest first

    def room(self, now: float) -> int:
        arrivals = self.arrivals
        while arrivals and now >= arrivals[0] + self.period_s:
            arrivals.popleft()
        return self.limit - len(arrivals)

    def take(self, now: float) -> None:
        self.arrivals.append(now)

    def decision(self, now: float, *, allowed: bool) -> Decision:
        arrivals = self.arrivals
        # Empty only when the limit is 0: nothing ever leaves, say one period.
        oldest = arrivals[0] if arrivals else now
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=self.limit - len(arrivals),
            reset_s=oldest + self.period_s - now,
        )


class _TokenBucket(_Budget):
    __slots__ = ("limit", "per_s", "token_s", "tokens", "updated_at")

    def __init__(self, window: Window) -> None:
        self.limit = window.limit
        self.per_s = window.limit / window.period_s
        # Seconds one token takes to come back; a limit of 0 never refills, say one period.
        self.token_s = window.period_s / max(1, window.limit)
        self.tokens = float(window.limit)
        self.updated_at = -math.inf

    def room(self, now: float) -> int:
        if now > self.updated_at:
            tokens = self.tokens + (now - self.updated_at) * self.per_s
            self.tokens = tokens if tokens < self.limit else float(self.limit)
            self.updated_at = now
        return int(self.tokens + _TOKEN_SLACK)

    def take(self, now: float) -> None:
        self.tokens -= 1.0

    def decision(self, now: float, *, allowed: bool) -> Decision:
        tokens = self.tokens
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, int(tokens + _TOKEN_SLACK)),
            reset_s=((self.limit if allowed else 1.0) - tokens) * self.token_s,
        )


_ALGORITHMS: dict[str, Callable[[Window], _Budget]] = {
    "fixed_window": _FixedWindow,
    "sliding_window": _SlidingWindow,
    "token_bucket": _TokenBucket,
}

_remaining = attrgetter("remaining")


class RateLimiter:
    """Budgets per (key, category), one per window of the category, each counted by the
    window's algorithm."""

    def __init__(self, windows: Mapping[str, tuple[Window, ...]]) -> None:
        self._windows = dict(windows)
        self._budgets: dict[tuple[str, str], tuple[_Budget, ...]] = {}

    def reset(self) -> None:
        self._budgets.clear()

    def acquire(self, key: str, category: str, now: float) -> Decision | None:
        """Admit or refuse one request; ``None`` when the category is not limited."""
        slot = (key, category)
        budgets = self._budgets.get(slot)
        if budgets is None:
            windows = self._windows.get(category)
            if not windows:
                return None
            budgets = self._budgets[slot] = tuple(_ALGORITHMS[w.algorithm](w) for w in windows)
        if len(budgets) == 1:
            return budgets[0].acquire(now)
        rooms = [budget.room(now) for budget in budgets]
        for budget, room in zip(budgets, rooms, strict=True):
            if room <= 0:
                return budget.decision(now, allowed=False)
        for budget in budgets:
            budget.take(now)
        return min((budget.decision(now, allowed=True) for budget in budgets), key=_remaining)
