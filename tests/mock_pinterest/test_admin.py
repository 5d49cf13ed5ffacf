from __future__ import annotations

import csv
import io

import httpx
import pytest

from mock_pinterest.journal import JOURNAL_COLUMNS
from tests.mock_pinterest.harness import Harness, hashed


def _audience(mock: Harness, headers: dict[str, str], account: str) -> tuple[str, str]:
    list_id = mock.new_list(headers, account, hashed(3))
    answer = mock.http.post(
        f"/v5/ad_accounts/{account}/audiences",
        headers=headers,
        json={"name": "a", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": list_id}},
    )
    return list_id, str(answer.json()["id"])


def test_admin_audience_delete_makes_list_writes_404() -> None:
    mock = Harness()
    headers, account = mock.auth(), mock.account()
    list_id, audience_id = _audience(mock, headers, account)
    assert mock.http.post(f"/_mock/audiences/{audience_id}/delete").status_code == 200
    answer = mock.http.patch(
        f"/v5/ad_accounts/{account}/customer_lists/{list_id}",
        headers=headers,
        json={"operation_type": "ADD", "records": hashed(1)[0]},
    )
    assert answer.status_code == 404 and answer.json()["status"] == "failure"
    assert mock.http.post(f"/_mock/audiences/{audience_id}/delete").status_code == 404


def test_admin_users_creates_owned_accounts_idempotently() -> None:
    mock = Harness()
    body = {"user": "acme", "ad_account_ids": ["549755885175"]}
    first = mock.http.post("/_mock/users", json=body).json()
    again = mock.http.post("/_mock/users", json=body).json()
    assert first == again == {"user": "acme", "ad_account_ids": ["549755885175"]}
    token = mock.token("acme")
    assert token["ad_account_ids"] == ["549755885175"] and token["user"] == "acme"


def test_admin_tokens_revoke_by_user_kills_access_and_refresh() -> None:
    mock = Harness()
    token = mock.token()
    answer = mock.http.post("/_mock/tokens/revoke", json={"user": "default"})
    assert answer.json() == {"revoked": 1}
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 401
    refresh = mock.http.post(
        "/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": str(token["refresh_token"])},
        auth=(str(token["client_id"]), str(token["client_secret"])),
    )
    assert refresh.status_code == 400


def test_admin_reset_returns_to_seeded_state() -> None:
    mock = Harness({"seed": 9})
    before = mock.http.get("/_mock/state").json()
    mock.new_list(mock.auth(), mock.account(), hashed(2))
    assert mock.http.post("/_mock/reset").json() == {}
    assert mock.http.get("/_mock/state").json() == before
    assert mock.backend.journal.records == []


def test_admin_state_lists_members_as_hashed_ids() -> None:
    mock = Harness()
    mock.new_list(mock.auth(), mock.account(), hashed(2))
    state = mock.http.get("/_mock/state").json()
    assert state["customer_lists"][0]["members"] == sorted(hashed(2))
    assert [user["user"] for user in state["users"]] == ["default"]


def test_admin_faults_add_list_delete() -> None:
    mock = Harness()
    added = mock.http.post("/_mock/faults", json={"match": {"method": "GET"}, "status": 503})
    assert added.status_code == 201
    rule_id = added.json()["id"]
    assert [rule["id"] for rule in mock.http.get("/_mock/faults").json()["items"]] == [rule_id]
    assert mock.http.get("/v5/user_account", headers=mock.auth()).status_code == 503
    assert mock.http.delete(f"/_mock/faults/{rule_id}").status_code == 200
    assert mock.http.delete(f"/_mock/faults/{rule_id}").status_code == 404
    assert mock.http.get("/v5/user_account", headers=mock.auth()).status_code == 200
    assert mock.http.post("/_mock/faults", json={"status": 503, "oops": 1}).status_code == 400


def test_admin_journal_json_and_csv_agree_and_hide_tokens() -> None:
    mock = Harness()
    headers, account = mock.auth(), mock.account()
    mock.new_list(headers, account, hashed(4))
    mock.http.get("/v5/user_account")
    items = mock.http.get("/_mock/journal").json()["items"]
    text = mock.http.get("/_mock/journal", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [tuple(item) for item in items] == [JOURNAL_COLUMNS] * 2
    assert [row["path"] for row in rows] == [item["path"] for item in items]
    assert items[0]["records"] == 4 and items[0]["token_id"] == "tok-1"
    assert items[1]["status"] == 401 and items[1]["code"] == 2
    assert headers["Authorization"].split()[1] not in text


def _refresh(mock: Harness, token: dict[str, object]) -> httpx.Response:
    return mock.http.post(
        "/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": str(token["refresh_token"])},
        auth=(str(token["client_id"]), str(token["client_secret"])),
    )


def test_admin_tokens_expiry_shortens_live_tokens_and_issues_short_ones() -> None:
    mock = Harness()
    token, other = mock.token(), mock.token("acme")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    answer = mock.http.post(
        "/_mock/tokens/expiry", json={"access_token_ttl_s": 60, "user": "default"}
    )
    assert answer.json() == {"shortened": 1}
    mock.clock.advance(59.0)
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 200
    mock.clock.advance(1.0)
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 401
    # another user's token keeps its 30 days
    acme = {"Authorization": f"Bearer {other['access_token']}"}
    assert mock.http.get("/v5/user_account", headers=acme).status_code == 200
    # the refresh works and says the new lifetime, which holds
    renewed = _refresh(mock, token)
    assert renewed.status_code == 200 and renewed.json()["expires_in"] == 60
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    mock.clock.advance(60.0)
    assert mock.http.get("/v5/user_account", headers=fresh).status_code == 401


def test_admin_tokens_expiry_can_refuse_the_refresh() -> None:
    mock = Harness()
    token = mock.token()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = {"access_token_ttl_s": 30, "refuse_refresh": True}
    assert mock.http.post("/_mock/tokens/expiry", json=body).json() == {"shortened": 1}
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 200  # until expiry
    mock.clock.advance(30.0)
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 401
    refused = _refresh(mock, token)
    assert refused.status_code == 400 and "Invalid grant" in refused.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token_ttl_s": 0},
        {"access_token_ttl_s": -5},
        {"access_token_ttl_s": True},
        {"access_token_ttl_s": "60"},
        {"access_token_ttl_s": 1e12},
        {"access_token_ttl_s": 60, "refuse_refresh": "yes"},
        {"access_token_ttl_s": 60, "user": ""},
    ],
)
def test_admin_tokens_expiry_refuses_bad_bodies_and_changes_nothing(
    body: dict[str, object],
) -> None:
    mock = Harness()
    token = mock.token()
    answer = mock.http.post("/_mock/tokens/expiry", json=body)
    assert answer.status_code == 400 and answer.json()["status"] == "failure"
    assert mock.backend.access_ttl_s == {}
    mock.clock.advance(3600.0)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 200
