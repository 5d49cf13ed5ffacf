"""What ``pinsim live run --config FILE`` sets up: the engine's settings, the worker's own, the
steps, and (against the mock only) where a connection's tokens come from.

Rules:
- One TOML file, every table optional; unknown keys are refused with the key named
  (``ConfigError``), as a typo silently ignored would run the wrong thing.
- Tokens never live in this file. A connection's tokens come from the store, put there by
  ``pinsim live connect``; against ``pinsim mock serve`` a ``[[connection]]`` may instead name a
  ``mock_user`` whose tokens are minted through the mock's admin API when the store has none.
- ``apply`` writes the steps into the store (the store, not this file, is what the worker runs
  from), so a restart without ``--config`` runs the same steps.
- ``[sync]`` configures a fresh engine; once a checkpoint exists the engine restored from it
  keeps the settings it was created with.
- The traffic a step expects (``expected_rate`` users/s from the start, ``expected_blast``
  users at once) is optional; when any step states it, the worker logs the capacity preflight
  (``sync_core.preflight``) at start, one line per connection. ``[preflight]`` says how long
  the rates last and the round trip to Pinterest.

```toml
[sync]                      # any SyncConfig field; pacing = "adaptive" | "fixed"
flush_interval_s = 5.0

[worker]                    # WorkerSettings
checkpoint_interval_s = 1.0

[preflight]                 # optional: the preflight's horizon and round trip
horizon_s = 86400.0         # how long the expected rates last (default a day)
round_trip_s = 0.2          # default 0

[[connection]]              # only to mint tokens from pinsim mock serve
id = "workspace"
mock_user = "acme"

[[step]]
id = "vip-add"
connection_id = "workspace"
ad_account_id = "549755885175"
audience_new = "VIP buyers" # or audience_existing = "Lapsed"
action = "add"              # or "remove"
match_fields = ["email", "maid"]
last_step = false
expected_rate = 50.0        # optional: queued users/s expected (for the preflight)
expected_blast = 200000     # optional: users entering at once at start
```
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sync_core.errors import UsageError
from sync_core.live.store import Store
from sync_core.model import (
    REQUIRED_SCOPES,
    Action,
    AudienceRef,
    Connection,
    Pacing,
    Step,
    SyncConfig,
)
from sync_core.preflight import Blast, EntryProfile, Flow

__all__ = ["ConfigError", "LiveConfig", "WorkerSettings", "apply", "load", "parse"]

_ADMIN_TIMEOUT_S = 10.0
_T = TypeVar("_T")
_E = TypeVar("_E", Action, Pacing)


class ConfigError(ValueError):
    """A config file's key is wrong; the message names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """The wall-clock loop's own knobs (the engine's are ``SyncConfig``)."""

    # A checkpoint pickles the whole engine: at most this often, when something changed.
    checkpoint_interval_s: float = 1.0
    # Entries reach the store from another process: how often the worker looks for new ones.
    poll_interval_s: float = 0.05
    # Entries read and entered per turn of the loop (~30 ms of work), so a backlog delays
    # neither the answers nor a send by much.
    batch_limit: int = 5_000
    # On SIGTERM, how long to wait for requests in flight (None: the engine's request timeout).
    stop_grace_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    sync: SyncConfig = dataclasses.field(default_factory=SyncConfig)
    worker: WorkerSettings = dataclasses.field(default_factory=WorkerSettings)
    steps: tuple[Step, ...] = ()
    mock_users: Mapping[str, str] = dataclasses.field(default_factory=dict)  # connection → user
    expected: EntryProfile | None = None  # the steps' expected traffic, when any states it


def load(path: Path) -> LiveConfig:
    """Read and validate a config file (``OSError`` if unreadable, else ``ConfigError``)."""
    try:
        with path.open("rb") as file:
            raw = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"not TOML: {error}") from None
    return parse(raw)


def parse(raw: Mapping[str, Any]) -> LiveConfig:
    _known("(top level)", raw, {"sync", "worker", "connection", "step", "preflight"})
    sync = dict(raw.get("sync", {}))
    if "pacing" in sync:
        sync["pacing"] = _enum(Pacing, "sync.pacing", sync["pacing"])
    return LiveConfig(
        sync=_build(SyncConfig, "sync", sync),
        worker=_build(WorkerSettings, "worker", raw.get("worker", {})),
        steps=tuple(_step(i, t) for i, t in enumerate(raw.get("step", []))),
        mock_users=dict(_mock_user(i, t) for i, t in enumerate(raw.get("connection", []))),
        expected=_expected(raw.get("preflight", {}), raw.get("step", [])),
    )


def apply(config: LiveConfig, store: Store, api_base: str) -> None:
    """Save the config's steps in the store; mint tokens for mock connections it lacks."""
    if config.steps:
        store.save_steps(config.steps)
    have = {connection.id for connection in store.connections()}
    for connection_id, user in config.mock_users.items():
        if connection_id not in have:
            accounts = sorted(
                {s.ad_account_id for s in config.steps if s.connection_id == connection_id}
            )
            second = config.sync.server_second_s  # the mock's second on the worker's clock
            store.save_connection(
                mint_mock_connection(
                    api_base, connection_id, user, accounts, server_second_s=second
                )
            )


def mint_mock_connection(
    api_base: str,
    connection_id: str,
    user: str,
    ad_account_ids: Sequence[str] = (),
    *,
    server_second_s: float = 1.0,
) -> Connection:
    """A connection with fresh tokens for ``user`` from the mock's admin API, the user first
    given the ad accounts its steps name (``POST /_mock/users``, then ``/_mock/tokens``; the
    mock only, the real API has no such thing)."""
    if ad_account_ids:
        _admin(
            api_base,
            "/_mock/users",
            {"user": user, "ad_account_ids": list(ad_account_ids)},
            connection_id,
        )
    response = httpx.post(f"{api_base}/_mock/tokens", json={"user": user}, timeout=_ADMIN_TIMEOUT_S)
    if response.status_code != 200:
        raise ConfigError(
            f"connection {connection_id}.mock_user",
            f"the mock refused to mint tokens: HTTP {response.status_code}",
        )
    data = response.json()
    # On the wall clock, the worker's; ``expires_in`` is in the mock's seconds, each
    # ``server_second_s`` of the wall clock (1/K against ``pinsim mock serve --speed K``).
    expires_in = data.get("expires_in")
    return Connection(
        id=connection_id,
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        client_id=data["client_id"],
        client_secret=data["client_secret"],
        scopes=REQUIRED_SCOPES | {"user_accounts:read"},
        ad_account_ids=frozenset(data["ad_account_ids"]),
        expires_at=None
        if expires_in is None
        else time.time() + float(expires_in) * server_second_s,
    )


def _admin(api_base: str, path: str, body: Mapping[str, object], connection_id: str) -> None:
    response = httpx.post(f"{api_base}{path}", json=dict(body), timeout=_ADMIN_TIMEOUT_S)
    if response.status_code not in (200, 201):
        raise ConfigError(
            f"connection {connection_id}.mock_user",
            f"the mock refused {path}: HTTP {response.status_code}",
        )


def _step(index: int, table: Mapping[str, Any]) -> Step:
    where = f"step[{index}]"
    _known(
        where,
        table,
        {
            "id",
            "connection_id",
            "ad_account_id",
            "audience_new",
            "audience_existing",
            "action",
            "match_fields",
            "last_step",
            "expected_rate",
            "expected_blast",
        },
    )
    for key in ("id", "connection_id", "ad_account_id"):
        if not isinstance(table.get(key), str):
            raise ConfigError(f"{where}.{key}", "required, a string")
    return Step(
        id=table["id"],
        connection_id=table["connection_id"],
        ad_account_id=table["ad_account_id"],
        audience=AudienceRef(
            new=table.get("audience_new"), existing=table.get("audience_existing")
        ),
        action=_enum(Action, f"{where}.action", str(table.get("action", "add")).upper()),
        match_fields=tuple(table.get("match_fields", ("email",))),
        last_step=bool(table.get("last_step", False)),
    )


def _expected(table: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> EntryProfile | None:
    """The steps' ``expected_rate`` / ``expected_blast`` as a preflight profile (None: none)."""
    _known("preflight", table, {"horizon_s", "round_trip_s"})
    horizon = _figure("preflight.horizon_s", table.get("horizon_s", 86400.0), positive=True)
    round_trip = _figure("preflight.round_trip_s", table.get("round_trip_s", 0.0))
    flows, blasts = [], []
    for index, step in enumerate(steps):
        rate = _figure(f"step[{index}].expected_rate", step.get("expected_rate", 0.0))
        blast = _figure(f"step[{index}].expected_blast", step.get("expected_blast", 0.0))
        if rate:
            flows.append(Flow(step=step["id"], rate_per_s=rate, end_s=horizon))
        if blast:
            blasts.append(Blast(step=step["id"], users=blast))
    if not flows and not blasts:
        return None
    return EntryProfile(flows=tuple(flows), blasts=tuple(blasts), round_trip_s=round_trip)


def _figure(key: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, "a number")
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        raise ConfigError(key, "a positive number" if positive else "a number ≥ 0")
    return float(value)


def _mock_user(index: int, table: Mapping[str, Any]) -> tuple[str, str]:
    where = f"connection[{index}]"
    _known(where, table, {"id", "mock_user"})
    for key in ("id", "mock_user"):
        if not isinstance(table.get(key), str):
            raise ConfigError(f"{where}.{key}", "required, a string")
    return table["id"], table["mock_user"]


def _known(where: str, table: Mapping[str, Any], keys: set[str]) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(where, "must be a table")
    unknown = sorted(set(table) - keys)
    if unknown:
        known = ", ".join(sorted(keys))
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown key (known: {known})")


def _build(cls: type[_T], where: str, values: Mapping[str, Any]) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _known(where, values, names)
    try:
        return cls(**values)
    except (TypeError, ValueError, UsageError) as error:
        raise ConfigError(where, str(error)) from None


def _enum(cls: type[_E], key: str, value: object) -> _E:
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(str(member.value).lower() for member in cls)
        raise ConfigError(key, f"one of {known}") from None
