"""The ``[[traffic]]`` and ``[[fault]]`` rows: tables whose keys depend on their ``kind``.

Rules:
- Which keys a kind must have and may have is one table per row type (``_TRAFFIC_KEYS``,
  ``_FAULT_KEYS``), not branches: a key another kind takes "does not apply", a key no kind takes
  gets a did-you-mean.
- A row may only name steps and connections the scenario declares, and only happen inside the
  run: a traffic row starting, or a fault happening, at or after its end is refused, and so is
  an ``end`` or ``until`` past it (``instant``). A replay row names another step than its own.
- Numeric values are read through ``sim.scenario.limits.within``: each has a range there.
- A missing key takes the default ``sim.scenario.spec`` declares for its field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from sim.scenario.limits import within
from sim.scenario.reader import (
    Table,
    boolean,
    choice,
    positive_duration,
    positive_integer,
    share,
    string,
    unknown_key,
)
from sim.scenario.spec import (
    SERVER_ERROR_STATUSES,
    FaultKind,
    FaultSpec,
    MissingShares,
    Refresh,
    TrafficKind,
    TrafficSpec,
    default_of,
)
from sim.scenario.units import format_duration, parse_duration, parse_rate
from sim.world.network import LogNormal, Part

__all__ = ["faults", "instant", "traffic"]

KindKeys = Mapping[Any, tuple[frozenset[str], frozenset[str]]]

# kind → (keys it must have, keys it may have besides the common ones)
_TRAFFIC_COMMON = frozenset({"step", "kind", "start", "end", "missing", "malformed", "replay"})
_TRAFFIC_KEYS: dict[TrafficKind, tuple[frozenset[str], frozenset[str]]] = {
    TrafficKind.POISSON: (frozenset({"rate"}), frozenset({"rate"})),
    TrafficKind.CONSTANT: (frozenset({"rate"}), frozenset({"rate"})),
    TrafficKind.BLAST: (frozenset({"count"}), frozenset({"count"})),
    TrafficKind.RAMP: (frozenset({"rate", "rate_end"}), frozenset({"rate", "rate_end"})),
    TrafficKind.DIURNAL: (frozenset({"rate", "peak"}), frozenset({"rate", "peak", "period"})),
}

# kind → (keys it must have, keys it may have besides the common ones); only windowed kinds
# take `until`
_FAULT_COMMON = frozenset({"at", "kind"})
_FAULT_KEYS: dict[FaultKind, tuple[frozenset[str], frozenset[str]]] = {
    FaultKind.REVOKE_TOKEN: (frozenset(), frozenset({"connection"})),
    FaultKind.RECONNECT: (frozenset(), frozenset({"connection"})),
    FaultKind.DELETE_AUDIENCE: (frozenset({"step"}), frozenset({"step"})),
    FaultKind.RATE_LIMIT_STORM: (frozenset(), frozenset({"until", "share", "connection"})),
    FaultKind.SERVER_ERRORS: (frozenset(), frozenset({"until", "share", "status", "connection"})),
    FaultKind.LATENCY: (
        frozenset(),
        frozenset({"until", "part", "median", "p99", "extra", "connection"}),
    ),
    FaultKind.TIMEOUT: (frozenset(), frozenset({"until", "share", "applied", "connection"})),
    FaultKind.CONNECTION_RESET: (
        frozenset(),
        frozenset({"until", "share", "applied", "connection"}),
    ),
    FaultKind.OUTAGE: (frozenset(), frozenset({"until"})),
    FaultKind.TOKEN_EXPIRY: (
        frozenset({"lifetime"}),
        frozenset({"lifetime", "refresh", "connection"}),
    ),
    FaultKind.WORKER_CRASH: (frozenset(), frozenset()),
}
_TOKEN_FAULTS = frozenset({FaultKind.REVOKE_TOKEN, FaultKind.RECONNECT})
_DEFAULT_STATUS = {FaultKind.SERVER_ERRORS: SERVER_ERROR_STATUSES}  # other kinds answer none


def traffic(row: Table, step_ids: set[str], duration_s: float) -> TrafficSpec:
    """One ``[[traffic]]`` row; ``end`` defaults to the end of the run."""
    kind = row.require("kind", choice(TrafficKind))
    _check_kind_keys(row, kind, _TRAFFIC_KEYS, _TRAFFIC_COMMON)
    step = row.require("step", string)
    if step not in step_ids:
        raise row.error("step", f"no [[step]] with id {step!r}")
    start_s = row.get("start", parse_duration, _default("start_s"))
    if start_s >= duration_s:
        raise row.error("start", "at or after the end of the run: no user would arrive")
    spec = TrafficSpec(
        step=step,
        kind=kind,
        start_s=start_s,
        end_s=row.get("end", instant(duration_s, _RUN_END), duration_s),
        rate_per_s=row.get("rate", within("traffic.rate", parse_rate), _default("rate_per_s")),
        rate_end_per_s=row.get(
            "rate_end", within("traffic.rate_end", parse_rate), _default("rate_end_per_s")
        ),
        peak_per_s=row.get("peak", within("traffic.peak", parse_rate), _default("peak_per_s")),
        period_s=row.get(
            "period", within("traffic.period", positive_duration), _default("period_s")
        ),
        count=row.get("count", within("traffic.count", positive_integer), _default("count")),
        missing=_missing(row.table("missing")),
        malformed=row.get("malformed", share, _default("malformed")),
        replay=row.get("replay", string, None),
    )
    row.done()
    if spec.end_s <= spec.start_s and kind is not TrafficKind.BLAST:
        raise row.error("end", "must be after start")
    if spec.replay is not None and spec.replay not in step_ids:
        raise row.error("replay", f"no [[step]] with id {spec.replay!r}")
    if spec.replay == step:
        # a row's users are never "received before" the tick that brings them: none would run
        raise row.error("replay", f"names the row's own step {step!r}: replay another step")
    return spec


def _default(name: str) -> Any:
    return default_of(TrafficSpec, name)


_RUN_END = "the end of the run"
_UNTIL_END = _RUN_END + "; leave until out to last to the end"


def instant(duration_s: float, what: str) -> Callable[[object], float]:
    """A converter to an instant of the run: a duration from its start, at most ``duration_s``
    (``what`` names that end in the refusal)."""

    def convert(value: object) -> float:
        seconds = parse_duration(value)
        if seconds > duration_s:
            raise ValueError(
                f"{format_duration(seconds)} is after {what} ({format_duration(duration_s)})"
            )
        return seconds

    return convert


def _check_kind_keys(
    row: Table, kind: enum.StrEnum, keys: KindKeys, common: frozenset[str]
) -> None:
    """Reject keys another kind takes ("does not apply") or none does (did-you-mean)."""
    required, extra = keys[kind]
    allowed = common | extra
    every = common.union(*(other for _, other in keys.values()))
    for name in row.names():
        if name not in every:
            raise row.error(name, unknown_key(name, allowed))
        if name not in allowed:
            raise row.error(name, f"does not apply to kind {kind.value!r}")
    for name in sorted(required):
        if not row.has(name):
            raise row.error(name, f"missing (kind {kind.value!r} needs it)")


def _missing(table: Table) -> MissingShares:
    base = MissingShares()
    shares = MissingShares(
        email=table.get("email", share, base.email), maid=table.get("maid", share, base.maid)
    )
    table.done()
    return shares


def faults(
    rows: list[Table], step_ids: set[str], connection_ids: list[str], duration_s: float
) -> tuple[FaultSpec, ...]:
    """The ``[[fault]]`` rows, in file order."""
    return tuple(_fault(row, step_ids, connection_ids, duration_s) for row in rows)


def _fault(
    row: Table, step_ids: set[str], connection_ids: list[str], duration_s: float
) -> FaultSpec:
    kind = row.require("kind", choice(FaultKind))
    _check_kind_keys(row, kind, _FAULT_KEYS, _FAULT_COMMON)
    at_s = row.require("at", parse_duration)
    if at_s >= duration_s:
        raise row.error("at", "at or after the end of the run: the fault would never happen")
    spec = FaultSpec(
        kind=kind,
        at_s=at_s,
        until_s=row.get("until", instant(duration_s, _UNTIL_END), None),
        connection=_fault_connection(row, kind, connection_ids),
        step=row.get("step", string, None),
        share=row.get("share", share, default_of(FaultSpec, "share")),
        status=row.get(
            "status", _statuses, _DEFAULT_STATUS.get(kind, default_of(FaultSpec, "status"))
        ),
        median_s=row.get("median", within("fault.median", parse_duration), None),
        p99_s=row.get("p99", within("fault.p99", parse_duration), None),
        extra_s=row.get("extra", within("fault.extra", parse_duration), None),
        part=row.get("part", choice(Part), default_of(FaultSpec, "part")),
        applied=row.get("applied", boolean, default_of(FaultSpec, "applied")),
        lifetime_s=row.get("lifetime", within("fault.lifetime", positive_duration), None),
        refresh=row.get("refresh", choice(Refresh), default_of(FaultSpec, "refresh")),
    )
    row.done()
    _check_fault(row, spec, step_ids)
    return spec


def _statuses(value: object) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    if not codes:
        raise ValueError("expected an HTTP 5xx status or a list of them, got an empty list")
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 500 <= code <= 599:
            raise ValueError(f"expected an HTTP 5xx status or a list of them, got {code!r}")
    return tuple(codes)


def _fault_connection(row: Table, kind: FaultKind, connection_ids: list[str]) -> str | None:
    fallback = connection_ids[0] if kind in _TOKEN_FAULTS else None
    connection = row.get("connection", string, fallback)
    if connection is not None and connection not in connection_ids:
        raise row.error("connection", f"no [[connection]] with id {connection!r}")
    return connection


def _check_fault(row: Table, spec: FaultSpec, step_ids: set[str]) -> None:
    if spec.until_s is not None and spec.until_s <= spec.at_s:
        raise row.error("until", "must be after at")
    if spec.step is not None and spec.step not in step_ids:
        raise row.error("step", f"no [[step]] with id {spec.step!r}")
    if spec.kind is FaultKind.LATENCY:
        _check_latency_fault(row, spec)


def _check_latency_fault(row: Table, spec: FaultSpec) -> None:
    has_curve = spec.median_s is not None or spec.p99_s is not None
    if has_curve == (spec.extra_s is not None):
        raise row.error("extra", "give either median and p99, or extra (added delay)")
    if has_curve and (spec.median_s is None or spec.p99_s is None):
        raise row.error("p99" if spec.p99_s is None else "median", "missing (give both)")
    if spec.median_s is not None and spec.p99_s is not None:
        try:
            LogNormal(median_s=spec.median_s, p99_s=spec.p99_s)  # the driver builds the same
        except ValueError as error:
            raise row.error("p99", str(error)) from None
    if spec.extra_s is not None and spec.part is Part.PROPAGATION:
        raise row.error("extra", "is Pinterest's own added delay: it applies to part 'service'")
