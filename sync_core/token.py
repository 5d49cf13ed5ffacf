"""One connection's token: valid, refreshing or invalid, and its refresh ahead of expiry.

Rules:
- A token whose expiry is known (``Connection.expires_at``, a refresh answer's
  ``expires_in``) is refreshed ahead of time (``renewal``): at ``expires_at − lead − jitter``
  a refresh is sent while writes go on with the current token, once per token and never while
  a refresh is in flight. A token about to expire (a request sent now could arrive after it)
  holds its writes until a refresh answers, as after a 401.
- A 401 earns exactly one refresh (POST /v5/oauth/token, grant_type=refresh_token): the path
  for tokens of unknown expiry and for those that expire early. If a 401 comes again before
  any request succeeded with the new token, or the refresh itself is refused, the connection
  is invalid: its users wait (pending) until ``reconnect`` or their deadline.
- A refresh that fails for a transient reason (429, 5xx, transport) is retried; that is not
  the token's fault. A refused refresh ahead of time leaves the access token in use until it
  is about to expire.
- A refresh answer rotates the tokens: its refresh token (when it gives one) is the one sent
  next time.
- While refreshing or invalid, no other request is sent on the connection.

| state      | event                                      | next                               |
|------------|--------------------------------------------|------------------------------------|
| valid      | renewal due (expiry − lead − jitter)       | valid, refresh sent, writes go on  |
| valid      | about to expire, refresh token usable      | refreshing                         |
| valid      | about to expire, refresh refused or none   | invalid                            |
| valid      | refresh 2xx                                | valid (new tokens, new renewal)    |
| valid      | refresh 4xx                                | valid, no more renewal             |
| valid      | 401, not yet refreshed                     | refreshing                         |
| valid      | 401 after a refresh                        | invalid                            |
| any        | 401 code 3 (scope)                         | invalid                            |
| valid      | 2xx                                        | valid, refresh allowed again       |
| refreshing | refresh 2xx                                | valid (new tokens, new renewal)    |
| refreshing | refresh 4xx                                | invalid                            |
| any        | reconnect                                  | valid (new tokens, new renewal)    |
"""

from __future__ import annotations

import enum
from dataclasses import replace

from sync_core.model import Connection
from sync_core.renewal import Renewal

__all__ = ["TokenState", "TokenStatus"]


class TokenStatus(enum.Enum):
    VALID = "valid"
    REFRESHING = "refreshing"
    INVALID = "invalid"


class TokenState:
    __slots__ = (
        "connection",
        "refresh_at",
        "refresh_attempts",
        "refreshed",
        "renewal",
        "status",
    )

    def __init__(self, connection: Connection, renewal: Renewal | None = None) -> None:
        self.connection = connection
        self.status = TokenStatus.VALID
        self.refreshed = False  # a refresh happened and nothing succeeded since
        self.refresh_at = 0.0
        self.refresh_attempts = 0
        self.renewal = renewal  # None: expiry unknown or refreshing ahead is off

    @property
    def access_token(self) -> str:
        return self.connection.access_token

    @property
    def can_refresh(self) -> bool:
        return bool(self.connection.refresh_token)

    def renewal_at(self) -> float | None:
        """When a refresh ahead of expiry is due: None while none is drawn, or none can be sent
        (not valid, no refresh token, refused). The caller checks none is in flight."""
        renewal = self.renewal
        if self.status is not TokenStatus.VALID or not self.can_refresh:
            return None
        return None if renewal is None or renewal.refused else renewal.due_at

    def renewal_due(self, now: float) -> bool:
        """A refresh ahead of expiry is due (the caller checks none is in flight)."""
        due_at = self.renewal_at()
        return due_at is not None and due_at <= now

    def on_expiring(self, now: float) -> None:
        """A request sent now could arrive after the expiry: hold the writes and refresh (at
        once, or when the renewal's retry is due), or give up when no refresh can work."""
        if self.status is not TokenStatus.VALID:
            return
        renewal = self.renewal
        refused = renewal is not None and renewal.refused
        self.status = (
            TokenStatus.REFRESHING if self.can_refresh and not refused else TokenStatus.INVALID
        )
        due_at = None if renewal is None else renewal.due_at
        self.refresh_at = now if due_at is None else max(now, due_at)

    def on_unauthorized(self, *, sent_with: str, refreshable: bool, now: float) -> None:
        if self.status is not TokenStatus.VALID or sent_with != self.access_token:
            return  # an answer to a request sent with an older token: just retry it
        can_refresh = refreshable and not self.refreshed and self.can_refresh
        self.status = TokenStatus.REFRESHING if can_refresh else TokenStatus.INVALID
        self.refresh_at = now
        self.refresh_attempts = 0

    def on_success(self, sent_with: str) -> None:
        if sent_with == self.connection.access_token:
            self.refreshed = False

    def on_refreshed(
        self,
        access_token: str,
        refresh_token: str | None,
        *,
        expires_at: float | None = None,
        renewal: Renewal | None = None,
    ) -> None:
        self._take(access_token, refresh_token, expires_at, renewal, refreshed=True)

    def on_refresh_retry(self, at: float) -> None:
        """A refresh failed for a transient reason: the next attempt is at ``at``."""
        self.refresh_attempts += 1
        if self.status is TokenStatus.REFRESHING:
            self.refresh_at = at
        elif self.renewal is not None:
            self.renewal.due_at = at

    def on_refresh_refused(self) -> None:
        if self.status is TokenStatus.REFRESHING:
            self.status = TokenStatus.INVALID
        elif self.renewal is not None:
            self.renewal.refused = True  # the access token still works until it expires

    def reconnect(
        self,
        access_token: str,
        refresh_token: str | None,
        *,
        expires_at: float | None = None,
        renewal: Renewal | None = None,
    ) -> None:
        self._take(access_token, refresh_token, expires_at, renewal, refreshed=False)

    def _take(
        self,
        access_token: str,
        refresh_token: str | None,
        expires_at: float | None,
        renewal: Renewal | None,
        *,
        refreshed: bool,
    ) -> None:
        """New tokens, valid from now; ``refreshed``: by a refresh (a 401 next invalidates)."""
        self.connection = _with_tokens(self.connection, access_token, refresh_token, expires_at)
        self.status = TokenStatus.VALID
        self.refreshed = refreshed
        self.refresh_attempts = 0
        self.renewal = renewal


def _with_tokens(
    connection: Connection, access: str, refresh: str | None, expires_at: float | None
) -> Connection:
    return replace(
        connection,
        access_token=access,
        refresh_token=refresh or connection.refresh_token,
        expires_at=expires_at,
    )
