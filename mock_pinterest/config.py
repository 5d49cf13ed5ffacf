"""The mock's settings: one frozen dataclass, one field per *(setting)* of FIDELITY.md.

Rules:
- Every behaviour Pinterest does not document is a field here, with FIDELITY.md's default, so a
  scenario can vary it and a test can pin it. Nothing else in the package hard-codes such a value.
- The config is read once, in ``create_app``; request handling never rebuilds or re-parses it.
- ``MockConfig.from_mapping`` accepts the plain mapping form (scenario files, JSON) and rejects
  unknown keys, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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
    # Clock and serving.
    epoch_s: float = 0.0
    sleep_latency: bool = False
    # Mock seconds per wall second of a standalone server (``pinsim mock serve --speed``): its
    # clock is built from this, and injected latency sleeps ``latency_s / speed`` wall seconds.
    # In process the caller injects the clock and simulates latency, so nothing reads it.
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.match_rate <= 1.0:
            raise ValueError("match_rate must be within [0, 1]")
        if self.ads_write_per_second < 1 or self.max_records_per_request < 1:
            raise ValueError("limits must be positive")
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


def coerce_config(config: MockConfig | Mapping[str, object] | None) -> MockConfig:
    """Normalise the forms ``create_app`` accepts into one ``MockConfig``."""
    if config is None:
        return MockConfig()
    if isinstance(config, MockConfig):
        return config
    return MockConfig.from_mapping(config)
