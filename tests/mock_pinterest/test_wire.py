from __future__ import annotations

import pytest
from flask import Flask

from mock_pinterest.errors import InvalidParameters
from mock_pinterest.wire import Page, numeric_id, page_params, paginate


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
