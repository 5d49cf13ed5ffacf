"""A parsed TOML document made into a ``Scenario``: the top-level tables one by one.

Rules:
- ``build`` either returns a fully valid ``Scenario`` or raises ``ScenarioError``; nothing
  downstream re-validates.
- Sections are read in an order that lets later ones check names against earlier ones:
  connections before steps, steps before traffic, faults and per-step expectations.
- A missing key takes the default ``sim.scenario.spec`` declares: tables whose fields all have
  defaults start from a default instance, the others ask ``default_of``.
- Numeric values are read through ``sim.scenario.limits.within`` (each has a range there), and
  the finished scenario must fit the run's budget (``limits.check_budget``).
- Keys of the old model are refused with what to write instead (``[pinterest] latency``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sim.scenario import kinds, limits
from sim.scenario.limits import within
from sim.scenario.reader import (
    Table,
    boolean,
    choice,
    integer,
    positive_duration,
    positive_integer,
    share,
    string,
    type_name,
)
from sim.scenario.spec import (
    MATCH_FIELDS,
    AudienceSpec,
    ConnectionSpec,
    Expectations,
    ExpectBounds,
    NetworkSpec,
    Pacer,
    PinterestSettings,
    RateLimiter,
    Scenario,
    StepAction,
    StepSpec,
    SyncSettings,
    default_of,
)
from sim.scenario.units import parse_duration
from sim.world.network import LogNormal, Paths

__all__ = ["build"]

_TOP_LEVEL = frozenset(
    {"scenario", "pinterest", "network", "sync", "connection", "step", "traffic", "fault", "expect"}
)


def build(raw: dict[str, Any], source: str) -> Scenario:
    """The scenario the TOML document ``raw`` describes (kept as ``Scenario.raw``); ``source``
    names it in errors and gives the name a file without one takes."""
    top = Table(source, "", raw)
    top.done(_TOP_LEVEL)
    head = top.table("scenario")
    duration_s = head.get(
        "duration", within("scenario.duration", positive_duration), _scenario_default("duration_s")
    )
    name = head.get("name", limits.folder_name, _default_name(source))
    description = head.get("description", str, _scenario_default("description"))
    seed = head.get("seed", integer, _scenario_default("seed"))
    heavy = head.get("heavy", boolean, _scenario_default("heavy"))
    head.done()
    connections = _connections(top.rows("connection"))
    connection_ids = [c.id for c in connections]
    steps = _steps(top.rows("step"), connection_ids)
    step_ids = {step.id for step in steps}
    scenario = Scenario(
        name=name,
        description=description,
        seed=seed,
        duration_s=duration_s,
        heavy=heavy,
        source=source,
        pinterest=_pinterest(top.table("pinterest")),
        network=_network(top.table("network")),
        sync=_sync(top.table("sync")),
        connections=connections,
        steps=steps,
        traffic=tuple(kinds.traffic(row, step_ids, duration_s) for row in top.rows("traffic")),
        faults=kinds.faults(top.rows("fault"), step_ids, connection_ids, duration_s),
        expect=_expectations(top.table("expect"), step_ids, duration_s),
        raw=MappingProxyType(raw),
    )
    limits.check_budget(scenario)
    return scenario


def _default_name(source: str) -> str:
    """The file's name when it is a safe folder name (``<string>`` is not), else "scenario"."""
    stem = Path(source).stem
    try:
        return limits.folder_name(stem)
    except ValueError:
        return "scenario"


def _scenario_default(name: str) -> Any:
    return default_of(Scenario, name)


_OLD_LATENCY = (
    "replaced by the [network] table (one-way legs no longer carry the server's time): write "
    '[network] service = { median = "120ms", p99 = "600ms" } for Pinterest\'s processing and '
    'propagation = { median = "30ms", p99 = "60ms" } for the one-way path'
)


def _network(table: Table) -> NetworkSpec:
    base = NetworkSpec()
    spec = NetworkSpec(
        propagation=table.get("propagation", _delay("network.propagation"), base.propagation),
        service=table.get("service", _delay("network.service"), base.service),
        connections=table.get(
            "connections", within("network.connections", positive_integer), base.connections
        ),
        paths=table.get("paths", choice(Paths), base.paths),
    )
    table.done()
    return spec


def _delay(key: str) -> Callable[[object], LogNormal]:
    """A converter of ``"40ms"`` (a constant) or ``{ median = "120ms", p99 = "600ms" }``, each
    duration in ``RANGES[key]``; ``LogNormal`` says what makes a pair invalid."""
    duration = within(key, parse_duration)

    def convert(value: object) -> LogNormal:
        if not isinstance(value, dict):
            seconds = duration(value)
            return LogNormal(median_s=seconds, p99_s=seconds)
        unknown = sorted(set(value) - {"median", "p99"})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key; a delay takes median and p99")
        missing = [name for name in ("median", "p99") if name not in value]
        if missing:
            raise ValueError(f"{missing[0]}: missing (give median and p99, or one duration)")
        return LogNormal(median_s=duration(value["median"]), p99_s=duration(value["p99"]))

    return convert


def _pinterest(table: Table) -> PinterestSettings:
    base = PinterestSettings()
    settings = PinterestSettings(
        ads_write_per_second=table.get(
            "ads_write_per_second",
            within("pinterest.ads_write_per_second", positive_integer),
            base.ads_write_per_second,
        ),
        ads_write_per_minute=table.get(
            "ads_write_per_minute",
            within("pinterest.ads_write_per_minute", positive_integer),
            base.ads_write_per_minute,
        ),
        max_records_per_request=table.get(
            "max_records_per_request",
            within("pinterest.max_records_per_request", positive_integer),
            base.max_records_per_request,
        ),
        match_rate=table.get("match_rate", share, base.match_rate),
        retry_after=table.get("retry_after", boolean, base.retry_after),
        rate_limiter=table.get("rate_limiter", choice(RateLimiter), base.rate_limiter),
        access_token_lifetime_s=table.get(
            "access_token_lifetime",
            within("pinterest.access_token_lifetime", positive_duration),
            base.access_token_lifetime_s,
        ),
    )
    if table.has("latency"):
        raise table.error("latency", _OLD_LATENCY)
    table.done()
    return settings


def _sync(table: Table) -> SyncSettings:
    base = SyncSettings()
    settings = SyncSettings(
        flush_interval_s=table.get(
            "flush_interval",
            within("sync.flush_interval", positive_duration),
            base.flush_interval_s,
        ),
        requests_per_second=table.get(
            "requests_per_second",
            within("sync.requests_per_second", positive_integer),
            base.requests_per_second,
        ),
        requests_per_minute=table.get(
            "requests_per_minute",
            within("sync.requests_per_minute", positive_integer),
            base.requests_per_minute,
        ),
        max_records_per_request=table.get(
            "max_records_per_request",
            within("sync.max_records_per_request", positive_integer),
            base.max_records_per_request,
        ),
        retry_window_s=table.get(
            "retry_window", within("sync.retry_window", positive_duration), base.retry_window_s
        ),
        max_in_flight=table.get(
            "max_in_flight", within("sync.max_in_flight", positive_integer), base.max_in_flight
        ),
        request_timeout_s=table.get(
            "request_timeout",
            within("sync.request_timeout", positive_duration),
            base.request_timeout_s,
        ),
        pacer=table.get("pacer", choice(Pacer), base.pacer),
        pacing_margin_s=table.get(
            "pacing_margin", within("sync.pacing_margin", parse_duration), base.pacing_margin_s
        ),
        refresh_lead_s=table.get(
            "refresh_lead", within("sync.refresh_lead", parse_duration), base.refresh_lead_s
        ),
    )
    table.done()
    return settings


def _connections(rows: list[Table]) -> tuple[ConnectionSpec, ...]:
    if not rows:
        return tuple(_scenario_default("connections"))
    connections = []
    for row in rows:
        connections.append(ConnectionSpec(id=row.require("id", string)))
        row.done()
    _unique([c.id for c in connections], rows)
    return tuple(connections)


def _unique(ids: list[str], rows: list[Table]) -> None:
    seen: set[str] = set()
    for row_id, row in zip(ids, rows, strict=True):
        if row_id in seen:
            raise row.error("id", f"duplicate id {row_id!r}")
        seen.add(row_id)


def _steps(rows: list[Table], connection_ids: list[str]) -> tuple[StepSpec, ...]:
    steps = [_step(row, connection_ids) for row in rows]
    _unique([s.id for s in steps], rows)
    _one_owner_per_ad_account(steps, rows)
    return tuple(steps)


def _one_owner_per_ad_account(steps: list[StepSpec], rows: list[Table]) -> None:
    """An ad account is one Pinterest login's: two connections cannot both own it."""
    owner: dict[str, str] = {}
    for step, row in zip(steps, rows, strict=True):
        first = owner.setdefault(step.ad_account, step.connection)
        if first != step.connection:
            raise row.error(
                "ad_account",
                f"{step.ad_account} belongs to connection {first!r} (an earlier step): "
                "give each connection's steps their own ad_account",
            )


def _step(row: Table, connection_ids: list[str]) -> StepSpec:
    step_id = row.require("id", string)
    connection = row.get("connection", string, connection_ids[0])
    if connection not in connection_ids:
        raise row.error("connection", f"no [[connection]] with id {connection!r}")
    if not row.has("connection") and len(connection_ids) > 1:
        raise row.error("connection", "missing (the scenario declares several connections)")
    step = StepSpec(
        id=step_id,
        connection=connection,
        ad_account=row.get("ad_account", _ad_account, default_of(StepSpec, "ad_account")),
        audience=_audience(row, step_id),
        action=row.get("action", choice(StepAction), default_of(StepSpec, "action")),
        match_fields=row.get("match_fields", _match_fields, default_of(StepSpec, "match_fields")),
        last_step=row.get("last_step", boolean, default_of(StepSpec, "last_step")),
    )
    row.done()
    return step


def _ad_account(value: object) -> str:
    text = string(value)
    if not text.isdigit():
        raise ValueError(f"expected a numeric ad account id as a string, got {text!r}")
    return text


def _match_fields(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError(f"expected a non-empty list of {MATCH_FIELDS}, got {type_name(value)}")
    for item in value:
        if item not in MATCH_FIELDS:
            raise ValueError(f"unknown match field {item!r}; expected email and/or maid")
    if len(set(value)) != len(value):
        raise ValueError("a match field is listed twice")
    return tuple(value)


def _audience(row: Table, step_id: str) -> AudienceSpec:
    given = row.has("audience")
    table = row.table("audience")
    if not given:
        return AudienceSpec(new=step_id)
    spec = AudienceSpec(
        new=table.get("new", string, None), existing=table.get("existing", string, None)
    )
    table.done()
    if (spec.new is None) == (spec.existing is None):
        raise row.error("audience", 'give exactly one of new = "…" or existing = "…"')
    return spec


_COUNT_BOUNDS = (
    "errored",
    "errored_min",
    "errored_max",
    "synced_min",
    "not_synced_min",
    "not_synced_max",
    "pending_max",
    "unauthorized_max",
)

# bounds on figures of the whole run (``sim.judge.pacing``, the journal's 401s): a step has no
# token of its own
_RUN_BOUNDS = ("max_429_share", "min_utilisation", "unauthorized_max", "records_sent_max")
# bounds on the capacity preflight of the whole scenario (``sim.plan.preflight``): [expect] only
_PREFLIGHT_BOUNDS = (
    "preflight_errored_min",
    "preflight_errored_max",
    "preflight_lag_p99_max",
    "preflight_error_max",
)


def _expectations(table: Table, step_ids: set[str], duration_s: float) -> Expectations:
    steps_table = table.table("steps")
    per_step = {}
    for step_id in steps_table.names():
        if step_id not in step_ids:
            raise steps_table.error(step_id, f"no [[step]] with id {step_id!r}")
        step_table = steps_table.table(step_id)
        for name in (*_RUN_BOUNDS, *_PREFLIGHT_BOUNDS):
            if step_table.has(name):
                raise step_table.error(name, "a per-token figure: set it in [expect]")
        per_step[step_id] = _bounds(step_table, duration_s)
    return Expectations(totals=_bounds(table, duration_s), steps=MappingProxyType(per_step))


def _ratio(value: object) -> float:
    """A plain number (a relative error): its range is ``limits``'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type_name(value)}")
    return float(value)


def _bounds(table: Table, duration_s: float) -> ExpectBounds:
    counts = {name: table.get(name, integer, None) for name in _COUNT_BOUNDS}
    bounds = ExpectBounds(
        **counts,
        lag_p99_max_s=table.get("lag_p99_max", within("expect.lag_p99_max", parse_duration), None),
        drain_by_s=table.get("drain_by", kinds.instant(duration_s, "the run's end"), None),
        max_429_share=table.get("max_429_share", share, None),
        min_utilisation=table.get("min_utilisation", share, None),
        records_sent_max=table.get(
            "records_sent_max", within("expect.records_sent_max", integer), None
        ),
        preflight_errored_min=table.get(
            "preflight_errored_min", within("expect.preflight_errored", integer), None
        ),
        preflight_errored_max=table.get(
            "preflight_errored_max", within("expect.preflight_errored", integer), None
        ),
        preflight_lag_p99_max_s=table.get(
            "preflight_lag_p99_max", within("expect.preflight_lag_p99_max", parse_duration), None
        ),
        preflight_error_max=table.get(
            "preflight_error_max", within("expect.preflight_error_max", _ratio), None
        ),
    )
    table.done()
    return bounds
