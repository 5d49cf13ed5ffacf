"""The pacer's second window: at most ``limit`` requests per 60 server seconds, at arrival.

Pinterest publishes ads_write as 400 requests a minute beside the 7 a second the vendor
documents; at 7/s a token spends 420 a minute, so a long backlog meets the minute window.
``sync_core.pacing`` (its rule 6) holds it as rule 4 holds the second, over a longer span and
with a surer witness: a send is planned so that its estimated arrival comes at least 60 server
seconds + the pacer's margin after the *latest* instant the ``limit``-th send before it can
have arrived — its answer's, once answered (a request cannot be answered before it arrived;
a minute later it has almost always been answered), else its own estimated arrival. The
second's rule trusts estimates and learns a margin from refusals; a minute is long enough to
wait for the answer instead, for one round trip a minute (~0.3 %), so the arrivals the engine
plans are legal under a sliding window of ``limit`` a minute whatever the path's jitter, hence
under a fixed window or a token bucket of as many. It also never sends more than ``limit`` in
60 server seconds by send (the journal's ``sent_at``), as rule 3 does for the second.

The minute's pace also makes the second's rule safe: ``r`` sends at ``n`` a minute take
``r·60/n`` s (1.05 s for 7 and 400), so the pacer plans each window of ``r`` that much after
the one before (``slack_s``: rule 4's margin is at least ``r·60/n − 1`` s). The minute's sends
still fit in their minute, so the drain is the same, and no arrival is refused by the second
while the path's one-way spread stays inside the slack (50 ms: a cloud region to a large API
is well within it) — where a second alone leaves no slack and the pacer learns the path's
jitter from refusals (~1 in 400 writes).

Rules:
- The window's count comes from the configuration (``SyncConfig.requests_per_minute``) or from
  an answer: the headers name no window, but when they say the window spent more requests
  (``x-ratelimit-limit`` − ``-remaining``) than a second's ``r`` and than the token sent from
  2 server seconds before the request on, the window is longer than the second — for
  ads_write, the per-minute window Pinterest publishes (the period is the documentation's; no
  header states it), whose count is ``x-ratelimit-limit``. The headers describe the tightest
  window, so they name the minute's only in its last few requests: the count is learned
  then, with the minute's sends remembered. The reset cannot tell the windows apart: the
  minute's states 1 in its last second, the mock's 1 s window 2 when arrivals reach it out of
  order. The server's word replaces the configured count.
- It remembers the last ``limit`` sends; before it knows a window, the last ``60 · r`` (all a
  minute holds under the pacer's rule 3) by their estimated arrivals alone (the pacer tells
  it when requests end only once a window is known), so a window learned mid-backlog starts
  with the minute already spent, not an empty one.
- No clock, no IO: instants and the margin are passed in, on the engine's clock.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["MINUTE_S", "MinuteWindow"]

MINUTE_S = 60.0  # Pinterest's per-minute window, in server seconds


class MinuteWindow:
    """``limit`` requests per minute (None: none known), over the sends it remembers."""

    __slots__ = ("_done", "_latest", "_sent", "limit", "period_s")

    def __init__(self, *, limit: int | None, per_second: int, window_s: float) -> None:
        self.limit = limit
        self.period_s = MINUTE_S * window_s  # a minute of server seconds, on the engine's clock
        remembered = limit if limit is not None else max(1, per_second) * int(MINUTE_S)
        self._sent: deque[float] = deque(maxlen=remembered)
        self._latest: deque[float] = deque(maxlen=remembered)  # latest possible arrival
        self._done: deque[bool] = deque(maxlen=remembered)  # its end seen: latest is sure

    def free_at(self, margin_s: float, one_way_s: float) -> float:
        """The earliest send the window allows: by send, and by estimated arrival
        (``now + one_way_s``) after the latest arrival of the ``limit``-th send before."""
        limit = self.limit
        if limit is None or len(self._sent) < limit:
            return -math.inf
        by_arrival = self._latest[-limit] + self.period_s + margin_s - one_way_s
        return max(self._sent[-limit] + self.period_s, by_arrival)

    def slack_s(self, per_second: int, window_s: float) -> float:
        """How much longer than a second (``window_s``) the minute's rate takes to send
        ``per_second`` requests: ``r·60/n − 1`` s when positive (0 when no minute is known)."""
        limit = self.limit
        if limit is None or limit <= 0:
            return 0.0
        return max(0.0, per_second * self.period_s / limit - window_s)

    def record(self, sent_at: float, arrival: float) -> None:
        """A send at ``sent_at``, estimated to arrive at ``arrival``."""
        self._sent.append(sent_at)
        self._latest.append(arrival)
        self._done.append(False)

    def on_done(self, sent_at: float, now: float) -> None:
        """The request sent at ``sent_at`` ended at ``now`` (answered, failed or forgotten):
        it arrived no later, if at all. Found from the newest send back, so the scan covers
        only the sends made since (a round trip's worth)."""
        sent = self._sent
        for k in range(len(sent) - 1, -1, -1):
            if sent[k] < sent_at:
                return  # aged out, or never recorded
            if sent[k] == sent_at and not self._done[k]:
                # sends at one instant are interchangeable: any not yet ended will do
                self._latest[k] = max(self._latest[k], now)
                self._done[k] = True
                return

    def _sent_since(self, since: float) -> int:
        sent, count = self._sent, 0
        for k in range(len(sent) - 1, -1, -1):
            if sent[k] < since:
                break
            count += 1
        return count

    def learn(
        self, *, limit: int | None, remaining: int | None, per_second: int, since: float
    ) -> bool:
        """Take the count of a window an answer describes (``since``: when a 1 s window could
        have started counting the request's neighbours); returns whether it changed what the
        window holds."""
        if limit is None or remaining is None or limit < 1 or limit == self.limit:
            return False  # no word on a window, one refusing everything (its refusals'
            # resets hold the token: nothing to plan by), or the one we hold
        spent = limit - remaining
        if spent <= per_second or spent <= self._sent_since(since):
            return False  # a second's worth, or our own last seconds: the 1 s window's
        self.limit = limit
        # the last ``limit`` remembered (all of them when it is more)
        self._sent = deque(self._sent, maxlen=limit)
        self._latest = deque(self._latest, maxlen=limit)
        self._done = deque(self._done, maxlen=limit)
        return True
