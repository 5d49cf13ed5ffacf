"""Request parsing and list paging shared by the API blueprints.

Rules:
- Every malformed input becomes ``InvalidParameters`` (400, code 1), never a 500: wrong content
  type, malformed JSON, a body that is not an object, a missing or mistyped field, an unknown
  enum value, a non-numeric id, a page size outside 1–250, a bad bookmark.
- Bodies are strict, bounded JSON: ``NaN`` and ``Infinity`` (which Python's parser accepts and
  JSON has not) and a number beyond a double (``1e999``) are malformed, so no non-finite number
  ever reaches the state or an answer; so is an integer of more digits than the interpreter
  converts (4,300); arrays and objects nest at most ``MAX_JSON_DEPTH`` deep. Query integers
  are checked for length before ``int()`` ever sees them.
- Unknown body fields are ignored (the official SDK sends ``ad_account_id`` and others).
- Lists answer ``{"items": [...], "bookmark": str | None}``; the bookmark is the id of the
  last item of the page, so paging is stable while items are added.
- Otherwise JSON bodies are read and parsed as ``request.get_json(silent=True)`` would, with two
  shortcuts for the records upload (99 % of its bytes are one string of hex digits): the body
  is read in one ``read(Content-Length)`` rather than werkzeug's 64 KiB chunks, and it is
  parsed by ``records.parse_body``, which splices a plain-hex ``records`` value in unscanned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from flask import current_app, g, request

from mock_pinterest.errors import InvalidParameters
from mock_pinterest.records import parse_body

T = TypeVar("T")

MAX_ID_DIGITS = 18
# Pinterest's deepest body (an audience rule) nests 3 levels; 64 leaves room for any client and
# stays far below the parser's recursion limit (~1000), whose overflow would be a 500.
MAX_JSON_DEPTH = 64
PAGE_SIZE_DEFAULT = 25
PAGE_SIZE_MAX = 250
ORDERS = ("ASCENDING", "DESCENDING")


_PARSED_BODY = "mock_pinterest_json_body"
_UNREAD = object()


def json_body() -> dict[str, Any]:
    """The request's JSON object body."""
    if not request.is_json:
        raise InvalidParameters("Content-Type must be application/json.")
    # Parsed once per request, as ``get_json`` caches it: the body stream reads only once.
    body = g.get(_PARSED_BODY, _UNREAD)
    if body is _UNREAD:
        body = _parse(_body_bytes())
        setattr(g, _PARSED_BODY, body)
    if not isinstance(body, dict):
        raise InvalidParameters("The request body must be a JSON object.")
    return body


def _body_bytes() -> bytes:
    """The whole request body, as ``request.get_data()`` reads it, in one read when its length
    is known (werkzeug's ``readall`` costs ~6x more on a 120 kB body)."""
    length = request.content_length
    if length is None:
        return request.get_data(cache=False)
    stream = request.stream
    data = stream.read(length)
    if len(data) < length:
        data += stream.read()
    return data


def _parse(data: bytes) -> Any:
    """``request.get_json(silent=True)``'s parse with the app's JSON provider, strict: None if
    malformed; too deep a body is refused."""
    loads = partial(
        current_app.json.loads, parse_constant=_refuse_constant, parse_float=_finite_float
    )
    try:
        body = parse_body(data, loads)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # JSONDecodeError, a refused constant, an integer of too many digits
        return None
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise _too_deep()
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as ``float``, refused when it overflows (``1e999`` would be infinity)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def _too_deep() -> InvalidParameters:
    return InvalidParameters(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")


def _depth_exceeds(value: object, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` deep (iterative: a
    recursive walk would overflow on the very bodies it guards against)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = (
        [(value, 1)] if isinstance(value, dict | list) else []
    )
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def form_body() -> Mapping[str, str]:
    """The request's form-encoded body (OAuth endpoints)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidParameters("Content-Type must be application/x-www-form-urlencoded.")
    return request.form


def text_field(
    body: Mapping[str, Any], key: str, *, required: bool = True, allow_empty: bool = False
) -> str | None:
    """A string field; ``records`` given as a JSON array lands here and is a 400."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value and not allow_empty):
        raise InvalidParameters(f"'{key}' must be a non-empty string.")
    return value


def enum_field(
    body: Mapping[str, Any], key: str, allowed: Sequence[str], *, default: str | None = None
) -> str:
    """A case-sensitive enum field, as Pinterest's are."""
    value = body.get(key, default)
    if value not in allowed:
        raise InvalidParameters(f"'{key}' must be one of {', '.join(allowed)}.")
    return str(value)


def object_field(body: Mapping[str, Any], key: str) -> dict[str, object]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise InvalidParameters(f"'{key}' must be a JSON object.")
    return value


def numeric_id(value: str, name: str) -> str:
    """A path or query id: digits only, at most 18 of them."""
    if not value.isascii() or not value.isdigit() or len(value) > MAX_ID_DIGITS:
        raise InvalidParameters(f"'{name}' must be a numeric id of at most 18 digits.")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    size: int
    bookmark: str | None
    descending: bool


def page_params(*, allow_order: bool = True) -> Page:
    """``page_size`` (1–250, default 25), ``bookmark`` and ``order`` from the query string."""
    raw_size = request.args.get("page_size", str(PAGE_SIZE_DEFAULT))
    # The length bound first: ``int()`` of a few thousand digits raises (a 500) or is slow.
    if not raw_size.isascii() or not raw_size.isdigit() or len(raw_size) > MAX_ID_DIGITS:
        raise InvalidParameters("'page_size' must be an integer from 1 to 250.")
    size = int(raw_size)
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise InvalidParameters("'page_size' must be an integer from 1 to 250.")
    bookmark = request.args.get("bookmark") or None
    if bookmark is not None:
        numeric_id(bookmark, "bookmark")
    order = request.args.get("order", "ASCENDING") if allow_order else "ASCENDING"
    if order not in ORDERS:
        raise InvalidParameters("'order' must be ASCENDING or DESCENDING.")
    return Page(size=size, bookmark=bookmark, descending=order == "DESCENDING")


def paginate(
    items: Iterable[T], page: Page, *, id_of: Callable[[T], str], render: Callable[[T], object]
) -> dict[str, object]:
    """One page of ``items`` ordered by numeric id, after the bookmark."""
    ordered = sorted(items, key=lambda item: int(id_of(item)), reverse=page.descending)
    if page.bookmark is not None:
        mark = int(page.bookmark)
        sign = -1 if page.descending else 1
        ordered = [item for item in ordered if sign * (int(id_of(item)) - mark) > 0]
    chunk = ordered[: page.size]
    more = len(ordered) > page.size
    return {
        "items": [render(item) for item in chunk],
        "bookmark": id_of(chunk[-1]) if more else None,
    }
