"""Shrinking a failing scenario document to a small one that still fails the same way.

Responsibility: ``shrink(document, fails)`` returns the smallest document it finds for which
``fails`` still holds: first delta debugging over the ``[[fault]]`` rows (``ddmin``), then
simplifying what is left, one edit at a time, until no edit keeps the failure.

Rules:
- ``fails(document)`` is the only judge (the caller's: "the same check still fails"). A
  candidate the scenario reader refuses is never judged: every step stays a valid scenario, so
  the result is a file ``pinsim check`` reads.
- Deterministic: candidates are tried in a fixed order and a judged document is remembered, so
  the same failing document and judge shrink to the same result.
- Bounded: at most ``budget`` documents are judged (each one a simulation), then the smallest
  found so far is the answer — smaller than the start, if not minimal.
- Simplifications are one table, ``SIMPLIFICATIONS``, biggest cuts first (fewer steps and
  connections, a shorter run, then each fault row's keys: moved earlier, windows shortened,
  shares to 1, optional keys removed; then fewer users), each a generator of candidates.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from sim.scenario import ScenarioError, from_raw
from sim.scenario.units import format_duration, parse_duration, parse_rate

__all__ = ["SIMPLIFICATIONS", "Shrinker", "ddmin", "shrink"]

Document = dict[str, Any]
Judge = Callable[[Document], bool]
T = TypeVar("T")

DEFAULT_BUDGET: Final = 60
_MIN_DURATION_S: Final = 60.0
# keys never tried away: a kind needs them, or (a latency curve) they only go in pairs; every
# other key of a row is tried away one by one
_FAULT_KEEP: Final = frozenset({"kind", "at", "step", "lifetime", "median", "p99", "extra"})


def shrink(document: Mapping[str, Any], fails: Judge, *, budget: int = DEFAULT_BUDGET) -> Document:
    """The smallest document found, starting from ``document`` (which must fail), that fails."""
    return Shrinker(fails, budget).run(copy.deepcopy(dict(document)))


@dataclass
class Shrinker:
    """One shrink: the judge, what it has said so far, and how many judgements are left."""

    fails: Judge
    budget: int
    seen: dict[str, bool] = field(default_factory=dict)

    def run(self, document: Document) -> Document:
        rows = list(document.get("fault", []))
        kept = ddmin(rows, lambda subset: self.test(_with_rows(document, subset)))
        best = _with_rows(document, kept)
        changed = True
        while changed and self.budget > 0:
            changed = False
            for simplify in SIMPLIFICATIONS:
                candidate = self._first_failing(simplify(best))
                while candidate is not None:
                    best, changed = candidate, True
                    candidate = self._first_failing(simplify(best))
        return _tidy(best)

    def _first_failing(self, candidates: Iterator[Document]) -> Document | None:
        for candidate in candidates:
            if self.budget <= 0:
                return None
            if self.test(candidate):
                return candidate
        return None

    def test(self, document: Document) -> bool:
        """Whether ``document`` is a valid scenario that still fails (judged once each)."""
        key = json.dumps(document, sort_keys=True)
        if key not in self.seen:
            self.seen[key] = _valid(document) and self._judge(document)
        return self.seen[key]

    def _judge(self, document: Document) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        return self.fails(copy.deepcopy(document))


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """Zeller's delta debugging: a 1-minimal sublist of ``items`` (order kept) that ``fails``,
    none at all if the failure needs none."""
    current = list(items)
    if fails([]):
        return []
    chunks = 2
    while len(current) >= 2:
        parts = _split(current, chunks)
        reduced = _first(parts, fails)
        if reduced is not None:
            current, chunks = reduced, 2
            continue
        complements = [[x for other in parts if other is not part for x in other] for part in parts]
        reduced = _first(complements, fails) if chunks > 2 else None
        if reduced is not None:
            current, chunks = reduced, max(chunks - 1, 2)
        elif chunks >= len(current):
            break
        else:
            chunks = min(2 * chunks, len(current))
    return current


def _split(items: list[T], chunks: int) -> list[list[T]]:
    size = math.ceil(len(items) / chunks)
    return [items[start : start + size] for start in range(0, len(items), size)]


def _first(candidates: list[list[T]], fails: Callable[[list[T]], bool]) -> list[T] | None:
    return next((candidate for candidate in candidates if fails(candidate)), None)


def _with_rows(document: Document, rows: list[Document]) -> Document:
    return {**document, "fault": rows}


def _valid(document: Document) -> bool:
    try:
        from_raw(document, "<shrink>")
    except ScenarioError:
        return False
    return True


def _tidy(document: Document) -> Document:
    """Without empty arrays of rows (a file leaves out what it does not have)."""
    return {key: value for key, value in document.items() if value != []}


# --------------------------------------------------------------------------- simplifications


def _seconds(value: object) -> float:
    return parse_duration(value)


def _duration(seconds: float) -> str:
    return format_duration(round(seconds)) if seconds >= 1 else "0s"


def _shorter_runs(document: Document) -> Iterator[Document]:
    """The run cut to a minute after its last fault, to a half, then to three quarters of its
    length; whatever would happen after the new end (a fault, a traffic row's start) is
    dropped, an end past it clamped."""
    duration = _seconds(document["scenario"]["duration"])
    last = max((_seconds(row["at"]) for row in document.get("fault", [])), default=0.0)
    cuts = [math.ceil((last + 1) / 60) * 60 + 60]
    cuts += [round(duration * share / 60) * 60 for share in (0.5, 0.75)]
    for cut in dict.fromkeys(max(_MIN_DURATION_S, cut) for cut in cuts):
        if cut < duration:
            yield _cut_to(document, cut)


def _cut_to(document: Document, cut: float) -> Document:
    out = copy.deepcopy(document)
    out["scenario"]["duration"] = _duration(cut)
    out["fault"] = [_clamp(row, "until", cut) for row in out.get("fault", [])]
    out["fault"] = [row for row in out["fault"] if _seconds(row["at"]) < cut]
    rows = [row for row in out.get("traffic", []) if _seconds(row.get("start", "0s")) < cut]
    out["traffic"] = [_clamp(row, "end", cut) for row in rows]
    return out


def _clamp(row: Document, key: str, cut: float) -> Document:
    if key in row and _seconds(row[key]) >= cut:
        return {name: value for name, value in row.items() if name != key}
    return row


def _fewer_users(document: Document) -> Iterator[Document]:
    """Each traffic row dropped, then each at half its rate (or count)."""
    rows = document.get("traffic", [])
    for index in range(len(rows)):
        yield _replace_row(document, "traffic", index, None)
    for index, row in enumerate(rows):
        halved = _halved(row)
        if halved is not None:
            yield _replace_row(document, "traffic", index, halved)


def _halved(row: Mapping[str, Any]) -> Document | None:
    if "count" in row:
        return {**row, "count": row["count"] // 2} if row["count"] > 1 else None
    if "rate" in row:
        per_minute = math.floor(parse_rate(row["rate"]) * 60 / 2)
        return {**row, "rate": f"{per_minute}/min"} if per_minute >= 1 else None
    return None


def _fewer_steps(document: Document) -> Iterator[Document]:
    """Each step dropped with everything that names it; then each connection no step uses."""
    for step in document.get("step", []):
        yield _without_step(document, step["id"])
    used = {step.get("connection") for step in document.get("step", [])}
    connections = document.get("connection", [])
    for connection in connections:
        if connection["id"] not in used and len(connections) > 1:
            yield _without_connection(document, connection["id"])


def _without_step(document: Document, step_id: str) -> Document:
    out = copy.deepcopy(document)
    out["step"] = [s for s in out["step"] if s["id"] != step_id]
    out["traffic"] = [
        row for row in out.get("traffic", []) if step_id not in (row["step"], row.get("replay"))
    ]
    out["fault"] = [row for row in out.get("fault", []) if row.get("step") != step_id]
    return out


def _without_connection(document: Document, connection_id: str) -> Document:
    out = copy.deepcopy(document)
    out["connection"] = [c for c in out["connection"] if c["id"] != connection_id]
    out["fault"] = [row for row in out.get("fault", []) if row.get("connection") != connection_id]
    return out


def _simpler_faults(document: Document) -> Iterator[Document]:
    """Per fault row: its window halved, its share 1, then each optional key removed."""
    for index, row in enumerate(document.get("fault", [])):
        for simpler in _simpler_row(row):
            yield _replace_row(document, "fault", index, simpler)


def _simpler_row(row: Mapping[str, Any]) -> Iterator[Document]:
    at = _seconds(row["at"])
    if at >= 2:  # earlier, its window as long: the run can then be cut shorter
        earlier = {**row, "at": _duration(at // 2)}
        if "until" in row:
            earlier["until"] = _duration(_seconds(row["until"]) - (at - at // 2))
        yield earlier
    if "until" in row:
        at, until = _seconds(row["at"]), _seconds(row["until"])
        if until - at >= 2:
            yield {**row, "until": _duration(at + (until - at) // 2)}
    if row.get("share", 1.0) != 1.0:
        yield {**row, "share": 1.0}
    for key in row:
        if key not in _FAULT_KEEP and key != "until":
            yield {name: value for name, value in row.items() if name != key}


def _replace_row(document: Document, table: str, index: int, row: Document | None) -> Document:
    out = copy.deepcopy(document)
    rows = out[table]
    if row is None:
        del rows[index]
    else:
        rows[index] = row
    return out


SIMPLIFICATIONS: Final[Sequence[Callable[[Document], Iterator[Document]]]] = (
    _fewer_steps,
    _shorter_runs,
    _simpler_faults,
    _fewer_users,
)
