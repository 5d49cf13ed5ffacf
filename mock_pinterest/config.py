"""The mock's settings: one frozen dataclass, one field per *(setting)* of FIDELITY.md.

Rules:
- Every behaviour Pinterest does not document is a field here, with FIDELITY.md's default, so a
  scenario can vary it and a test can pin it. Nothing else in the package hard-codes such a value.
- The config is read once, in ``create_app``; request handling never rebuilds or re-parses it.
- Every number a rule computes with is finite (and a lifetime positive): a bad value is a
  ``ValueError`` naming the field when the config is built, never a 500 at a request.
- ``MockConfig.from_mapping`` accepts the plain mapping form (scenario files, JSON) and rejects
  unknown keys, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

DAY_S = 86_400.0

InvalidRecordPolicy = Literal["report", "reject"]
# How a rate-limit window counts (Pinterest does not say); ``ratelimit`` implements each.
RATE_LIMIT_ALGORITHMS = ("fixed_window", "sliding_window", "token_bucket")


@dataclass(frozen=True, slots=True, kw_only=True)
class MockConfig:
    """How the mock behaves where Pinterest leaves it open. Defaults follow FIDELITY.md."""

    seed: int = 0
    # Rate limits, per token per category (FIDELITY.md "Rate limits").
    ads_write_per_second: int = 7
    ads_write_per_minute: int | None = None
    ads_read_per_minute: int = 1000
    org_read_per_minute: int = 1000
    org_write_per_minute: int = 1000
    retry_after: bool = False
    # Undocumented: the window algorithm of every limit above, one of RATE_LIMIT_ALGORITHMS.
    rate_limit_algorithm: str = "fixed_window"
    # Customer lists.
    max_records_per_request: int = 1900
    invalid_records: InvalidRecordPolicy = "report"
    # Undocumented: whether a list may be created with no records. A Canvas provisions its
    # audience at launch, before anyone entered, so an empty create is allowed by default.
    empty_list_create: bool = True
    # Matching and audience sizes.
    match_rate: float = 0.6
    min_visible_size: int = 100
    size_refresh_delay_s: float = DAY_S
    # A removed audience answers 404 on GET unless this is set.
    removed_audience_visible: bool = False
    not_found_code: int = 2
    # OAuth.
    auto_approve: bool = False
    access_token_ttl_s: float = 30 * DAY_S
    refresh_token_ttl_s: float = 60 * DAY_S
    code_ttl_s: float = 600.0
    old_refresh_token_survives_rotation: bool = False
    invalid_grant_status: int = 400
    invalid_grant_code: int = 1
    # The redirect URIs registered for the mock's OAuth app (it has one, the default client);
    # the consent page and the code exchange refuse any other (``redirect_uri``, RFC 8252
    # §7.3: a registered loopback URI matches on any port). None, the default, accepts every
    # URI, as the mock always did: Pinterest itself always has a registered list.
    redirect_uris: tuple[str, ...] | None = None
    # Clock and serving.
    epoch_s: float = 0.0
    sleep_latency: bool = False
    # Mock seconds per wall second of a standalone server (``pinsim mock serve --speed``): its
    # clock is built from this, and injected latency sleeps ``latency_s / speed`` wall seconds.
    # In process the caller injects the clock and simulates latency, so nothing reads it.
    speed: float = 1.0

    def __post_init__(self) -> None:
        for name in _FINITE:
            if not _finite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number; got {getattr(self, name)!r}")
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)!r}")
        for name, (low, high) in _COUNTS.items():
            value = getattr(self, name)
            if value is not None and not _whole_within(value, low, high):
                raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}")
        if self.redirect_uris is not None:
            # A TOML array or a JSON list arrives as a list: store the frozen form.
            object.__setattr__(self, "redirect_uris", _redirect_uris(self.redirect_uris))
        if not 0.0 <= self.match_rate <= 1.0:
            raise ValueError("match_rate must be within [0, 1]")
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"speed must be a positive finite number; got {self.speed!r}")
        if self.invalid_records not in ("report", "reject"):
            raise ValueError("invalid_records must be 'report' or 'reject'")
        if self.rate_limit_algorithm not in RATE_LIMIT_ALGORITHMS:
            raise ValueError(
                "rate_limit_algorithm must be one of "
                + ", ".join(repr(name) for name in RATE_LIMIT_ALGORITHMS)
                + f"; got {self.rate_limit_algorithm!r}"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> MockConfig:
        """Build a config from plain values; unknown keys raise ``ValueError``."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown MockConfig settings: {', '.join(unknown)}")
        return cls(**values)  # type: ignore[arg-type]


# Durations and rates that reach arithmetic and ``int()``: NaN or infinity would end in a 500.
# (``match_rate`` and ``speed`` have range checks of their own that NaN fails too.)
_FINITE = (
    "size_refresh_delay_s",
    "access_token_ttl_s",
    "refresh_token_ttl_s",
    "code_ttl_s",
    "epoch_s",
)
_POSITIVE = ("access_token_ttl_s", "refresh_token_ttl_s", "code_ttl_s")
# Counts that size the limiter's windows and the answers: beyond these a window's deque or a
# page would not fit in memory (a 500, or a frozen server). None means "no such limit"; a
# per-minute limit of 0 refuses every request of its category (ratelimit's rules).
_COUNTS: dict[str, tuple[int, int]] = {
    "ads_write_per_second": (1, 10_000),
    "ads_write_per_minute": (0, 600_000),
    "ads_read_per_minute": (0, 600_000),
    "org_read_per_minute": (0, 600_000),
    "org_write_per_minute": (0, 600_000),
    "max_records_per_request": (1, 100_000),
    "min_visible_size": (0, 1_000_000_000),
}


def _whole_within(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _redirect_uris(values: object) -> tuple[str, ...]:
    """The registered redirect URIs: absolute, without a fragment (RFC 6749 §3.1.2)."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValueError("redirect_uris must be a list of URIs")
    for uri in values:
        parts = urlsplit(uri) if isinstance(uri, str) else None
        if parts is None or not parts.scheme or not parts.netloc or parts.fragment:
            raise ValueError(f"redirect_uris: {uri!r} is not an absolute URI without a fragment")
    return tuple(values)


def coerce_config(config: MockConfig | Mapping[str, object] | None) -> MockConfig:
    """Normalise the forms ``create_app`` accepts into one ``MockConfig``."""
    if config is None:
        return MockConfig()
    if isinstance(config, MockConfig):
        return config
    return MockConfig.from_mapping(config)
