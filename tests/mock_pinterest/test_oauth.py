from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.mock_pinterest.harness import Harness

REDIRECT = "https://app.example/callback"


@pytest.fixture
def mock() -> Harness:
    return Harness({"auto_approve": True})


def _creds(mock: Harness) -> tuple[str, str]:
    client = mock.backend.default_client
    return client.client_id, client.client_secret


def _code(mock: Harness, redirect_uri: str = REDIRECT, state: str = "xyz") -> str:
    answer = mock.http.get(
        "/oauth/",
        params={
            "client_id": _creds(mock)[0],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "ads:read,ads:write,user_accounts:read",
            "state": state,
        },
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


def _token(mock: Harness, auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
    return mock.http.post("/v5/oauth/token", data=form, auth=auth or _creds(mock))


def test_oauth_authorization_code_flow_gives_working_tokens(mock: Harness) -> None:
    answer = _token(mock, grant_type="authorization_code", code=_code(mock), redirect_uri=REDIRECT)
    body = answer.json()
    assert answer.status_code == 200
    assert body["access_token"].startswith("pina_") and body["refresh_token"].startswith("pinr.")
    assert body["token_type"] == "bearer" and body["response_type"] == "authorization_code"
    assert body["expires_in"] == 30 * 86400 and body["refresh_token_expires_in"] == 60 * 86400
    assert body["scope"] == "ads:read,ads:write,user_accounts:read"
    user = mock.http.get(
        "/v5/user_account", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert user.json()["username"] == "default"


def test_oauth_consent_page_has_confirm_button_that_redirects() -> None:
    mock = Harness()
    params = {
        "client_id": _creds(mock)[0],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "ads:read",
        "state": "s1",
    }
    page = mock.http.get("/oauth/", params=params)
    assert page.status_code == 200 and "<button" in page.text
    confirmed = mock.http.post("/oauth/", data=params)
    assert confirmed.status_code == 302
    assert confirmed.headers["location"].startswith(REDIRECT + "?code=")


def test_oauth_code_is_single_use(mock: Harness) -> None:
    code = _code(mock)
    _token(mock, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    again = _token(mock, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400 and again.json()["code"] != 2


def test_oauth_code_expires_after_ten_minutes(mock: Harness) -> None:
    code = _code(mock)
    mock.clock.advance(601)
    answer = _token(mock, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert answer.status_code == 400


def test_oauth_redirect_uri_must_match(mock: Harness) -> None:
    answer = _token(
        mock, grant_type="authorization_code", code=_code(mock), redirect_uri=REDIRECT + "/x"
    )
    assert answer.status_code == 400


def test_oauth_bad_client_credentials_is_401_code_2(mock: Harness) -> None:
    client_id, _ = _creds(mock)
    answer = _token(
        mock,
        auth=(client_id, "wrong"),
        grant_type="authorization_code",
        code=_code(mock),
        redirect_uri=REDIRECT,
    )
    assert answer.status_code == 401
    assert answer.json() == {"code": 2, "message": "Authentication failed.", "status": "failure"}
    assert mock.http.post("/v5/oauth/token", data={"grant_type": "x"}).status_code == 401


def test_oauth_refresh_rotates_and_old_refresh_token_stops_working(mock: Harness) -> None:
    first = mock.token()
    fresh = _token(mock, grant_type="refresh_token", refresh_token=str(first["refresh_token"]))
    body = fresh.json()
    assert fresh.status_code == 200 and body["response_type"] == "refresh_token"
    assert body["refresh_token"] != first["refresh_token"]
    reuse = _token(mock, grant_type="refresh_token", refresh_token=str(first["refresh_token"]))
    assert reuse.status_code == 400
    chained = _token(mock, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert chained.status_code == 200


def test_oauth_refresh_can_keep_old_token_when_configured() -> None:
    mock = Harness({"old_refresh_token_survives_rotation": True})
    first = mock.token()
    for _ in range(2):
        answer = _token(mock, grant_type="refresh_token", refresh_token=str(first["refresh_token"]))
        assert answer.status_code == 200


def test_oauth_client_credentials_has_no_refresh_token(mock: Harness) -> None:
    answer = _token(mock, grant_type="client_credentials", scope="ads:read")
    assert answer.status_code == 200
    assert "refresh_token" not in answer.json() and answer.json()["scope"] == "ads:read"


def test_oauth_revoke_makes_token_invalid_at_once(mock: Harness) -> None:
    token = str(mock.token()["access_token"])
    headers = {"Authorization": f"Bearer {token}"}
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 200
    revoked = mock.http.post(
        "/v5/oauth/token/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=_creds(mock),
    )
    assert revoked.status_code == 200 and revoked.content == b""
    answer = mock.http.get("/v5/user_account", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, 2)


def test_oauth_token_rejects_json_body_and_unknown_grant(mock: Harness) -> None:
    assert mock.http.post("/v5/oauth/token", json={}, auth=_creds(mock)).status_code == 400
    assert _token(mock, grant_type="password").status_code == 400


def test_oauth_access_token_expires_on_the_mock_clock(mock: Harness) -> None:
    headers = mock.auth()
    mock.clock.advance(30 * 86400)
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 401
