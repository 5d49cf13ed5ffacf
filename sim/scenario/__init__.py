"""Scenario files: TOML read with ``tomllib``, validated on load into a frozen dataclass tree.

Rules:
- Loading either returns a fully valid ``Scenario`` or raises ``ScenarioError(file, key,
  reason)``; nothing downstream re-validates. ``key`` is dotted as a user would point at it
  (``traffic[2].rate``, ``expect.steps.vip-add.synced_min``).
- Unknown keys are errors (with a did-you-mean): a typo such as ``retry_windw`` must never fall
  back silently to a default and change what the run measures.
- Durations are unit strings turned into seconds (fields ending ``_s``), rates are unit strings
  turned into users per second (fields ending ``_per_s``); see ``sim.scenario.units``.
- Defaults make a minimal file valid: a steps-less file is a valid (empty) one-hour run.
- Which keys a traffic row or a fault takes depends on its ``kind``: both are tables below,
  not branches.

The ``[network]`` table describes the simulated network (``sim.world.network``): ``propagation`` and
``service`` (each ``{ median, p99 }`` or one duration for a constant), ``connections`` and
``paths`` (``per_connection`` or ``independent``). ``[pinterest] latency`` — the model before
it — is refused with what to write instead.

Expectations (``[expect]`` for totals over all steps, ``[expect.steps.<id>]`` for one step) are
bounds on the state at the end of the run unless said otherwise; every key is optional:

===================  =======================================================================
``errored``          the errored count equals this exactly
``errored_min``      errored count is at least this
``errored_max``      errored count is at most this
``synced_min``       synced count is at least this
``not_synced_min``   not-synced count is at least this
``not_synced_max``   not-synced count is at most this
``pending_max``      pending count at the end of the run is at most this
``lag_p99_max``      p99 of entry-to-synced lag over synced users is at most this duration
``drain_by``         from this instant on (sim time) every sample has pending == 0
``max_429_share``    share (0..1) of the run's customer-list writes answered 429 is at most
                     this (``sim.judge.pacing``); ``[expect]`` only
``min_utilisation``  the run's utilisation of the rate limit while users wait to be sent is
                     at least this share (``sim.judge.pacing``); fails when there was no backlog;
                     ``[expect]`` only
===================  =======================================================================
"""

from __future__ import annotations

import copy
import difflib
import enum
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from sim.scenario.units import UnitError, parse_duration, parse_rate
from sim.world.network import LogNormal, Part, Paths

__all__ = [
    "SERVER_ERROR_STATUSES",
    "AudienceSpec",
    "ConnectionSpec",
    "ExpectBounds",
    "Expectations",
    "FaultKind",
    "FaultSpec",
    "MissingShares",
    "NetworkSpec",
    "Pacer",
    "PinterestSettings",
    "RateLimiter",
    "Scenario",
    "ScenarioError",
    "StepAction",
    "StepSpec",
    "SyncSettings",
    "TrafficKind",
    "TrafficSpec",
    "default",
    "from_raw",
    "load",
    "override",
    "parse",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)
DEFAULT_CONNECTION = "workspace"
DEFAULT_AD_ACCOUNT = "549755885175"
MATCH_FIELDS = ("email", "maid")


class ScenarioError(ValueError):
    """A scenario file that cannot be used: which file, which key, and why."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file, self.key, self.reason = file, key, reason
        super().__init__(": ".join(part for part in (file, key, reason) if part))


class TrafficKind(enum.StrEnum):
    POISSON = "poisson"
    CONSTANT = "constant"
    BLAST = "blast"
    RAMP = "ramp"
    DIURNAL = "diurnal"


class FaultKind(enum.StrEnum):
    REVOKE_TOKEN = "revoke_token"
    RECONNECT = "reconnect"
    DELETE_AUDIENCE = "delete_audience"
    RATE_LIMIT_STORM = "rate_limit_storm"
    SERVER_ERRORS = "server_errors"
    LATENCY = "latency"


class Pacer(enum.StrEnum):
    """``sync.pacer``: the engine's pacing (``sync_core.pacing``)."""

    ADAPTIVE = "adaptive"
    FIXED = "fixed"


class StepAction(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


class RateLimiter(enum.StrEnum):
    """How the mock counts its rate limits (``MockConfig.rate_limit_algorithm``)."""

    FIXED_WINDOW = "fixed_window"
    SLIDING_WINDOW = "sliding_window"
    TOKEN_BUCKET = "token_bucket"


_DEFAULT_PROPAGATION = LogNormal(median_s=0.03, p99_s=0.06)  # frozen: shared safely
_DEFAULT_SERVICE = LogNormal(median_s=0.12, p99_s=0.6)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    """``[network]``: the simulated network between the engine and Pinterest.

    Defaults are a cloud region talking to a large API over TLS keep-alive connections."""

    propagation: LogNormal = _DEFAULT_PROPAGATION
    service: LogNormal = _DEFAULT_SERVICE
    connections: int = 16
    paths: Paths = Paths.PER_CONNECTION

    @property
    def round_trip_p99_bound_s(self) -> float:
        """The parts' p99s added (path both ways, then the server): a round trip's p99 is no
        more than this."""
        return 2 * self.propagation.p99_s + self.service.p99_s


@dataclass(frozen=True, slots=True, kw_only=True)
class PinterestSettings:
    """``[pinterest]``: how the mock behaves (maps onto ``mock_pinterest.MockConfig``)."""

    ads_write_per_second: int = 7
    ads_write_per_minute: int | None = None
    max_records_per_request: int = 1900
    match_rate: float = 0.6
    retry_after: bool = False
    rate_limiter: RateLimiter = RateLimiter.FIXED_WINDOW


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSettings:
    """``[sync]``: the engine's configuration (maps onto ``sync_core.SyncConfig``)."""

    flush_interval_s: float = 5.0
    requests_per_second: int = 7
    max_records_per_request: int = 1900
    retry_window_s: float = 13 * 3600.0
    max_in_flight: int = 16
    request_timeout_s: float = 30.0
    pacer: Pacer = Pacer.ADAPTIVE
    pacing_margin_s: float = 0.02


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSpec:
    """``[[connection]]``: one workspace Pinterest login (its own token and rate limit)."""

    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AudienceSpec:
    """Exactly one of ``new`` (created at launch) or ``existing`` (created in the mock first)."""

    new: str | None = None
    existing: str | None = None

    @property
    def name(self) -> str:
        return self.new if self.new is not None else str(self.existing)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    """``[[step]]``: one Canvas Audience Sync step."""

    id: str
    connection: str = DEFAULT_CONNECTION
    ad_account: str = DEFAULT_AD_ACCOUNT
    audience: AudienceSpec
    action: StepAction = StepAction.ADD
    match_fields: tuple[str, ...] = MATCH_FIELDS
    last_step: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MissingShares:
    """Share of users lacking each identifier (0 = everyone has it)."""

    email: float = 0.05
    maid: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficSpec:
    """``[[traffic]]``: arrivals into one step over ``[start_s, end_s)``.

    ``rate_per_s`` is the rate of poisson/constant, the starting rate of a ramp and the trough
    of a diurnal curve; ``rate_end_per_s`` ends a ramp; ``peak_per_s`` is a diurnal curve's
    peak, reached half a ``period_s`` after ``start_s``. A blast enters ``count`` users at
    ``start_s``. ``replay`` names a step whose entered users (in entry order) this row sends
    again instead of new ones: how a remove step removes users an add step added.
    """

    step: str
    kind: TrafficKind
    start_s: float = 0.0
    end_s: float
    rate_per_s: float = 0.0
    rate_end_per_s: float = 0.0
    peak_per_s: float = 0.0
    period_s: float = 86400.0
    count: int = 0
    missing: MissingShares = field(default_factory=MissingShares)
    malformed: float = 0.01
    replay: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """``[[fault]]``: something done to the mock (or the workspace) at ``at_s``.

    Windowed kinds last ``[at_s, until_s)`` (``until_s`` None: to the end of the run).
    ``connection`` scopes token faults (resolved to the default connection for
    ``revoke_token``/``reconnect``; None elsewhere means every token).
    """

    kind: FaultKind
    at_s: float
    until_s: float | None = None
    connection: str | None = None
    step: str | None = None
    share: float = 1.0
    status: tuple[int, ...] = ()
    median_s: float | None = None
    p99_s: float | None = None
    extra_s: float | None = None
    part: Part = Part.SERVICE


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectBounds:
    """Bounds on a run's outcome; None means "not checked". See the module docstring."""

    errored: int | None = None
    errored_min: int | None = None
    errored_max: int | None = None
    synced_min: int | None = None
    not_synced_min: int | None = None
    not_synced_max: int | None = None
    pending_max: int | None = None
    lag_p99_max_s: float | None = None
    drain_by_s: float | None = None
    max_429_share: float | None = None
    min_utilisation: float | None = None

    def items(self) -> Iterator[tuple[str, int | float]]:
        """The bounds that are set, as ``(field name, value)``."""
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None:
                yield name, value


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectations:
    """``[expect]``: ``totals`` over all steps and optional per-step bounds."""

    totals: ExpectBounds = field(default_factory=ExpectBounds)
    steps: Mapping[str, ExpectBounds] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario. ``raw`` keeps the parsed TOML for ``override``."""

    name: str
    description: str = ""
    seed: int = 0
    duration_s: float = 3600.0
    heavy: bool = False
    source: str = "<string>"
    pinterest: PinterestSettings = field(default_factory=PinterestSettings)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    sync: SyncSettings = field(default_factory=SyncSettings)
    connections: tuple[ConnectionSpec, ...] = (ConnectionSpec(id=DEFAULT_CONNECTION),)
    steps: tuple[StepSpec, ...] = ()
    traffic: tuple[TrafficSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    expect: Expectations = field(default_factory=Expectations)
    raw: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def step(self, step_id: str) -> StepSpec:
        """The step called ``step_id`` (KeyError if none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


# --------------------------------------------------------------------------- entry points


def load(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, "", exc.strerror or "cannot be read") from None
    except UnicodeDecodeError:
        raise ScenarioError(source, "", "not UTF-8 text") from None
    return parse(text, source)


def parse(text: str, source: str = "<string>") -> Scenario:
    """Validate the TOML ``text``; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"TOML syntax error: {exc}") from None
    return _build(raw, source)


def from_raw(raw: Mapping[str, Any], source: str = "<string>") -> Scenario:
    """Validate an already-parsed TOML document (such as ``Scenario.raw``); ``source`` names it.

    ``raw`` is plain data (picklable, unlike ``Scenario``), so processes can ship it and rebuild.
    """
    return _build(copy.deepcopy(dict(raw)), source)


def default() -> Scenario:
    """The built-in scenario (``sim/scenario/default.toml``): a small steady day."""
    text = resources.files("sim.scenario").joinpath("default.toml").read_text(encoding="utf-8")
    return parse(text, "sim/scenario/default.toml")


def override(scenario: Scenario, key: str, value: object) -> Scenario:
    """A copy of ``scenario`` with the TOML value at dotted ``key`` replaced, re-validated.

    ``key`` walks tables by name and arrays by index: ``"traffic.0.rate"``,
    ``"sync.retry_window"``, ``"network.service.p99"``. Missing tables are created.
    """
    raw: dict[str, Any] = copy.deepcopy(dict(scenario.raw))
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _descend(node, part, parts[: depth + 1], scenario.source)
    _assign(node, parts[-1], value, key, scenario.source)
    return _build(raw, scenario.source)


def _descend(node: Any, part: str, path: list[str], source: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path, source)]
    if isinstance(node, dict):
        return node.setdefault(part, {})
    raise ScenarioError(source, ".".join(path), "not a table or an array")


def _assign(node: Any, part: str, value: object, key: str, source: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, key.split("."), source)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ScenarioError(source, key, "not a table or an array")


def _index(node: list[Any], part: str, path: list[str], source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(source, ".".join(path), f"no element {part} (has {len(node)})")
    return int(part)


# --------------------------------------------------------------------------- reading tables


class _Table:
    """One TOML table being read: tracks the keys taken so leftovers are reported."""

    def __init__(self, source: str, path: str, value: object) -> None:
        if not isinstance(value, dict):
            raise ScenarioError(source, path, f"expected a table, got {_type_name(value)}")
        self.source, self.path = source, path
        self._values: dict[str, object] = value
        self._taken: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, reason: str) -> ScenarioError:
        return ScenarioError(self.source, self.key(name), reason)

    def has(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, convert: Callable[[object], T], default: T) -> T:
        if name not in self._values:
            self._taken.add(name)
            return default
        return self.require(name, convert)

    def require(self, name: str, convert: Callable[[object], T]) -> T:
        self._taken.add(name)
        if name not in self._values:
            raise self.error(name, "missing")
        try:
            return convert(self._values[name])
        except (ValueError, TypeError) as exc:
            raise self.error(name, str(exc)) from None

    def table(self, name: str) -> _Table:
        self._taken.add(name)
        return _Table(self.source, self.key(name), self._values.get(name, {}))

    def rows(self, name: str) -> list[_Table]:
        self._taken.add(name)
        value = self._values.get(name, [])
        if not isinstance(value, list):
            raise self.error(name, f"expected an array of tables ([[{name}]]), got a table")
        return [_Table(self.source, f"{self.key(name)}[{i}]", row) for i, row in enumerate(value)]

    def names(self) -> list[str]:
        return list(self._values)

    def done(self, allowed: frozenset[str] | None = None) -> None:
        """Reject keys not taken (or, when given, not in ``allowed``)."""
        known = self._taken if allowed is None else allowed
        for name in self._values:
            if name not in known:
                raise self.error(name, _unknown(name, known))


def _unknown(name: str, known: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return f"unknown key{hint}"


# --------------------------------------------------------------------------- value converters


def _type_name(value: object) -> str:
    names = {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"{type(value).__name__} {value!r}")


def _string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {_type_name(value)}")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {_type_name(value)}")
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_type_name(value)}")
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _positive_integer(value: object) -> int:
    number = _integer(value)
    if number == 0:
        raise ValueError("must be at least 1")
    return number


def _share(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a share between 0 and 1, got {_type_name(value)}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a share between 0 and 1, got {value}")
    return float(value)


def _duration(value: object) -> float:
    return parse_duration(value)


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise UnitError(f"must be longer than 0, got {value!r}")
    return seconds


def _rate(value: object) -> float:
    return parse_rate(value)


def _choice(kind: type[E]) -> Callable[[object], E]:
    def convert(value: object) -> E:
        known = [member.value for member in kind]
        if not isinstance(value, str) or value not in known:
            raise ValueError(
                f"unknown {kind.__name__.lower()} {value!r}; expected one of: " + ", ".join(known)
            )
        return kind(value)

    return convert


def _statuses(value: object) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 500 <= code <= 599:
            raise ValueError(f"expected an HTTP 5xx status or a list of them, got {code!r}")
    return tuple(codes)


def _match_fields(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError(f"expected a non-empty list of {MATCH_FIELDS}, got {_type_name(value)}")
    for item in value:
        if item not in MATCH_FIELDS:
            raise ValueError(f"unknown match field {item!r}; expected email and/or maid")
    if len(set(value)) != len(value):
        raise ValueError("a match field is listed twice")
    return tuple(value)


# --------------------------------------------------------------------------- sections


_TOP_LEVEL = frozenset(
    {"scenario", "pinterest", "network", "sync", "connection", "step", "traffic", "fault", "expect"}
)


def _build(raw: dict[str, Any], source: str) -> Scenario:
    top = _Table(source, "", raw)
    top.done(_TOP_LEVEL)
    head = top.table("scenario")
    duration_s = head.get("duration", _positive_duration, 3600.0)
    name = head.get("name", _string, Path(source).stem or "scenario")
    description = head.get("description", str, "")
    seed = head.get("seed", _integer, 0)
    heavy = head.get("heavy", _boolean, False)
    head.done()
    connections = _connections(top.rows("connection"))
    steps = _steps(top.rows("step"), connections)
    step_ids = {step.id for step in steps}
    return Scenario(
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
        traffic=tuple(_traffic(row, step_ids, duration_s) for row in top.rows("traffic")),
        faults=_faults(top.rows("fault"), step_ids, connections, duration_s),
        expect=_expectations(top.table("expect"), step_ids),
        raw=MappingProxyType(raw),
    )


_OLD_LATENCY = (
    "replaced by the [network] table (one-way legs no longer carry the server's time): write "
    '[network] service = { median = "120ms", p99 = "600ms" } for Pinterest\'s processing and '
    'propagation = { median = "30ms", p99 = "60ms" } for the one-way path'
)


def _network(table: _Table) -> NetworkSpec:
    base = NetworkSpec()
    spec = NetworkSpec(
        propagation=table.get("propagation", _delay, base.propagation),
        service=table.get("service", _delay, base.service),
        connections=table.get("connections", _positive_integer, base.connections),
        paths=table.get("paths", _choice(Paths), base.paths),
    )
    table.done()
    return spec


def _delay(value: object) -> LogNormal:
    """``"40ms"`` (a constant) or ``{ median = "120ms", p99 = "600ms" }``; ``LogNormal``
    says what makes a pair invalid."""
    if not isinstance(value, dict):
        seconds = _duration(value)
        return LogNormal(median_s=seconds, p99_s=seconds)
    unknown = sorted(set(value) - {"median", "p99"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key; a delay takes median and p99")
    missing = [name for name in ("median", "p99") if name not in value]
    if missing:
        raise ValueError(f"{missing[0]}: missing (give median and p99, or one duration)")
    return LogNormal(median_s=_duration(value["median"]), p99_s=_duration(value["p99"]))


def _pinterest(table: _Table) -> PinterestSettings:
    base = PinterestSettings()
    settings = PinterestSettings(
        ads_write_per_second=table.get(
            "ads_write_per_second", _positive_integer, base.ads_write_per_second
        ),
        ads_write_per_minute=table.get("ads_write_per_minute", _positive_integer, None),
        max_records_per_request=table.get(
            "max_records_per_request", _positive_integer, base.max_records_per_request
        ),
        match_rate=table.get("match_rate", _share, base.match_rate),
        retry_after=table.get("retry_after", _boolean, base.retry_after),
        rate_limiter=table.get("rate_limiter", _choice(RateLimiter), base.rate_limiter),
    )
    if table.has("latency"):
        raise table.error("latency", _OLD_LATENCY)
    table.done()
    return settings


def _sync(table: _Table) -> SyncSettings:
    base = SyncSettings()
    settings = SyncSettings(
        flush_interval_s=table.get("flush_interval", _positive_duration, base.flush_interval_s),
        requests_per_second=table.get(
            "requests_per_second", _positive_integer, base.requests_per_second
        ),
        max_records_per_request=table.get(
            "max_records_per_request", _positive_integer, base.max_records_per_request
        ),
        retry_window_s=table.get("retry_window", _positive_duration, base.retry_window_s),
        max_in_flight=table.get("max_in_flight", _positive_integer, base.max_in_flight),
        request_timeout_s=table.get("request_timeout", _positive_duration, base.request_timeout_s),
        pacer=table.get("pacer", _choice(Pacer), base.pacer),
        pacing_margin_s=table.get("pacing_margin", _duration, base.pacing_margin_s),
    )
    table.done()
    return settings


def _connections(rows: list[_Table]) -> tuple[ConnectionSpec, ...]:
    if not rows:
        return (ConnectionSpec(id=DEFAULT_CONNECTION),)
    connections = []
    for row in rows:
        connections.append(ConnectionSpec(id=row.require("id", _string)))
        row.done()
    _unique([c.id for c in connections], rows)
    return tuple(connections)


def _unique(ids: list[str], rows: list[_Table]) -> None:
    seen: set[str] = set()
    for row_id, row in zip(ids, rows, strict=True):
        if row_id in seen:
            raise row.error("id", f"duplicate id {row_id!r}")
        seen.add(row_id)


def _steps(rows: list[_Table], connections: tuple[ConnectionSpec, ...]) -> tuple[StepSpec, ...]:
    connection_ids = [c.id for c in connections]
    steps = [_step(row, connection_ids) for row in rows]
    _unique([s.id for s in steps], rows)
    return tuple(steps)


def _step(row: _Table, connection_ids: list[str]) -> StepSpec:
    step_id = row.require("id", _string)
    connection = row.get("connection", _string, connection_ids[0])
    if connection not in connection_ids:
        raise row.error("connection", f"no [[connection]] with id {connection!r}")
    if not row.has("connection") and len(connection_ids) > 1:
        raise row.error("connection", "missing (the scenario declares several connections)")
    step = StepSpec(
        id=step_id,
        connection=connection,
        ad_account=row.get("ad_account", _ad_account, DEFAULT_AD_ACCOUNT),
        audience=_audience(row, step_id),
        action=row.get("action", _choice(StepAction), StepAction.ADD),
        match_fields=row.get("match_fields", _match_fields, MATCH_FIELDS),
        last_step=row.get("last_step", _boolean, False),
    )
    row.done()
    return step


def _ad_account(value: object) -> str:
    text = _string(value)
    if not text.isdigit():
        raise ValueError(f"expected a numeric ad account id as a string, got {text!r}")
    return text


def _audience(row: _Table, step_id: str) -> AudienceSpec:
    given = row.has("audience")
    table = row.table("audience")
    if not given:
        return AudienceSpec(new=step_id)
    spec = AudienceSpec(
        new=table.get("new", _string, None), existing=table.get("existing", _string, None)
    )
    table.done()
    if (spec.new is None) == (spec.existing is None):
        raise row.error("audience", 'give exactly one of new = "…" or existing = "…"')
    return spec


# kind → (keys it must have, keys it may have besides the common ones)
_TRAFFIC_COMMON = frozenset({"step", "kind", "start", "end", "missing", "malformed", "replay"})
_TRAFFIC_KEYS: dict[TrafficKind, tuple[frozenset[str], frozenset[str]]] = {
    TrafficKind.POISSON: (frozenset({"rate"}), frozenset({"rate"})),
    TrafficKind.CONSTANT: (frozenset({"rate"}), frozenset({"rate"})),
    TrafficKind.BLAST: (frozenset({"count"}), frozenset({"count"})),
    TrafficKind.RAMP: (frozenset({"rate", "rate_end"}), frozenset({"rate", "rate_end"})),
    TrafficKind.DIURNAL: (frozenset({"rate", "peak"}), frozenset({"rate", "peak", "period"})),
}


def _traffic(row: _Table, step_ids: set[str], duration_s: float) -> TrafficSpec:
    kind = row.require("kind", _choice(TrafficKind))
    _check_kind_keys(row, kind, _TRAFFIC_KEYS, _TRAFFIC_COMMON)
    step = row.require("step", _string)
    if step not in step_ids:
        raise row.error("step", f"no [[step]] with id {step!r}")
    start_s = row.get("start", _duration, 0.0)
    if start_s >= duration_s:
        raise row.error("start", "at or after the end of the run: no user would arrive")
    spec = TrafficSpec(
        step=step,
        kind=kind,
        start_s=start_s,
        end_s=row.get("end", _duration, duration_s),
        rate_per_s=row.get("rate", _rate, 0.0),
        rate_end_per_s=row.get("rate_end", _rate, 0.0),
        peak_per_s=row.get("peak", _rate, 0.0),
        period_s=row.get("period", _positive_duration, 86400.0),
        count=row.get("count", _positive_integer, 0),
        missing=_missing(row.table("missing")),
        malformed=row.get("malformed", _share, 0.01),
        replay=row.get("replay", _string, None),
    )
    row.done()
    if spec.end_s <= spec.start_s and kind is not TrafficKind.BLAST:
        raise row.error("end", "must be after start")
    if spec.replay is not None and spec.replay not in step_ids:
        raise row.error("replay", f"no [[step]] with id {spec.replay!r}")
    return spec


def _check_kind_keys(
    row: _Table,
    kind: enum.StrEnum,
    keys: Mapping[Any, tuple[frozenset[str], frozenset[str]]],
    common: frozenset[str],
) -> None:
    """Reject keys another kind takes ("does not apply") or none does (did-you-mean)."""
    required, extra = keys[kind]
    allowed = common | extra
    every = common.union(*(other for _, other in keys.values()))
    for name in row.names():
        if name not in every:
            raise row.error(name, _unknown(name, allowed))
        if name not in allowed:
            raise row.error(name, f"does not apply to kind {kind.value!r}")
    for name in sorted(required):
        if not row.has(name):
            raise row.error(name, f"missing (kind {kind.value!r} needs it)")


def _missing(table: _Table) -> MissingShares:
    base = MissingShares()
    shares = MissingShares(
        email=table.get("email", _share, base.email), maid=table.get("maid", _share, base.maid)
    )
    table.done()
    return shares


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
}
_TOKEN_FAULTS = frozenset({FaultKind.REVOKE_TOKEN, FaultKind.RECONNECT})
SERVER_ERROR_STATUSES = (500, 503)  # what a server_errors fault answers unless told


def _faults(
    rows: list[_Table],
    step_ids: set[str],
    connections: tuple[ConnectionSpec, ...],
    duration_s: float,
) -> tuple[FaultSpec, ...]:
    connection_ids = [c.id for c in connections]
    return tuple(_fault(row, step_ids, connection_ids, duration_s) for row in rows)


def _fault(
    row: _Table, step_ids: set[str], connection_ids: list[str], duration_s: float
) -> FaultSpec:
    kind = row.require("kind", _choice(FaultKind))
    _check_kind_keys(row, kind, _FAULT_KEYS, _FAULT_COMMON)
    at_s = row.require("at", _duration)
    if at_s >= duration_s:
        raise row.error("at", "at or after the end of the run: the fault would never happen")
    spec = FaultSpec(
        kind=kind,
        at_s=at_s,
        until_s=row.get("until", _duration, None),
        connection=_fault_connection(row, kind, connection_ids),
        step=row.get("step", _string, None),
        share=row.get("share", _share, 1.0),
        status=row.get(
            "status", _statuses, SERVER_ERROR_STATUSES if kind is FaultKind.SERVER_ERRORS else ()
        ),
        median_s=row.get("median", _duration, None),
        p99_s=row.get("p99", _duration, None),
        extra_s=row.get("extra", _duration, None),
        part=row.get("part", _choice(Part), Part.SERVICE),
    )
    row.done()
    _check_fault(row, spec, step_ids)
    return spec


def _fault_connection(row: _Table, kind: FaultKind, connection_ids: list[str]) -> str | None:
    fallback = connection_ids[0] if kind in _TOKEN_FAULTS else None
    connection = row.get("connection", _string, fallback)
    if connection is not None and connection not in connection_ids:
        raise row.error("connection", f"no [[connection]] with id {connection!r}")
    return connection


def _check_fault(row: _Table, spec: FaultSpec, step_ids: set[str]) -> None:
    if spec.until_s is not None and spec.until_s <= spec.at_s:
        raise row.error("until", "must be after at")
    if spec.step is not None and spec.step not in step_ids:
        raise row.error("step", f"no [[step]] with id {spec.step!r}")
    if spec.kind is FaultKind.LATENCY:
        _check_latency_fault(row, spec)


def _check_latency_fault(row: _Table, spec: FaultSpec) -> None:
    has_curve = spec.median_s is not None or spec.p99_s is not None
    if has_curve == (spec.extra_s is not None):
        raise row.error("extra", "give either median and p99, or extra (added delay)")
    if has_curve and (spec.median_s is None or spec.p99_s is None):
        raise row.error("p99" if spec.p99_s is None else "median", "missing (give both)")
    if spec.median_s is not None and spec.p99_s is not None and spec.p99_s < spec.median_s:
        raise row.error("p99", "must not be below the median")
    if spec.extra_s is not None and spec.part is Part.PROPAGATION:
        raise row.error("extra", "is Pinterest's own added delay: it applies to part 'service'")


_COUNT_BOUNDS = (
    "errored",
    "errored_min",
    "errored_max",
    "synced_min",
    "not_synced_min",
    "not_synced_max",
    "pending_max",
)


# bounds on figures of the whole run (``sim.judge.pacing``): a step has no token of its own
_RUN_BOUNDS = ("max_429_share", "min_utilisation")


def _expectations(table: _Table, step_ids: set[str]) -> Expectations:
    steps_table = table.table("steps")
    per_step = {}
    for step_id in steps_table.names():
        if step_id not in step_ids:
            raise steps_table.error(step_id, f"no [[step]] with id {step_id!r}")
        step_table = steps_table.table(step_id)
        for name in _RUN_BOUNDS:
            if step_table.has(name):
                raise step_table.error(name, "a per-token figure: set it in [expect]")
        per_step[step_id] = _bounds(step_table)
    return Expectations(totals=_bounds(table), steps=MappingProxyType(per_step))


def _bounds(table: _Table) -> ExpectBounds:
    counts = {name: table.get(name, _integer, None) for name in _COUNT_BOUNDS}
    bounds = ExpectBounds(
        **counts,
        lag_p99_max_s=table.get("lag_p99_max", _duration, None),
        drain_by_s=table.get("drain_by", _duration, None),
        max_429_share=table.get("max_429_share", _share, None),
        min_utilisation=table.get("min_utilisation", _share, None),
    )
    table.done()
    return bounds
