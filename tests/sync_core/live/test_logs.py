"""Structured logs: one JSON object per line, and no secret or identifier in any of them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sync_core import Connection, SendRequest
from sync_core.live.logs import REDACTED, JsonLinesFormatter, configured, event

TOKEN = "pina_AbC123.secret-token"
REFRESH = "pinr_XyZ789.refresh"
CLIENT_SECRET = "app-secret-42"
EMAIL = "Ann.Person@Example.com"
MAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
SECRETS = (TOKEN, REFRESH, CLIENT_SECRET, EMAIL, EMAIL.lower(), MAID, "u-1234")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    log = logging.getLogger("pinsim.test")
    log.propagate = False  # keep pytest's own capture out of it
    with configured(stream, loggers=("pinsim.test",)):
        yield log, stream
    ours = [h for h in log.handlers if isinstance(h.formatter, JsonLinesFormatter)]
    assert ours == [] and log.level == logging.NOTSET  # undone on leaving


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_logs_write_one_json_object_per_event_with_its_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    event(log, "batch_sent", step="vip", records=1900, status=200)
    event(log, "checkpoint", level=logging.DEBUG, entered_through=5)  # below the level
    [line] = lines(stream)
    assert line["event"] == "batch_sent" and line["level"] == "info"
    assert (line["logger"], line["step"], line["records"], line["status"]) == (
        "pinsim.test",
        "vip",
        1900,
        200,
    )


def test_logs_never_show_a_token_a_secret_or_an_identifier(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    connection = Connection(id="ws", access_token=TOKEN, refresh_token=REFRESH)
    request = SendRequest(
        request_id=1,
        method="PATCH",
        path="/v5/ad_accounts/1/customer_lists/2",
        headers={"authorization": f"Bearer {TOKEN}"},
        body=EMAIL.encode(),
        timeout_s=30,
    )
    event(
        log,
        "token_refreshed",
        access_token=TOKEN,
        refresh_token=REFRESH,
        client_secret=CLIENT_SECRET,
        headers={"Authorization": f"Bearer {TOKEN}", "x-request-id": "r-1"},
        user={"email": EMAIL, "maid": MAID, "user_id": "u-1234"},
        note=f"sent for {EMAIL} with Bearer {TOKEN}",
        recent=[{"email": EMAIL}, f"basic {TOKEN}"],
        request=request,
        connection=connection,
    )
    log.warning("refresh failed for %s: Authorization: Bearer %s", EMAIL, TOKEN)
    try:
        raise ValueError(f"bad answer for {EMAIL}, token {TOKEN!r} (Bearer {TOKEN})")
    except ValueError:
        log.exception("answer_unreadable")
    text = stream.getvalue()
    for secret in SECRETS:
        assert secret not in text
    first, second, third = lines(stream)
    assert first["access_token"] == REDACTED and first["client_secret"] == REDACTED
    assert first["user"] == {"email": REDACTED, "maid": REDACTED, "user_id": REDACTED}
    assert first["headers"] == {"Authorization": REDACTED, "x-request-id": "r-1"}
    assert first["note"] == f"sent for [email] with Bearer {REDACTED}"
    assert "PATCH /v5/ad_accounts/1/customer_lists/2" in str(first["request"])
    assert second["event"] == f"refresh failed for [email]: Authorization: Bearer {REDACTED}"
    assert "ValueError" in str(third["error"])
    event(log, "token refreshed", detail="token refreshed; access_token=" + TOKEN)
    assert lines(stream)[-1]["detail"] == f"token refreshed; access_token={REDACTED}"
