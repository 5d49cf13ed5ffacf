"""One connection's token: valid, refreshing or invalid.

Rules:
- A 401 earns exactly one refresh (POST /v5/oauth/token, grant_type=refresh_token). If a 401
  comes again before any request succeeded with the new token, or the refresh itself is
  refused, the connection is invalid: its users wait (pending) until ``reconnect`` or their
  deadline.
- A refresh that fails for a transient reason (429, 5xx, transport) is retried; that is not
  the token's fault.
- While refreshing or invalid, no other request is sent on the connection.

| state      | event                     | next                              |
|------------|---------------------------|-----------------------------------|
| valid      | 401, not yet refreshed    | refreshing                        |
| valid      | 401 after a refresh       | invalid                           |
| any        | 401 code 3 (scope)        | invalid                           |
| valid      | 2xx                       | valid, refresh allowed again      |
| refreshing | refresh 2xx               | valid (new tokens)                |
| refreshing | refresh 4xx               | invalid                           |
| any        | reconnect                 | valid (new tokens)                |
"""

from __future__ import annotations

import enum
from dataclasses import replace

from sync_core.model import Connection

__all__ = ["TokenState", "TokenStatus"]


class TokenStatus(enum.Enum):
    VALID = "valid"
    REFRESHING = "refreshing"
    INVALID = "invalid"


class TokenState:
    __slots__ = ("connection", "refresh_at", "refresh_attempts", "refreshed", "status")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.status = TokenStatus.VALID
        self.refreshed = False  # a refresh happened and nothing succeeded since
        self.refresh_at = 0.0
        self.refresh_attempts = 0

    @property
    def access_token(self) -> str:
        return self.connection.access_token

    def on_unauthorized(self, *, sent_with: str, refreshable: bool, now: float) -> None:
        if self.status is not TokenStatus.VALID or sent_with != self.access_token:
            return  # an answer to a request sent with an older token: just retry it
        can_refresh = refreshable and not self.refreshed and self.connection.refresh_token
        self.status = TokenStatus.REFRESHING if can_refresh else TokenStatus.INVALID
        self.refresh_at = now
        self.refresh_attempts = 0

    def on_success(self, sent_with: str) -> None:
        if sent_with == self.connection.access_token:
            self.refreshed = False

    def on_refreshed(self, access_token: str, refresh_token: str | None) -> None:
        self.connection = _with_tokens(self.connection, access_token, refresh_token)
        self.status = TokenStatus.VALID
        self.refreshed = True

    def on_refresh_refused(self) -> None:
        self.status = TokenStatus.INVALID

    def reconnect(self, access_token: str, refresh_token: str | None) -> None:
        self.connection = _with_tokens(self.connection, access_token, refresh_token)
        self.status = TokenStatus.VALID
        self.refreshed = False


def _with_tokens(connection: Connection, access: str, refresh: str | None) -> Connection:
    return replace(
        connection, access_token=access, refresh_token=refresh or connection.refresh_token
    )
