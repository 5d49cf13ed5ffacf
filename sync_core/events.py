"""What the engine hands out (actions) and what it is told (outcomes).

Rules:
- Actions are imperative and handed out by ``SyncEngine.next_action``: ``SendRequest`` (send
  this, report back with its ``request_id``), ``WaitUntil`` (call again at ``at``), ``Idle``
  (nothing to do until new input).
- Outcomes are facts fed to ``SyncEngine.receive``: ``ResponseReceived`` or ``TransportFailed``.
- Requests are Pinterest's wire format as plain data: the driver adds only its base URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EngineAction",
    "Idle",
    "Outcome",
    "ResponseReceived",
    "SendRequest",
    "TransportFailed",
    "WaitUntil",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    request_id: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout_s: float

    def __repr__(self) -> str:  # headers carry the bearer token: keep it out of logs
        size = 0 if self.body is None else len(self.body)
        return f"SendRequest({self.request_id}, {self.method} {self.path}, {size} bytes)"


@dataclass(frozen=True, slots=True)
class WaitUntil:
    at: float


@dataclass(frozen=True, slots=True)
class Idle:
    pass


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    request_id: int
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class TransportFailed:
    request_id: int
    kind: Literal["timeout", "connection"]


EngineAction = SendRequest | WaitUntil | Idle
Outcome = ResponseReceived | TransportFailed
