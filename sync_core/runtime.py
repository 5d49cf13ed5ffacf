"""What the engine keeps per connection, audience, step and request in flight.

Rules:
- Mutable records with no decisions of their own: ``engine`` decides, these remember. They
  are pickled whole by ``SyncEngine.snapshot``.
- A *target* is one (connection, ad account, audience name): its provisioning, its queue and
  its batches. Steps writing the same audience share one.
- Every request in flight is a ``Flight`` of one ``FlightKind``, and the kind says what it
  carries: a batch and its target, a target being provisioned, or nothing (a token refresh).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from sync_core.batching import Batch, TargetQueue
from sync_core.metrics import StepTally
from sync_core.model import Connection, Pacing, Step, SyncConfig
from sync_core.outcomes import Reason
from sync_core.pacing import Pacer
from sync_core.provisioning import Provisioner
from sync_core.token import TokenState

__all__ = ["ConnectionRuntime", "Flight", "FlightKind", "StepRuntime", "Target"]


class Target:
    """Everything about one audience on one connection."""

    __slots__ = (
        "account",
        "blocked_until",
        "due_at",
        "outstanding",
        "outstanding_op",
        "prov_attempts",
        "prov_in_flight",
        "provisioner",
        "queue",
        "reason",
        "waiting",
    )

    def __init__(self, provisioner: Provisioner) -> None:
        self.provisioner = provisioner
        self.account = provisioner.ad_account_id
        self.queue = TargetQueue()
        self.waiting: list[Batch] = []  # answered, awaiting their retry
        self.outstanding = 0  # batches cut and not yet finished (in flight or waiting)
        self.outstanding_op = ""
        self.blocked_until = 0.0
        self.due_at = 0.0  # next provisioning attempt
        self.prov_in_flight = False
        self.prov_attempts = 0
        self.reason = Reason.NONE  # what last stopped the whole target, if anything


class ConnectionRuntime:
    """One connection's token, pacer and targets."""

    __slots__ = ("pacer", "refresh_in_flight", "targets", "token")

    def __init__(self, connection: Connection, config: SyncConfig) -> None:
        self.token = TokenState(connection)
        self.pacer = Pacer(
            limit=config.requests_per_second,
            max_in_flight=config.max_in_flight,
            margin_s=config.pacing_margin_s,
            adaptive=config.pacing is Pacing.ADAPTIVE,
            window_s=config.server_second_s,
            per_minute=config.requests_per_minute,
        )
        self.targets: deque[Target] = deque()  # round-robin order
        self.refresh_in_flight = False


@dataclass(frozen=True, slots=True)
class StepRuntime:
    step: Step
    index: int  # the step's code in the user table's ``step`` column
    conn: ConnectionRuntime
    target: Target
    tally: StepTally
    use_email: bool
    use_maid: bool


class FlightKind(enum.Enum):
    """What a request in flight does, so what its answer settles."""

    BATCH = "batch"  # adds or removes a batch of users
    PROVISION = "provision"  # one step of finding or creating the customer list
    REFRESH = "refresh"  # the connection's token refresh


@dataclass(frozen=True, slots=True)
class Flight:
    kind: FlightKind
    conn: ConnectionRuntime
    sent_with: str  # the access token it carries (for a refresh, the one being replaced)
    target: Target | None = None
    batch: Batch | None = None
    sent_at: float = 0.0  # set when it is sent
