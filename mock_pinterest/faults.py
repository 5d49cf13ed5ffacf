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
- Rules are parsed and validated once, when added; a bad rule is an ``InvalidParameters``.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass

from mock_pinterest.errors import InvalidParameters

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


def _number(data: Mapping[str, object], key: str, kind: type[float] | type[int]) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameters(f"Fault rule field '{key}' must be a number.")
    if kind is int and not isinstance(value, int):
        raise InvalidParameters(f"Fault rule field '{key}' must be an integer.")
    return value


def parse_rule(data: object, rule_id: str) -> FaultRule:
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
    status = _number(data, "status", int)
    latency_s = _number(data, "latency_s", float)
    probability = _number(data, "probability", float)
    count = _number(data, "count", int)
    if status is None and latency_s is None:
        raise InvalidParameters("A fault rule needs a status or a latency_s.")
    if status is not None and not 400 <= status <= 599:
        raise InvalidParameters("Fault status must be a 4xx or 5xx code.")
    if (latency_s is not None and latency_s < 0) or (count is not None and count < 1):
        raise InvalidParameters("Fault latency_s must be >= 0 and count >= 1.")
    if probability is not None and not 0.0 <= probability <= 1.0:
        raise InvalidParameters("Fault probability must be within [0, 1].")
    return FaultRule(
        id=rule_id,
        match=FaultMatch(**{key: str(value) for key, value in match.items()}),
        status=None if status is None else int(status),
        latency_s=latency_s,
        from_s=_number(data, "from", float),
        until_s=_number(data, "until", float),
        count=None if count is None else int(count),
        probability=probability,
    )


class FaultBook:
    """The active rules, in insertion order, and how many firings each has left."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: dict[str, FaultRule] = {}
        self._left: dict[str, int] = {}
        self._next_id = 1

    def add(self, data: object) -> FaultRule:
        rule = parse_rule(data, f"fault-{self._next_id}")
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
