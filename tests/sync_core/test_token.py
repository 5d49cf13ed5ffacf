"""The token state table."""

from sync_core.model import Connection
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
