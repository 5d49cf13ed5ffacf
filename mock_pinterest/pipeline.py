"""The per-request gate every API call passes: faults, authentication, rate limit, scope,
then headers and the journal on the way out.

Rules:
- Blueprints declare each view's ``x-ratelimit-category`` and scope with ``@operation``;
  this module alone enforces them, in the order Pinterest effectively applies them:
  injected fault → bearer token (401 code 2) → rate limit (429 code 8) → scope (401 code 3).
- Admin paths (``/_mock/…``) skip the gate and the journal.
- Every answer gets ``x-pinterest-rid``; limited categories get ``x-ratelimit-*``; injected
  latency is the ``x-mock-latency-s`` header, and is slept only when ``config.sleep_latency``
  (standalone server; ``latency_s / config.speed`` wall seconds, as its clock runs ``speed``
  times the wall clock) — in process the caller simulates it.
- One request at a time touches the backend: the whole Flask request (gate, view, journal)
  runs under the app's lock, since a threaded server (waitress) would otherwise interleave
  read-modify-writes of ids, rate-limit tallies and fault counts. The latency sleep happens
  after the lock is released, so only the delayed request waits: the admin API and every
  other token's requests go on meanwhile.
- All ``ApiError``s and werkzeug HTTP errors become one JSON error shape here; a 405 also
  carries ``Allow`` with the methods the path serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from mock_pinterest.backend import Backend
from mock_pinterest.errors import ApiError, RateLimited, error_body, generic_error
from mock_pinterest.faults import RequestFacts
from mock_pinterest.journal import JournalRecord
from mock_pinterest.models import AccessToken

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., object])

EXTENSION_KEY = "mock_pinterest"
ADMIN_PREFIX = "/_mock"
LATENCY_HEADER = "x-mock-latency-s"
# Where ``_finish`` leaves the wall seconds ``_Serialised`` must sleep once the lock is free.
_SLEEP_KEY = "mock_pinterest.sleep_s"


@dataclass(frozen=True, slots=True)
class Operation:
    """What the gate needs to know about one API operation."""

    category: str | None
    scope: str | None = None
    authenticated: bool = True


_OPERATIONS: dict[Callable[..., object], Operation] = {}


def operation(
    category: str | None, scope: str | None = None, *, authenticated: bool = True
) -> Callable[[F], F]:
    """Declare a view's rate-limit category and required scope."""

    def register(view: F) -> F:
        _OPERATIONS[view] = Operation(category, scope, authenticated)
        return view

    return register


class CallState:
    """What the gate learned about the current request; blueprints add journal details."""

    __slots__ = (
        "admin",
        "category",
        "code",
        "customer_list_id",
        "latency_s",
        "method",
        "operation_type",
        "path",
        "rate_headers",
        "records",
        "request_id",
        "t",
        "token",
    )

    def __init__(
        self, t: float, request_id: str, token: AccessToken | None, method: str, path: str
    ) -> None:
        self.t = t
        self.request_id = request_id
        self.token = token
        self.method = method
        self.path = path
        self.admin = path.startswith(ADMIN_PREFIX)
        self.category: str | None = None
        self.code: int | None = None
        self.latency_s = 0.0
        self.rate_headers: dict[str, str] = {}
        self.records = 0
        self.operation_type: str | None = None
        self.customer_list_id: str | None = None


def backend_of(app: Flask) -> Backend:
    """The backend behind an app made by ``create_app``."""
    backend = app.extensions[EXTENSION_KEY]
    assert isinstance(backend, Backend)
    return backend


def current_backend() -> Backend:
    return backend_of(current_app)


def call_state() -> CallState:
    state = g.get("call")
    assert isinstance(state, CallState), "the gate did not run for this request"
    return state


def current_token() -> AccessToken:
    """The authenticated token of the current request (the gate checked it)."""
    token = call_state().token
    assert token is not None
    return token


class _Serialised:
    """WSGI middleware: the app's requests one at a time, the injected latency outside."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self._wsgi_app = wsgi_app
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            body = self._wsgi_app(environ, start_response)
        sleep_s = environ.pop(_SLEEP_KEY, 0.0)
        if sleep_s:
            # A real client must feel the latency on the wire; nothing is held meanwhile.
            wall_sleep(sleep_s)
        return body


def wall_sleep(seconds: float) -> None:
    """How a standalone server waits out injected latency (a seam for concurrency tests)."""
    time.sleep(seconds)


def install(app: Flask, backend: Backend) -> None:
    """Attach the gate, the error handlers and the answer decoration to ``app``, and
    serialise its requests."""
    app.extensions[EXTENSION_KEY] = backend
    app.wsgi_app = _Serialised(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(partial(_gate, backend))
    app.after_request(partial(_finish, backend))
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _gate(backend: Backend) -> None:
    token = backend.lookup_token(_bearer())
    state = g.call = CallState(
        float(backend.now()), backend.next_request_id(), token, request.method, request.path
    )
    if state.admin:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    op = _OPERATIONS.get(view) if view is not None else None
    state.category = op.category if op else None
    if backend.faults.active:
        facts = RequestFacts(
            method=state.method,
            path=state.path,
            category=state.category,
            token_id=token.token_id if token else None,
        )
        effect = backend.faults.apply(facts, state.t)
        state.latency_s = effect.latency_s
        if effect.status is not None:
            raise generic_error(effect.status)
    if op is None:
        return
    if op.authenticated:
        state.token = backend.authenticate(token)
    _limit(backend, state)
    if op.scope is not None and state.token is not None:
        backend.require_scope(state.token, op.scope)


def _limit(backend: Backend, state: CallState) -> None:
    if state.category is None:
        return
    key = state.token.token_id if state.token else _client_key()
    decision = backend.limiter.acquire(key, state.category, state.t)
    if decision is None:
        return
    state.rate_headers = decision.headers(retry_after=backend.config.retry_after)
    if not decision.allowed:
        raise RateLimited(headers=state.rate_headers)


def _client_key() -> str:
    # OAuth endpoints have no bearer token: their budget belongs to the client app.
    auth = request.authorization
    return f"client:{auth.username if auth and auth.username else 'anonymous'}"


def _api_error(error: ApiError) -> tuple[Response, int]:
    state = g.get("call")
    if isinstance(state, CallState):
        state.code = error.code
    response = jsonify(error_body(error))
    response.headers.update(error.headers)
    return response, error.status


def _http_error(error: HTTPException) -> tuple[Response, int]:
    # Routing (404, 405) and werkzeug's own 400/415 get the same JSON error shape.
    response, status = _api_error(generic_error(error.code or 500))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # RFC 9110 §15.5.6: a 405 MUST list the methods the target supports.
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response, status


def _finish(backend: Backend, response: Response) -> Response:
    state = g.get("call")
    if not isinstance(state, CallState):
        return response
    response.headers["x-pinterest-rid"] = state.request_id
    if state.admin:
        return response
    if state.rate_headers:
        response.headers.update(state.rate_headers)
    if state.latency_s:
        response.headers[LATENCY_HEADER] = f"{state.latency_s:g}"
        if backend.config.sleep_latency:
            # Standalone server only; slept by ``_Serialised`` once the lock is released.
            request.environ[_SLEEP_KEY] = state.latency_s / backend.config.speed
    token = state.token
    backend.journal.append(
        JournalRecord(
            t=state.t,
            token_id=token.token_id if token else None,
            user=token.user if token else None,
            method=state.method,
            path=state.path,
            category=state.category,
            status=response.status_code,
            code=state.code,
            records=state.records,
            operation_type=state.operation_type,
            customer_list_id=state.customer_list_id,
            request_id=state.request_id,
        )
    )
    return response
