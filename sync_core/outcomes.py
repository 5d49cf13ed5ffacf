"""The one table from what came back to what happens next.

Rules:
- ``classify(status, code, failure)`` is the only place that interprets a status, a Pinterest
  error code or a transport failure. Callers act on the returned ``Verdict``; they never test
  status numbers themselves. ``classify_answer`` is its entry for an HTTP answer: the body of
  an error (a status of 300 or more) is read for Pinterest's code, a success's never is.
- A status is only recorded past this table (a user's ``last_status``); ``NO_STATUS`` is what
  a user shows before any HTTP answer, a transport failure having none.
- Lookup order: exact (status, Pinterest code) row, then exact status, then status class
  (2xx, 4xx, 5xx). Transport failures have their own rows.
- Every verdict but ``SUCCESS`` carries the ``Reason`` a user gets if their deadline passes
  while that verdict is the last word on them.

| came back                        | verdict      | reason            |
|----------------------------------|--------------|-------------------|
| 2xx                              | SUCCESS      | —                 |
| 429                              | WAIT_RESET   | rate_limited      |
| 5xx, 408                         | BACKOFF      | server_error      |
| timeout, connection failure      | BACKOFF      | transport_error   |
| 401                              | REFRESH      | auth_invalid      |
| 401 code 3 (missing scope)       | INVALIDATE   | auth_invalid      |
| 403                              | SLOW_RETRY   | forbidden         |
| 404                              | SLOW_RETRY   | audience_deleted  |
| 400, 413, 422                    | SPLIT        | rejected          |
| any other 4xx                    | SLOW_RETRY   | rejected          |
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sync_core.wire import error_code

__all__ = ["NO_STATUS", "Disposition", "Reason", "Verdict", "classify", "classify_answer"]

NO_STATUS = 0


class Verdict(enum.Enum):
    SUCCESS = "success"
    WAIT_RESET = "wait_reset"  # retry once the token's rate-limit window resets
    BACKOFF = "backoff"  # retry after an exponential, jittered delay
    REFRESH = "refresh"  # refresh the token once, then retry; a second 401 invalidates
    INVALIDATE = "invalidate"  # the connection cannot work until a reconnect
    SLOW_RETRY = "slow_retry"  # unlikely to heal: retry at the slow cadence
    SPLIT = "split"  # the request is bad: halve the batch to isolate the bad records


class Reason(enum.IntEnum):
    """Why a user errored, or why one with records was Not Synced (``SUPERSEDED``: a later
    entry of the same ids took their place, ``coalescing``). Small ints: one byte per user."""

    NONE = 0
    RATE_LIMITED = 1
    AUTH_INVALID = 2
    AUDIENCE_DELETED = 3
    FORBIDDEN = 4
    SERVER_ERROR = 5
    TRANSPORT_ERROR = 6
    REJECTED = 7
    SUPERSEDED = 8  # never a verdict of this table: coalescing decides it

    @property
    def label(self) -> str | None:
        return None if self is Reason.NONE else self.name.lower()


@dataclass(frozen=True, slots=True)
class Disposition:
    verdict: Verdict
    reason: Reason


_SUCCESS = Disposition(Verdict.SUCCESS, Reason.NONE)

_BY_STATUS_AND_CODE: Mapping[tuple[int, int], Disposition] = {
    (401, 3): Disposition(Verdict.INVALIDATE, Reason.AUTH_INVALID),
}
_BY_STATUS: Mapping[int, Disposition] = {
    400: Disposition(Verdict.SPLIT, Reason.REJECTED),
    401: Disposition(Verdict.REFRESH, Reason.AUTH_INVALID),
    403: Disposition(Verdict.SLOW_RETRY, Reason.FORBIDDEN),
    404: Disposition(Verdict.SLOW_RETRY, Reason.AUDIENCE_DELETED),
    408: Disposition(Verdict.BACKOFF, Reason.SERVER_ERROR),
    413: Disposition(Verdict.SPLIT, Reason.REJECTED),
    422: Disposition(Verdict.SPLIT, Reason.REJECTED),
    429: Disposition(Verdict.WAIT_RESET, Reason.RATE_LIMITED),
}
_BY_CLASS: Mapping[int, Disposition] = {
    2: _SUCCESS,
    4: Disposition(Verdict.SLOW_RETRY, Reason.REJECTED),
    5: Disposition(Verdict.BACKOFF, Reason.SERVER_ERROR),
}
_BY_FAILURE: Mapping[str, Disposition] = {
    "timeout": Disposition(Verdict.BACKOFF, Reason.TRANSPORT_ERROR),
    "connection": Disposition(Verdict.BACKOFF, Reason.TRANSPORT_ERROR),
}
# 1xx and 3xx are never final answers from Pinterest's API: treat them as a server fault.
_UNEXPECTED = Disposition(Verdict.BACKOFF, Reason.SERVER_ERROR)


def classify(
    status: int | None,
    code: int | None = None,
    failure: Literal["timeout", "connection"] | None = None,
) -> Disposition:
    """What to do about one answer (``status`` and Pinterest ``code``) or transport failure."""
    if failure is not None:
        return _BY_FAILURE[failure]
    if status is None:
        return _UNEXPECTED
    if code is not None and (status, code) in _BY_STATUS_AND_CODE:
        return _BY_STATUS_AND_CODE[(status, code)]
    return _BY_STATUS.get(status) or _BY_CLASS.get(status // 100, _UNEXPECTED)


def classify_answer(status: int, body: bytes) -> Disposition:
    """``classify`` of one HTTP answer, Pinterest's code read from the body of an error."""
    return classify(status, None if status < 300 else error_code(body))
