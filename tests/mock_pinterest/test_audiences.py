from __future__ import annotations

import pytest

from tests.mock_pinterest.harness import Harness, hashed

DAY = 86_400.0


@pytest.fixture
def mock() -> Harness:
    return Harness({"seed": 5, "epoch_s": 1_767_225_600})


def _create(
    mock: Harness, headers: dict[str, str], account: str, list_id: str
) -> dict[str, object]:
    answer = mock.http.post(
        f"/v5/ad_accounts/{account}/audiences",
        headers=headers,
        json={
            "ad_account_id": account,
            "name": "VIP",
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": list_id, "ad_account_id": account},
            "description": "",
        },
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_audiences_create_returns_spec_fields(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    body = _create(mock, headers, account, mock.new_list(headers, account, hashed(1)))
    assert body["type"] == "audience" and body["status"] == "INITIALIZING"
    assert body["size"] is None and body["description"] == ""
    assert body["created_timestamp"] == 1_767_225_600


def test_audiences_size_hidden_below_100_then_shown_after_refresh_delay(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(100))
    audience = _create(mock, headers, account, list_id)
    url = f"/v5/ad_accounts/{account}/audiences/{audience['id']}"
    mock.clock.advance(DAY)
    small = mock.http.get(url, headers=headers).json()
    assert (small["size"], small["status"]) == (None, "TOO_SMALL")
    mock.http.patch(
        f"/v5/ad_accounts/{account}/customer_lists/{list_id}",
        headers=headers,
        json={"operation_type": "ADD", "records": ",".join(hashed(1000, salt="more"))},
    )
    mock.clock.advance(DAY - 1)
    assert mock.http.get(url, headers=headers).json()["size"] is None
    mock.clock.advance(1)
    shown = mock.http.get(url, headers=headers).json()
    members = mock.backend.customer_lists[list_id].members
    expected = sum(1 for member in members if mock.backend.is_matched(member))
    assert shown["size"] == expected and shown["status"] == "READY"
    assert 100 <= expected < len(members)


def test_audiences_create_rejects_bad_type_and_foreign_list(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    url = f"/v5/ad_accounts/{account}/audiences"
    bad_type = {"name": "a", "audience_type": "customer_list", "rule": {"customer_list_id": "1"}}
    assert mock.http.post(url, headers=headers, json=bad_type).status_code == 400
    no_list = {"name": "a", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "1"}}
    assert mock.http.post(url, headers=headers, json=no_list).status_code == 400


def test_audiences_update_renames_and_remove_hides_it(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    audience = _create(mock, headers, account, mock.new_list(headers, account, hashed(1)))
    url = f"/v5/ad_accounts/{account}/audiences/{audience['id']}"
    renamed = mock.http.patch(
        url, headers=headers, json={"name": "New", "operation_type": "UPDATE"}
    )
    assert renamed.json()["name"] == "New"
    removed = mock.http.patch(url, headers=headers, json={"operation_type": "REMOVE"})
    assert removed.status_code == 200
    assert mock.http.get(url, headers=headers).status_code == 404
    listing = mock.http.get(f"/v5/ad_accounts/{account}/audiences", headers=headers).json()
    assert listing == {"items": [], "bookmark": None}


def test_audiences_list_orders_descending(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(1))
    ids = [_create(mock, headers, account, list_id)["id"] for _ in range(3)]
    listing = mock.http.get(
        f"/v5/ad_accounts/{account}/audiences", headers=headers, params={"order": "DESCENDING"}
    ).json()
    assert [item["id"] for item in listing["items"]] == ids[::-1]
