from __future__ import annotations

from tests.mock_pinterest.harness import Harness


def test_user_account_get_answers_token_user() -> None:
    mock = Harness()
    body = mock.http.get("/v5/user_account", headers=mock.auth("acme")).json()
    assert body["username"] == "acme" and body["id"].isdigit()
    assert body["account_type"] == "BUSINESS"


def test_user_account_get_needs_scope_and_token() -> None:
    mock = Harness()
    assert mock.http.get("/v5/user_account").status_code == 401
    denied = mock.http.get("/v5/user_account", headers=mock.auth(scopes=["ads:read"]))
    assert (denied.status_code, denied.json()["code"]) == (401, 3)
