from __future__ import annotations

import pytest

from tests.mock_pinterest.harness import Harness, hashed


@pytest.fixture
def mock() -> Harness:
    return Harness({"seed": 3})


def _url(account: str, list_id: str = "") -> str:
    return f"/v5/ad_accounts/{account}/customer_lists" + (f"/{list_id}" if list_id else "")


def test_customer_lists_create_counts_one_batch_and_is_processing(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    answer = mock.http.post(
        _url(account), headers=headers, json={"name": "VIP", "records": ",".join(hashed(3)) + ","}
    )
    body = answer.json()
    assert answer.status_code == 200
    assert body["num_batches"] == 1 and body["num_uploaded_user_records"] == 3
    assert body["status"] == "PROCESSING" and body["type"] == "customerlist"
    assert body["exceptions"] == {} and body["ad_account_id"] == account
    assert body["id"].isdigit() and len(body["id"]) <= 18


def test_customer_lists_update_counters_include_duplicates_and_absent(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(2))
    records = ",".join(hashed(2))
    mock.http.patch(
        _url(account, list_id), headers=headers, json={"operation_type": "ADD", "records": records}
    )
    removal = ",".join(hashed(3, salt="gone"))
    answer = mock.http.patch(
        _url(account, list_id),
        headers=headers,
        json={"operation_type": "REMOVE", "records": removal, "ad_account_id": account},
    )
    body = mock.http.get(_url(account, list_id), headers=headers).json()
    assert answer.status_code == 200
    assert body["num_batches"] == 3
    assert body["num_uploaded_user_records"] == 4
    assert body["num_removed_user_records"] == 3
    assert mock.backend.customer_lists[list_id].members == set(hashed(2))


def test_customer_lists_update_remove_drops_members(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(5))
    mock.http.patch(
        _url(account, list_id),
        headers=headers,
        json={"operation_type": "REMOVE", "records": ",".join(hashed(2))},
    )
    assert mock.backend.customer_lists[list_id].members == set(hashed(5)[2:])


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"operation_type": "ADD", "records": ["a"]}', "application/json"),
        (b'{"operation_type": "add", "records": "a@b.co"}', "application/json"),
        (b'{"operation_type": "ADD"', "application/json"),
        (b'{"operation_type": "ADD", "records": "a@b.co"}', "text/plain"),
        (b"[1, 2]", "application/json"),
        (b'{"records": "a@b.co"}', "application/json"),
    ],
    ids=["array", "enum", "malformed", "content-type", "not-object", "missing-op"],
)
def test_customer_lists_update_rejects_bad_input_with_400(
    mock: Harness, body: bytes, content_type: str
) -> None:
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(1))
    answer = mock.http.patch(
        _url(account, list_id), headers={**headers, "Content-Type": content_type}, content=body
    )
    assert answer.status_code == 400
    assert answer.json() == {"code": 1, "message": answer.json()["message"], "status": "failure"}


def test_customer_lists_update_rejects_more_than_max_records(mock: Harness) -> None:
    mock = Harness({"max_records_per_request": 10})
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(1))
    answer = mock.http.patch(
        _url(account, list_id),
        headers=headers,
        json={"operation_type": "ADD", "records": ",".join(hashed(11))},
    )
    assert answer.status_code == 400
    assert mock.backend.customer_lists[list_id].num_batches == 1


def test_customer_lists_get_unknown_or_non_numeric_ids(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    assert mock.http.get(_url(account, "123"), headers=headers).json()["code"] == 2
    assert mock.http.get(_url(account, "123"), headers=headers).status_code == 404
    assert mock.http.get(_url(account, "abc"), headers=headers).status_code == 400
    assert mock.http.get(_url("12x"), headers=headers).status_code == 400


def test_customer_lists_list_pages_with_bookmark(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    ids = [mock.new_list(headers, account, hashed(1)) for _ in range(3)]
    first = mock.http.get(_url(account), headers=headers, params={"page_size": 2}).json()
    rest = mock.http.get(
        _url(account), headers=headers, params={"page_size": 2, "bookmark": first["bookmark"]}
    ).json()
    assert [item["id"] for item in first["items"] + rest["items"]] == ids
    assert rest["bookmark"] is None


@pytest.mark.parametrize("page_size", ["0", "251", "x"])
def test_customer_lists_list_rejects_bad_page_size(mock: Harness, page_size: str) -> None:
    headers, account = mock.auth(), mock.account()
    answer = mock.http.get(_url(account), headers=headers, params={"page_size": page_size})
    assert answer.status_code == 400


def test_customer_lists_scope_is_enforced_per_operation(mock: Harness) -> None:
    account = mock.account()
    reader = mock.auth(scopes=["ads:read"])
    answer = mock.http.post(_url(account), headers=reader, json={"name": "n", "records": "a@b.co"})
    assert (answer.status_code, answer.json()["code"]) == (401, 3)
    assert mock.http.get(_url(account), headers=reader).status_code == 200


def test_customer_lists_not_shared_ad_account_is_403(mock: Harness) -> None:
    mock.http.post("/_mock/users", json={"user": "other", "ad_account_ids": ["549755885175"]})
    answer = mock.http.get(_url("549755885175"), headers=mock.auth())
    assert (answer.status_code, answer.json()["code"]) == (403, 29)
    mock.http.post("/_mock/ad_accounts/549755885175/share", json={"user": "default"})
    assert mock.http.get(_url("549755885175"), headers=mock.auth()).status_code == 200


def test_customer_lists_invalid_records_reported_or_rejected(mock: Harness) -> None:
    headers, account = mock.auth(), mock.account()
    body = {"name": "n", "records": "ok@x.co,Upper@X.CO," + hashed(1)[0]}
    answer = mock.http.post(_url(account), headers=headers, json=body).json()
    assert answer["exceptions"] == {"invalid_records": 1}
    assert answer["num_uploaded_user_records"] == 3
    strict = Harness({"invalid_records": "reject"})
    rejected = strict.http.post(_url(strict.account()), headers=strict.auth(), json=body)
    assert rejected.status_code == 400


def test_customer_lists_create_empty_allowed_unless_configured(mock: Harness) -> None:
    body = {"name": "Launched before anyone entered", "records": ""}
    answer = mock.http.post(_url(mock.account()), headers=mock.auth(), json=body)
    assert answer.status_code == 200
    assert answer.json()["num_uploaded_user_records"] == 0
    strict = Harness({"empty_list_create": False})
    rejected = strict.http.post(_url(strict.account()), headers=strict.auth(), json=body)
    assert rejected.status_code == 400 and rejected.json()["code"] == 1
