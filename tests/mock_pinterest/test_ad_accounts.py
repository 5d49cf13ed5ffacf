from __future__ import annotations

from tests.mock_pinterest.harness import Harness


def test_ad_accounts_list_includes_shared_unless_asked_not_to() -> None:
    mock = Harness()
    own = mock.account()
    mock.http.post("/_mock/users", json={"user": "agency", "ad_account_ids": ["549755885175"]})
    mock.http.post("/_mock/ad_accounts/549755885175/share", json={"user": "default"})
    headers = mock.auth()
    listed = mock.http.get("/v5/ad_accounts", headers=headers).json()
    assert {item["id"] for item in listed["items"]} == {own, "549755885175"}
    only_own = mock.http.get(
        "/v5/ad_accounts", headers=headers, params={"include_shared_accounts": "false"}
    ).json()
    assert [item["id"] for item in only_own["items"]] == [own]


def test_ad_accounts_get_owner_unknown_and_forbidden() -> None:
    mock = Harness()
    headers, own = mock.auth(), mock.account()
    body = mock.http.get(f"/v5/ad_accounts/{own}", headers=headers).json()
    assert body["owner"]["username"] == "default" and body["permissions"] == ["OWNER"]
    unknown = mock.http.get("/v5/ad_accounts/42", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["message"] == "AdAccount not found."
    mock.http.post("/_mock/users", json={"user": "x", "ad_account_ids": ["77"]})
    assert mock.http.get("/v5/ad_accounts/77", headers=headers).status_code == 403


def test_ad_accounts_scope_required() -> None:
    mock = Harness()
    answer = mock.http.get("/v5/ad_accounts", headers=mock.auth(scopes=["user_accounts:read"]))
    assert (answer.status_code, answer.json()["code"]) == (401, 3)
