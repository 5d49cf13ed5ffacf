"""A capacity preflight at launch: what a Canvas's expected traffic will cost, per token.

Responsibility: given steps, their expected entries (``EntryProfile``: steady ``Flow`` rows and
``Blast`` rows) and the engine's ``SyncConfig``, say for each connection's token — before any
user enters — its steady load in records/s against its capacity, the p99 entry→synced lag,
how many users would error at the end of their retry window, and a one-line verdict.

Rules:
- Pure: no IO, no clock, no randomness; the same inputs give the same answer.
- A fluid model of what the engine does, stepped one flush at a time: users entered in
  ``[kT, (k+1)T)`` are released at the tick ``(k+1)T`` (``SyncEngine._release_tick``); a token
  sends ``min(r/(1 + margin), per-minute/60)`` requests a second, handed round-robin to the
  audiences (targets) with users released, each request up to ``m`` records; a target sends in
  entry order; a user still unsent ``W − timeout`` after entering errors (the engine sends no
  one that close to their deadline). A flow's users are spread evenly over each flush, a blast
  is a point mass at its instant.
- Not modelled: provisioning, refusals and their retries, the network beyond one fixed round
  trip (``EntryProfile.round_trip_s``). A profile counts *queued* users (with a usable match
  field); a row's records per user default to one per match field of its step (the most).
- A calm stretch (every queue empty after its flush, the same arrivals flush after flush) is
  taken in one stride, so a day of calm traffic costs as much as one flush.
- The names of the sim's closed forms (``sim.plan.capacity``) are not imported here: the
  tests hold this model to them, so the two are independent.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sync_core.errors import UsageError
from sync_core.model import Step, SyncConfig

__all__ = ["Blast", "EntryProfile", "Flow", "TokenPreflight", "preflight"]

_EPS: Final = 1e-9
_P99: Final = 0.99


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """Steady entries into a step: ``rate_per_s`` queued users a second over
    ``[start_s, end_s)`` (seconds after launch)."""

    step: str
    rate_per_s: float
    end_s: float
    start_s: float = 0.0
    records_per_user: float | None = None  # None: one record per match field of the step


@dataclass(frozen=True, slots=True, kw_only=True)
class Blast:
    """``users`` queued users entering a step at one instant, ``at_s`` after launch."""

    step: str
    users: float
    at_s: float = 0.0
    records_per_user: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryProfile:
    """The traffic a Canvas expects: its flows and blasts, and the round trip to Pinterest."""

    flows: tuple[Flow, ...] = ()
    blasts: tuple[Blast, ...] = ()
    round_trip_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPreflight:
    """One token's prediction; ``verdict`` is its one line (no token in it, ever)."""

    connection: str
    steps: tuple[str, ...]
    capacity_records_per_s: float  # r·m, less the pacing margin, under the minute window
    load_records_per_s: float  # the flows' busiest concurrent records/s
    blast_records: float
    users: float  # queued users the profile brings
    synced_users: float
    errored_users: float  # whose retry window ends before they are sent
    lag_p99_s: float  # entry → synced, over the synced users (NaN: none)
    retry_window_s: float

    @property
    def utilisation(self) -> float:
        """Steady load over capacity: above 1 the backlog grows until users error."""
        return self.load_records_per_s / self.capacity_records_per_s

    @property
    def verdict(self) -> str:
        """One line: connection, load against capacity, p99 lag, errored users, the call."""
        blast = f" + blasts of {_count(self.blast_records)} records" if self.blast_records else ""
        return (
            f"preflight connection={self.connection} steps={len(self.steps)} "
            f"load {_count(self.load_records_per_s)} of {_count(self.capacity_records_per_s)} "
            f"records/s ({self.utilisation:.0%}){blast}: p99 lag {_duration(self.lag_p99_s)}, "
            f"{_count(self.errored_users)} of {_count(self.users)} users would error within the "
            f"{_duration(self.retry_window_s)} retry window — {_call(self)}"
        )


def preflight(
    steps: Sequence[Step], profile: EntryProfile, config: SyncConfig
) -> tuple[TokenPreflight, ...]:
    """The preflight of ``steps`` under ``profile`` with ``config``: one per connection, in
    the order the steps name them (see the module docstring)."""
    rows: list[Flow | Blast] = [*profile.flows, *profile.blasts]
    unknown = sorted({row.step for row in rows} - {step.id for step in steps})
    if unknown:
        raise UsageError(f"preflight profile names unknown steps: {', '.join(map(repr, unknown))}")
    for row in rows:
        _check_row(row)
    connections = list(dict.fromkeys(step.connection_id for step in steps))
    return tuple(
        _token(
            connection,
            [step for step in steps if step.connection_id == connection],
            profile,
            config,
        )
        for connection in connections
    )


def _check_row(row: Flow | Blast) -> None:
    amounts = (row.rate_per_s, row.start_s, row.end_s) if isinstance(row, Flow) else (row.users,)
    rho = row.records_per_user
    if any(not (value >= 0 and math.isfinite(value)) for value in amounts) or (
        rho is not None and not rho > 0
    ):
        raise UsageError(f"preflight row for step {row.step!r} needs finite, non-negative figures")


# --------------------------------------------------------------------------- one token


@dataclass(slots=True)
class _Piece:
    """Queued users of one target entered evenly over ``[lo, hi]`` (a point when equal)."""

    lo: float
    hi: float
    users: float
    rho: float

    def entry(self, share: float) -> float:
        return self.lo + share * (self.hi - self.lo)

    def cut(self, share: float) -> None:
        """Forget the first ``share`` of the users (sent or errored)."""
        self.lo = self.entry(share)
        self.users *= 1 - share


@dataclass(slots=True)
class _Target:
    """One audience's queue and the rows that feed it."""

    flows: list[Flow]
    blasts: list[Blast]
    rho: Mapping[str, float]  # step → records per user (the step's match fields)
    queue: deque[_Piece]
    records: float = 0.0  # queued, kept as pieces come and go (a sum would cost a day's queue)

    def push(self, piece: _Piece) -> None:
        self.queue.append(piece)
        self.records += piece.users * piece.rho

    def forget(self, piece: _Piece, share: float) -> float:
        """Forget the first ``share`` of ``piece`` (the head); the users forgotten."""
        users = piece.users * share
        if share >= 1 - _EPS:
            self.queue.popleft()
            users = piece.users
        else:
            piece.cut(share)
        self.records = self.records - users * piece.rho if self.queue else 0.0
        return users


@dataclass(slots=True)
class _Tally:
    errored: float = 0.0
    synced: float = 0.0
    lags: list[tuple[float, float, float]] = field(default_factory=list)  # (low, high, users)


def _token(
    connection: str, steps: list[Step], profile: EntryProfile, config: SyncConfig
) -> TokenPreflight:
    names = {step.id for step in steps}
    flows = [row for row in profile.flows if row.step in names]
    blasts = [row for row in profile.blasts if row.step in names]
    rho = {step.id: float(len(step.match_fields)) for step in steps}
    capacity = _requests_per_s(config) * config.max_records_per_request
    tally = _run(_targets(steps, flows, blasts, rho), config, profile.round_trip_s)
    users = sum(
        row.rate_per_s * (row.end_s - row.start_s) for row in flows if row.end_s > row.start_s
    )
    users += sum(row.users for row in blasts)
    return TokenPreflight(
        connection=connection,
        steps=tuple(step.id for step in steps),
        capacity_records_per_s=capacity,
        load_records_per_s=_peak_load(flows, rho),
        blast_records=sum(row.users * _rho(row, rho) for row in blasts),
        users=users,
        synced_users=tally.synced,
        errored_users=tally.errored,
        lag_p99_s=_quantile(tally.lags, _P99),
        retry_window_s=config.retry_window_s,
    )


def _requests_per_s(config: SyncConfig) -> float:
    """Sustained requests/s: ``r`` per ``1 + margin`` s, under the minute window if any."""
    rate = config.requests_per_second / (1 + config.pacing_margin_s)
    per_minute = config.requests_per_minute
    return rate if per_minute is None else min(rate, per_minute / 60)


def _rho(row: Flow | Blast, by_step: Mapping[str, float]) -> float:
    return by_step[row.step] if row.records_per_user is None else row.records_per_user


def _peak_load(flows: list[Flow], rho: Mapping[str, float]) -> float:
    """The busiest records/s of the flows running together (checked at each start)."""
    return max(
        (
            sum(f.rate_per_s * _rho(f, rho) for f in flows if f.start_s <= at < f.end_s)
            for at in (f.start_s for f in flows)
        ),
        default=0.0,
    )


def _targets(
    steps: list[Step], flows: list[Flow], blasts: list[Blast], rho: Mapping[str, float]
) -> list[_Target]:
    """One target per (ad account, audience name): steps writing one audience share it."""
    keys = {step.id: (step.ad_account_id, step.audience.name) for step in steps}
    grouped: dict[tuple[str, str], _Target] = {}
    for step in steps:
        grouped.setdefault(keys[step.id], _Target([], [], rho, deque()))
    for flow in flows:
        grouped[keys[flow.step]].flows.append(flow)
    for blast in blasts:
        grouped[keys[blast.step]].blasts.append(blast)
    return [target for target in grouped.values() if target.flows or target.blasts]


# --------------------------------------------------------------------------- the flush loop


def _run(targets: list[_Target], config: SyncConfig, round_trip_s: float) -> _Tally:
    """Step the fluid model flush by flush until every queue is empty and no row is left."""
    interval = config.flush_interval_s
    per_s = _requests_per_s(config)
    window = config.retry_window_s - config.request_timeout_s
    # the flushes (by number: flush k ends at k·T) that release a row's edge or a blast
    edges = {
        _flush_of(at, interval) for t in targets for f in t.flows for at in (f.start_s, f.end_s)
    }
    edges |= {_flush_of(b.at_s, interval) for t in targets for b in t.blasts}
    last = max(edges, default=0)
    tally = _Tally()
    slots = per_s * interval
    flush = 1
    while True:
        tick = flush * interval
        fresh = not any(target.queue for target in targets)  # only this flush's users to send
        for target in targets:
            _release(target, flush, interval)
            tally.errored += _expire(target, tick - window)
        if flush >= last and not any(target.queue for target in targets):
            return tally
        needs = [_requests(target, config.max_records_per_request) for target in targets]
        given = _share(needs, slots)
        used = sum(given)
        before = len(tally.lags)
        span = used / per_s
        for target, slots_given in zip(targets, given, strict=True):
            budget = slots_given * config.max_records_per_request
            _serve(target, budget, tick, span, round_trip_s, tally)
        calm = fresh and not any(target.queue for target in targets)
        flush += _stride(flush, edges, tally, before) if calm else 1


def _flush_of(at: float, interval: float) -> int:
    """The flush that releases a user entered at ``at``: the first tick after it
    (``SyncEngine._release_tick``), numbered so that flush k ends at ``k·T``."""
    return math.floor(at / interval) + 1


def _release(target: _Target, flush: int, interval: float) -> None:
    """Queue the users entered in ``[(k − 1)·T, k·T)`` for flush ``k``."""
    lo, hi = (flush - 1) * interval, flush * interval
    for flow in target.flows:
        start, end = max(lo, flow.start_s), min(hi, flow.end_s)
        if end > start and flow.rate_per_s > 0:
            users = flow.rate_per_s * (end - start)
            target.push(_Piece(start, end, users, _rho(flow, target.rho)))
    for blast in target.blasts:
        if _flush_of(blast.at_s, interval) == flush and blast.users > 0:
            target.push(_Piece(blast.at_s, blast.at_s, blast.users, _rho(blast, target.rho)))


def _expire(target: _Target, edge: float) -> float:
    """Drop the users who entered at or before ``edge`` (too late to send); how many."""
    dropped = 0.0
    while target.queue and target.queue[0].lo <= edge:
        piece = target.queue[0]
        if piece.hi <= edge:
            dropped += target.forget(piece, 1.0)
            continue
        dropped += target.forget(piece, (edge - piece.lo) / (piece.hi - piece.lo))
        break
    return dropped


def _requests(target: _Target, max_records: int) -> int:
    return math.ceil(target.records / max_records - _EPS)


def _share(needs: list[int], slots: float) -> list[float]:
    """Round-robin shares of a flush's ``slots`` requests: each target in turn gets one until
    its need is met, so the rest share equally what the smaller ones leave (water-filling;
    the engine's rotating start evens out a flush's odd request over time, so it is shared)."""
    given = [0.0] * len(needs)
    left = slots
    waiting = sorted(range(len(needs)), key=lambda i: needs[i])
    for rank, index in enumerate(waiting):
        level = left / (len(waiting) - rank)
        given[index] = min(float(needs[index]), level)
        left -= given[index]
    return given


def _serve(
    target: _Target,
    budget: float,
    tick: float,
    span: float,
    round_trip_s: float,
    tally: _Tally,
) -> None:
    """Send up to ``budget`` records in entry order, evenly over ``[tick, tick + span]``."""
    total = min(budget, target.records)
    sent = 0.0
    lags = tally.lags
    while target.queue and sent < total - _EPS:
        piece = target.queue[0]
        records = piece.users * piece.rho
        take = min(records, total - sent)
        share = take / records
        first = tick + span * sent / total - piece.lo
        last = tick + span * (sent + take) / total - piece.entry(share)
        users = target.forget(piece, share)
        lags.append((min(first, last) + round_trip_s, max(first, last) + round_trip_s, users))
        tally.synced += users
        sent += take


def _stride(flush: int, edges: set[int], tally: _Tally, before: int) -> int:
    """How many flushes to move on from a calm one (it sent just its own users, and every
    queue is empty): 1, or — when no row starts, ends or blasts in the flushes ahead — this
    one and all those identical ones after it, this flush's lags counted for each."""
    if flush in edges:
        return 1  # a row started, ended or blasted in this flush: the next differs
    ahead = min((edge for edge in edges if edge > flush), default=None)
    if ahead is None:
        return 1
    repeats = ahead - flush  # this flush and those before the next edge are alike
    lags = tally.lags
    tally.synced += sum(users for _, _, users in lags[before:]) * (repeats - 1)
    lags[before:] = [(lo, hi, users * repeats) for lo, hi, users in lags[before:]]
    return repeats


# --------------------------------------------------------------------------- the p99


def _quantile(lags: list[tuple[float, float, float]], q: float) -> float:
    """The ``q`` quantile of a mixture of uniform lags (and point masses when low = high)."""
    total = sum(users for _, _, users in lags)
    if total <= 0:
        return math.nan
    goal = q * total
    marks: list[tuple[float, float, float]] = []  # (lag, mass added there, density change)
    for low, high, users in lags:
        if high - low <= _EPS:
            marks.append((low, users, 0.0))
        else:
            density = users / (high - low)
            marks += [(low, 0.0, density), (high, 0.0, -density)]
    marks.sort()
    mass, density, at = 0.0, 0.0, marks[0][0]
    for lag, point, change in marks:
        gained = density * (lag - at)
        if gained > 0 and mass + gained >= goal:
            return at + (goal - mass) / density
        mass += gained + point
        if mass >= goal:
            return lag
        density += change
        at = lag
    return at


# --------------------------------------------------------------------------- the verdict

# the first call whose test holds: (test, words)
_CALLS: Final[tuple[tuple[Callable[[TokenPreflight], bool], str], ...]] = (
    (lambda p: p.errored_users >= 0.5, "over capacity: users will error"),
    (lambda p: p.utilisation > 1, "over capacity: the backlog grows"),
    (lambda p: p.lag_p99_s > p.retry_window_s / 2, "at risk: p99 lag past half the window"),
    (lambda p: True, "fits"),
)


def _call(result: TokenPreflight) -> str:
    return next(words for test, words in _CALLS if test(result))


_UNITS: Final = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == 0 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    size, unit = next(((size, unit) for size, unit in _UNITS if seconds >= size), _UNITS[-1])
    return f"{seconds / size:.3g} {unit}"
