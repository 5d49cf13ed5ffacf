"""Random fault schedules: from a fuzz seed and a schedule number, one short scenario document.

Responsibility: ``schedule(seed, number)`` gives the plain dict a scenario TOML file parses
into (``sim.scenario.from_raw`` reads it, exactly as a user's file is read): a short base run
and 1–6 ``[[fault]]`` rows at random instants, of every kind ``sim.scenario.FaultKind`` has.

Rules:
- Deterministic: the document depends only on ``(seed, number)``, drawn from one
  ``random.Random`` seeded with both; nothing else (no clock, no process) reaches it.
- The base is cheap (about a wall second to simulate): 20–40 simulated minutes, a few thousand
  users, two connections, an add step and a remove step replaying it on one audience (new or
  existing) and a third step on the second connection; the engine's 13 h retry window, or a
  window of minutes that faults outlast (users error at their deadline).
- Fault rows come from one table, ``FAULTS``: a small generator per kind giving its keys, and
  a weight (rare kinds — revoking a token, deleting an audience — weigh less). Only the kinds
  ``FaultKind`` has at runtime are drawn, so the fuzzer follows the format as kinds are added.
- Windows overlap freely; some run to the end of the run (no ``until``); instants are whole
  seconds inside the run. A revoke is often followed by a reconnect of the same connection,
  as an admin would; a refused refresh is rarer than a working one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sim.scenario import FaultKind
from sim.scenario.units import format_duration, parse_duration

__all__ = ["FAULTS", "Context", "available_kinds", "fault_kinds", "schedule"]

Document = dict[str, Any]

CONNECTIONS: Final = ("workspace", "second")
STEPS: Final = ("add", "remove", "other")
_ACCOUNTS: Final = {"workspace": "549755885175", "second": "549755885176"}
_DURATIONS_MIN: Final = (20, 25, 30, 35, 40)
_FLUSH: Final = ("5s", "10s", "15s")
_TIMEOUTS: Final = ("10s", "30s")
# mostly the engine's 13 h (nobody's deadline comes within the run); a short window a third of
# the time, so faults that outlast it error users and the deadline checks have work to do
_RETRY_WINDOWS: Final = ("13h", "13h", "5m", "15m")
_ROWS: Final = (1, 6)  # fault rows per schedule, both ends included
_TO_END: Final = 0.2  # share of windows lasting to the end of the run
_RECONNECT_AFTER_REVOKE: Final = 0.6
_REFRESH_REFUSED: Final = 0.15
_STATUSES: Final = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class Context:
    """What a fault generator may name: the run's length and its connections and steps."""

    duration_s: int
    connections: tuple[str, ...] = CONNECTIONS
    steps: tuple[str, ...] = STEPS


def schedule(seed: int, number: int) -> Document:
    """Schedule ``number`` of the fuzz run seeded ``seed``: a scenario document."""
    rng = random.Random(f"pinsim-fuzz-{seed}-{number}")
    document = _base(rng, seed, number)
    context = Context(duration_s=_duration_s(document))
    kinds = available_kinds()
    weights = [FAULTS[kind].weight for kind in kinds]
    rows: list[Document] = []
    for kind in rng.choices(kinds, weights, k=rng.randint(*_ROWS)):
        rows.extend(_rows_for(rng, kind, context))
    document["fault"] = rows
    return document


def available_kinds() -> list[str]:
    """The fault kinds both the format (``FaultKind``) and ``FAULTS`` know, in ``FAULTS`` order."""
    known = {kind.value for kind in FaultKind}
    return [kind for kind in FAULTS if kind in known]


def fault_kinds(document: Mapping[str, Any]) -> list[str]:
    """The kinds of a document's fault rows, in file order."""
    return [str(row["kind"]) for row in document.get("fault", [])]


# --------------------------------------------------------------------------- the base run


def _base(rng: random.Random, seed: int, number: int) -> Document:
    minutes = rng.choice(_DURATIONS_MIN)
    audience_kind = rng.choice(("new", "existing"))
    add_rate = rng.randint(60, 150)
    return {
        "scenario": {
            "name": f"fuzz-{seed}-{number}",
            "description": f"pinsim fuzz --seed {seed}: schedule {number}",
            "seed": rng.randrange(1_000_000),
            "duration": f"{minutes}m",
        },
        "sync": {
            "flush_interval": rng.choice(_FLUSH),
            "request_timeout": rng.choice(_TIMEOUTS),
            # its own stream: drawing it leaves every other draw of the schedule as it was
            "retry_window": random.Random(f"pinsim-fuzz-{seed}-{number}-retry").choice(
                _RETRY_WINDOWS
            ),
        },
        "connection": [{"id": name} for name in CONNECTIONS],
        "step": [
            _step("add", "workspace", {audience_kind: "Fuzz list"}),
            {
                **_step("remove", "workspace", {audience_kind: "Fuzz list"}),
                "action": "remove",
                "last_step": True,
            },
            _step("other", "second", {"new": "Second list"}),
        ],
        "traffic": [
            {"step": "add", "kind": "poisson", "rate": f"{add_rate}/min"},
            {
                "step": "remove",
                "kind": "poisson",
                "rate": f"{add_rate // 2}/min",
                "start": f"{rng.randint(2, minutes // 2)}m",
                "replay": "add",
            },
            _other_traffic(rng, minutes),
        ],
    }


def _step(step_id: str, connection: str, audience: Mapping[str, str]) -> Document:
    return {
        "id": step_id,
        "connection": connection,
        "ad_account": _ACCOUNTS[connection],
        "audience": dict(audience),
    }


def _other_traffic(rng: random.Random, minutes: int) -> Document:
    if rng.random() < 0.5:
        return {"step": "other", "kind": "poisson", "rate": f"{rng.randint(20, 60)}/min"}
    start = rng.randint(0, minutes - 1)
    return {"step": "other", "kind": "blast", "count": rng.randint(200, 2000), "start": f"{start}m"}


def _duration_s(document: Mapping[str, Any]) -> int:
    return int(str(document["scenario"]["duration"]).removesuffix("m")) * 60


# --------------------------------------------------------------------------- fault rows


KeyDrawer = Callable[[random.Random, Context], Document]


@dataclass(frozen=True, slots=True)
class FaultGenerator:
    """How to draw one kind's keys (besides ``kind``), and how often it is drawn."""

    keys: KeyDrawer
    weight: float = 1.0


def _rows_for(rng: random.Random, kind: str, context: Context) -> list[Document]:
    row = {"kind": kind, **FAULTS[kind].keys(rng, context)}
    rows = [row]
    paired = kind == FaultKind.REVOKE_TOKEN and rng.random() < _RECONNECT_AFTER_REVOKE
    if paired and FaultKind.RECONNECT in available_kinds():
        rows.append(_reconnect_after(rng, row, context))
    return rows


def _reconnect_after(rng: random.Random, revoke: Document, context: Context) -> Document:
    at = _seconds(revoke["at"]) + 1
    return {
        "kind": "reconnect",
        "at": _duration(rng.randint(min(at, context.duration_s - 1), context.duration_s - 1)),
        "connection": revoke["connection"],
    }


def _seconds(text: str) -> int:
    return int(parse_duration(text))


def _duration(seconds: int) -> str:
    return format_duration(seconds) if seconds else "0s"


def _at(rng: random.Random, context: Context) -> Document:
    return {"at": _duration(rng.randrange(context.duration_s))}


def _window(rng: random.Random, context: Context, longest_s: int | None = None) -> Document:
    """``at`` inside the run and, mostly, an ``until`` after it (at most ``longest_s`` later)."""
    at = rng.randrange(context.duration_s - 1)
    if rng.random() < _TO_END and longest_s is None:
        return {"at": _duration(at)}
    last = context.duration_s if longest_s is None else min(context.duration_s, at + longest_s)
    return {"at": _duration(at), "until": _duration(rng.randint(at + 1, last))}


def _share(rng: random.Random) -> float:
    return rng.choice((1.0, round(rng.uniform(0.1, 1.0), 2)))


def _maybe_connection(rng: random.Random, context: Context) -> Document:
    return {"connection": rng.choice(context.connections)} if rng.random() < 0.5 else {}


def _revoke(rng: random.Random, context: Context) -> Document:
    return {**_at(rng, context), "connection": rng.choice(context.connections)}


def _reconnect(rng: random.Random, context: Context) -> Document:
    return {**_at(rng, context), "connection": rng.choice(context.connections)}


def _delete_audience(rng: random.Random, context: Context) -> Document:
    return {**_at(rng, context), "step": rng.choice(context.steps)}


def _storm(rng: random.Random, context: Context) -> Document:
    return {**_window(rng, context), "share": _share(rng), **_maybe_connection(rng, context)}


def _server_errors(rng: random.Random, context: Context) -> Document:
    statuses = sorted(rng.sample(_STATUSES, rng.randint(1, len(_STATUSES))))
    row = {**_window(rng, context), "share": _share(rng), "status": statuses}
    return {**row, **_maybe_connection(rng, context)}


def _latency(rng: random.Random, context: Context) -> Document:
    row = {**_window(rng, context), **_maybe_connection(rng, context)}
    if rng.random() < 0.4:
        return {**row, "part": "service", "extra": _duration(rng.randint(1, 45))}
    median = round(rng.uniform(0.05, 15.0), 2)
    p99 = round(median * rng.uniform(1.5, 4.0), 2)
    part = rng.choice(("service", "propagation"))
    return {**row, "part": part, "median": f"{median:g}s", "p99": f"{p99:g}s"}


def _lost_answers(rng: random.Random, context: Context) -> Document:
    """``timeout`` and ``connection_reset``: the answer never comes, the request applied or not."""
    row = {**_window(rng, context), "share": _share(rng), "applied": rng.random() < 0.5}
    return {**row, **_maybe_connection(rng, context)}


def _outage(rng: random.Random, context: Context) -> Document:
    return _window(rng, context, longest_s=300)  # Pinterest-wide: minutes, not the whole run


def _token_expiry(rng: random.Random, context: Context) -> Document:
    row = {**_at(rng, context), "lifetime": _duration(60 * rng.randint(1, 20))}
    if rng.random() < _REFRESH_REFUSED:
        row["refresh"] = "refused"
    return {**row, **_maybe_connection(rng, context)}


def _worker_crash(rng: random.Random, context: Context) -> Document:
    return _at(rng, context)


FAULTS: Final[Mapping[str, FaultGenerator]] = {
    "revoke_token": FaultGenerator(_revoke, weight=0.4),
    "reconnect": FaultGenerator(_reconnect, weight=0.4),
    "delete_audience": FaultGenerator(_delete_audience, weight=0.3),
    "rate_limit_storm": FaultGenerator(_storm),
    "server_errors": FaultGenerator(_server_errors),
    "latency": FaultGenerator(_latency),
    "timeout": FaultGenerator(_lost_answers),
    "connection_reset": FaultGenerator(_lost_answers),
    "outage": FaultGenerator(_outage),
    "token_expiry": FaultGenerator(_token_expiry),
    "worker_crash": FaultGenerator(_worker_crash),
}
