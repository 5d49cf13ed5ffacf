"""A mock Pinterest on a loopback socket (wall clock) and a store set up to sync to it.

The truth the live tests judge by is the mock's, read over its admin API: list members
(hashed here with ``hashlib``, never with ``sync_core.identity``) and the request journal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from mock_pinterest import create_app
from mock_pinterest.serve import serve_in_thread
from sync_core import AudienceRef, Connection, Step
from sync_core.live.config import mint_mock_connection
from sync_core.live.store import Store

ACCOUNT = "549755885175"
USER = "acme"
AUDIENCE = "VIP buyers"
STEP = Step(
    id="vip",
    connection_id="workspace",
    ad_account_id=ACCOUNT,
    audience=AudienceRef(new=AUDIENCE),
    match_fields=("email",),
)


def sha(value: str) -> str:
    """What Pinterest should hold for a raw email: SHA-256 of trim+lowercase."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def email_of(user_id: str) -> str:
    return f" {user_id.upper()}@Example.com"  # messy on purpose: the engine normalises


@dataclass(slots=True)
class LiveMock:
    origin: str
    client: httpx.Client

    def admin(self, path: str, body: Mapping[str, object] | None = None) -> Any:
        response = self.client.post(path, json=dict(body or {}))
        assert response.status_code in (200, 201), response.text
        return response.json()

    def members(self, list_name: str = AUDIENCE) -> set[str]:
        lists = self.client.get("/_mock/state").json()["customer_lists"]
        named = [c for c in lists if c["name"] == list_name]
        assert len(named) <= 1, "one list per audience name"
        return set(named[0]["members"]) if named else set()

    def journal(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.get("/_mock/journal").json()["items"]
        return items

    def connection(self, connection_id: str = "workspace") -> Connection:
        """The user with the test's ad account, and fresh tokens for it (the admin API)."""
        return mint_mock_connection(self.origin, connection_id, USER, [ACCOUNT])


@contextmanager
def live_mock(config: Mapping[str, object] | None = None) -> Iterator[LiveMock]:
    """The mock on the wall clock behind waitress on loopback (it really sleeps latency)."""
    app = create_app({"sleep_latency": True, **(config or {})}, clock=time.time)
    origin, stop = serve_in_thread(app, threads=8)
    client = httpx.Client(base_url=origin, timeout=10.0)
    try:
        yield LiveMock(origin, client)
    finally:
        client.close()
        stop()


def prepare(store: Store, mock: LiveMock, steps: Sequence[Step] = (STEP,)) -> Connection:
    """Save a connection with fresh mock tokens and the steps in the store."""
    connection = mock.connection()
    store.save_connection(connection)
    store.save_steps(steps)
    return connection


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
