"""The mock under hostile input (issue 13, "The mock hardened").

Bounded JSON, validated fault rules, latency that delays only its own request, ``Allow`` on
405, registered redirect URIs, grant-wide revocation and the refresh scope rules of RFC 6749.
Error bodies of API paths are checked against Pinterest's spec (``conforming_client``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask
from openapi_core import OpenAPI

from mock_pinterest import MockConfig, pipeline
from mock_pinterest.errors import InvalidParameters
from mock_pinterest.pytest_plugin import PinterestMock
from mock_pinterest.redirects import is_registered
from tests.mock_pinterest.harness import Harness

JSON = {"Content-Type": "application/json"}
APP_URI = "https://app.example/callback"
LOOPBACK_URI = "http://127.0.0.1/callback"
# Wait at most this long for a thread that should long have finished; never a timing claim.
_STUCK_S = 10.0


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _assert_error(answer: httpx.Response, status: int = 400) -> str:
    """The answer is Pinterest's error shape with ``status``; its message."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "failure" and isinstance(body["code"], int)
    assert isinstance(body["message"], str)
    return str(body["message"])


# -- bounded JSON ------------------------------------------------------------------------------


@pytest.fixture
def auth(pinterest_mock: PinterestMock) -> dict[str, str]:
    return {"Authorization": f"Bearer {pinterest_mock.tokens()['access_token']}"}


@pytest.fixture
def account(pinterest_mock: PinterestMock) -> str:
    return str(pinterest_mock.tokens()["ad_account_ids"][0])


@pytest.mark.parametrize(
    "body",
    [
        _nested(100_000),
        '{"name": "l", "records": "", "x": ' + _nested(100_000) + "}",
        '{"name": "l", "records": "", "list_type": ' + "9" * 5000 + "}",
        '{"name": "l", "records": "", "x": NaN}',
        '{"name": "l", "records": "", "x": 1e999}',
    ],
    ids=["deep-array", "deep-field", "5000-digit-int", "nan", "overflowing-float"],
)
def test_hostile_json_bodies_answer_400_in_pinterest_error_shape(
    conforming_client: httpx.Client, auth: dict[str, str], account: str, body: str
) -> None:
    answer = conforming_client.post(
        f"/v5/ad_accounts/{account}/customer_lists", content=body, headers=auth | JSON
    )
    _assert_error(answer)


@pytest.mark.parametrize("page_size", ["1" * 5000, "9" * 19, "1" * 4000])
def test_page_size_of_thousands_of_digits_answers_400(
    conforming_client: httpx.Client, auth: dict[str, str], page_size: str
) -> None:
    answer = conforming_client.get(f"/v5/ad_accounts?page_size={page_size}", headers=auth)
    assert "page_size" in _assert_error(answer)


def test_json_depth_is_bounded_at_64_levels() -> None:
    mock = Harness()

    def add_user(depth: int) -> httpx.Response:
        # The body object is level 1; unknown fields are ignored, so only the depth matters.
        body = '{"user": "u", "x": ' + _nested(depth - 1) + "}"
        return mock.http.post("/_mock/users", content=body, headers=JSON)

    assert add_user(64).status_code == 200
    assert "64" in _assert_error(add_user(65))
    assert "64" in _assert_error(add_user(900))  # below the parser's own recursion limit


# -- fault rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"latency_s": 3600.5}, "latency_s"),
        ({"latency_s": 1e300}, "latency_s"),
        ({"latency_s": -0.5}, "latency_s"),
        ({"latency_s": "5"}, "latency_s"),
        ({"status": 500, "from": 10**400}, "from"),
        ({"status": 500, "until": -(10**400)}, "until"),
        ({"status": 500, "count": 10**12}, "count"),
        ({"status": 600}, "status"),
        ({"status": 500, "probability": -0.1}, "probability"),
    ],
)
def test_bad_fault_rules_are_refused_with_400_naming_the_field(
    rule: dict[str, object], field: str
) -> None:
    mock = Harness()
    answer = mock.http.post("/_mock/faults", content=json.dumps(rule), headers=JSON)
    assert f"'{field}'" in _assert_error(answer)
    assert mock.http.get("/_mock/faults").json() == {"items": []}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 3600.000001])
def test_fault_book_refuses_non_finite_or_too_long_latency_in_process(value: float) -> None:
    mock = Harness()
    with pytest.raises(InvalidParameters, match="'latency_s'"):
        mock.backend.faults.add({"latency_s": value})


@pytest.mark.parametrize(
    ("config", "maximum"),
    [
        ({}, 3600),  # in process: simulated on the caller's clock, an hour at most
        ({"sleep_latency": True}, 60),  # slept by a server: 60 wall seconds at most
        ({"sleep_latency": True, "speed": 10}, 600),  # ... of a clock 10x the wall clock
        ({"sleep_latency": True, "speed": 1000}, 3600),
    ],
)
def test_latency_maximum_is_an_hour_and_a_minute_of_wall_sleep(
    config: dict[str, object], maximum: int
) -> None:
    mock = Harness(config)
    assert mock.http.post("/_mock/faults", json={"latency_s": maximum}).status_code == 201
    listed = mock.http.get("/_mock/faults")
    assert json.loads(listed.text)["items"][0]["latency_s"] == maximum
    refused = mock.http.post("/_mock/faults", json={"latency_s": maximum + 0.001})
    assert f"from 0 to {maximum}." in _assert_error(refused)


@pytest.mark.parametrize(
    "setting",
    [
        {"access_token_ttl_s": float("inf")},
        {"refresh_token_ttl_s": float("nan")},
        {"code_ttl_s": 0},
        {"epoch_s": float("-inf")},
        {"size_refresh_delay_s": 10**400},
    ],
)
def test_mock_config_refuses_non_finite_durations_naming_the_field(
    setting: dict[str, object],
) -> None:
    (name,) = setting
    with pytest.raises(ValueError, match=name):
        MockConfig.from_mapping(setting)


@pytest.mark.parametrize(
    "setting",
    [
        {"ads_write_per_second": 10**30},  # a sliding window's deque of that length: a 500
        {"ads_write_per_second": 0},
        {"ads_write_per_minute": 10**12},
        {"org_read_per_minute": 2.5},
        {"max_records_per_request": True},
        {"min_visible_size": -1},
    ],
)
def test_mock_config_refuses_counts_out_of_range_naming_the_field(
    setting: dict[str, object],
) -> None:
    (name,) = setting
    with pytest.raises(ValueError, match=f"{name} must be a whole number from"):
        MockConfig.from_mapping(setting)
    # with no per-minute limit at all, as by default, the config stands
    assert MockConfig.from_mapping({"ads_write_per_minute": None}).ads_write_per_minute is None


@pytest.fixture
def held_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[threading.Event, Callable[[], None]]]:
    """Replace the server's wall-clock sleep by one that blocks until the test releases it:
    (set once a request is asleep, release)."""
    asleep, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        assert seconds > 0
        asleep.set()
        # Longer than any join below: a request stuck behind this one fails its own check.
        release.wait(3 * _STUCK_S)

    monkeypatch.setattr(pipeline, "wall_sleep", sleep)
    yield asleep, release.set
    release.set()


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def _client(app: Flask) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://mock")


def test_a_latency_fault_delays_only_its_own_request(
    held_sleep: tuple[threading.Event, Callable[[], None]],
) -> None:
    asleep, release = held_sleep
    mock = Harness({"sleep_latency": True})
    slow, fast = mock.token("slow"), mock.token("fast")
    slow_id = mock.backend.lookup_token(str(slow["access_token"]))
    assert slow_id is not None
    fault = {"match": {"token_id": slow_id.token_id}, "latency_s": 30}
    assert mock.http.post("/_mock/faults", json=fault).status_code == 201

    def user_account(token: dict[str, object]) -> Callable[[], httpx.Response]:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        return lambda: _client(mock.app).get("/v5/user_account", headers=headers)

    sleeper, slow_answers = _in_thread(user_account(slow))
    assert asleep.wait(_STUCK_S), "the faulted request never reached its latency"
    # While it sleeps, the admin API and another token's request both complete.
    admin, admin_answers = _in_thread(lambda: _client(mock.app).get("/_mock/journal"))
    other, other_answers = _in_thread(user_account(fast))
    admin.join(_STUCK_S)
    other.join(_STUCK_S)
    assert not admin.is_alive() and not other.is_alive(), "blocked behind the latency"
    assert [a.status_code for a in admin_answers + other_answers] == [200, 200]
    assert "x-mock-latency-s" not in other_answers[0].headers
    assert sleeper.is_alive() and not slow_answers  # still asleep: ordering, not durations
    release()
    sleeper.join(_STUCK_S)
    assert slow_answers[0].status_code == 200
    assert slow_answers[0].headers["x-mock-latency-s"] == "30"
    # The faulted request was journaled (inside the lock) before the others answered.
    assert [r.user for r in mock.backend.journal.records] == ["slow", "fast"]


# -- 405 ---------------------------------------------------------------------------------------

# The methods FIDELITY.md's table (and ADMIN.md for /_mock) says each path serves.
SERVED = {
    "/v5/oauth/token": {"POST"},
    "/v5/user_account": {"GET"},
    "/v5/ad_accounts": {"GET"},
    "/v5/ad_accounts/{ad_account_id}": {"GET"},
    "/v5/ad_accounts/{ad_account_id}/customer_lists": {"GET", "POST"},
    "/v5/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}": {"GET", "PATCH"},
    "/v5/ad_accounts/{ad_account_id}/audiences": {"GET", "POST"},
    "/v5/ad_accounts/{ad_account_id}/audiences/{audience_id}": {"GET", "PATCH"},
    "/_mock/faults": {"GET", "POST", "DELETE"},
}


@pytest.mark.parametrize("template", sorted(SERVED))
def test_405_carries_allow_with_the_methods_the_path_serves(
    pinterest_mock: PinterestMock, openapi_spec: OpenAPI, template: str
) -> None:
    path = template.replace("{ad_account_id}", "1").replace("{customer_list_id}", "2")
    answer = pinterest_mock.client.put(path.replace("{audience_id}", "3"))
    _assert_error(answer, 405)
    allowed = {method.strip() for method in answer.headers["Allow"].split(",")}
    assert allowed - {"HEAD", "OPTIONS"} == SERVED[template]
    if template.startswith("/v5/"):
        with (openapi_spec.spec / "paths" / template.removeprefix("/v5")).open() as item:
            assert {method.lower() for method in SERVED[template]} <= set(item.keys())


# -- registered redirect URIs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "registered"),
    [
        (APP_URI, True),
        (APP_URI + "/x", False),
        ("https://app.example:444/callback", False),
        ("http://app.example/callback", False),
        ("https://evil.example/callback", False),
        ("http://127.0.0.1:53124/callback", True),
        ("http://127.0.0.1/callback", True),
        ("http://127.0.0.1:8085/callback?x=1", False),
        ("http://127.0.0.1:8085/other", False),
        ("https://127.0.0.1:8085/callback", False),
        ("http://localhost:8085/callback", False),
        ("http://evil.example@127.0.0.1:8085/callback", False),
        ("http://127.0.0.1:99999/callback", False),
        ("http://127.0.0.1.evil.example:80/callback", False),
    ],
)
def test_redirect_uri_matches_exactly_or_loopback_on_any_port(uri: str, registered: bool) -> None:
    assert is_registered(uri, (APP_URI, LOOPBACK_URI)) is registered
    assert is_registered(uri, None)  # the permissive default


def test_localhost_registered_matches_localhost_on_any_port() -> None:
    assert is_registered("http://localhost:51000/cb", ["http://localhost:8085/cb"])
    assert not is_registered("http://127.0.0.1:51000/cb", ["http://localhost:8085/cb"])


def _registered(**config: object) -> Harness:
    return Harness({"redirect_uris": [APP_URI, LOOPBACK_URI], **config})


def _consent(mock: Harness, redirect_uri: str, method: str = "GET") -> httpx.Response:
    params = {
        "client_id": mock.backend.default_client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "ads:read",
        "state": "s",
    }
    if method == "POST":
        return mock.http.post("/oauth/", data=params)
    return mock.http.get("/oauth/", params=params)


@pytest.mark.parametrize("auto_approve", [False, True])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_consent_page_refuses_an_unregistered_redirect_uri_without_redirecting(
    auto_approve: bool, method: str
) -> None:
    mock = _registered(auto_approve=auto_approve)
    answer = _consent(mock, "https://evil.example/callback", method)
    assert "location" not in answer.headers
    assert "redirect_uri" in _assert_error(answer)
    assert mock.backend.codes == {}


def test_consent_page_redirects_to_a_registered_loopback_uri_on_any_port() -> None:
    mock = _registered(auto_approve=True)
    answer = _consent(mock, "http://127.0.0.1:50123/callback")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert (location.netloc, location.path) == ("127.0.0.1:50123", "/callback")
    assert _consent(mock, APP_URI).status_code == 302


def test_consent_page_shows_the_confirm_form_for_a_registered_uri() -> None:
    mock = _registered()
    answer = _consent(mock, APP_URI)
    assert answer.status_code == 200 and "Give access" in answer.text


def test_code_exchange_refuses_a_redirect_uri_no_longer_registered() -> None:
    mock = Harness({"auto_approve": True})
    uri = "http://127.0.0.1:5555/callback"
    code = parse_qs(urlsplit(_consent(mock, uri).headers["location"]).query)["code"][0]
    client = mock.backend.default_client
    client.redirect_uris = (APP_URI,)  # the app's owner removed the loopback URI since
    answer = mock.http.post(
        "/v5/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": uri},
        auth=(client.client_id, client.client_secret),
    )
    _assert_error(answer)
    assert "access_token" not in answer.json()


def test_redirect_uris_config_must_be_absolute_uris() -> None:
    with pytest.raises(ValueError, match="redirect_uris"):
        MockConfig(redirect_uris=("/callback",))
    with pytest.raises(ValueError, match="redirect_uris"):
        MockConfig.from_mapping({"redirect_uris": APP_URI})
    assert MockConfig.from_mapping({"redirect_uris": [APP_URI]}).redirect_uris == (APP_URI,)


# -- revocation and refresh --------------------------------------------------------------------


def _works(mock: Harness, access_token: object) -> bool:
    headers = {"Authorization": f"Bearer {access_token}"}
    return mock.http.get("/v5/user_account", headers=headers).status_code == 200


def _refresh(mock: Harness, refresh_token: object, **form: str) -> httpx.Response:
    client = mock.backend.default_client
    return mock.http.post(
        "/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": str(refresh_token), **form},
        auth=(client.client_id, client.client_secret),
    )


def test_revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant() -> None:
    mock = Harness()
    first = mock.token()
    second = _refresh(mock, first["refresh_token"]).json()  # same grant, rotated
    other = mock.token()
    assert _works(mock, first["access_token"]) and _works(mock, second["access_token"])
    client = mock.backend.default_client
    revoked = mock.http.post(
        "/v5/oauth/token/revoke",
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(client.client_id, client.client_secret),
    )
    assert revoked.status_code == 200
    assert not _works(mock, first["access_token"]) and not _works(mock, second["access_token"])
    assert _works(mock, other["access_token"])  # another grant of the same user lives on
    _assert_error(_refresh(mock, second["refresh_token"]))


def test_admin_revoke_by_refresh_token_kills_its_access_token() -> None:
    mock = Harness()
    tokens = mock.token()
    answer = mock.http.post("/_mock/tokens/revoke", json={"refresh_token": tokens["refresh_token"]})
    assert answer.json() == {"revoked": 1}
    assert not _works(mock, tokens["access_token"])


@pytest.mark.parametrize("form", [{}, {"scope": ""}, {"scope": " , "}])
def test_refresh_without_a_scope_keeps_the_grants_scopes(form: dict[str, str]) -> None:
    mock = Harness()
    answer = _refresh(mock, mock.token()["refresh_token"], **form)
    assert answer.status_code == 200
    assert answer.json()["scope"] == "ads:read,ads:write,user_accounts:read"
    assert _works(mock, answer.json()["access_token"])


@pytest.mark.parametrize("scope", ["boards:read", "ads:read,boards:read", "nonsense"])
def test_refresh_asking_beyond_the_grant_is_invalid_scope(scope: str) -> None:
    mock = Harness()
    answer = _refresh(
        mock, mock.token(scopes=["ads:read", "ads:write"])["refresh_token"], scope=scope
    )
    assert _assert_error(answer).startswith("invalid_scope")


def test_refresh_may_narrow_the_scope_and_later_widen_back_to_the_grant() -> None:
    mock = Harness()
    narrow = _refresh(mock, mock.token()["refresh_token"], scope="ads:read").json()
    assert narrow["scope"] == "ads:read"
    headers = {"Authorization": f"Bearer {narrow['access_token']}"}
    assert mock.http.get("/v5/user_account", headers=headers).status_code == 401  # scope 3
    # RFC 6749 §6: the new refresh token's scope is the grant's, not the narrowed one.
    back = _refresh(mock, narrow["refresh_token"], scope="ads:read,user_accounts:read")
    assert back.json()["scope"] == "ads:read,user_accounts:read"
