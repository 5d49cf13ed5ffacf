"""Pinterest request builders and response parsers."""

import base64
import json
from urllib.parse import parse_qs

import pytest

from sync_core import wire
from sync_core.errors import PeerError


def test_update_customer_list_sends_records_as_one_comma_separated_string() -> None:
    method, path, headers, body = wire.update_customer_list("tok", "12", "34", "aa,bb", "REMOVE")
    assert (method, path) == ("PATCH", "/v5/ad_accounts/12/customer_lists/34")
    assert headers["authorization"] == "Bearer tok"
    assert json.loads(body or b"") == {"records": "aa,bb", "operation_type": "REMOVE"}


def test_refresh_token_is_form_encoded_with_basic_client_auth() -> None:
    method, path, headers, body = wire.refresh_token("app", "s3cret", "pinr.x/y")
    assert (method, path) == ("POST", "/v5/oauth/token")
    assert base64.b64decode(headers["authorization"].split()[1]) == b"app:s3cret"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs((body or b"").decode())
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["pinr.x/y"]}


def test_list_audiences_passes_the_bookmark() -> None:
    _, path, headers, body = wire.list_audiences("tok", "12", 250, "abc")
    assert path == "/v5/ad_accounts/12/audiences?page_size=250&bookmark=abc"
    assert body is None and "content-type" not in headers


def test_create_audience_names_its_customer_list() -> None:
    _, path, _, body = wire.create_audience("tok", "12", "VIP", "34")
    assert path == "/v5/ad_accounts/12/audiences"
    assert json.loads(body or b"") == {
        "name": "VIP",
        "audience_type": "CUSTOMER_LIST",
        "rule": {"customer_list_id": "34"},
    }


def test_parse_page_reads_items_rules_and_bookmark_ignoring_extra_fields() -> None:
    body = json.dumps(
        {
            "items": [{"id": "1", "name": "A", "rule": {"customer_list_id": "9"}, "size": None}],
            "bookmark": "next",
            "extra": True,
        }
    ).encode()
    page = wire.parse_page(body)
    assert page.bookmark == "next"
    assert page.items[0] == wire.Audience(id="1", name="A", customer_list_id="9")


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"items": 3}', b'{"items": [{"name": "x"}]}'])
def test_parse_page_raises_peer_error_on_malformed_bodies(body: bytes) -> None:
    with pytest.raises(PeerError):
        wire.parse_page(body)


def test_parse_token_and_created_id_need_their_fields() -> None:
    assert wire.parse_token(b'{"access_token": "a", "refresh_token": "r"}').refresh_token == "r"
    assert wire.parse_created_id(b'{"id": "5"}') == "5"
    with pytest.raises(PeerError, match="access_token"):
        wire.parse_token(b'{"token": "a"}')


def test_error_code_and_rate_limit_headers_are_read_case_insensitively() -> None:
    assert wire.error_code(b'{"code": 3, "message": "m"}') == 3
    assert wire.error_code(b"oops") is None
    limits = wire.parse_rate_limit({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2.5"})
    assert (limits.remaining, limits.reset_s) == (0, 2.5)
    assert wire.parse_rate_limit({}).reset_s is None


@pytest.mark.parametrize(
    ("value", "limit"), [("400", 400), ("7", 7), ("-1", None), ("nan", None), ("inf", None)]
)
def test_rate_limit_header_names_the_windows_count(value: str, limit: int | None) -> None:
    assert wire.parse_rate_limit({"X-RateLimit-Limit": value}).limit == limit
    assert wire.parse_rate_limit({}).limit is None
