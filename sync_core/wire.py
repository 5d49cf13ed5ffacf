"""Pinterest v5 requests and responses as plain data.

Rules:
- Builders return ``(method, path, headers, body)``; the engine wraps them in ``SendRequest``.
  Paths start with ``/v5``. JSON bodies are compact UTF-8; the token refresh is form-encoded
  with HTTP Basic client authentication, as Pinterest's OAuth endpoint requires.
- Customer-list ``records`` is ONE comma-separated string of lowercase hex SHA-256 digests.
- Parsers accept any extra fields and raise ``PeerError`` when a field the engine needs is
  missing or has the wrong type; the message names the field, never a value.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from sync_core.errors import PeerError

__all__ = [
    "Audience",
    "Page",
    "RateLimitHeaders",
    "TokenPair",
    "WireRequest",
    "create_audience",
    "create_customer_list",
    "error_code",
    "list_audiences",
    "list_customer_lists",
    "parse_created_id",
    "parse_page",
    "parse_rate_limit",
    "parse_token",
    "refresh_token",
    "update_customer_list",
]

WireRequest = tuple[str, str, dict[str, str], bytes | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a paginated list: ``(name, id, customer_list_id)`` items and the bookmark."""

    items: tuple[Audience, ...]
    bookmark: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """An audience or customer list as far as the engine cares; lists have no list id."""

    id: str
    name: str
    customer_list_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_in: float | None = None  # the access token's lifetime in the server's seconds

    def __repr__(self) -> str:
        return "TokenPair(<redacted>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitHeaders:
    remaining: int | None
    reset_s: float | None
    limit: int | None = None  # x-ratelimit-limit: the count of the window the others describe


def _json_headers(token: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json",
    }


def _json(payload: Mapping[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def update_customer_list(
    token: str, ad_account_id: str, list_id: str, records: str, operation: str
) -> WireRequest:
    """PATCH customer_lists_update: add or remove ``records`` (comma-separated hex digests)."""
    path = f"/v5/ad_accounts/{ad_account_id}/customer_lists/{list_id}"
    body = b'{"records":"' + records.encode() + b'","operation_type":"' + operation.encode()
    return "PATCH", path, _json_headers(token), body + b'"}'


def create_customer_list(token: str, ad_account_id: str, name: str, list_type: str) -> WireRequest:
    """POST customer_lists_create. The list starts empty: users are sent by PATCH only, so
    every user's fate is decided by exactly one kind of request."""
    path = f"/v5/ad_accounts/{ad_account_id}/customer_lists"
    payload = {"name": name, "records": "", "list_type": list_type}
    return "POST", path, _json_headers(token), _json(payload)


def create_audience(token: str, ad_account_id: str, name: str, list_id: str) -> WireRequest:
    """POST audiences_create: a CUSTOMER_LIST audience over ``list_id``."""
    path = f"/v5/ad_accounts/{ad_account_id}/audiences"
    payload = {
        "name": name,
        "audience_type": "CUSTOMER_LIST",
        "rule": {"customer_list_id": list_id},
    }
    return "POST", path, _json_headers(token), _json(payload)


def _listing(token: str, path: str, page_size: int, bookmark: str | None) -> WireRequest:
    query = {"page_size": str(page_size)}
    if bookmark:
        query["bookmark"] = bookmark
    headers = _json_headers(token)
    del headers["content-type"]
    return "GET", f"{path}?{urlencode(query)}", headers, None


def list_audiences(
    token: str, ad_account_id: str, page_size: int, bookmark: str | None
) -> WireRequest:
    """GET audiences_list, one page."""
    return _listing(token, f"/v5/ad_accounts/{ad_account_id}/audiences", page_size, bookmark)


def list_customer_lists(
    token: str, ad_account_id: str, page_size: int, bookmark: str | None
) -> WireRequest:
    """GET customer_lists_list, one page."""
    path = f"/v5/ad_accounts/{ad_account_id}/customer_lists"
    return _listing(token, path, page_size, bookmark)


def refresh_token(client_id: str, client_secret: str, refresh: str) -> WireRequest:
    """POST oauth/token with grant_type=refresh_token, HTTP Basic client authentication."""
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    headers = {
        "authorization": f"Basic {basic}",
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
    }
    body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh}, quote_via=quote)
    return "POST", "/v5/oauth/token", headers, body.encode()


def _object(body: bytes) -> Mapping[str, object]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PeerError("response body is not JSON") from None
    if not isinstance(value, dict):
        raise PeerError("response body is not a JSON object")
    return value


def _text(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PeerError(f"response field {key!r} is missing or not a string")
    return value


def error_code(body: bytes) -> int | None:
    """Pinterest's error ``code`` from an error body, or None if there is none."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def parse_created_id(body: bytes) -> str:
    """The ``id`` of a created customer list or audience."""
    return _text(_object(body), "id")


def _audience(item: object) -> Audience:
    if not isinstance(item, dict):
        raise PeerError("list item is not a JSON object")
    rule = item.get("rule")
    list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
    name = item.get("name")
    return Audience(
        id=_text(item, "id"),
        name=name if isinstance(name, str) else "",
        customer_list_id=list_id if isinstance(list_id, str) and list_id else None,
    )


def parse_page(body: bytes) -> Page:
    """One page of ``{"items": [...], "bookmark": str | null}``."""
    obj = _object(body)
    items = obj.get("items")
    if not isinstance(items, list):
        raise PeerError("response field 'items' is missing or not a list")
    bookmark = obj.get("bookmark")
    return Page(
        items=tuple(_audience(item) for item in items),
        bookmark=bookmark if isinstance(bookmark, str) and bookmark else None,
    )


def parse_token(body: bytes) -> TokenPair:
    """The new access token (and rotated refresh token, if any) of a refresh answer, and its
    ``expires_in`` when it states a usable one (a positive number: anything else is unknown,
    and the 401 path covers the token)."""
    obj = _object(body)
    refresh = obj.get("refresh_token")
    return TokenPair(
        access_token=_text(obj, "access_token"),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=_lifetime(obj.get("expires_in")),
    )


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < math.inf else None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return float(value)
            except ValueError:
                return None
    return None


_MAX_LIMIT = 2**31  # beyond any window's count; keeps ``int`` off inf and nan


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitHeaders:
    """``x-ratelimit-remaining``, ``x-ratelimit-reset`` (seconds until the window resets) and
    ``x-ratelimit-limit`` (that window's count)."""
    remaining = _number(headers, "x-ratelimit-remaining")
    reset = _number(headers, "x-ratelimit-reset")
    limit = _number(headers, "x-ratelimit-limit")
    return RateLimitHeaders(
        remaining=None if remaining is None else int(remaining),
        reset_s=None if reset is None or reset < 0 else reset,
        limit=int(limit) if limit is not None and 0 <= limit < _MAX_LIMIT else None,
    )
