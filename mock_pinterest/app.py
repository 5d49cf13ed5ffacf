"""The app factory: ``create_app(config=None, *, clock=None)`` (CONTRACTS.md §1).

Rules:
- The config is normalised once, here; the default clock (``time.time``) is chosen here and
  nowhere else reads the wall clock.
- One blueprint per API area plus the admin blueprint; the request gate is installed by
  ``pipeline.install``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from flask import Flask

from mock_pinterest import ad_accounts, admin, audiences, customer_lists, oauth, user_account
from mock_pinterest.backend import Backend
from mock_pinterest.config import MockConfig, coerce_config
from mock_pinterest.pipeline import install

BLUEPRINTS = (
    oauth.bp,
    user_account.bp,
    ad_accounts.bp,
    customer_lists.bp,
    audiences.bp,
    admin.bp,
)


def create_app(
    config: MockConfig | Mapping[str, object] | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> Flask:
    """A fresh mock Pinterest with its own state, on ``clock`` (default: wall time)."""
    settings = coerce_config(config)
    app = Flask("mock_pinterest")
    # Answers are small JSON documents read by programs; skip key sorting and pretty-printing.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    install(app, Backend(settings, clock if clock is not None else time.time))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
