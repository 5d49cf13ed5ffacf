"""Closed-form capacity and lag estimates for one token (issue 5's ``pinsim plan``).

Responsibility: the back-of-the-envelope answers a capacity planner checks a simulation
against — throughput, the batching knee, lag at low load, drain times after a blast or an
outage, how many users expire, Little's law — as pure functions of plain numbers.

Rules:
- No simulation, no IO, no pandas: every function is arithmetic on its arguments, and its
  docstring gives the formula and the assumptions under which the engine follows it.
- Symbols: ``T`` the flush interval, ``r`` requests per second per token, ``m`` records per
  request, ``ρ`` records per user (1 or 2: a user with an email and a MAID is two records),
  ``m_u = m/ρ`` users per request, ``λ`` users per second (per audience unless said), ``W`` the
  retry window, ``D`` an outage's length.
- Units are consistent: rates in users/s (or records/s where the name says so), durations in
  s. ``margin_s`` is the engine's pacing margin (``sync_core.pacing``: learned from 429s,
  ≥ 1 ms; ``[sync] pacing_margin`` is where it starts): the pacer reopens its window after
  ``1 s + margin``, so ``r`` sends take ``1 + margin`` s.
- What the engine does that shapes these (see ``sync_core/batching.py``): a batch is cut when
  a rate-limit slot is granted, from users released at the last flush tick (those who entered
  before it), up to ``m`` records. Under a backlog, batches therefore merge flushes and fill to
  ``m``; below the knee each flush's users go out in their own ``⌈λTρ/m⌉`` requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sim.world.network import LogNormal
from sync_core.minute_window import MINUTE_S

__all__ = [
    "LagEstimate",
    "backlog_served_s",
    "batch_aware_ceiling",
    "blast_drain_s",
    "blast_expired_users",
    "blast_lag_bound_s",
    "capacity_records_per_s",
    "capacity_users_per_s",
    "constant_arrival_wait_s",
    "drain_after_outage_s",
    "expired_users",
    "knee_rate",
    "little_l",
    "lognormal_mean_s",
    "lost_flush_s",
    "low_load_lag",
    "minute_window_drain_s",
    "outage_backlog",
    "outage_mean_backlog",
    "overload_entry_s",
    "overload_expired_users",
    "overload_lag_p99_s",
    "paced_requests_per_s",
    "records_per_user",
    "requests_per_flush",
    "syncable_share",
]


# --------------------------------------------------------------------------- who is sent


def _field_shares(
    match_fields: Sequence[str], missing_email: float, missing_maid: float, malformed: float
) -> tuple[float, float]:
    """P(usable email), P(usable MAID) for a step matching on ``match_fields``."""
    email = (1 - missing_email) * (1 - malformed) if "email" in match_fields else 0.0
    maid = (1 - missing_maid) if "maid" in match_fields else 0.0
    return email, maid


def syncable_share(
    match_fields: Sequence[str],
    *,
    missing_email: float,
    missing_maid: float,
    malformed: float,
) -> float:
    """Share of users with at least one usable match field: ``1 − (1 − p_e)(1 − p_m)``.

    ``p_e = (1 − missing_email)(1 − malformed)`` when the step matches on email (else 0),
    ``p_m = 1 − missing_maid`` when it matches on MAID (else 0). Assumes the two fields are
    missing independently (as ``sim.world.profiles`` draws them) and that only emails are malformed.
    The rest are Not Synced at entry and never queue.
    """
    email, maid = _field_shares(match_fields, missing_email, missing_maid, malformed)
    return 1 - (1 - email) * (1 - maid)


def records_per_user(
    match_fields: Sequence[str],
    *,
    missing_email: float,
    missing_maid: float,
    malformed: float,
) -> float:
    """Mean records per *queued* user ``ρ = (p_e + p_m) / (1 − (1 − p_e)(1 − p_m))``.

    Every usable field is one record (``sync_core``: a user's digests travel together), so a
    user with both fields is 2 records. Same assumptions as ``syncable_share``; 1.0 when no
    user is syncable (nothing queues, any ρ would do).
    """
    email, maid = _field_shares(match_fields, missing_email, missing_maid, malformed)
    share = 1 - (1 - email) * (1 - maid)
    return (email + maid) / share if share > 0 else 1.0


# --------------------------------------------------------------------------- throughput


def capacity_records_per_s(
    requests_per_second: float, max_records: int, *, margin_s: float = 0.0
) -> float:
    """One token's ceiling in records/s: ``r·m / (1 + margin)``.

    Assumes every request is full (a backlog: batches are cut at slot grant and merge flushes)
    and accepted; the pacing margin stretches each window of ``r`` sends to ``1 + margin`` s
    (0.1 % at the pacer's 1 ms floor). Latency does not lower it while the requests in flight
    (sized by Little's law, up to ``max_in_flight``) cover the round trip.
    """
    return requests_per_second * max_records / (1 + margin_s)


def capacity_users_per_s(
    requests_per_second: float,
    max_records: int,
    records_per_user: float = 1.0,
    *,
    margin_s: float = 0.0,
) -> float:
    """One token's ceiling in users/s: ``r·m/ρ / (1 + margin)`` (``capacity_records_per_s``
    divided by the records each user takes). Shared by every audience on the token."""
    return capacity_records_per_s(requests_per_second, max_records, margin_s=margin_s) / (
        records_per_user
    )


def requests_per_flush(
    users_per_flush: float, max_records: int, records_per_user: float = 1.0
) -> int:
    """Requests one flush of one audience needs: ``⌈λT·ρ/m⌉`` (0 when nobody entered).

    Exact for whole users and a constant ``ρ`` when the flush goes out in its own requests
    (below the knee): ``TargetQueue.cut`` takes released users in entry order up to ``m``
    records, so the last request of a flush carries the remainder.
    """
    records = users_per_flush * records_per_user
    return math.ceil(records / max_records - 1e-9) if records > 0 else 0


def batch_aware_ceiling(
    requests_per_second: float,
    rate_per_s: float,
    flush_interval_s: float,
    max_records: int,
    records_per_user: float = 1.0,
) -> float:
    """Users/s a token would move if each flush's ``λT`` went out in its own requests:
    ``r·λT / ⌈λT·ρ/m⌉`` (the issue's ``r·λT/⌈λT/m⌉`` with ``ρ = 1``).

    It is the throughput of full-rate sending with flush-sized batches (``λT/⌈λTρ/m⌉`` users
    each). **This engine does not saturate there**: it cuts batches when a slot is granted, so
    once a flush's requests outlast the flush (above the knee, ``knee_rate``) the queue merges
    flushes, batches fill to ``m`` and the ceiling is ``capacity_users_per_s`` (``r·m/ρ``).
    The batch-aware figure marks where lag stops being one flush, not a throughput limit.
    """
    per_flush = rate_per_s * flush_interval_s
    requests = requests_per_flush(per_flush, max_records, records_per_user)
    return requests_per_second * per_flush / requests if requests else 0.0


def knee_rate(
    requests_per_second: float,
    flush_interval_s: float,
    max_records: int,
    *,
    audiences: int = 1,
    records_per_user: float = 1.0,
) -> float:
    """The largest per-audience rate (users/s) at which every flush goes out within its own
    interval: ``k·⌈λT·ρ/m⌉ ≤ r·T`` for ``k`` audiences on the token, i.e.
    ``λ_knee = ⌊rT/k⌋·m / (ρ·T)``.

    Below it each user waits one flush (lag ``≈ T/2`` mean, ``T`` max, plus sending); above
    it a backlog builds and lasts until the load falls. Assumes constant per-flush volume
    (Poisson traffic crosses earlier, on its busy flushes) and ``r·T ≥ k``.
    """
    slots = math.floor(requests_per_second * flush_interval_s / audiences + 1e-9)
    return slots * max_records / (records_per_user * flush_interval_s)


# --------------------------------------------------------------------------- lag


@dataclass(frozen=True, slots=True, kw_only=True)
class LagEstimate:
    """Entry→synced lag at low load: its mean and its maximum (seconds)."""

    mean_s: float
    max_s: float


def lognormal_mean_s(median_s: float, p99_s: float) -> float:
    """Mean of the log-normal ``sim.world.network`` fits to a median and a p99:
    ``median · exp(σ²/2)`` with ``σ = ln(p99/median)/z₀.₉₉`` (a constant when they are equal)."""
    return LogNormal(median_s, p99_s).mean_s


def low_load_lag(
    flush_interval_s: float, round_trip_mean_s: float, round_trip_max_s: float | None = None
) -> LagEstimate:
    """Lag below the knee: mean ``T/2 + RTT``, max ``T + RTT_max``.

    A user entering at a uniformly random instant of a flush interval waits for the next tick
    (mean ``T/2``, at most ``T``: someone entering exactly at a tick waits a whole interval),
    is sent at once (no backlog) and counted synced when the answer is back: the path both
    ways and the server's time (``2 × propagation + service`` means). Constant (evenly spaced)
    arrivals at rate λ wait ``T/2 + 1/(2λ)`` on average instead. Provisioning, 429s and
    retries are not in it.
    """
    worst = round_trip_mean_s if round_trip_max_s is None else round_trip_max_s
    return LagEstimate(
        mean_s=flush_interval_s / 2 + round_trip_mean_s, max_s=flush_interval_s + worst
    )


# --------------------------------------------------------------------------- backlogs


def blast_drain_s(
    count: int,
    requests_per_second: float,
    max_records: int,
    records_per_user: float = 1.0,
    *,
    flush_interval_s: float,
) -> float:
    """Time from a blast of ``N`` users to the last of them synced: ``T + ⌈Nρ/m⌉/r``.

    The blast waits for the next tick (at most ``T``), then ``n = ⌈Nρ/m⌉`` full requests go
    ``r`` per window: the last is sent ``(⌈n/r⌉ − 1)`` windows after the tick. So the finish
    is ``≤ T + n/r`` plus one round trip, and within one flush of it (issue 4). Pacing margin,
    jitter 429s and ``max_in_flight`` stalls under high latency make it later; other traffic
    on the token too.
    """
    requests = math.ceil(count * records_per_user / max_records - 1e-9)
    return flush_interval_s + requests / requests_per_second


def paced_requests_per_s(
    requests_per_second: float,
    requests_per_minute: int | None = None,
    *,
    margin_s: float = 0.0,
    round_trip_s: float = 0.0,
) -> float:
    """A saturated token's sustained requests/s under both of Pinterest's windows:
    ``min(r/(1 + margin), n/(60 + margin + RTT))`` (``r/(1 + margin)`` without a minute
    window of ``n``).

    The pacer reopens the second's window ``1 s + margin`` after the r-th send before, and the
    minute's (``sync_core.minute_window``) ``60 s + margin`` after the *answer* to the n-th
    send before — one round trip later than the arrival it bounds (less the one-way estimate,
    a few tens of ms, left out: the figure errs slow). The effective rate is the issue's
    ``min(r, n/60)`` with each window stretched as the engine stretches it.
    """
    per_second = requests_per_second / (1 + margin_s)
    if requests_per_minute is None:
        return per_second
    return min(per_second, requests_per_minute / (MINUTE_S + margin_s + round_trip_s))


def minute_window_drain_s(
    count: int,
    requests_per_second: int,
    requests_per_minute: int,
    max_records: int,
    records_per_user: float = 1.0,
    *,
    flush_interval_s: float,
    margin_s: float = 0.0,
    round_trip_s: float = 0.0,
) -> float:
    """Time from a blast of ``N`` users to the last synced under ``r`` a second and ``n`` a
    minute: ``T + q·(60 + margin + RTT) + (⌈j/r⌉ − 1)·(1 + s) + (i − 1)/(2r) + RTT`` with
    ``s = max(margin, r·60/n − 1)``.

    The blast waits for the next tick (at most ``T``); its ``k = ⌈Nρ/m⌉`` full requests go in
    minutes of ``n``: ``q = ⌈k/n⌉ − 1`` whole ones, each reopening ``60 s + margin`` after the
    answer to its first request (``paced_requests_per_s``), then the last ``j = k − q·n``
    paced by the second as ``backlog_served_s`` paces a backlog (``i`` of them in its last
    second, ``1/(2r)`` apart), answered a round trip later — its windows of ``r`` opening
    ``1 + s`` apart, the pacer's rule 4 margin under a minute window (at least the slack the
    minute's rate leaves the second, ``sync_core.minute_window``). Requires ``n < 60·r``
    (else the minute never binds: ``blast_drain_s``). 429s (each costs a slot in both
    windows) and other traffic on the token make it later.
    """
    requests = math.ceil(count * records_per_user / max_records - 1e-9)
    minutes = max(math.ceil(requests / requests_per_minute - 1e-9) - 1, 0)
    last = requests - minutes * requests_per_minute
    slack = requests_per_second * MINUTE_S / requests_per_minute - 1.0
    served = backlog_served_s(
        last, requests_per_second, 1, margin_s=max(margin_s, slack), round_trip_s=round_trip_s
    )
    return flush_interval_s + minutes * (MINUTE_S + margin_s + round_trip_s) + served


def blast_lag_bound_s(
    records_by_audience: Sequence[int],
    requests_per_second: float,
    max_records: int,
    *,
    flush_interval_s: float,
    round_trip_s: float,
) -> float:
    """The longest a blast's user can wait, pacing perfectly: ``T + Σₐ ⌈Rₐ/m⌉/r + RTT``.

    Every audience's records go in full requests (``⌈Rₐ/m⌉`` of them); one token sends ``r``
    a second whatever the audience, so the last request leaves ``Σₐ ⌈Rₐ/m⌉/r`` after the tick
    that released the blast (at most ``T`` after it) and is counted one round trip later."""
    requests = sum(math.ceil(records / max_records - 1e-9) for records in records_by_audience)
    return flush_interval_s + requests / requests_per_second + round_trip_s


def lost_flush_s(outage_start_s: float, flush_interval_s: float) -> float:
    """How much traffic before an outage it also holds back: ``δ = start − tick_before``.

    The last flush that got through is the last tick strictly before the outage (a fault at a
    tick instant fires before that tick's sends), so users of the ``δ ∈ (0, T]`` before it join
    the backlog: ``δ = T`` for an outage starting on a tick.
    """
    ticks = math.ceil(outage_start_s / flush_interval_s - 1e-9)
    return outage_start_s - (ticks - 1) * flush_interval_s


def outage_backlog(rate_per_s: float, outage_s: float, *, lost_s: float = 0.0) -> float:
    """Users pending when an outage of length ``D`` ends: ``R_b = λ·(D + δ)`` (``δ`` from
    ``lost_flush_s``, 0 for the plain ``λ·D``). Counts queued users only: multiply ``λ`` by
    ``syncable_share`` for raw traffic. Assumes nobody expired meanwhile (``D < W``)."""
    return rate_per_s * (outage_s + lost_s)


def backlog_served_s(
    backlog_users: float,
    requests_per_second: float,
    max_records: int,
    records_per_user: float = 1.0,
    *,
    margin_s: float = 0.0,
    round_trip_s: float = 0.0,
) -> float:
    """When the last user pending at an outage's end is synced, after it:
    ``(⌈n/r⌉ − 1)·(1 + margin) + (j − 1)/(2r) + RTT`` with ``n = ⌈R_b·ρ/m⌉`` full requests
    and ``j`` of them in the last window — the fluid ``R_b/(r·m_u)`` rounded to whole windows
    of ``r`` sends (the first window opens at once), the sends of a window ``1/(2r)`` apart
    (the pacer's rule 5).

    Assumes the users were released before the outage ended (so they go at once) and FIFO
    (entry order): newer arrivals wait behind them, so they do not slow the backlog, only
    lengthen the drain (``drain_after_outage_s``).
    """
    requests = math.ceil(backlog_users * records_per_user / max_records - 1e-9)
    windows = math.ceil(requests / requests_per_second - 1e-9)
    in_last = requests - max(windows - 1, 0) * requests_per_second
    spread = max(in_last - 1, 0) / (2 * requests_per_second)
    return max(windows - 1, 0) * (1 + margin_s) + spread + round_trip_s


def constant_arrival_wait_s(spacing_s: float, flush_interval_s: float) -> float:
    """Mean entry→tick wait of evenly spaced arrivals: ``T/2 + g/2`` with ``g = gcd(s, T)``.

    Entries every ``s`` seconds fall on ``T/g`` evenly spaced phases of the flush interval,
    one of them on the tick itself (that user waits a whole ``T``), so the mean is half an
    interval plus half a phase step; ``g = s`` when ``s`` divides ``T`` (``T/2 + 1/(2λ)``).
    ``s`` and ``T`` are taken as exact fractions (to the millisecond).
    """
    spacing = Fraction(spacing_s).limit_denominator(1000)
    interval = Fraction(flush_interval_s).limit_denominator(1000)
    common = spacing.denominator * interval.denominator
    step = Fraction(math.gcd(int(spacing * common), int(interval * common)), common)
    return flush_interval_s / 2 + float(step) / 2


def drain_after_outage_s(
    backlog_users: float, rate_per_s: float, capacity_users_per_s: float
) -> float:
    """Time after an outage until the queue is back to one flush: ``R_b / (r·m_u − λ)``.

    Derivation (fluid, in users): after the outage the token sends ``c = r·m_u`` users/s
    (``m_u = m/ρ``; full batches, since the backlog merges flushes) while ``λ`` keep arriving,
    so the queue shrinks at ``c − λ`` and ``R_b`` is gone after ``R_b/(c − λ)``; ``inf`` when
    ``λ ≥ c`` (it never drains). The issue's ``R_b/(r − k/T)`` is the same idea in requests
    with ``R_b`` counted in *requests* and each of ``k`` audiences costing one request per
    flush (``k/T`` requests/s): that holds for an engine that sends every flush in its own
    requests. This one merges arrivals into the full batches of the backlog, so arrivals cost
    ``λρ/m`` requests/s, not ``k/T``: in requests, ``(R_bρ/m)/(r − λρ/m)`` — the formula here.
    Users released only at ticks make the engine finish up to one flush (``λT/(c − λ)``) early.
    """
    spare = capacity_users_per_s - rate_per_s
    return backlog_users / spare if spare > 0 else math.inf


def expired_users(
    rate_per_s: float,
    outage_s: float,
    retry_window_s: float,
    *,
    lost_s: float = 0.0,
    request_timeout_s: float = 0.0,
) -> float:
    """Users who error because an outage outlasts their retry window:
    ``λ·max(0, D + δ + timeout − W)`` for a constant rate.

    A user entering at ``e`` in the outage is still in time if the outage ends before
    ``e + W``; the engine never sends a user whose deadline falls within
    ``request_timeout_s`` of the send (so no answer can come after they errored), so the
    effective window is ``W − timeout``. Those who entered from the last tick before the
    outage (``δ``, ``lost_flush_s``) to ``end + timeout − W`` error. An outage that never ends
    (no reconnect, a deleted audience) errors everyone from then on. ``λ`` counts queued users
    (``syncable_share`` of the traffic).
    """
    return rate_per_s * max(0.0, outage_s + lost_s + request_timeout_s - retry_window_s)


def overload_entry_s(rate_per_s: float, capacity_users_per_s: float, window_s: float) -> float:
    """Under a steady overload from ``t = 0`` (``u = λ/c > 1``), the entry instant after which
    users start to error: ``e* = W′/(u − 1)`` (``inf`` when ``u ≤ 1``).

    Fluid, in entry order: the user entered at ``e`` is sent once the ``λe`` before them are,
    at ``λe/c = u·e``, so waits ``(u − 1)e``; the wait reaches ``W′`` (the retry window less
    the request timeout: the engine sends no one closer to their deadline) at ``e*``.
    """
    load = rate_per_s / capacity_users_per_s
    return window_s / (load - 1) if load > 1 else math.inf


def overload_expired_users(
    rate_per_s: float, capacity_users_per_s: float, horizon_s: float, window_s: float
) -> float:
    """Users a steady overload of ``horizon_s`` errors: ``(λ − c)·max(0, H − e*)``.

    From ``e*`` (``overload_entry_s``) on, the oldest users still in time are ``W′`` old: the
    token sends ``c`` a second of them while ``λ`` a second entered, and the rest reach their
    deadline. Entries stop at ``H``; those queued then keep the same fate (the edge of the
    deadlines moves through them as before). Ticks (a user waits up to ``T`` more) are not in it.
    """
    onset = overload_entry_s(rate_per_s, capacity_users_per_s, window_s)
    return (rate_per_s - capacity_users_per_s) * max(0.0, horizon_s - onset)


def overload_lag_p99_s(
    rate_per_s: float, capacity_users_per_s: float, horizon_s: float, window_s: float
) -> float:
    """The p99 entry→send wait of the users a steady load of ``horizon_s`` syncs.

    Below capacity it is 0 (ticks and the round trip aside: ``low_load_lag``). Above it, users
    entered before ``e* ∧ H`` wait ``(u − 1)e``, evenly from 0 up; those after ``e*`` are
    synced (a share ``1/u`` of them) ``W′`` after entry. So with ``S₁ = λ·min(H, e*)`` and
    ``S₂ = (c)·max(0, H − e*)`` synced: ``W′`` when ``S₂ ≥ 1 %`` of ``S₁ + S₂``, else
    ``0.99·(S₁ + S₂)/S₁ · (u − 1)·min(H, e*)``.
    """
    load = rate_per_s / capacity_users_per_s
    if load <= 1:
        return 0.0
    onset = overload_entry_s(rate_per_s, capacity_users_per_s, window_s)
    early = rate_per_s * min(horizon_s, onset)
    late = capacity_users_per_s * max(0.0, horizon_s - onset)
    if late >= 0.01 * (early + late):
        return window_s
    return 0.99 * (early + late) / early * (load - 1) * min(horizon_s, onset)


def blast_expired_users(count: float, capacity_users_per_s: float, window_s: float) -> float:
    """Users of a blast of ``N`` on an idle token who error: ``max(0, N − c·W′)`` — the
    token sends ``c`` a second from the blast's tick, and the rest reach their deadline
    (``W′``, the window less the request timeout, after the blast; the tick's wait aside)."""
    return max(0.0, count - capacity_users_per_s * window_s)


def little_l(rate_per_s: float, mean_time_in_system_s: float) -> float:
    """Little's law, ``L = λ·W``: the time-average number pending (the backlog) equals the
    arrival rate times the mean time a user spends pending (entry → synced or errored).

    Holds for any stable system measured over a window that starts and ends empty (or long
    enough for the edges not to matter), whatever the arrival process or service order.
    """
    return rate_per_s * mean_time_in_system_s


def outage_mean_backlog(
    rate_per_s: float,
    outage_s: float,
    capacity_users_per_s: float,
    horizon_s: float,
    baseline_wait_s: float,
) -> float:
    """Time-average pending over ``horizon_s`` containing one outage (fluid model):
    ``L = λ·w₀ + λ·D·(D + t_d) / (2·τ)``, ``t_d = λD/(c − λ)``.

    Every user waits ``w₀`` (``low_load_lag(...).mean_s``) as usual; on top, the backlog
    grows as ``λt`` during the outage (``D`` including ``δ``) and shrinks at ``c − λ`` after
    it: a triangle of height ``λD`` and base ``D + t_d`` in the pending-over-time plot. The
    triangle counts users who would have waited ``w₀`` anyway twice, so it slightly overstates
    (by ≈ ``w₀/D``). Assumes no user expires and the horizon holds the whole drain.
    """
    drain = drain_after_outage_s(rate_per_s * outage_s, rate_per_s, capacity_users_per_s)
    triangle = rate_per_s * outage_s * (outage_s + drain) / 2
    return rate_per_s * baseline_wait_s + triangle / horizon_s
