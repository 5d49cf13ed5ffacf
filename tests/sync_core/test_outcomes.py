"""The classification table, row by row."""

from typing import Literal

import pytest

from sync_core.outcomes import Reason, Verdict, classify

Failure = Literal["timeout", "connection"]
# status, Pinterest's error code, transport failure -> verdict, reason
Row = tuple[int | None, int | None, Failure | None, Verdict, Reason]

ROWS: list[Row] = [
    (200, None, None, Verdict.SUCCESS, Reason.NONE),
    (201, None, None, Verdict.SUCCESS, Reason.NONE),
    (429, 8, None, Verdict.WAIT_RESET, Reason.RATE_LIMITED),
    (500, 12, None, Verdict.BACKOFF, Reason.SERVER_ERROR),
    (503, None, None, Verdict.BACKOFF, Reason.SERVER_ERROR),
    (408, None, None, Verdict.BACKOFF, Reason.SERVER_ERROR),
    (None, None, "timeout", Verdict.BACKOFF, Reason.TRANSPORT_ERROR),
    (None, None, "connection", Verdict.BACKOFF, Reason.TRANSPORT_ERROR),
    (401, 2, None, Verdict.REFRESH, Reason.AUTH_INVALID),
    (401, 3, None, Verdict.INVALIDATE, Reason.AUTH_INVALID),
    (403, 29, None, Verdict.SLOW_RETRY, Reason.FORBIDDEN),
    (404, 2, None, Verdict.SLOW_RETRY, Reason.AUDIENCE_DELETED),
    (400, 1, None, Verdict.SPLIT, Reason.REJECTED),
    (413, None, None, Verdict.SPLIT, Reason.REJECTED),
    (409, None, None, Verdict.SLOW_RETRY, Reason.REJECTED),
    (302, None, None, Verdict.BACKOFF, Reason.SERVER_ERROR),
]


@pytest.mark.parametrize(("status", "code", "failure", "verdict", "reason"), ROWS)
def test_classify_maps_every_row_of_the_table(
    status: int | None,
    code: int | None,
    failure: Failure | None,
    verdict: Verdict,
    reason: Reason,
) -> None:
    disposition = classify(status, code, failure)
    assert (disposition.verdict, disposition.reason) == (verdict, reason)


def test_classify_transport_failure_wins_over_any_status() -> None:
    assert classify(200, None, "timeout").verdict is Verdict.BACKOFF


def test_reason_labels_are_the_contract_names() -> None:
    assert sorted(r.label for r in Reason if r.label) == sorted(
        [
            "rate_limited",
            "auth_invalid",
            "audience_deleted",
            "forbidden",
            "server_error",
            "transport_error",
            "rejected",
            "superseded",
        ]
    )


def test_classify_answer_reads_pinterests_code_from_an_error_body_only() -> None:
    from sync_core.outcomes import classify_answer

    scope = b'{"code": 3, "message": "missing scope"}'
    assert classify_answer(401, scope).verdict is Verdict.INVALIDATE
    assert classify_answer(401, b"<html>").verdict is Verdict.REFRESH  # no code: a plain 401
    assert classify_answer(200, b"{").verdict is Verdict.SUCCESS  # a success's body is not read
