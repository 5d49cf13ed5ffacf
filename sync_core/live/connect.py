"""Connecting a Pinterest account through OAuth: ``pinsim live connect``.

Responsibility: one authorization-code flow, start to end — the authorize URL, a one-shot
loopback listener that receives the browser's redirect and checks ``state``, the code exchange
at ``POST /v5/oauth/token``, a check that the new token works (who it belongs to, which ad
accounts it sees), and a hand-over of the result to a ``save`` callback (the store's method; this
module does not know the store).

Rules:
- ``state`` comes from ``secrets`` and is compared in constant time. A redirect with a missing
  or wrong ``state`` or with ``error=`` is refused with 400 and fails the flow; nothing is saved.
  The first redirect to the callback path decides the flow; later ones get 409. Other paths
  (``/favicon.ico``) get 404 and change nothing.
- The listener binds 127.0.0.1 only and serves each connection in its own thread with a read
  timeout, so a browser's idle pre-connection cannot stall the redirect behind it.
- Written for the real API: authorize at ``https://www.pinterest.com/oauth/``, exchange at
  ``https://api.pinterest.com/v5/oauth/token`` (form body, HTTP Basic client credentials,
  ``grant_type=authorization_code``, the same ``redirect_uri``). ``pinsim mock serve`` answers the
  same URLs under its own origin.
- The client secret never comes from the command line (an environment variable names it). No
  token, code or secret appears in a repr, an error message, a log line or the printed output;
  the listener's request log is silenced because its request line carries the code.
- Refreshing (with rotation) is the worker's job, not this module's.

Errors (all ``ConnectFailed``, each message safe to print)::

    ConnectFailed            the flow did not end with a working connection
    ├── StateMismatch        the redirect's state is missing or not ours (possible forgery)
    ├── ConsentDenied        the redirect carried error= (the person declined, or Pinterest)
    ├── RedirectTimeout      no redirect came within the timeout
    └── TokenExchangeFailed  the token endpoint refused, was unreachable or answered nonsense
"""

from __future__ import annotations

import argparse
import html
import os
import re
import secrets
import socketserver
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from sync_core.live.store import open_store
from sync_core.model import Connection

__all__ = [
    "API_BASE",
    "AUTHORIZE_URL",
    "DEFAULT_SCOPES",
    "ConnectFailed",
    "ConnectOptions",
    "ConnectedAccount",
    "ConsentDenied",
    "RedirectListener",
    "RedirectTimeout",
    "Save",
    "StateMismatch",
    "TokenExchangeFailed",
    "Tokens",
    "add_arguments",
    "authorize_url",
    "connect",
    "exchange_code",
    "main",
    "run",
]

AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
API_BASE = "https://api.pinterest.com/v5"
# DESIGN.md: a workspace connects with these; user_accounts:read names the account connected.
DEFAULT_SCOPES = ("ads:read", "ads:write", "user_accounts:read")
LOOPBACK = "127.0.0.1"
CALLBACK_PATH = "/callback"
DEFAULT_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 30.0
# A browser may open a connection and send nothing on it; its handler thread gives up after this.
_READ_TIMEOUT_S = 10.0
# Pinterest pages ad accounts by at most 250; a bookmark that repeats would loop forever.
_PAGE_SIZE = 250
_MAX_PAGES = 100
# An OAuth error code (RFC 6749 §4.1.2.1) is a short token; anything else is not echoed.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_REDIRECT_HOSTS = (LOOPBACK, "localhost")


class ConnectFailed(Exception):
    """The connect flow did not end with a working connection; the message is safe to print."""


class StateMismatch(ConnectFailed):
    """The redirect's ``state`` is missing or is not the one this flow sent."""


class ConsentDenied(ConnectFailed):
    """The redirect carried ``error=`` instead of a code."""


class RedirectTimeout(ConnectFailed):
    """No redirect reached the listener in time."""


class TokenExchangeFailed(ConnectFailed):
    """The token endpoint refused the code, could not be reached or answered nonsense."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    """What the token endpoint granted; instants are wall-clock seconds since the epoch."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    refresh_expires_at: float | None
    scopes: frozenset[str]

    def __repr__(self) -> str:  # tracebacks and debug logs repr() their locals
        refresh = "yes" if self.refresh_token else "no"
        return (
            f"Tokens(scopes={sorted(self.scopes)!r}, expires_at={self.expires_at!r}, "
            f"refresh_token={refresh})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectedAccount:
    """A connected Pinterest login: who it is, what it sees, and its tokens.

    The client secret is not part of it: whoever refreshes reads it from the same environment
    variable ``pinsim live connect`` read, so the store never holds it.
    """

    connection_id: str
    client_id: str
    username: str | None
    user_id: str | None
    ad_account_ids: tuple[str, ...]
    tokens: Tokens
    connected_at: float

    def __repr__(self) -> str:
        return (
            f"ConnectedAccount(connection_id={self.connection_id!r}, "
            f"username={self.username!r}, ad_account_ids={self.ad_account_ids!r}, "
            f"tokens={self.tokens!r})"
        )

    def connection(self, client_secret: str) -> Connection:
        """The engine's view of this account (``SyncEngine.connect``)."""
        return Connection(
            id=self.connection_id,
            access_token=self.tokens.access_token,
            refresh_token=self.tokens.refresh_token,
            client_id=self.client_id,
            client_secret=client_secret,
            scopes=self.tokens.scopes,
            ad_account_ids=frozenset(self.ad_account_ids),
            expires_at=self.tokens.expires_at,  # the worker's clock is the wall clock too
        )


Save = Callable[[ConnectedAccount], None]
Present = Callable[[str], None]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectOptions:
    """Everything about one connect flow except the secret."""

    client_id: str
    connection_id: str = "workspace"
    api_base: str = API_BASE
    authorize_base: str = AUTHORIZE_URL
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    # None: http://127.0.0.1:<ephemeral port>/callback. The real API only redirects to a URI
    # registered for the app, so there it is a fixed one such as http://localhost:8085/.
    redirect_uri: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def token_url(self) -> str:
        return self.api_base.rstrip("/") + "/oauth/token"


def authorize_url(
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str],
    state: str,
    *,
    base: str = AUTHORIZE_URL,
) -> str:
    """The consent page's URL: where the person says yes (Pinterest joins scopes with commas)."""
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes),
            "state": state,
        }
    )
    return f"{base}{'&' if '?' in base else '?'}{query}"


# ---------------------------------------------------------------------------------------------
# The loopback listener


def _single(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key, [])
    return values[0] if len(values) == 1 else None


def _judge(query: Mapping[str, list[str]], state: str) -> str | ConnectFailed:
    """The code a redirect carries, or why it is refused. State first: it proves the sender."""
    received = _single(query, "state")
    if received is None or not secrets.compare_digest(received.encode(), state.encode()):
        return StateMismatch(
            "the redirect's state is missing or not the one this flow sent; "
            "it may not come from Pinterest — start the connect flow again"
        )
    error = _single(query, "error") or ("" if "error" in query else None)
    if error is not None:
        shown = error if _ERROR_CODE.fullmatch(error) else "unreadable"
        return ConsentDenied(f"Pinterest did not grant access (error={shown})")
    code = _single(query, "code")
    if not code:
        return ConnectFailed("the redirect carried neither a code nor an error")
    return code


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


_DONE_TEXT = "You can close this tab and return to the terminal."


class _RedirectServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    # A fixed redirect port (the real API's registered URI) must rebind right after a run.
    allow_reuse_address = True

    def __init__(self, port: int, *, state: str, path: str) -> None:
        super().__init__((LOOPBACK, port), _RedirectHandler)
        self.state = state
        self.callback_path = path
        self.result: str | ConnectFailed | None = None
        # Set once the first redirect has been answered (or the answer failed): the flow goes
        # on only after the browser has its page.
        self.done = threading.Event()
        self._lock = threading.Lock()

    def decide(self, query: Mapping[str, list[str]]) -> str | ConnectFailed | None:
        """Judge the first redirect; None for any later one (it changes nothing)."""
        with self._lock:
            if self.result is not None:
                return None
            self.result = _judge(query, self.state)
            return self.result

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hangs up mid-answer is no failure of the flow


class _RedirectHandler(BaseHTTPRequestHandler):
    server: _RedirectServer
    timeout = _READ_TIMEOUT_S

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path != self.server.callback_path:
            self._answer(404, "Not found", "Nothing here.")
            return
        result = self.server.decide(parse_qs(split.query, keep_blank_values=True))
        if result is None:
            self._answer(409, "Already done", "This sign-in has already finished.")
            return
        try:
            if isinstance(result, ConnectFailed):
                self._answer(400, "Connection refused", str(result))
            else:
                self._answer(200, "Pinterest account authorized", _DONE_TEXT)
        finally:
            self.server.done.set()

    def _answer(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line carries the authorization code


def _split_redirect_uri(redirect_uri: str) -> tuple[int, str]:
    """The port and path to listen on for *redirect_uri*, which must be http on loopback."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _REDIRECT_HOSTS or parts.port is None:
        raise ConnectFailed(
            "the redirect URI must be http://127.0.0.1:PORT/... or http://localhost:PORT/..."
        )
    return parts.port, parts.path or "/"


class RedirectListener:
    """A one-shot HTTP listener on 127.0.0.1 for the OAuth redirect; a context manager.

    ``redirect_uri`` is where the authorize URL sends the browser; ``wait`` returns the code of
    the first redirect or raises why it was refused (or that none came in time).
    """

    def __init__(self, state: str, *, redirect_uri: str | None = None) -> None:
        port, path = (
            (0, CALLBACK_PATH) if redirect_uri is None else _split_redirect_uri(redirect_uri)
        )
        try:
            self._server = _RedirectServer(port, state=state, path=path)
        except OSError as error:
            raise ConnectFailed(f"cannot listen on {LOOPBACK}:{port}: {error.strerror}") from None
        bound_port = self._server.server_address[1]
        self.redirect_uri = redirect_uri or f"http://{LOOPBACK}:{bound_port}{path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oauth-redirect-{bound_port}",
            daemon=True,
        )
        self._thread.start()

    def wait(self, timeout_s: float) -> str:
        """The authorization code of the first redirect, once it has been answered."""
        if not self._server.done.wait(timeout_s):
            raise RedirectTimeout(f"no redirect reached {self.redirect_uri} within {timeout_s:g} s")
        result = self._server.result
        if isinstance(result, ConnectFailed):
            raise result
        assert result is not None  # done is set only with a result
        return result

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RedirectListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# The code exchange and the check that the token works


def _parse_scopes(scope: str) -> frozenset[str]:
    # Comma-separated as Pinterest sends them; spaces tolerated as OAuth's usual separator.
    return frozenset(part for part in scope.replace(" ", ",").split(",") if part)


def _redact(text: str, secrets_: Iterable[str]) -> str:
    for value in secrets_:
        if value:
            text = text.replace(value, "…")
    return text[:200]


def _refusal(response: httpx.Response, hidden: Iterable[str]) -> str:
    """``HTTP 400 (code 1: message)`` from a Pinterest error body, secrets redacted."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        detail = _redact(str(body.get("message", "")), hidden)
        return f"HTTP {response.status_code} (code {body['code']}: {detail})"
    return f"HTTP {response.status_code}"


def _required(body: Mapping[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise TokenExchangeFailed(f"the token response lacks a valid {key!r}")
    return value


def _tokens(body: Mapping[str, Any], now: float) -> Tokens:
    _required(body, "token_type", str)
    if body["token_type"].lower() != "bearer":
        raise TokenExchangeFailed("the token response's token_type is not bearer")
    refresh_token = body.get("refresh_token")
    if refresh_token is not None and not (isinstance(refresh_token, str) and refresh_token):
        raise TokenExchangeFailed("the token response lacks a valid 'refresh_token'")
    refresh_in = body.get("refresh_token_expires_in")
    refresh_at = body.get("refresh_token_expires_at")
    refresh_expires_at = (
        now + refresh_in
        if isinstance(refresh_in, int | float)
        else float(refresh_at)
        if isinstance(refresh_at, int | float)
        else None
    )
    return Tokens(
        access_token=_required(body, "access_token", str),
        refresh_token=refresh_token,
        expires_at=now + _required(body, "expires_in", int),
        refresh_expires_at=refresh_expires_at if refresh_token else None,
        scopes=_parse_scopes(_required(body, "scope", str)),
    )


def exchange_code(
    http: httpx.Client,
    options: ConnectOptions,
    client_secret: str,
    code: str,
    redirect_uri: str,
    *,
    clock: Clock = time.time,
) -> Tokens:
    """Trade an authorization code for tokens at the token endpoint (HTTP Basic client auth)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        # Apps created before 2025-09-25 get a 60-day continuous refresh token only when they
        # ask (spec, /oauth/token); newer apps and the mock ignore the field.
        "continuous_refresh": "true",
    }
    try:
        response = http.post(options.token_url, data=form, auth=(options.client_id, client_secret))
    except httpx.HTTPError as error:
        raise TokenExchangeFailed(
            f"the token endpoint is unreachable: {type(error).__name__}: {error}"
        ) from None
    if response.status_code != 200:
        raise TokenExchangeFailed(
            f"the token endpoint refused the code: {_refusal(response, (code, client_secret))}"
        )
    try:
        body = response.json()
    except ValueError:
        raise TokenExchangeFailed("the token endpoint's answer is not JSON") from None
    if not isinstance(body, dict):
        raise TokenExchangeFailed("the token endpoint's answer is not a JSON object")
    return _tokens(body, clock())


def _get(http: httpx.Client, url: str, tokens: Tokens, params: Mapping[str, str]) -> Any:
    try:
        response = http.get(
            url, params=params, headers={"Authorization": f"Bearer {tokens.access_token}"}
        )
    except httpx.HTTPError as error:
        raise ConnectFailed(f"GET {url} failed: {type(error).__name__}: {error}") from None
    if response.status_code != 200:
        hidden = (tokens.access_token,)
        raise ConnectFailed(f"the new token was refused by GET {url}: {_refusal(response, hidden)}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ConnectFailed(f"GET {url} did not answer a JSON object")
    return body


def _ad_account_ids(http: httpx.Client, api_base: str, tokens: Tokens) -> tuple[str, ...]:
    ids: list[str] = []
    bookmark: str | None = None
    for _ in range(_MAX_PAGES):
        params = {"page_size": str(_PAGE_SIZE)} | ({"bookmark": bookmark} if bookmark else {})
        page = _get(http, f"{api_base}/ad_accounts", tokens, params)
        ids.extend(str(item["id"]) for item in page.get("items", []))
        bookmark = page.get("bookmark")
        if not bookmark:
            break
    return tuple(ids)


def _identify(
    http: httpx.Client, api_base: str, tokens: Tokens
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Who the token belongs to and which ad accounts it sees, as far as its scopes allow.

    Each call also proves the token works before anything is saved.
    """
    base = api_base.rstrip("/")
    username = user_id = None
    if "user_accounts:read" in tokens.scopes:
        account = _get(http, f"{base}/user_account", tokens, {})
        username, user_id = account.get("username"), account.get("id")
    ad_accounts = _ad_account_ids(http, base, tokens) if "ads:read" in tokens.scopes else ()
    return username, user_id, ad_accounts


# ---------------------------------------------------------------------------------------------
# The flow


def connect(
    options: ConnectOptions,
    client_secret: str,
    *,
    save: Save,
    present: Present,
    http: httpx.Client | None = None,
    clock: Clock = time.time,
) -> ConnectedAccount:
    """Run one connect flow: *present* the authorize URL, take the redirect, exchange, save.

    *present* shows the URL to the person (prints it, opens a browser); it may block. Nothing is
    saved unless the code was exchanged and the new token answered a v5 call.
    """
    state = secrets.token_urlsafe(32)
    with RedirectListener(state, redirect_uri=options.redirect_uri) as listener:
        present(
            authorize_url(
                options.client_id,
                listener.redirect_uri,
                options.scopes,
                state,
                base=options.authorize_base,
            )
        )
        code = listener.wait(options.timeout_s)
    client = http or httpx.Client(timeout=HTTP_TIMEOUT_S)
    try:
        tokens = exchange_code(
            client, options, client_secret, code, listener.redirect_uri, clock=clock
        )
        username, user_id, ad_account_ids = _identify(client, options.api_base, tokens)
    finally:
        if http is None:
            client.close()
    account = ConnectedAccount(
        connection_id=options.connection_id,
        client_id=options.client_id,
        username=username,
        user_id=user_id,
        ad_account_ids=ad_account_ids,
        tokens=tokens,
        connected_at=clock(),
    )
    save(account)
    return account


# ---------------------------------------------------------------------------------------------
# The command


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``pinsim live connect``'s options on *parser* (the CLI may add ``--store``)."""
    parser.add_argument("--client-id", required=True, help="the Pinterest app's id")
    parser.add_argument(
        "--client-secret-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the app secret (never the secret)",
    )
    parser.add_argument("--api-base", default=API_BASE, help="v5 API base URL (%(default)s)")
    parser.add_argument(
        "--authorize-url", default=AUTHORIZE_URL, help="consent page URL (%(default)s)"
    )
    parser.add_argument(
        "--scopes", default=",".join(DEFAULT_SCOPES), help="comma-separated (%(default)s)"
    )
    parser.add_argument("--connection-id", default="workspace", help="id to store it under")
    parser.add_argument(
        "--redirect-uri",
        default=None,
        help="loopback redirect URI registered for the app, e.g. http://localhost:8085/ "
        "(default: http://127.0.0.1:<free port>/callback)",
    )
    parser.add_argument(
        "--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, help="wait for the redirect"
    )
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also open the authorize URL in a browser (default: only print it)",
    )
    return parser


def _options(args: argparse.Namespace) -> ConnectOptions:
    return ConnectOptions(
        client_id=args.client_id,
        connection_id=args.connection_id,
        api_base=args.api_base.rstrip("/"),
        authorize_base=args.authorize_url,
        scopes=tuple(sorted(_parse_scopes(args.scopes))),
        redirect_uri=args.redirect_uri,
        timeout_s=args.timeout_s,
    )


def _summary(account: ConnectedAccount, requested: Iterable[str]) -> str:
    who = account.username or "(name not readable without user_accounts:read)"
    ad_accounts = ", ".join(account.ad_account_ids) or "(none visible)"
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(account.tokens.expires_at))
    lines = [
        f"Connected Pinterest account {who} as connection {account.connection_id!r}.",
        f"  scopes granted: {', '.join(sorted(account.tokens.scopes))}",
        f"  ad accounts:    {ad_accounts}",
        f"  access token expires {expires}; refresh token: "
        + ("yes" if account.tokens.refresh_token else "no"),
    ]
    missing = sorted(set(requested) - account.tokens.scopes)
    if missing:
        lines.append(f"  not granted:    {', '.join(missing)}")
    return "\n".join(lines)


def run(args: argparse.Namespace, *, save: Save, out: TextIO | None = None) -> int:
    """Carry out parsed ``pinsim live connect`` arguments; the exit status."""
    out = out or sys.stdout
    secret = os.environ.get(args.client_secret_env, "")
    if not secret:
        print(
            f"pinsim live connect: environment variable {args.client_secret_env} is not set",
            file=sys.stderr,
        )
        return 2
    options = _options(args)

    def present(url: str) -> None:
        print(f"Open this URL to connect a Pinterest account:\n  {url}", file=out, flush=True)
        print(f"Waiting up to {options.timeout_s:g} s for the redirect…", file=out, flush=True)
        if args.browser:
            webbrowser.open(url)

    try:
        account = connect(options, secret, save=save, present=present)
    except ConnectFailed as error:
        print(f"pinsim live connect: {error}", file=sys.stderr)
        return 1
    print(_summary(account, options.scopes), file=out, flush=True)
    return 0


def main(argv: Sequence[str] | None = None, *, save: Save | None = None) -> int:
    """``pinsim live connect --store PATH …``: connect an account and save it in the worker's
    store (or hand it to *save*, for callers with a store of their own)."""
    parser = add_arguments(argparse.ArgumentParser(prog="pinsim live connect"))
    parser.add_argument("--store", type=Path, help="the live worker's store to save it in")
    args = parser.parse_args(argv)
    if save is not None:
        return run(args, save=save)
    if args.store is None:
        print("pinsim live connect: --store PATH is needed to save the connection", file=sys.stderr)
        return 2
    store = open_store(args.store, "pinsim live connect")
    if store is None:
        return 2
    secret = os.environ.get(args.client_secret_env, "")
    try:  # the engine refreshes with the app's secret, so the store (mode 0600) keeps it
        return run(args, save=lambda account: store.save_connection(account.connection(secret)))
    finally:
        store.close()
