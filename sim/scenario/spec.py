"""What a validated scenario is: the frozen dataclass tree a scenario file becomes, its enums and
its defaults.

Rules:
- Every default of the file format is written here once, as a field default (or a constant when
  two fields share it); the reader (``sim.scenario.sections``, ``sim.scenario.kinds``) falls
  back to these values and never writes one of its own.
- Instances are frozen, slotted and keyword-only: a ``Scenario`` is shared by the driver, the
  checks and the plan without copies.
- Durations end ``_s`` (seconds), rates ``_per_s`` (per second), as ``sim.scenario.units``
  reads them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sim.world.network import LogNormal, Part, Paths

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "DEFAULT_AD_ACCOUNT",
    "DEFAULT_CONNECTION",
    "MATCH_FIELDS",
    "MAX_RECORDS_PER_REQUEST",
    "SERVER_ERROR_STATUSES",
    "WRITES_PER_SECOND",
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
    "Refresh",
    "Scenario",
    "StepAction",
    "StepSpec",
    "SyncSettings",
    "TrafficKind",
    "TrafficSpec",
    "default_of",
]

DEFAULT_CONNECTION = "workspace"
DEFAULT_AD_ACCOUNT = "549755885175"
MATCH_FIELDS = ("email", "maid")
# Pinterest's documented ads-write limits; the engine's defaults are set to match them
WRITES_PER_SECOND = 7
MAX_RECORDS_PER_REQUEST = 1900
SERVER_ERROR_STATUSES = (500, 503)  # what a server_errors fault answers unless told


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
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    OUTAGE = "outage"
    TOKEN_EXPIRY = "token_expiry"
    WORKER_CRASH = "worker_crash"


class Refresh(enum.StrEnum):
    """``token_expiry``'s ``refresh``: whether Pinterest still honours the refresh token."""

    WORKS = "works"
    REFUSED = "refused"


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

    ads_write_per_second: int = WRITES_PER_SECOND
    ads_write_per_minute: int | None = None
    max_records_per_request: int = MAX_RECORDS_PER_REQUEST
    match_rate: float = 0.6
    retry_after: bool = False
    rate_limiter: RateLimiter = RateLimiter.FIXED_WINDOW
    access_token_lifetime_s: float = 30 * 86400.0  # Pinterest's: an access token lives 30 days


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSettings:
    """``[sync]``: the engine's configuration (maps onto ``sync_core.SyncConfig``)."""

    flush_interval_s: float = 5.0
    requests_per_second: int = WRITES_PER_SECOND
    requests_per_minute: int | None = None  # the engine's minute window; None: none configured
    max_records_per_request: int = MAX_RECORDS_PER_REQUEST
    retry_window_s: float = 13 * 3600.0
    max_in_flight: int = 16
    request_timeout_s: float = 30.0
    pacer: Pacer = Pacer.ADAPTIVE
    pacing_margin_s: float = 0.02
    refresh_lead_s: float = 300.0  # 0: refresh only after a 401


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
    ``revoke_token``/``reconnect``; None elsewhere means every token). ``status`` is empty but
    for ``server_errors``, which answers ``SERVER_ERROR_STATUSES`` unless told. ``applied``
    (``timeout``, ``connection_reset``) says whether the server applied the request whose
    answer was lost; ``lifetime_s`` and ``refresh`` are ``token_expiry``'s.
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
    applied: bool = False
    lifetime_s: float | None = None
    refresh: Refresh = Refresh.WORKS


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectBounds:
    """Bounds on a run's outcome; None means "not checked". The keys are tabled in the
    ``sim.scenario`` package docstring."""

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
    unauthorized_max: int | None = None
    records_sent_max: int | None = None
    # the engine's capacity preflight of the scenario (``sim.plan.preflight``), and its error
    preflight_errored_min: int | None = None
    preflight_errored_max: int | None = None
    preflight_lag_p99_max_s: float | None = None
    preflight_error_max: float | None = None

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


def default_of(spec: type[DataclassInstance], name: str) -> Any:
    """The default that field ``name`` of the dataclass ``spec`` declares: what the reader
    falls back to for a row or table whose required fields forbid building a default one."""
    for declared in fields(spec):
        if declared.name == name and declared.default is not MISSING:
            return declared.default
    raise AttributeError(f"{spec.__name__} declares no plain default for {name!r}")
