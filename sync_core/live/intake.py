"""The intake: the HTTP endpoint Canvas hands entries to, acknowledged only once durable.

``POST /v1/steps/<step>/entries`` with ``Authorization: Bearer <api key>`` and a JSON body::

    {"entries": [
        {"user_id": "u-123",                 # required, a non-empty string (≤ 256 characters)
         "email": "Ann@Example.com",          # optional, string or null, raw or SHA-256 hex
         "maid": null,                        # optional, string or null, raw or SHA-256 hex
         "entered_at": 1767225600.25}         # optional, epoch seconds; absent: when received
    ]}

Answers (every body JSON; an error names the field path and the reason, never the value):

| status | when                                                | body                          |
|--------|-----------------------------------------------------|-------------------------------|
| 202    | all entries appended, durably, in one transaction   | ``{"accepted", "through"}``   |
| 400    | the body is not JSON                                | ``{"error", "message"}``      |
| 401    | no bearer key, or a wrong one                       | ``{"error", "message"}``      |
| 404    | no such step (asked only of authenticated callers)  | ``{"error", "message"}``      |
| 413    | the body is larger than ``max_body_bytes``          | ``{"error", "message"}``      |
| 415    | the body is not ``application/json``                | ``{"error", "message"}``      |
| 422    | JSON of the wrong shape, or any entry is bad        | ``+ "problems", "invalid"``   |

Rules:
- Checks run cheapest first and before the body is read: key, step, declared length. A body
  without a declared length is read only up to the limit.
- All or nothing: every entry is validated (``entries.parse_entries``), then the whole batch
  is handed to ``store.append_entries`` once; that call is atomic, so a rejected or failed
  request leaves nothing behind. ``through`` is the store's sequence number of the last entry:
  everything up to it is on disk. A store failure is a 500, and nothing was acknowledged.
- The key is compared in constant time; nothing here logs a request body.
- A threaded WSGI server calls the app from several threads, and a ``SqliteStore`` belongs to
  the thread that opened it: give such a server ``PerThreadSink(lambda: SqliteStore(path))``.
  SQLite itself serialises the appends (each is one ``BEGIN IMMEDIATE`` transaction).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Container, Sequence
from typing import IO, Protocol

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from sync_core.live.entries import EntriesRejected, Entry, parse_entries

__all__ = ["DEFAULT_MAX_BODY_BYTES", "EntrySink", "PerThreadSink", "create_intake_app"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # about 50,000 entries with emails per request


_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 500: "internal"}


class EntrySink(Protocol):
    """What the intake needs of the store (``sync_core.live.store``)."""

    def append_entries(self, entries: Sequence[Entry]) -> int:
        """Append all entries in one transaction; return the last one's sequence number."""
        ...


class PerThreadSink:
    """An ``EntrySink`` that opens one sink per calling thread with ``factory``."""

    def __init__(self, factory: Callable[[], EntrySink]) -> None:
        self._factory = factory
        self._local = threading.local()

    def append_entries(self, entries: Sequence[Entry]) -> int:
        sink: EntrySink | None = getattr(self._local, "sink", None)
        if sink is None:
            sink = self._local.sink = self._factory()
        return sink.append_entries(entries)


def _answer(status: int, payload: dict[str, object], **headers: str) -> Response:
    return Response(json.dumps(payload), status, headers, mimetype="application/json")


def _error(status: int, error: str, message: str, **headers: str) -> Response:
    return _answer(status, {"error": error, "message": message}, **headers)


def _bearer_matches(header: str | None, key: bytes) -> bool:
    scheme, _, token = (header or "").partition(" ")
    # compare_digest on every request, matching or not, so timing says nothing about the key
    return hmac.compare_digest(token.strip().encode(), key) and scheme.lower() == "bearer"


def _read_at_most(stream: IO[bytes], limit: int) -> bytes | None:
    """The body, or None past ``limit`` bytes. Werkzeug's ``MAX_CONTENT_LENGTH`` would cut an
    undeclared (chunked) body at the limit silently, and the cut body read as bad JSON."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit and (chunk := stream.read(limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def create_intake_app(
    store: EntrySink,
    *,
    api_key: str,
    step_ids: Container[str],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """The intake as a WSGI app. ``step_ids`` is consulted on every request (``in``), so a
    set the worker updates is seen at once; ``clock`` stamps entries without ``entered_at``."""
    if not api_key:
        raise ValueError("api_key must not be empty")
    key = api_key.encode()
    app = Flask(__name__)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:  # Werkzeug's own (404, 405, 500) as JSON
        status = error.code or 500
        return _error(status, _ERROR_CODES.get(status, "error"), error.name)

    @app.post("/v1/steps/<step_id>/entries")
    def steps_entries(step_id: str) -> Response:
        if not _bearer_matches(request.headers.get("Authorization"), key):
            message = "a valid bearer key is required"
            return _error(401, "unauthorized", message, **{"WWW-Authenticate": "Bearer"})
        if step_id not in step_ids:
            return _error(404, "unknown_step", "no step by that id")
        length = request.content_length
        if length is not None and length > max_body_bytes:
            return _error(413, "too_large", f"the body exceeds {max_body_bytes} bytes")
        if request.mimetype != "application/json":
            return _error(415, "unsupported_media_type", "the body must be application/json")
        data = _read_at_most(request.stream, max_body_bytes)
        if data is None:
            return _error(413, "too_large", f"the body exceeds {max_body_bytes} bytes")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):  # bad JSON or bad UTF-8; absurd nesting
            return _error(400, "bad_json", "the body is not JSON")
        try:
            entries = parse_entries(step_id, document, now=clock())
        except EntriesRejected as rejected:
            problems = [{"path": p.path, "reason": p.reason} for p in rejected.problems]
            payload = {"error": "invalid_entries", "message": str(rejected)}
            return _answer(422, payload | {"problems": problems, "invalid": rejected.invalid})
        through = store.append_entries(entries)
        return _answer(202, {"accepted": len(entries), "through": through})

    return app
