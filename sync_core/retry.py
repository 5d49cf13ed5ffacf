"""When to try again: exponential backoff with jitter from the injected, seeded rng.

Rules:
- The delay for attempt ``n`` (1-based) is drawn uniformly from ``[d/2, d]`` with
  ``d = min(max_s, base_s * 2**(n-1))``: half is guaranteed so retries never stampede at once,
  the random half de-synchronises tokens sharing a struggling server.
- Randomness comes only from the ``random.Random`` the engine was given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    base_s: float
    max_s: float

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(max(attempt, 1) - 1, 62))
        return rng.uniform(ceiling / 2.0, ceiling)
