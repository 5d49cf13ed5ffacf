"""The token state table."""

from sync_core.model import Connection
from sync_core.renewal import Renewal
from sync_core.token import TokenState, TokenStatus


def state() -> TokenState:
    return TokenState(Connection(id="c", access_token="a1", refresh_token="r1"))


def status(token: TokenState) -> TokenStatus:
    """Read through a call: mypy would keep `token.status` narrowed by one assert across the
    events that change it, and call the next assert impossible."""
    return token.status


def test_token_state_refreshes_once_then_invalidates_on_a_second_401() -> None:
    token = state()
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.0)
    assert status(token) is TokenStatus.REFRESHING
    token.on_refreshed("a2", "r2")
    assert (token.status, token.access_token, token.connection.refresh_token) == (
        TokenStatus.VALID,
        "a2",
        "r2",
    )
    token.on_unauthorized(sent_with="a2", refreshable=True, now=2.0)
    assert status(token) is TokenStatus.INVALID


def test_token_state_allows_a_new_refresh_after_a_success() -> None:
    token = state()
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.0)
    token.on_refreshed("a2", None)
    token.on_success("a2")
    token.on_unauthorized(sent_with="a2", refreshable=True, now=2.0)
    assert status(token) is TokenStatus.REFRESHING
    assert token.connection.refresh_token == "r1"  # no rotation announced: keep the old one


def test_token_state_ignores_a_401_for_a_request_sent_with_an_older_token() -> None:
    token = state()
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.0)
    token.on_refreshed("a2", "r2")
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.5)
    assert status(token) is TokenStatus.VALID


def test_token_state_invalidates_on_refused_refresh_and_missing_scope_and_reconnects() -> None:
    token = state()
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.0)
    token.on_refresh_refused()
    assert status(token) is TokenStatus.INVALID
    token.reconnect("a9", "r9")
    assert (token.status, token.access_token) == (TokenStatus.VALID, "a9")
    token.on_unauthorized(sent_with="a9", refreshable=False, now=3.0)
    assert status(token) is TokenStatus.INVALID


def test_token_state_without_refresh_token_invalidates_at_once() -> None:
    token = TokenState(Connection(id="c", access_token="a1"))
    token.on_unauthorized(sent_with="a1", refreshable=True, now=1.0)
    assert status(token) is TokenStatus.INVALID


def planned() -> TokenState:
    """A token expiring at 3,600 s whose renewal is due at 3,300 s."""
    return TokenState(
        Connection(id="c", access_token="a1", refresh_token="r1", expires_at=3600.0),
        Renewal(hold_at=3570.0, lead_s=270.0, due_at=3300.0),
    )


def test_token_state_renewal_is_due_only_while_valid_with_a_refresh_token() -> None:
    token = planned()
    assert not token.renewal_due(3299.0) and token.renewal_due(3300.0)
    token.on_unauthorized(sent_with="a1", refreshable=True, now=3310.0)
    assert not token.renewal_due(3310.0)  # refreshing: the 401 path's refresh goes first
    bare = TokenState(
        Connection(id="c", access_token="a1", expires_at=3600.0),
        Renewal(hold_at=3570.0, lead_s=270.0, due_at=3300.0),
    )
    assert not bare.renewal_due(3300.0)


def test_token_state_about_to_expire_holds_writes_or_invalidates() -> None:
    token = planned()
    token.on_refresh_retry(3400.0)  # a transient failure ahead of time: retried later
    assert token.renewal is not None and token.renewal.due_at == 3400.0
    token.on_expiring(3570.0)
    assert status(token) is TokenStatus.REFRESHING and token.refresh_at == 3570.0
    refused = planned()
    refused.on_refresh_refused()  # ahead of time: the access token still works
    assert status(refused) is TokenStatus.VALID and not refused.renewal_due(3500.0)
    refused.on_expiring(3570.0)
    assert status(refused) is TokenStatus.INVALID


def test_token_state_refresh_and_reconnect_replace_the_expiry_and_rotate() -> None:
    token = planned()
    renewal = Renewal(hold_at=7170.0, lead_s=270.0)
    token.on_refreshed("a2", "r2", expires_at=7200.0, renewal=renewal)
    assert (token.access_token, token.connection.refresh_token) == ("a2", "r2")
    assert token.connection.expires_at == 7200.0 and token.renewal is renewal
    token.reconnect("a3", "r3")
    assert token.connection.expires_at is None and token.renewal is None
