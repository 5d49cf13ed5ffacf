"""``pinsim live connect`` end to end against ``pinsim mock serve`` on loopback sockets.

The person at the browser is played with httpx: it opens the authorize URL on the mock, reads
the consent page's form and submits it, and follows the mock's redirect to the listener. What
the mock recorded (its journal, its state) is the truth the flow's own answers are checked by.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest

from mock_pinterest import create_app
from mock_pinterest.serve import Credentials, mint_credentials, serve_in_thread
from sync_core.live.connect import (
    ConnectedAccount,
    ConnectFailed,
    ConnectOptions,
    ConsentDenied,
    RedirectListener,
    RedirectTimeout,
    StateMismatch,
    TokenExchangeFailed,
    Tokens,
    authorize_url,
    connect,
    main,
)
from sync_core.live.store import SqliteStore

SCOPES = ("ads:read", "ads:write", "user_accounts:read")
SECRET_ENV = "PINSIM_TEST_CLIENT_SECRET"


@dataclass
class Mock:
    origin: str
    credentials: Credentials
    http: httpx.Client

    def options(self, **overrides: object) -> ConnectOptions:
        values: dict[str, object] = {
            "client_id": self.credentials.client_id,
            "api_base": self.origin + "/v5",
            "authorize_base": self.origin + "/oauth/",
            "scopes": SCOPES,
            "timeout_s": 10.0,
        } | overrides
        return ConnectOptions(**values)  # type: ignore[arg-type]

    def journal(self, path: str) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = self.http.get("/_mock/journal").json()["items"]
        return [row for row in rows if row["path"] == path]


@pytest.fixture
def mock() -> Iterator[Mock]:
    app = create_app({}, clock=time.time)
    credentials = mint_credentials(app)
    origin, stop = serve_in_thread(app)
    try:
        with httpx.Client(base_url=origin, timeout=10.0) as http:
            yield Mock(origin, credentials, http)
    finally:
        stop()


class _ConsentForm(HTMLParser):
    """The consent page's form: where it posts and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag in ("input", "button") and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


@dataclass
class Person:
    """Someone at a browser who gives access on the mock's consent page."""

    tamper: Callable[[str], str] = lambda location: location
    answers: list[httpx.Response] = field(default_factory=list)

    def __call__(self, url: str) -> None:
        with httpx.Client(timeout=10.0) as browser:
            page = browser.get(url)
            assert page.status_code == 200 and "Give access" in page.text
            form = _ConsentForm()
            form.feed(page.text)
            consent = browser.post(urljoin(url, form.action), data=form.fields)
            assert consent.status_code == 302
            self.answers.append(browser.get(self.tamper(consent.headers["location"])))


def _with_query(location: str, **changes: str | None) -> str:
    parts = urlsplit(location)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query = {key: value for key, value in (query | changes).items() if value is not None}
    return urlunsplit(parts._replace(query=urlencode(query)))


def _bearer(tokens: Tokens) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token}"}


def test_connect_flow_through_consent_page_stores_tokens_that_work(mock: Mock) -> None:
    saved: list[ConnectedAccount] = []
    person = Person()
    account = connect(
        mock.options(), mock.credentials.client_secret, save=saved.append, present=person
    )
    assert saved == [account]
    assert [answer.status_code for answer in person.answers] == [200]
    # The mock's word, not the flow's: one code exchange, answered 200.
    assert [row["status"] for row in mock.journal("/v5/oauth/token")] == [200]
    user = mock.http.get("/v5/user_account", headers=_bearer(account.tokens))
    assert user.status_code == 200 and user.json()["username"] == "default"
    listed = mock.http.get("/v5/ad_accounts", headers=_bearer(account.tokens))
    assert listed.status_code == 200
    assert account.ad_account_ids == mock.credentials.ad_account_ids
    assert account.username == "default" and account.tokens.scopes == frozenset(SCOPES)
    assert account.tokens.refresh_token and account.tokens.expires_at > time.time()
    engine_view = account.connection("secret")
    assert engine_view.access_token == account.tokens.access_token
    assert engine_view.ad_account_ids == frozenset(mock.credentials.ad_account_ids)


def test_connect_refuses_a_redirect_with_a_wrong_state_and_saves_nothing(mock: Mock) -> None:
    saved: list[ConnectedAccount] = []
    person = Person(tamper=lambda location: _with_query(location, state="forged"))
    with pytest.raises(StateMismatch, match="state"):
        connect(mock.options(), mock.credentials.client_secret, save=saved.append, present=person)
    assert [answer.status_code for answer in person.answers] == [400]
    assert "state" in person.answers[0].text
    assert saved == []
    assert mock.journal("/v5/oauth/token") == []  # the code was never exchanged


def test_connect_refuses_a_redirect_without_state(mock: Mock) -> None:
    person = Person(tamper=lambda location: _with_query(location, state=None))
    with pytest.raises(StateMismatch):
        connect(mock.options(), mock.credentials.client_secret, save=_refuse, present=person)
    assert [answer.status_code for answer in person.answers] == [400]


def test_connect_wrong_client_secret_fails_the_exchange_without_echoing_it(mock: Mock) -> None:
    secret = "not-the-secret-0123456789"
    with pytest.raises(TokenExchangeFailed, match="HTTP 401") as raised:
        connect(mock.options(), secret, save=_refuse, present=Person())
    assert secret not in str(raised.value)
    assert [row["status"] for row in mock.journal("/v5/oauth/token")] == [401]


def _main_argv(mock: Mock, *extra: str) -> list[str]:
    """``pinsim live connect`` against the mock, the URL handed to the browser (the person)."""
    return [
        "--client-id", mock.credentials.client_id,
        "--client-secret-env", SECRET_ENV,
        "--api-base", mock.origin + "/v5",
        "--authorize-url", mock.origin + "/oauth/",
        "--scopes", "ads:read,ads:write",
        "--connection-id", "acme",
        *extra,
        "--browser",
    ]  # fmt: skip


def test_connect_main_prints_url_and_account_but_never_a_token(
    mock: Mock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, mock.credentials.client_secret)
    person = Person()
    # --browser hands the URL to the browser, which here is the person.
    monkeypatch.setattr("webbrowser.open", person)
    saved: list[ConnectedAccount] = []
    argv = _main_argv(mock)
    assert main(argv, save=saved.append) == 0
    out = capsys.readouterr().out
    [account] = saved
    assert account.connection_id == "acme" and account.username is None
    assert mock.origin + "/oauth/?client_id=" in out
    assert "scopes granted: ads:read, ads:write\n" in out
    assert mock.credentials.ad_account_ids[0] in out
    tokens = (account.tokens.access_token, account.tokens.refresh_token or "?")
    assert not any(token in out for token in tokens)
    assert mock.credentials.client_secret not in out


def test_connect_main_saves_the_connection_in_the_workers_store(
    mock: Mock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SECRET_ENV, mock.credentials.client_secret)
    monkeypatch.setattr("webbrowser.open", Person())
    argv = _main_argv(mock, "--store", str(tmp_path / "live.db"))
    assert main(argv) == 0
    store = SqliteStore(tmp_path / "live.db")
    [connection] = store.connections()
    store.close()
    assert connection.id == "acme"
    assert connection.ad_account_ids == frozenset(mock.credentials.ad_account_ids)
    bearer = {"Authorization": f"Bearer {connection.access_token}"}
    assert httpx.get(mock.origin + "/v5/ad_accounts", headers=bearer).status_code == 200


def test_connect_main_refuses_a_missing_secret_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    argv = ["--client-id", "1", "--client-secret-env", SECRET_ENV]
    assert main(argv, save=_refuse) == 2
    assert SECRET_ENV in capsys.readouterr().err


def _refuse(account: ConnectedAccount) -> None:
    raise AssertionError("nothing may be saved")


def test_connect_authorize_url_carries_the_oauth_parameters() -> None:
    url = authorize_url("1234", "http://127.0.0.1:9/callback", SCOPES, "s-1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://www.pinterest.com/oauth/"
    assert parse_qs(parts.query) == {
        "client_id": ["1234"],
        "redirect_uri": ["http://127.0.0.1:9/callback"],
        "response_type": ["code"],
        "scope": ["ads:read,ads:write,user_accounts:read"],
        "state": ["s-1"],
    }
    assert authorize_url("1", "r", ["a"], "s", base="http://x/o?v=1").startswith("http://x/o?v=1&")


def test_connect_listener_answers_one_redirect_and_ignores_other_paths() -> None:
    with RedirectListener("s-1") as listener, httpx.Client(timeout=5.0) as browser:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        origin = listener.redirect_uri.removesuffix("/callback")
        assert browser.get(origin + "/favicon.ico").status_code == 404
        first = browser.get(listener.redirect_uri, params={"code": "c-1", "state": "s-1"})
        again = browser.get(listener.redirect_uri, params={"code": "c-2", "state": "s-1"})
        assert (first.status_code, again.status_code) == (200, 409)
        assert "c-1" not in first.text
        assert listener.wait(5.0) == "c-1"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"error": "access_denied", "state": "s-1"}, ConsentDenied),
        ({"code": "c-1", "state": "s-2"}, StateMismatch),
        ({"code": "c-1", "state": ["s-1", "s-1"]}, StateMismatch),
        ({"state": "s-1"}, ConnectFailed),
    ],
)
def test_connect_listener_refuses_bad_redirects_with_400(
    query: dict[str, str | list[str]], error: type[ConnectFailed]
) -> None:
    with RedirectListener("s-1") as listener:
        answer = httpx.get(listener.redirect_uri, params=query, timeout=5.0)
        assert answer.status_code == 400
        with pytest.raises(error):
            listener.wait(5.0)


def test_connect_listener_times_out_without_a_redirect() -> None:
    with RedirectListener("s-1") as listener, pytest.raises(RedirectTimeout):
        listener.wait(0.05)


def test_connect_listener_rejects_a_redirect_uri_off_loopback() -> None:
    with pytest.raises(ConnectFailed, match="redirect URI"):
        RedirectListener("s", redirect_uri="https://app.example/callback")


def test_connect_repr_never_shows_a_token() -> None:
    tokens = Tokens(
        access_token="pina_SECRET",
        refresh_token="pinr.SECRET",
        expires_at=1.0,
        refresh_expires_at=2.0,
        scopes=frozenset(SCOPES),
    )
    account = ConnectedAccount(
        connection_id="workspace",
        client_id="1234",
        username="default",
        user_id="1",
        ad_account_ids=("549755885175",),
        tokens=tokens,
        connected_at=0.0,
    )
    for text in (repr(tokens), repr(account), str(account), repr(account.connection("s3c"))):
        assert "SECRET" not in text and "s3c" not in text
