"""The find-or-create state machine of one audience."""

import json

import pytest

from sync_core.errors import PeerError
from sync_core.provisioning import Provisioner, Stage


def page(items: list[dict[str, object]], bookmark: str | None = None) -> bytes:
    return json.dumps({"items": items, "bookmark": bookmark}).encode()


def new(name: str = "VIP") -> Provisioner:
    return Provisioner(ad_account_id="1", name=name, is_new=True, list_type="EMAIL")


def stage(p: Provisioner) -> Stage:
    """Read through a call: mypy would keep `p.stage` narrowed by one assert across the
    answers that change it, and call the next assert impossible."""
    return p.stage


def test_provisioner_follows_bookmarks_then_creates_list_and_audience() -> None:
    p = new()
    p.request("t", 250)
    p.on_success(page([{"id": "1", "name": "other"}], bookmark="b2"))
    assert "bookmark=b2" in p.request("t", 250)[1]
    p.on_success(page([]))
    assert stage(p) is Stage.FIND_LIST
    p.on_success(page([]))
    assert p.request("t", 250)[0:2] == ("POST", "/v5/ad_accounts/1/customer_lists")
    p.on_success(b'{"id": "77"}')
    method, path, _, body = p.request("t", 250)
    assert (method, path) == ("POST", "/v5/ad_accounts/1/audiences") and b'"77"' in (body or b"")
    p.on_success(b'{"id": "88"}')
    assert p.ready and p.list_id == "77"


def test_provisioner_searches_again_after_a_create_of_unknown_fate() -> None:
    p = new()
    for body in (page([]), page([])):
        p.on_success(body)
    assert stage(p) is Stage.CREATE_LIST
    p.on_unknown_fate()
    assert stage(p) is Stage.FIND_LIST
    p.on_success(page([{"id": "77", "name": "VIP"}]))  # the lost create had happened
    assert stage(p) is Stage.CREATE_AUDIENCE and p.list_id == "77"
    p.on_unknown_fate()
    assert stage(p) is Stage.FIND_AUDIENCE


def test_provisioner_uses_an_existing_audiences_customer_list() -> None:
    p = Provisioner(ad_account_id="1", name="Lapsed", is_new=False, list_type="EMAIL")
    p.on_success(page([{"id": "5", "name": "Lapsed", "rule": {"customer_list_id": "9"}}]))
    assert p.ready and p.list_id == "9"


def test_provisioner_reports_a_missing_existing_audience_and_searches_again() -> None:
    p = Provisioner(ad_account_id="1", name="Ghost", is_new=False, list_type="EMAIL")
    p.on_success(page([]))
    assert stage(p) is Stage.NOT_FOUND
    assert p.request("t", 250)[0] == "GET" and stage(p) is Stage.FIND_AUDIENCE


def test_provisioner_raises_peer_error_on_a_malformed_answer() -> None:
    with pytest.raises(PeerError):
        new().on_success(b'{"no": "items"}')
