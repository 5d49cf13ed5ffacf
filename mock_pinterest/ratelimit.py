"""Rate limiting per token per category, on the injected clock.

Rules:
- Budgets are keyed by (token id, ``x-ratelimit-category`` of the operation); operations of one
  category share a budget (FIDELITY.md "Rate limits").
- Each category has one or more fixed windows (e.g. ads_write: 7 per 1 s, optionally also 400
  per 60 s). A window opens at the first request after the previous one expired. A request is
  admitted only if every window of its category has room; an admitted request counts in all of
  them, a refused one in none.
- Answers carry ``x-ratelimit-limit``/``-remaining``/``-reset`` for the tightest window
  (seconds until reset, rounded up); ``Retry-After`` only when the config asks for it.
- The limiter never reads a clock: every call takes ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mock_pinterest.config import MockConfig


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` requests per ``period_s`` seconds."""

    limit: int
    period_s: float


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
    ads_write = [Window(config.ads_write_per_second, 1.0)]
    if config.ads_write_per_minute is not None:
        ads_write.append(Window(config.ads_write_per_minute, 60.0))
    return {
        "ads_write": tuple(ads_write),
        "ads_read": (Window(config.ads_read_per_minute, 60.0),),
        "org_read": (Window(config.org_read_per_minute, 60.0),),
        "org_write": (Window(config.org_write_per_minute, 60.0),),
    }


class _Count:
    """The mutable tally of one window for one key."""

    __slots__ = ("count", "opened_at")

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self.count = 0


class RateLimiter:
    """Fixed-window budgets per (key, category)."""

    def __init__(self, windows: Mapping[str, tuple[Window, ...]]) -> None:
        self._windows = dict(windows)
        self._counts: dict[tuple[str, str, int], _Count] = {}

    def reset(self) -> None:
        self._counts.clear()

    def acquire(self, key: str, category: str, now: float) -> Decision | None:
        """Admit or refuse one request; ``None`` when the category is not limited."""
        windows = self._windows.get(category)
        if not windows:
            return None
        if len(windows) == 1:
            # The common case, without the list building below; same verdict and headers.
            window = windows[0]
            count = self._current(key, category, 0, window, now)
            allowed = count.count < window.limit
            if allowed:
                count.count += 1
            return self._decision(window, count, now, allowed=allowed)
        counts = [
            self._current(key, category, index, window, now) for index, window in enumerate(windows)
        ]
        blocked = [
            i for i, (w, c) in enumerate(zip(windows, counts, strict=True)) if c.count >= w.limit
        ]
        if blocked:
            return self._decision(windows[blocked[0]], counts[blocked[0]], now, allowed=False)
        for count in counts:
            count.count += 1
        tightest = min(range(len(windows)), key=lambda i: windows[i].limit - counts[i].count)
        return self._decision(windows[tightest], counts[tightest], now, allowed=True)

    def _current(self, key: str, category: str, index: int, window: Window, now: float) -> _Count:
        slot = (key, category, index)
        count = self._counts.get(slot)
        if count is None or now >= count.opened_at + window.period_s:
            count = self._counts[slot] = _Count(now)
        return count

    @staticmethod
    def _decision(window: Window, count: _Count, now: float, *, allowed: bool) -> Decision:
        return Decision(
            allowed=allowed,
            limit=window.limit,
            remaining=max(0, window.limit - count.count),
            reset_s=count.opened_at + window.period_s - now,
        )
