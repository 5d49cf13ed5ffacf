"""When an access token of known expiry is refreshed ahead of time, and when it must stop.

Rules:
- A token's plan is made when the engine learns its expiry (``connect``/``reconnect`` given an
  ``expires_at``, or a refresh answer's ``expires_in``) and lives until the token is replaced.
- No write may arrive with an expired token: from ``hold_at = expires_at - margin`` (the
  request timeout: the latest a request sent now can arrive) the token's writes are held.
- The refresh is due at ``expires_at - lead - jitter``: ``lead - margin`` before the hold, that
  part at most a quarter of the time to the hold left when the token is planned
  (``LIFE_SHARE``), so a short-lived token is still used for most of its life and short
  lifetimes cannot make the engine refresh again and again. The jitter is uniform in
  ``[0, (lead - margin) × JITTER_SHARE)``, drawn from the engine's rng ONCE per token, when
  its window opens (``opens_at``): tokens issued together do not refresh together, and a run
  whose tokens never come near their expiry draws nothing (its random stream, so its outputs,
  stay what they were). A lead no longer than the margin refreshes at the hold.
- That instant is rounded up to the next flush tick (unless that passes the hold), where the
  engine sends it after the tick's writes: a refresh takes a pacing slot, and sent just before
  a tick it would push the tick's first write late.
- Pure arithmetic on the engine's clock; the engine applies it (``token``, ``engine``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["JITTER_SHARE", "LIFE_SHARE", "Renewal"]

JITTER_SHARE = 0.5  # the jitter's width, as a share of the lead before the hold
LIFE_SHARE = 0.25  # the longest lead before the hold, as a share of the time to it left


@dataclass(slots=True)
class Renewal:
    """One access token's proactive refresh."""

    hold_at: float  # the expiry less the margin: writes stop here
    lead_s: float  # how long before the hold the refresh is due (before the jitter)
    due_at: float | None = None  # drawn when the window opens; then the next attempt's instant
    refused: bool = False  # the refresh token was refused: nothing left to try ahead of time

    @classmethod
    def plan(
        cls, expires_at: float | None, lead_s: float | None, margin_s: float, now: float
    ) -> Renewal | None:
        """The plan of a token expiring at ``expires_at`` (None: unknown, no plan), or None when
        refreshing ahead is off (``lead_s`` 0 or None)."""
        if expires_at is None or not lead_s:
            return None
        hold_at = expires_at - margin_s
        before_hold = max(0.0, lead_s - margin_s)
        return cls(hold_at=hold_at, lead_s=min(before_hold, max(0.0, hold_at - now) * LIFE_SHARE))

    @property
    def opens_at(self) -> float:
        """The earliest instant the refresh may be due: when its jitter is drawn."""
        return self.hold_at - self.lead_s * (1 + JITTER_SHARE)

    def draw(self, rng: random.Random, now: float, tick_s: float) -> bool:
        """Draw the jitter if the window is open and it was not drawn yet (the refresh is then
        due at the first multiple of ``tick_s`` from the drawn instant); True if drawn."""
        if self.due_at is not None or self.refused or now < self.opens_at:
            return False
        drawn = self.hold_at - self.lead_s - rng.random() * self.lead_s * JITTER_SHARE
        on_tick = math.ceil(drawn / tick_s) * tick_s
        self.due_at = on_tick if on_tick < self.hold_at else drawn
        return True
