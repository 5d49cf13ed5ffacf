"""Registered OAuth redirect URIs, and whether a requested ``redirect_uri`` is one of them.

Rules:
- Pinterest only redirects to a URI registered for the app; anything else would make the
  consent page an open redirect that hands codes to whoever wrote the link.
- A requested URI matches a registered one when it is the same string, except for a loopback
  URI (``http`` on ``127.0.0.1``, ``[::1]`` or ``localhost``): there the port is ignored, as
  OAuth 2.0 for Native Apps requires (RFC 8252 §7.3: a native app listens on whatever port the
  OS gives it). Scheme, host, path and query must still be equal.
- ``None`` as the registered set means the mock's permissive default: every URI matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_registered(redirect_uri: str, registered: Iterable[str] | None) -> bool:
    """Whether ``redirect_uri`` may receive this app's codes."""
    if registered is None:
        return True
    requested = _loopback(redirect_uri)
    return any(
        redirect_uri == uri or (requested is not None and requested == _loopback(uri))
        for uri in registered
    )


def _loopback(uri: str) -> tuple[str, str, str, str] | None:
    """(scheme, host, path, query) of an http loopback URI, its port left out; else None."""
    try:
        parts: SplitResult = urlsplit(uri)
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.username or parts.fragment:
        return None
    return parts.scheme, host, parts.path or "/", parts.query
