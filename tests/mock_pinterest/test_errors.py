from __future__ import annotations

from mock_pinterest.errors import InsufficientScope, NotFound, error_body, generic_error


def test_errors_carry_status_and_pinterest_code() -> None:
    assert (InsufficientScope().status, InsufficientScope().code) == (401, 3)
    assert error_body(NotFound("AdAccount not found.")) == {
        "code": 2,
        "message": "AdAccount not found.",
        "status": "failure",
    }


def test_errors_generic_by_status_table() -> None:
    assert (generic_error(429).code, generic_error(500).code) == (8, 12)
    assert generic_error(418).status == 418
