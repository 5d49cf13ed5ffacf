"""Pacing for one token: hold Pinterest's limit where Pinterest counts it — at arrival.

Pinterest counts a request when it *arrives*; the engine can only choose when it *sends*. The
adaptive pacer plans each send by its estimated arrival and learns, from the answers, how far
to trust that estimate. Its rules, one row each (r = ``limit`` requests per second):

=====================  =======================================================================
on                     rule
=====================  =======================================================================
a send at ``now``      allowed when (1) fewer than ``in_flight_limit`` are in flight, (2) no
                       server hold is running (``blocked_until``), (3) fewer than r sends fell in
                       the last second — ``requests_per_second`` is a ceiling the engine never
                       plans above, on the wire or at arrival — and (4) its estimated arrival,
                       ``now + one_way_s``, comes at least 1 s + ``margin_s`` after the
                       estimated arrival of the r-th send before it, and (5) 1/(2r) s after
                       the estimated arrival of the send just before it. The planned arrivals
                       are legal under a sliding window of r a second, hence also under a
                       fixed window or a token bucket of r a second.
                       Rule (5) spreads a full window over half its second instead of sending
                       it as one burst: a stall at either end that makes one arrival late (by
                       less than the spacing) then puts at most the send r later inside that
                       arrival's window (one 429), where a late burst put the whole next burst
                       there (r 429s and a second lost; ``benchmarks.live_load`` met it when
                       the mock grew a member set). Half, not all of it: a send held up (the
                       live worker busy entering users) is caught up with by the next ones.
                       And (6), when a minute window of n is known, its estimated arrival
                       comes at least 60 s + ``margin_s`` after the latest the n-th send before
                       it can have arrived — its answer, once answered, else its estimated
                       arrival — and no more than n sends fall in 60 s
                       (``sync_core.minute_window``): the arrivals are then legal under
                       min(r a second, n a minute) too, whatever the path's jitter. Its
                       pace leaves the second slack: r sends take r·60/n s (1.05 s for 7
                       and 400), so rule (4)'s margin is at least r·60/n − 1 s, free —
                       the minute's sends still fit in it — and (50 ms) wider than a cloud
                       path's one-way spread: the second refuses none of them either, where
                       the learned margin finds the jitter by being refused. For the same
                       reason the window's estimated arrivals are re-estimated with each
                       new one-way estimate (never lowered): the first window went out
                       before any round trip, at one way 0.
any answer             its round trip is a sample: ``one_way_s`` is half the shortest of the
                       last 128 (the path, as free of the server's time as round trips can
                       tell). It falls at once when the path speeds up — the dangerous change,
                       when later sends would catch earlier ones up — and rises at most
                       0.1 ms an answer, so a sample ageing out never moves every planned
                       arrival at once. ``srtt``/``rttvar`` are the usual smoothed mean and
                       deviation (gains 1/8 and 1/4, as TCP's).
any answer             ``in_flight_limit`` = r · ⌈srtt + 4·rttvar⌉ within [2,
                       ``max_in_flight``]: Little's law at the window's granularity — a full
                       window of r goes out within a second, and a pessimistic round trip spans
                       that many windows — so slow answers overlap instead of stalling the
                       token, and fast ones don't pile requests onto a struggling server.
2xx                    ``margin_s`` narrows by a fixed step (additive decrease), never below
                       1 ms: 1/400 of the last widening, at least 0.05 ms, so a widening is
                       undone over 400 accepted writes whatever the jitter's scale.
429                    ``margin_s`` grows 1.5×, plus 1 ms (multiplicative increase), at most 1 s —
                       from rule (4)'s margin, the minute's slack when that is wider —
                       once per cause: a refusal of a request sent before the last widening
                       was decided by the same schedule and widens nothing, and only when r
                       sends fell in the last two seconds: without a full window of ours,
                       our spacing cannot have caused it.
429 (hold)             the server's budget reopens within (R − 1, R] s of the refused arrival
                       (R = ``x-ratelimit-reset``, whole seconds rounded up): no send before
                       ``sent_at + R − 1`` (a send then arrives no sooner than the refused one
                       did, plus R − 1). Only the first refusal of a streak widens the margin;
                       the engine lengthens the hold (backoff) while refusals go on.
``remaining: 0``       when we sent no full window in the last 2 s, someone else spends this
                       token's budget: hold until ``sent_at + R``. After a full window of ours
                       the header only says what rule (4) already enforces.
a write's answer       the headers describe a window longer than the second (more spent in it
                       than r and than we sent from 2 s before the request): its
                       ``x-ratelimit-limit`` is the per-minute window's n, which rule (6)
                       holds from then on, counting the sends of the minute before
                       (``SyncConfig.requests_per_minute`` sets it from the start).
=====================  =======================================================================

Round trips alone cannot tell the path's jitter from the server's: the server's time does not
move arrivals, the path's does. So the margin is not guessed from round-trip spread — it is
learned from the only witness of arrival spacing, the server's refusals. At equilibrium each
refusal's widening is narrowed back before the next refusal: about one refusal per 400
accepted writes or fewer (a margin near its floor narrows by 0.05 ms steps: slower still),
and the margin settles just above what the path's jitter needs.

The fixed pacer (``adaptive=False``) is the earlier design, kept for comparison: sends spaced
as if arrivals were sends (rule 4 with ``one_way_s`` = 0 and a fixed margin; no rule 5), a fixed
``in_flight_limit`` = ``max_in_flight``, and a 429 holding the token for R from its answer;
rule (6) holds for it on sends too.

"A second" above is the server's: ``window_s`` on the engine's clock (``SyncConfig.
server_second_s``), 1 against Pinterest, 1/K against a mock running K times faster; R (the
reset, whole server seconds) reaches the pacer already in engine seconds. A minute is 60
server seconds.

No clock, no IO: every call takes ``now``; one pacer per token, shared by every step on it.
"""

from __future__ import annotations

import math
from collections import deque

from sync_core.minute_window import MinuteWindow

__all__ = ["MARGIN_CAP_S", "MARGIN_FLOOR_S", "Pacer"]

_ROUND_TRIP_SAMPLES = 128  # ~18 s of answers at 7/s: the window for the path's level
_MARGIN_STEP_S = 0.00005  # additive decrease per accepted write, at the least
_NARROW_WRITES = 400  # accepted writes to narrow back one widening
_ONE_WAY_RISE_S = 0.0001  # the most the one-way estimate rises per answer
MARGIN_FLOOR_S = 0.001
MARGIN_CAP_S = 1.0  # the widest margin refusals can teach the pacer
_MARGIN_WIDEN = 1.5  # multiplicative increase on a refusal
_MARGIN_JUMP_S = 0.001  # added to the widened margin, so a near-zero margin grows too
_SRTT_GAIN, _RTTVAR_GAIN = 0.125, 0.25
_MIN_IN_FLIGHT = 2
_SPREAD = 2  # rule (5): a window's sends at least 1/(_SPREAD · r) apart, by arrival


class Pacer:
    """The pacing state of one token; see the module docstring for its rules."""

    __slots__ = (
        "_arrivals",
        "_round_trips",
        "_rttvar",
        "_sends",
        "_spacing_s",
        "_srtt",
        "_step_s",
        "adaptive",
        "blocked_at",
        "blocked_until",
        "in_flight",
        "in_flight_limit",
        "limit",
        "margin_s",
        "max_in_flight",
        "minute",
        "one_way_s",
        "refusals",
        "widened_at",
        "window_s",
    )

    def __init__(
        self,
        *,
        limit: int,
        max_in_flight: int,
        margin_s: float,
        adaptive: bool = True,
        window_s: float = 1.0,
        per_minute: int | None = None,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_in_flight = max_in_flight
        self.adaptive = adaptive
        self.margin_s = margin_s
        # Before any round trip: one window's worth of requests may be out at once.
        self.in_flight_limit = (
            min(max_in_flight, max(limit, _MIN_IN_FLIGHT)) if adaptive else max_in_flight
        )
        self.one_way_s = 0.0
        self.minute = MinuteWindow(limit=per_minute, per_second=limit, window_s=window_s)
        self._spacing_s = window_s / (_SPREAD * limit) if limit > 0 else 0.0
        self._sends: deque[float] = deque(maxlen=limit)
        self._arrivals: deque[float] = deque(maxlen=limit)  # estimated, at send time
        self._round_trips: deque[float] = deque(maxlen=_ROUND_TRIP_SAMPLES)
        self._srtt = math.nan
        self._rttvar = 0.0
        self._step_s = _MARGIN_STEP_S
        self.widened_at = -math.inf
        self.blocked_at = -1.0  # when the current server hold was decided
        self.blocked_until = 0.0
        self.in_flight = 0
        self.refusals = 0  # 429s in a row, reset by the next 2xx: how hard to back off

    # -- sending -------------------------------------------------------------------------------

    def next_free_at(self) -> float:
        """The earliest instant a send would keep every rule but the in-flight bound."""
        second = self._second_free_at()
        minute = self.minute
        if minute.limit is None:  # no rule (6): the second's rules alone decide
            return second
        return max(second, minute.free_at(self.margin_s, self.one_way_s))

    def _second_free_at(self) -> float:
        """Rules (2) to (5): the server's hold and the second's window."""
        if not self.adaptive:
            if len(self._sends) < self.limit:
                return self.blocked_until
            return max(self.blocked_until, self._sends[0] + self.window_s + self.margin_s)
        if not self._sends:
            return self.blocked_until
        spaced = self._arrivals[-1] + self._spacing_s - self.one_way_s
        if len(self._sends) < self.limit:
            return max(self.blocked_until, spaced)
        margin = self._spread_margin_s()
        by_arrival = self._arrivals[0] + self.window_s + margin - self.one_way_s
        return max(self.blocked_until, self._sends[0] + self.window_s, by_arrival, spaced)

    def _spread_margin_s(self) -> float:
        """Rule (4)'s margin: the learned one, and under a minute window at least the slack
        the minute leaves the second (``sync_core.minute_window``)."""
        return max(self.margin_s, self.minute.slack_s(self.limit, self.window_s))

    def saturated(self) -> bool:
        """Whether the in-flight bound stops sends until an answer comes."""
        return self.in_flight >= self.in_flight_limit

    def can_send(self, now: float) -> bool:
        return not self.saturated() and self.next_free_at() <= now

    def record_send(self, now: float) -> float:
        """Note a send; returns its estimated arrival."""
        arrival = now + self.one_way_s
        self._sends.append(now)
        self._arrivals.append(arrival)
        self.minute.record(now, arrival)
        self.in_flight += 1
        return arrival

    def record_done(self, *, sent_at: float, now: float) -> None:
        """The request sent at ``sent_at`` ended at ``now``: answered, failed or forgotten."""
        self.in_flight -= 1
        if self.minute.limit is not None:  # only rule (6) reads when a request ended
            self.minute.on_done(sent_at, now)

    # -- learning from answers -----------------------------------------------------------------

    def on_round_trip(self, round_trip_s: float) -> None:
        """An answer came back ``round_trip_s`` after its send (not a transport failure)."""
        if not self.adaptive:
            return
        first = not self._round_trips
        self._round_trips.append(round_trip_s)
        shortest = min(self._round_trips) / 2.0
        # Falls at once, rises a step per answer: a sample ageing out of the window must not
        # move every planned arrival at once (the margin would have to absorb the jump).
        self.one_way_s = shortest if first else min(shortest, self.one_way_s + _ONE_WAY_RISE_S)
        if self.minute.limit is not None:
            self._reestimate_arrivals()
        if math.isnan(self._srtt):
            self._srtt, self._rttvar = round_trip_s, round_trip_s / 2.0
        else:
            self._rttvar += _RTTVAR_GAIN * (abs(self._srtt - round_trip_s) - self._rttvar)
            self._srtt += _SRTT_GAIN * (round_trip_s - self._srtt)
        # windows one spans
        windows = max(1, math.ceil((self._srtt + 4.0 * self._rttvar) / self.window_s))
        self.in_flight_limit = min(self.max_in_flight, max(_MIN_IN_FLIGHT, self.limit * windows))

    def _reestimate_arrivals(self) -> None:
        """Under a minute window rule (4) plans within its slack, not by refusals: the
        window's earlier sends are estimated to arrive no sooner than the one way says now
        (the first window went out before any round trip, estimated at one way 0)."""
        arrivals, sends, one_way = self._arrivals, self._sends, self.one_way_s
        for k in range(len(sends)):
            arrivals[k] = max(arrivals[k], sends[k] + one_way)

    def on_window_stated(self, *, limit: int | None, remaining: int | None, sent_at: float) -> None:
        """A write sent at ``sent_at`` was answered with ``x-ratelimit-limit`` and
        ``-remaining``: they may name the minute window's count (``sync_core.minute_window``)."""
        since = sent_at - 2.0 * self.window_s
        self.minute.learn(limit=limit, remaining=remaining, per_second=self.limit, since=since)

    def on_accepted(self) -> None:
        """A 2xx: the schedule held; trust it a little more."""
        self.refusals = 0
        if self.adaptive:
            self.margin_s = max(MARGIN_FLOOR_S, self.margin_s - self._step_s)

    def on_refused(self, *, sent_at: float, reset_s: float, now: float) -> tuple[float, int]:
        """A 429 for a request sent at ``sent_at``. Returns when the token may send again, by
        the server's reset alone, and how many refusals in a row this one makes — 0 when it
        was sent before the current hold or widening, so was refused for a known cause."""
        hold_at = sent_at + max(0.0, reset_s - self.window_s) if self.adaptive else now + reset_s
        if sent_at < self.blocked_at or sent_at < self.widened_at:
            return hold_at, 0
        if self.adaptive and self.refusals == 0 and self.recently_full(now):
            # Only the first refusal of a streak widens: a storm that refuses everything says
            # nothing about spacing, and must not leave a margin that takes hours to narrow.
            # Nor does a refusal when we sent no full window: our spacing cannot have caused
            # it (a storm refusing a share of writes would otherwise ratchet the margin up at
            # every refusal between accepted writes, to its cap).
            # From the margin rule (4) spaced by: under a minute window's slack, the learned
            # one is not what failed.
            spread = self._spread_margin_s()
            widened = min(MARGIN_CAP_S, _MARGIN_WIDEN * spread + _MARGIN_JUMP_S)
            # Narrowing undoes this widening over a fixed number of accepted writes, whatever
            # the scale of the jitter: refusals stay about that rare, at 20 ms as at 400 ms.
            self._step_s = max(_MARGIN_STEP_S, (widened - spread) / _NARROW_WRITES)
            self.margin_s = widened
            self.widened_at = now
        self.refusals += 1
        return hold_at, self.refusals

    def on_budget_spent(self, *, sent_at: float, reset_s: float, now: float) -> None:
        """An answer said ``x-ratelimit-remaining: 0`` with a reset of ``reset_s``."""
        if self.recently_full(now):
            return  # our own full window explains it; rule (4) already waits for it
        self.block_until((sent_at if self.adaptive else now) + reset_s, now)

    def recently_full(self, now: float) -> bool:
        """Whether ``limit`` sends fell within the last two windows: enough to explain a
        server that says none remain, whatever its window alignment and our latency."""
        return len(self._sends) == self.limit and self._sends[0] > now - 2.0 * self.window_s

    def block_until(self, at: float, now: float) -> None:
        """Hold the token until ``at`` (never shortening a hold); ``now`` is when a hold
        that extends the current one was decided."""
        if at > self.blocked_until:
            self.blocked_until = at
            self.blocked_at = now
