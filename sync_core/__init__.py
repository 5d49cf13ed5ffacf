"""sync_core — the sans-IO Canvas-to-Pinterest audience sync engine.

Feed it users (``enter``/``enter_many``) and request outcomes (``receive``), ask it what to
do (``next_action``) and when to ask again (``timer``). It reads no clock and does no IO, so
the same engine runs under the SimPy simulation and a live wall-clock worker. The interface is
docs/CONTRACTS.md §2; the module map:

- ``engine``: ``SyncEngine``, orchestration only
- ``runtime``: what the engine keeps per connection, audience, step and request in flight
- ``model``: ``SyncConfig``, ``Connection``, ``Step``, ``AudienceRef``, ``Action``
- ``events``: actions handed out and outcomes fed in
- ``outcomes``: the one classification table (status, code, failure → verdict, reason); the
  only reader of an HTTP status
- ``wire``: Pinterest v5 requests and response parsing
- ``identity``: normalising and hashing emails and MAIDs; every digest helper
- ``batching``, ``pacing``, ``retry``, ``token``, ``provisioning``, ``launch``: one policy each
- ``coalescing``: an add and a remove of one hashed id, both unsent, reduced to the later entered
- ``renewal``: when a token of known expiry is refreshed ahead of it, and when its writes stop
- ``users``, ``user_ids``, ``metrics``: per-user columns (ids packed), step counters and outcome
  records
- ``errors``: ``UsageError`` (caller's fault) vs ``PeerError`` (Pinterest's)
- ``preflight``: what expected traffic will cost per token, at launch (``SyncEngine.preflight``)
"""

from sync_core.engine import SyncEngine
from sync_core.errors import (
    AdAccountNotGranted,
    ConnectionNotUsable,
    LaunchError,
    NoAdAccount,
    NoAudienceName,
    NoMatchField,
    PeerError,
    SyncCoreError,
    UsageError,
)
from sync_core.events import (
    EngineAction,
    Idle,
    Outcome,
    ResponseReceived,
    SendRequest,
    TransportFailed,
    WaitUntil,
)
from sync_core.identity import hash_email, hash_maid
from sync_core.metrics import OutcomeColumns, StepCounters, UserOutcome
from sync_core.model import Action, AudienceRef, Connection, Pacing, Step, SyncConfig
from sync_core.token import TokenStatus

__all__ = [
    "Action",
    "AdAccountNotGranted",
    "AudienceRef",
    "Connection",
    "ConnectionNotUsable",
    "EngineAction",
    "Idle",
    "LaunchError",
    "NoAdAccount",
    "NoAudienceName",
    "NoMatchField",
    "Outcome",
    "OutcomeColumns",
    "Pacing",
    "PeerError",
    "ResponseReceived",
    "SendRequest",
    "Step",
    "StepCounters",
    "SyncConfig",
    "SyncCoreError",
    "SyncEngine",
    "TokenStatus",
    "TransportFailed",
    "UsageError",
    "UserOutcome",
    "WaitUntil",
    "hash_email",
    "hash_maid",
]
