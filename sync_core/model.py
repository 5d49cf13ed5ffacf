"""The engine's inputs: configuration, the workspace connection and Canvas steps.

Rules:
- Plain frozen dataclasses; they describe, they do not act. Validation of a Canvas happens at
  launch (``launch.py``), so a half-filled step can be built and then rejected with a message
  naming what is missing.
- Names mirror the Canvas UI and Pinterest: an action is ``add`` or ``remove``; match fields
  are ``email`` and ``maid``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "MATCH_FIELDS",
    "REQUIRED_SCOPES",
    "Action",
    "AudienceRef",
    "Connection",
    "Pacing",
    "Step",
    "SyncConfig",
]

MATCH_FIELDS = ("email", "maid")
REQUIRED_SCOPES = frozenset({"ads:read", "ads:write"})


class Pacing(enum.Enum):
    """How the engine paces a token (``sync_core.pacing``)."""

    ADAPTIVE = "adaptive"  # estimated arrivals, a learned margin, in-flight from Little's law
    FIXED = "fixed"  # sends spaced by a fixed margin, a fixed in-flight bound: for comparison


class Action(enum.Enum):
    """What a step does to its audience; the value is Pinterest's ``operation_type``."""

    ADD = "ADD"
    REMOVE = "REMOVE"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncConfig:
    """Engine settings; the defaults are the vendor documentation's figures."""

    flush_interval_s: float = 5.0
    requests_per_second: int = 7
    # Pinterest's published ads_write minute window (400) beside the second's, when the engine
    # is to pace under it from the start; None: only once an answer states it (sync_core.pacing).
    requests_per_minute: int | None = None
    max_records_per_request: int = 1900
    retry_window_s: float = 13 * 3600.0
    # The ceiling on requests in flight per token; the adaptive pacer sizes below it.
    max_in_flight: int = 16
    request_timeout_s: float = 30.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    # 403 / 404 are unlikely to heal by themselves; probing slowly still notices a re-share.
    slow_retry_s: float = 600.0
    # When a 429 carries no x-ratelimit-reset: the limiter's window is one second.
    default_reset_s: float = 1.0
    page_size: int = 250
    pacing: Pacing = Pacing.ADAPTIVE
    # Beyond 1 s between a request and the r-th before it: fixed for the fixed pacer, the
    # starting point of the adaptive one (which learns it from Pinterest's refusals).
    pacing_margin_s: float = 0.02
    # How long one of the server's seconds lasts on the engine's clock: the window its
    # ``requests_per_second`` are counted in, and the unit of the durations its headers state
    # (``x-ratelimit-reset``). 1 against Pinterest; 1/K against a mock whose clock runs K
    # times faster than the engine's (``pinsim mock serve --speed K``).
    server_second_s: float = 1.0
    # Refresh an access token this long before its known expiry (``sync_core.renewal``), less
    # a jitter from the rng; 0 or None: only after a 401.
    refresh_lead_s: float | None = 300.0

    def __post_init__(self) -> None:
        positive = {
            "flush_interval_s": self.flush_interval_s,
            "requests_per_second": self.requests_per_second,
            "max_records_per_request": self.max_records_per_request,
            "retry_window_s": self.retry_window_s,
            "max_in_flight": self.max_in_flight,
            "request_timeout_s": self.request_timeout_s,
            "backoff_base_s": self.backoff_base_s,
            "slow_retry_s": self.slow_retry_s,
            "default_reset_s": self.default_reset_s,
            "server_second_s": self.server_second_s,
        }
        if self.requests_per_minute is not None:
            positive["requests_per_minute"] = self.requests_per_minute
        bad = sorted(name for name, value in positive.items() if not value > 0)
        if not self.pacing_margin_s >= 0:
            bad.append("pacing_margin_s")
        if self.refresh_lead_s is not None and not self.refresh_lead_s >= 0:
            bad.append("refresh_lead_s")
        if bad:
            # Local import keeps model.py free of a dependency cycle with errors' users.
            from sync_core.errors import UsageError

            raise UsageError(f"SyncConfig fields must be positive: {', '.join(bad)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """A workspace's Pinterest login: its tokens, granted scopes and ad accounts."""

    id: str
    access_token: str
    refresh_token: str | None = None
    client_id: str = ""
    client_secret: str = ""
    scopes: frozenset[str] = REQUIRED_SCOPES
    ad_account_ids: frozenset[str] = frozenset()
    # When the access token expires, on the engine's clock; None: unknown (only a 401 tells).
    expires_at: float | None = None

    def __repr__(self) -> str:  # never print tokens or secrets
        return f"Connection(id={self.id!r}, ad_account_ids={sorted(self.ad_account_ids)!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AudienceRef:
    """Either a ``new`` audience (created at launch) or an ``existing`` one, by name."""

    new: str | None = None
    existing: str | None = None

    @property
    def name(self) -> str:
        return (self.new or self.existing or "").strip()

    @property
    def is_new(self) -> bool:
        return bool(self.new and self.new.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One Canvas Audience Sync step."""

    id: str
    connection_id: str
    ad_account_id: str
    audience: AudienceRef
    action: Action = Action.ADD
    match_fields: tuple[str, ...] = ("email",)
    last_step: bool = False
