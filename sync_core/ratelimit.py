"""Pacing for one token: a sliding window with exact wake-up times, plus server hints.

Rules:
- At most ``limit`` sends in any 1 s window: the limiter keeps the last ``limit`` send
  instants and allows the next send at ``oldest + 1.0 + margin`` — compared exactly, no
  spinning: ``next_free_at`` is the instant to wake up at. The small margin (1 ms by default)
  is for Pinterest, which counts *arrivals*: at exactly one second, a rounding error or a
  microsecond less of network delay lands a request in the closing window and costs a 429.
- Pinterest's word wins over our own count: a 429 blocks the token until the announced reset
  (and, while 429s keep coming, for the engine's growing backoff too),
  and so does ``x-ratelimit-remaining: 0`` unless we sent a full window within the last two
  seconds (otherwise Pinterest counted requests we did not). When we did, the header says
  nothing our window does not already enforce — Pinterest's windows need not align with ours
  and answers come back reordered — and obeying its whole-second reset would waste pace.
- ``max_in_flight`` bounds concurrency, so latency overlaps instead of cutting throughput.
- One limiter per token, shared by every step on that connection; fairness between the
  audiences is the engine's round-robin, not this module's concern.
"""

from __future__ import annotations

from collections import deque

__all__ = ["TokenLimiter"]


class TokenLimiter:
    __slots__ = (
        "_sends",
        "blocked_at",
        "blocked_until",
        "in_flight",
        "limit",
        "margin_s",
        "max_in_flight",
        "refusals",
    )

    def __init__(self, *, limit: int, max_in_flight: int, margin_s: float = 0.0) -> None:
        self.limit = limit
        self.max_in_flight = max_in_flight
        self.margin_s = margin_s
        self._sends: deque[float] = deque(maxlen=limit)
        self.blocked_at = -1.0  # when the current server hold was decided
        self.blocked_until = 0.0
        self.in_flight = 0
        self.refusals = 0  # 429s in a row, reset by the next 2xx: how hard to back off

    def next_free_at(self) -> float:
        """The earliest instant a send would respect the window and any server block."""
        full = len(self._sends) == self.limit
        window_free = self._sends[0] + 1.0 + self.margin_s if full else 0.0
        return max(window_free, self.blocked_until)

    def can_send(self, now: float) -> bool:
        return self.in_flight < self.max_in_flight and self.next_free_at() <= now

    def record_send(self, now: float) -> None:
        self._sends.append(now)
        self.in_flight += 1

    def recently_full(self, now: float) -> bool:
        """Whether ``limit`` sends fell within the last two windows: enough to explain a
        server that says none remain, whatever its window alignment and our latency."""
        return len(self._sends) == self.limit and self._sends[0] > now - 2.0

    def record_done(self) -> None:
        self.in_flight -= 1

    def block_until(self, at: float, now: float) -> None:
        """Hold the token until ``at`` (never shortening a hold); ``now`` is when a hold
        that extends the current one was decided."""
        if at > self.blocked_until:
            self.blocked_until = at
            self.blocked_at = now
