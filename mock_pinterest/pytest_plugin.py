"""pytest plugin (entry point ``pinterest_mock``): fixtures giving a test a mock Pinterest.

Responsibility: one fixture, ``pinterest_mock``, handing a test a fresh mock app on a clock the
test controls, an httpx client wired to it in process, admin shortcuts, and, on request, the
same app on a loopback socket for clients that need a real URL (the official SDK, curl).

Rules:
- The plugin is loaded by every pytest run that has pinsim installed, so importing this module
  must stay cheap and must not import the app: the app is imported when the fixture is used.
- Each test gets its own app, clock and state; nothing is shared between tests.
- The clock starts at 0 and moves only when the test says so (``clock.advance``), so timing
  assertions never depend on the wall clock.
- Configure the mock by overriding the ``pinterest_mock_config`` fixture (a mapping of
  ``MockConfig`` fields) in a test module or conftest.
- Everything started for a test (live server, client) is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from flask import Flask

    from mock_pinterest.backend import Backend

__all__ = ["FakeClock", "PinterestMock", "pinterest_mock", "pinterest_mock_config"]

IN_PROCESS_BASE_URL = "http://mock"


@dataclass(slots=True)
class FakeClock:
    """A clock the test moves by hand; pass it wherever a ``clock()`` callable is expected."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by *seconds* (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        """Jump to the instant *now*, which must not be in the past."""
        if now < self.now:
            raise ValueError("a clock cannot go backwards")
        self.now = now


@dataclass(slots=True, kw_only=True)
class PinterestMock:
    """What the ``pinterest_mock`` fixture gives a test.

    ``client`` talks to ``app`` in process (base URL ``http://mock``; API paths start with
    ``/v5``, admin paths with ``/_mock``). ``backend`` is the app's state, for reads.
    """

    app: Flask
    backend: Backend
    client: httpx.Client
    clock: FakeClock
    _stops: list[Callable[[], None]] = field(default_factory=list)
    _live_origin: str | None = None

    def tokens(self, user: str = "default", scopes: Sequence[str] | None = None) -> dict[str, Any]:
        """Mint a token pair for *user* through the admin API (``POST /_mock/tokens``)."""
        body: dict[str, object] = {"user": user}
        if scopes is not None:
            body["scopes"] = list(scopes)
        return self._admin("/_mock/tokens", body)

    def create_user(self, user: str, ad_account_ids: Sequence[str] = ()) -> dict[str, Any]:
        """Create *user* owning *ad_account_ids* (idempotent; ``POST /_mock/users``)."""
        return self._admin("/_mock/users", {"user": user, "ad_account_ids": list(ad_account_ids)})

    def live_url(self) -> str:
        """The origin (``http://127.0.0.1:PORT``) of this app served on loopback by waitress.

        Started on first call, reused after, stopped when the test ends. The API is under
        ``/v5`` of it (``PINTEREST_API_URI`` wants ``live_url() + "/v5"``).
        """
        if self._live_origin is None:
            from mock_pinterest.serve import serve_in_thread

            self._live_origin, stop = serve_in_thread(self.app)
            self._stops.append(stop)
        return self._live_origin

    def close(self) -> None:
        """Stop what was started for the test; safe to call twice."""
        while self._stops:
            self._stops.pop()()
        self.client.close()

    def _admin(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        response = self.client.post(path, json=dict(body))
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def open_mock(config: Mapping[str, object] | None = None) -> PinterestMock:
    """Build a fresh mock on a :class:`FakeClock`; the caller must ``close()`` it."""
    from mock_pinterest import backend_of, create_app

    clock = FakeClock()
    app = create_app(config, clock=clock)
    client = httpx.Client(transport=httpx.WSGITransport(app=app), base_url=IN_PROCESS_BASE_URL)
    return PinterestMock(app=app, backend=backend_of(app), client=client, clock=clock)


@pytest.fixture
def pinterest_mock_config() -> Mapping[str, object] | None:
    """``MockConfig`` fields for ``pinterest_mock``; override it to configure the mock."""
    return None


@pytest.fixture
def pinterest_mock(
    pinterest_mock_config: Mapping[str, object] | None,
) -> Iterator[PinterestMock]:
    """A fresh mock Pinterest for one test (see :class:`PinterestMock`)."""
    mock = open_mock(pinterest_mock_config)
    try:
        yield mock
    finally:
        mock.close()
