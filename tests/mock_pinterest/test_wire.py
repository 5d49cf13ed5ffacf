from __future__ import annotations

import pytest
from flask import Flask

from mock_pinterest.errors import InvalidParameters
from mock_pinterest.records import HexText
from mock_pinterest.wire import Page, json_body, numeric_id, page_params, paginate

HEX = "0123456789abcdef" * 4


def _json_body(body: bytes) -> object:
    app = Flask(__name__)
    with app.test_request_context("/", method="POST", data=body, content_type="application/json"):
        try:
            return json_body()
        except InvalidParameters:
            return None


@pytest.mark.parametrize("value", ["", "12a", "1" * 19, "١٢"])
def test_wire_numeric_id_rejects_non_digit_or_long(value: str) -> None:
    with pytest.raises(InvalidParameters):
        numeric_id(value, "id")


def test_wire_page_params_defaults() -> None:
    with Flask(__name__).test_request_context("/?order=DESCENDING"):
        assert page_params() == Page(size=25, bookmark=None, descending=True)


def test_wire_paginate_descending_after_bookmark() -> None:
    page = Page(size=2, bookmark="30", descending=True)
    result = paginate(["10", "20", "30", "40"], page, id_of=str, render=int)
    assert result == {"items": [20, 10], "bookmark": None}


@pytest.mark.parametrize("body", [b'{"records":"ab"', b'["records"]', b'"\xff"', b""])
def test_wire_json_body_rejects_malformed_or_non_object_bodies(body: bytes) -> None:
    assert _json_body(body) is None


def test_wire_json_body_marks_plain_hex_records() -> None:
    parsed = _json_body(b'{"records":"' + HEX.encode() + b',","operation_type":"ADD"}')
    assert isinstance(parsed, dict) and type(parsed["records"]) is HexText
    uppercase = _json_body(b'{"records":"' + HEX.upper().encode() + b'"}')
    assert isinstance(uppercase, dict) and type(uppercase["records"]) is str


def test_wire_json_body_reads_the_body_once_per_request() -> None:
    body = b'{"records":"' + HEX.encode() + b'"}'
    with Flask(__name__).test_request_context(
        "/", method="POST", data=body, content_type="application/json"
    ):
        assert json_body() is json_body()
