"""A scenario in the words of each part it drives: the mock's configuration, the engine's
configuration, steps and connections, and windowed faults as the mock's fault rules.

Rules:
- Pure translation tables: no simulation state, no clock; the driver applies what they return.
- A windowed fault with no ``until`` lasts to the end of the run (``until`` is passed in).
- Server-error faults spread their share evenly over their statuses (the scenario gives
  every one at least one), whatever the order the mock tries its rules in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from mock_pinterest import MockConfig
from sim.results.recorder import FaultWindow, Limits
from sim.scenario import FaultKind, FaultSpec, Scenario, StepAction, StepSpec
from sim.world.pinterest import EPOCH_S, Grant
from sync_core import Action, AudienceRef, Connection, Pacing, Step, SyncConfig

__all__ = [
    "WINDOWED_FAULTS",
    "audience_key",
    "connection",
    "fault_rules",
    "fault_window",
    "limits",
    "mock_config",
    "seed_record",
    "step",
    "sync_config",
]

FaultRule = dict[str, object]
"""One of the mock's fault rules, as its admin API takes it."""


def mock_config(scenario: Scenario, seed: int) -> MockConfig:
    settings = scenario.pinterest
    return MockConfig(
        seed=seed,
        ads_write_per_second=settings.ads_write_per_second,
        ads_write_per_minute=settings.ads_write_per_minute,
        max_records_per_request=settings.max_records_per_request,
        match_rate=settings.match_rate,
        retry_after=settings.retry_after,
        rate_limit_algorithm=str(settings.rate_limiter),
        access_token_ttl_s=settings.access_token_lifetime_s,
        auto_approve=True,
        epoch_s=EPOCH_S,
    )


def sync_config(scenario: Scenario) -> SyncConfig:
    sync = scenario.sync
    return SyncConfig(
        flush_interval_s=sync.flush_interval_s,
        requests_per_second=sync.requests_per_second,
        requests_per_minute=sync.requests_per_minute,
        max_records_per_request=sync.max_records_per_request,
        retry_window_s=sync.retry_window_s,
        max_in_flight=sync.max_in_flight,
        request_timeout_s=sync.request_timeout_s,
        pacing=Pacing(sync.pacer.value),
        pacing_margin_s=sync.pacing_margin_s,
        refresh_lead_s=sync.refresh_lead_s,
    )


def connection(
    connection_id: str, grant: Grant, accounts: frozenset[str], *, now: float
) -> Connection:
    """The engine's connection for a grant obtained at ``now``: the mock's clock is the
    engine's, so its ``expires_in`` counts from ``now``."""
    return Connection(
        id=connection_id,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        client_id=grant.client_id,
        client_secret=grant.client_secret,
        scopes=grant.scopes,
        ad_account_ids=accounts,
        expires_at=now + grant.expires_in_s,
    )


def step(spec: StepSpec) -> Step:
    return Step(
        id=spec.id,
        connection_id=spec.connection,
        ad_account_id=spec.ad_account,
        audience=AudienceRef(new=spec.audience.new, existing=spec.audience.existing),
        action=Action.REMOVE if spec.action is StepAction.REMOVE else Action.ADD,
        match_fields=tuple(spec.match_fields),
        last_step=spec.last_step,
    )


def audience_key(ad_account: str, name: str) -> str:
    """How the ledger and the results name an audience: ``<ad account>/<name>``."""
    return f"{ad_account}/{name}"


def seed_record(name: str, k: int) -> str:
    """The ``k``-th member an existing audience holds before the run."""
    return hashlib.sha256(f"seed-{k}@{name}.example".encode()).hexdigest()


def fault_rules(fault: FaultSpec, until: float) -> list[FaultRule]:
    """The mock's fault rules for a windowed fault lasting to ``until`` (none for others)."""
    return _WINDOW_RULES.get(fault.kind, _no_rules)(fault, until)


def _no_rules(fault: FaultSpec, until: float) -> list[FaultRule]:
    return []


def _storm_rules(fault: FaultSpec, until: float) -> list[FaultRule]:
    rule: FaultRule = {
        "match": {"category": "ads_write"},
        "status": 429,
        "from": fault.at_s,
        "until": until,
    }
    if fault.share < 1.0:
        rule["probability"] = fault.share
    return [rule]


def _server_error_rules(fault: FaultSpec, until: float) -> list[FaultRule]:
    statuses = fault.status
    # Rules are tried in order: the k-th of n fires on share/(n - k·share) of what reaches it,
    # so each status answers share/n of all requests.
    rules: list[FaultRule] = []
    for k, status in enumerate(statuses):
        left = 1.0 - k * fault.share / len(statuses)
        rules.append(
            {
                "match": {"path": "/v5/ad_accounts/*"},
                "status": status,
                "from": fault.at_s,
                "until": until,
                "probability": min(1.0, fault.share / len(statuses) / left),
            }
        )
    return rules


def _latency_rules(fault: FaultSpec, until: float) -> list[FaultRule]:
    if fault.extra_s is None:
        return []
    return [{"latency_s": fault.extra_s, "from": fault.at_s, "until": until}]


_WINDOW_RULES: dict[FaultKind, Callable[[FaultSpec, float], list[FaultRule]]] = {
    FaultKind.RATE_LIMIT_STORM: _storm_rules,
    FaultKind.SERVER_ERRORS: _server_error_rules,
    FaultKind.LATENCY: _latency_rules,
}

# faults the driver decides per request, on the link (``sim.world.link``), not the mock's rules
_LINK_WINDOWS = frozenset({FaultKind.TIMEOUT, FaultKind.CONNECTION_RESET, FaultKind.OUTAGE})
WINDOWED_FAULTS = frozenset(_WINDOW_RULES) | _LINK_WINDOWS
"""Faults that last a window; every other kind acts at one instant."""


def fault_window(fault: FaultSpec, end_s: float) -> FaultWindow:
    """A scenario fault as the results show it: a window (to the run's end when it has no
    ``until``), or an instant."""
    if fault.kind not in WINDOWED_FAULTS:
        return FaultWindow(kind=fault.kind.value, start_s=fault.at_s)
    until = end_s if fault.until_s is None else fault.until_s
    return FaultWindow(kind=fault.kind.value, start_s=fault.at_s, end_s=until)


def limits(scenario: Scenario) -> Limits:
    """The limits a run is judged against: Pinterest's (``[pinterest]``) and the engine's
    batching and retry window (``[sync]``)."""
    return Limits(
        requests_per_second=scenario.pinterest.ads_write_per_second,
        max_records_per_request=scenario.pinterest.max_records_per_request,
        flush_interval_s=scenario.sync.flush_interval_s,
        retry_window_s=scenario.sync.retry_window_s,
        requests_per_minute=scenario.pinterest.ads_write_per_minute,
    )
