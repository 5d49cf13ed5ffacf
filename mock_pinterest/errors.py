"""Typed API errors and the one place they become HTTP answers.

Rules:
- Backend and blueprints *raise* an ``ApiError`` subclass; they never build error responses.
  Each class carries its HTTP status and Pinterest error code (FIDELITY.md "Errors").
- ``error_body`` is the only serialiser: every non-2xx answer, including unknown routes, 405s
  and injected faults, is ``{"code", "message", "status": "failure"}``.
- Messages never contain tokens, secrets or raw identifiers: callers pass fixed texts.

Exception tree::

    ApiError
    ├── InvalidParameters      400, code 1
    ├── InvalidGrant           400 (setting), code 1 (setting) — bad/used/expired code or token
    ├── InvalidScope           400, code 1 — a refresh asks for more than its grant (RFC 6749 §6)
    ├── AuthenticationFailed   401, code 2
    ├── InsufficientScope      401, code 3
    ├── NotPermitted           403, code 29
    ├── NotFound               404, code 2 (setting for lists and audiences)
    ├── RateLimited            429, code 8 (carries the limiter's headers)
    └── ServerError            500, code 12
"""

from __future__ import annotations

from collections.abc import Mapping

SERVER_ERROR_MESSAGE = "Something went wrong on our end. Sorry about that."

# Status → (Pinterest code, message) for answers that are not raised by a specific rule:
# injected faults and werkzeug's routing errors.
_GENERIC: Mapping[int, tuple[int, str]] = {
    400: (1, "Invalid parameters."),
    401: (2, "Authentication failed."),
    403: (29, "You are not permitted to access that resource."),
    404: (404, "Not found."),
    405: (405, "Method not allowed."),
    415: (1, "Invalid parameters."),
    429: (8, "This request exceeded a rate limit. Please try again later."),
    500: (12, SERVER_ERROR_MESSAGE),
    502: (12, SERVER_ERROR_MESSAGE),
    503: (12, "Service unavailable. Please try again later."),
    504: (12, "Gateway timeout. Please try again later."),
}


class ApiError(Exception):
    """An answer other than 2xx, decided by a rule of the mock."""

    status: int = 500
    code: int = 12
    message: str = SERVER_ERROR_MESSAGE

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers: Mapping[str, str] = dict(headers or {})
        super().__init__(self.message)


class InvalidParameters(ApiError):
    status = 400
    code = 1
    message = "Invalid parameters."


class InvalidGrant(ApiError):
    status = 400
    code = 1
    message = "Invalid grant: the code or refresh token is invalid, used or expired."


class InvalidScope(ApiError):
    # Pinterest's error shape has no OAuth ``error`` field: the RFC's name leads the message.
    status = 400
    code = 1
    message = "invalid_scope: the requested scope is not within the scope of the grant."


class AuthenticationFailed(ApiError):
    status = 401
    code = 2
    message = "Authentication failed."


class InsufficientScope(ApiError):
    status = 401
    code = 3
    message = (
        "Your token does not have sufficient permissions to perform this operation. "
        "Please check the scopes of your token."
    )


class NotPermitted(ApiError):
    status = 403
    code = 29
    message = "You are not permitted to access that resource."


class NotFound(ApiError):
    status = 404
    code = 2
    message = "Not found."


class RateLimited(ApiError):
    status = 429
    code = 8
    message = "This request exceeded a rate limit. Please try again later."


class ServerError(ApiError):
    status = 500
    code = 12
    message = SERVER_ERROR_MESSAGE


def generic_error(status: int) -> ApiError:
    """The error a bare status stands for (faults, routing): known code and message."""
    code, message = _GENERIC.get(status, (status, "Request failed."))
    return ApiError(message, status=status, code=code)


def error_body(error: ApiError) -> dict[str, object]:
    """The JSON body of every non-2xx answer."""
    return {"code": error.code, "message": error.message, "status": "failure"}
