"""Fault rules: answer chosen requests with an error status and/or added latency.

Rules (CONTRACTS.md §1):
- A rule matches on any of ``method``, ``path`` (an fnmatch pattern), ``category`` and
  ``token_id``; an absent key matches everything.
- It is active in ``[from, until)`` on the mock clock, for at most ``count`` matching requests,
  and fires with ``probability`` drawn from the mock's seeded rng. The rng is drawn only for
  requests that pass every other test, so the sequence of draws — and so the outcome — depends
  only on the requests the rule is about.
- The first firing rule with a ``status`` decides the answer; latencies of all firing rules
  add up (independent slowdowns compose).
- Rules are parsed and validated once, when added; a bad rule is an ``InvalidParameters``
  naming the field. Every number must be finite (``NaN`` or ``Infinity`` would break the JSON
  of ``GET /_mock/faults`` and the latency header); ``status`` is 400–599, ``probability``
  0–1, ``count`` 1–10⁹, and ``latency_s`` at most ``max_latency_s(...)``: an hour of mock
  time (``MAX_LATENCY_S``), and when a standalone server sleeps it, no more than
  ``MAX_SLEPT_S`` (60) wall seconds.
"""

from __future__ import annotations

import fnmatch
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from mock_pinterest.errors import InvalidParameters

# The longest latency a rule may add, in mock seconds. In process the latency is only a number
# the caller simulates (the simulator's virtual clock), and an answer later than an hour is no
# longer a slow answer but an outage or a timeout, faults of their own.
MAX_LATENCY_S = 3600.0
# The longest a standalone server sleeps one answer, in wall seconds. It sleeps on one of its few
# worker threads, so this is how long one rule can keep a worker from everyone else; and a
# client waits for no answer longer than about a minute (SDK and sync-engine timeouts).
MAX_SLEPT_S = 60.0

_MATCH_KEYS = ("method", "path", "category", "token_id")
_RULE_KEYS = frozenset(
    {"match", "status", "latency_s", "from", "until", "count", "probability", "id"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFacts:
    """What a fault rule can look at."""

    method: str
    path: str
    category: str | None
    token_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultMatch:
    method: str | None = None
    path: str | None = None
    category: str | None = None
    token_id: str | None = None

    def matches(self, facts: RequestFacts) -> bool:
        return (
            (self.method is None or self.method.upper() == facts.method)
            and (self.path is None or fnmatch.fnmatchcase(facts.path, self.path))
            and (self.category is None or self.category == facts.category)
            and (self.token_id is None or self.token_id == facts.token_id)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    id: str
    match: FaultMatch
    status: int | None = None
    latency_s: float | None = None
    from_s: float | None = None
    until_s: float | None = None
    count: int | None = None
    probability: float | None = None

    def in_window(self, now: float) -> bool:
        return (self.from_s is None or now >= self.from_s) and (
            self.until_s is None or now < self.until_s
        )

    def to_json(self) -> dict[str, object]:
        match = {key: getattr(self.match, key) for key in _MATCH_KEYS}
        return {
            "id": self.id,
            "match": {key: value for key, value in match.items() if value is not None},
            "status": self.status,
            "latency_s": self.latency_s,
            "from": self.from_s,
            "until": self.until_s,
            "count": self.count,
            "probability": self.probability,
        }


@dataclass(frozen=True, slots=True)
class FaultEffect:
    """What the firing rules do to one request."""

    status: int | None = None
    latency_s: float = 0.0


NO_EFFECT = FaultEffect()


@dataclass(frozen=True, slots=True)
class _Bound:
    """The range of one numeric rule field; ``None`` leaves that side open (but finite)."""

    integer: bool
    low: float | None
    high: float | None
    text: str


def max_latency_s(*, sleep_latency: bool, speed: float) -> float:
    """The largest ``latency_s`` a rule may add: the sleep of a server whose clock runs
    ``speed`` times the wall clock lasts ``latency_s / speed`` wall seconds."""
    return min(MAX_LATENCY_S, MAX_SLEPT_S * speed) if sleep_latency else MAX_LATENCY_S


def _latency_bound(maximum: float) -> _Bound:
    return _Bound(False, 0.0, maximum, f"a number of seconds from 0 to {maximum:g}")


_BOUNDS: Mapping[str, _Bound] = {
    "status": _Bound(True, 400, 599, "an HTTP status from 400 to 599"),
    "latency_s": _latency_bound(MAX_LATENCY_S),
    "probability": _Bound(False, 0.0, 1.0, "a number from 0 to 1"),
    "count": _Bound(True, 1, 10**9, "an integer from 1 to 1000000000"),
    "from": _Bound(False, None, None, "a finite number (mock-clock seconds)"),
    "until": _Bound(False, None, None, "a finite number (mock-clock seconds)"),
}


def _number(data: Mapping[str, object], key: str, bound: _Bound) -> float | None:
    """The field ``key`` if given, within ``bound``; else a 400 naming the field."""
    value = data.get(key)
    if value is None:
        return None
    if not _within(value, bound):
        raise InvalidParameters(f"Fault rule field '{key}' must be {bound.text}.")
    assert isinstance(value, int | float)
    return value


def _within(value: object, bound: _Bound) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if bound.integer and not isinstance(value, int):
        return False
    try:
        as_float = float(value)
    except OverflowError:  # an integer beyond any float: no bound is that wide
        return False
    return (
        math.isfinite(as_float)
        and (bound.low is None or value >= bound.low)
        and (bound.high is None or value <= bound.high)
    )


def parse_rule(data: object, rule_id: str, *, max_latency_s: float = MAX_LATENCY_S) -> FaultRule:
    """Validate one rule in its JSON form (CONTRACTS.md §1)."""
    if not isinstance(data, Mapping):
        raise InvalidParameters("A fault rule must be a JSON object.")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise InvalidParameters(f"Unknown fault rule fields: {', '.join(sorted(unknown))}.")
    match = data.get("match", {})
    if not isinstance(match, Mapping) or set(match) - set(_MATCH_KEYS):
        raise InvalidParameters("Fault 'match' takes method, path, category and token_id.")
    if any(not isinstance(value, str) for value in match.values()):
        raise InvalidParameters("Fault 'match' values must be strings.")
    bounds = {**_BOUNDS, "latency_s": _latency_bound(max_latency_s)}
    numbers = {key: _number(data, key, bound) for key, bound in bounds.items()}
    if numbers["status"] is None and numbers["latency_s"] is None:
        raise InvalidParameters("A fault rule needs a status or a latency_s.")
    status, count = numbers["status"], numbers["count"]
    return FaultRule(
        id=rule_id,
        match=FaultMatch(**{key: str(value) for key, value in match.items()}),
        status=None if status is None else int(status),
        latency_s=numbers["latency_s"],
        from_s=numbers["from"],
        until_s=numbers["until"],
        count=None if count is None else int(count),
        probability=numbers["probability"],
    )


class FaultBook:
    """The active rules, in insertion order, and how many firings each has left."""

    def __init__(self, rng: random.Random, *, max_latency_s: float = MAX_LATENCY_S) -> None:
        self._rng = rng
        self._max_latency_s = max_latency_s
        self._rules: dict[str, FaultRule] = {}
        self._left: dict[str, int] = {}
        self._next_id = 1

    def add(self, data: object) -> FaultRule:
        rule = parse_rule(data, f"fault-{self._next_id}", max_latency_s=self._max_latency_s)
        self._next_id += 1
        self._rules[rule.id] = rule
        if rule.count is not None:
            self._left[rule.id] = rule.count
        return rule

    def remove(self, rule_id: str) -> bool:
        self._left.pop(rule_id, None)
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()
        self._left.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    @property
    def active(self) -> bool:
        """Whether any rule is set: with none, ``apply`` is ``NO_EFFECT`` and draws nothing."""
        return bool(self._rules)

    def apply(self, facts: RequestFacts, now: float) -> FaultEffect:
        """Fire the matching rules for one request and combine their effects."""
        if not self._rules:
            return NO_EFFECT
        status: int | None = None
        latency_s = 0.0
        for rule in list(self._rules.values()):
            if not self._fires(rule, facts, now):
                continue
            if status is None and rule.status is not None:
                status = rule.status
            latency_s += rule.latency_s or 0.0
        return FaultEffect(status, latency_s)

    def _fires(self, rule: FaultRule, facts: RequestFacts, now: float) -> bool:
        if not rule.in_window(now) or not rule.match.matches(facts):
            return False
        if self._left.get(rule.id, 1) <= 0:
            return False
        if rule.probability is not None and self._rng.random() >= rule.probability:
            return False
        if rule.id in self._left:
            self._left[rule.id] -= 1
        return True
