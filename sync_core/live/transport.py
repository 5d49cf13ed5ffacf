"""Carrying the engine's ``SendRequest``s over real sockets, and bringing their fates back.

Rules:
- It decides nothing: a request goes out as the engine built it (the base URL prefixed), and
  what comes back is a fact — ``ResponseReceived`` (any status) or ``TransportFailed``
  (``timeout`` or ``connection``). httpx's exceptions are mapped here and only here:
  ``httpx.TimeoutException`` → timeout, any other ``httpx.TransportError`` → connection.
- A small pool of threads, one per request the engine may have in flight, over one httpx
  client whose keep-alive pool has as many connections: a request never waits for a socket
  the engine did not ask for.
- The engine's ``timeout_s`` bounds the whole request, not just each read: httpx's timeouts
  are per phase, so a request still unanswered at its deadline is reported as a timeout here
  and its late answer, if any, is dropped (the engine must hear of each request once).
- Fates come back through a queue the loop drains (``collect``); the loop never blocks on a
  socket. Nothing here logs a header or a body (they carry the bearer token and hashed ids).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from sync_core.events import Outcome, ResponseReceived, SendRequest, TransportFailed

__all__ = ["Transport"]

# How long past its deadline a request's own answer may still win over our timeout: the
# thread is likely reading it right now.
_GRACE_S = 0.5


class Transport:
    """httpx over a keep-alive pool of ``max_in_flight`` connections to ``base_url``."""

    def __init__(self, base_url: str, *, max_in_flight: int, timeout_s: float) -> None:
        limits = httpx.Limits(
            max_connections=max_in_flight, max_keepalive_connections=max_in_flight
        )
        self._client = httpx.Client(base_url=base_url, limits=limits, timeout=timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="transport")
        self._results: queue.Queue[Outcome] = queue.Queue()
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}  # request id → monotonic deadline, in flight

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self._client.base_url)!r}, in_flight={self.in_flight})"

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._deadlines)

    def submit(self, request: SendRequest) -> None:
        """Send ``request`` on a pool thread; its fate comes out of ``collect``."""
        with self._lock:
            self._deadlines[request.request_id] = time.monotonic() + request.timeout_s + _GRACE_S
        self._pool.submit(self._carry, request)

    def collect(self, wait_s: float) -> list[Outcome]:
        """Fates that came back, waiting up to ``wait_s`` for the first; overdue requests come
        back as timeouts. Each request's fate is returned exactly once."""
        outcomes: list[Outcome] = []
        try:
            outcomes.append(self._results.get(timeout=max(0.0, wait_s)))
            while True:
                outcomes.append(self._results.get_nowait())
        except queue.Empty:
            pass
        outcomes.extend(self._overdue())
        return outcomes

    def close(self) -> None:
        """Stop the threads (requests still out are abandoned) and the connections."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _carry(self, request: SendRequest) -> None:
        outcome = _send(self._client, request)
        with self._lock:
            if self._deadlines.pop(request.request_id, None) is None:
                return  # already reported as a timeout
        self._results.put(outcome)

    def _overdue(self) -> list[Outcome]:
        now = time.monotonic()
        with self._lock:
            late = [rid for rid, deadline in self._deadlines.items() if deadline <= now]
            for rid in late:
                del self._deadlines[rid]
        return [TransportFailed(rid, "timeout") for rid in late]


def _send(client: httpx.Client, request: SendRequest) -> Outcome:
    try:
        response = client.request(
            request.method,
            request.path,
            headers=dict(request.headers),
            content=request.body,
            timeout=request.timeout_s,
        )
    except httpx.TimeoutException:
        return TransportFailed(request.request_id, "timeout")
    except httpx.TransportError:
        return TransportFailed(request.request_id, "connection")
    return ResponseReceived(
        request.request_id, response.status_code, dict(response.headers), response.content
    )
