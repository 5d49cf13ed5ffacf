"""Every answer the mock gives, success or error, is one Pinterest's OpenAPI spec allows.

All API calls here go through ``conforming_client``, whose transport checks status, content type
and body against the spec's operation; the assertions below add the Pinterest error codes that
FIDELITY.md requires and the spec leaves open.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from mock_pinterest.pytest_plugin import PinterestMock
from tests.mock_pinterest.conftest import hashed_records
from tests.mock_pinterest.spec import (
    SPEC_DIR,
    SPEC_PATH,
    ConformingTransport,
    SpecViolation,
    error_body,
)

AD_ACCOUNT = "549755885175"
OTHER_AD_ACCOUNT = "549755885176"
UNKNOWN_ID = "999999999999999"
ALL_SCOPES = ("ads:read", "ads:write", "user_accounts:read")


@dataclass(frozen=True, slots=True, kw_only=True)
class World:
    """A user ``acme`` owning an ad account with one customer list and one audience."""

    token: dict[str, Any]
    customer_list_id: str
    audience_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token['access_token']}"}

    @property
    def basic(self) -> dict[str, str]:
        pair = f"{self.token['client_id']}:{self.token['client_secret']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One operation of FIDELITY.md's table, called with the bearer token."""

    operation_id: str
    method: str
    path: str  # formatted with ad, cl, au
    scope: str
    category: str
    body: Callable[[World], Mapping[str, object]] | None = None

    def url(self, world: World, *, ad: str = AD_ACCOUNT, cl: str = "", au: str = "") -> str:
        return self.path.format(ad=ad, cl=cl or world.customer_list_id, au=au or world.audience_id)

    def call(self, client: httpx.Client, world: World, **ids: str) -> httpx.Response:
        return self.send(client, world, world.bearer, **ids)

    def send(
        self, client: httpx.Client, world: World, headers: Mapping[str, str], **ids: str
    ) -> httpx.Response:
        body = None if self.body is None else dict(self.body(world))
        return client.request(self.method, self.url(world, **ids), json=body, headers=headers)


def _list_body(world: World) -> Mapping[str, object]:
    return {"name": "New list", "records": ",".join(hashed_records(3, "new")), "list_type": "EMAIL"}


def _patch_body(world: World) -> Mapping[str, object]:
    return {"records": ",".join(hashed_records(5, "patch")), "operation_type": "ADD"}


def _audience_body(world: World) -> Mapping[str, object]:
    return {
        "name": "New audience",
        "audience_type": "CUSTOMER_LIST",
        "rule": {"customer_list_id": world.customer_list_id},
        "ad_account_id": AD_ACCOUNT,  # the official SDK sends it; Pinterest tolerates it
    }


def _audience_update_body(world: World) -> Mapping[str, object]:
    return {"operation_type": "UPDATE", "name": "Renamed", "description": "now renamed"}


CL = "/v5/ad_accounts/{ad}/customer_lists"
AU = "/v5/ad_accounts/{ad}/audiences"
OPS = (
    Op(operation_id="user_account/get", method="GET", path="/v5/user_account",
       scope="user_accounts:read", category="org_read"),
    Op(operation_id="ad_accounts/list", method="GET", path="/v5/ad_accounts",
       scope="ads:read", category="ads_read"),
    Op(operation_id="ad_accounts/get", method="GET", path="/v5/ad_accounts/{ad}",
       scope="ads:read", category="ads_read"),
    Op(operation_id="customer_lists/create", method="POST", path=CL, scope="ads:write",
       category="ads_write", body=_list_body),
    Op(operation_id="customer_lists/list", method="GET", path=CL, scope="ads:read",
       category="ads_read"),
    Op(operation_id="customer_lists/get", method="GET", path=CL + "/{cl}", scope="ads:read",
       category="ads_read"),
    Op(operation_id="customer_lists/update", method="PATCH", path=CL + "/{cl}",
       scope="ads:write", category="ads_write", body=_patch_body),
    Op(operation_id="audiences/create", method="POST", path=AU, scope="ads:write",
       category="ads_write", body=_audience_body),
    Op(operation_id="audiences/list", method="GET", path=AU, scope="ads:read",
       category="ads_read"),
    Op(operation_id="audiences/get", method="GET", path=AU + "/{au}", scope="ads:read",
       category="ads_read"),
    Op(operation_id="audiences/update", method="PATCH", path=AU + "/{au}", scope="ads:write",
       category="ads_write", body=_audience_update_body),
)  # fmt: skip
OP_IDS = [op.operation_id for op in OPS]
AD_ACCOUNT_OPS = [op for op in OPS if "{ad}" in op.path]
LIST_OPS = [op for op in OPS if "{cl}" in op.path]
AUDIENCE_OPS = [op for op in OPS if "{au}" in op.path]
WRITE_OPS = [op for op in OPS if op.category == "ads_write"]


def _ids(ops: list[Op]) -> list[str]:
    return [op.operation_id for op in ops]


@pytest.fixture
def world(pinterest_mock: PinterestMock, conforming_client: httpx.Client) -> World:
    pinterest_mock.create_user("acme", [AD_ACCOUNT])
    pinterest_mock.create_user("other", [OTHER_AD_ACCOUNT])
    token = pinterest_mock.tokens("acme")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    created = conforming_client.post(
        CL.format(ad=AD_ACCOUNT),
        json={"name": "Seed list", "records": ",".join(hashed_records(3))},
        headers=headers,
    )
    created.raise_for_status()
    audience = conforming_client.post(
        AU.format(ad=AD_ACCOUNT),
        json={
            "name": "Seed audience",
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": created.json()["id"]},
        },
        headers=headers,
    )
    audience.raise_for_status()
    # A fresh rate-limit window for the test itself.
    pinterest_mock.clock.advance(60.0)
    return World(
        token=token, customer_list_id=created.json()["id"], audience_id=audience.json()["id"]
    )


def _assert_error(response: httpx.Response, status: int, code: int | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get("x-pinterest-rid"), "every answer carries a request id"
    body = error_body(response)
    if code is not None:
        assert body["code"] == code, body


# --- success paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_succeeds(
    op: Op, world: World, conforming_client: httpx.Client
) -> None:
    response = op.call(conforming_client, world)
    assert response.is_success, response.text
    assert response.headers.get("x-pinterest-rid")


def test_spec_conformance_customer_list_remove_succeeds(
    world: World, conforming_client: httpx.Client
) -> None:
    body = {"records": ",".join(hashed_records(2)), "operation_type": "REMOVE"}
    path = CL.format(ad=AD_ACCOUNT) + f"/{world.customer_list_id}"
    response = conforming_client.patch(path, json=body, headers=world.bearer)
    assert response.status_code == 200, response.text
    assert response.json()["num_removed_user_records"] == 2


def test_spec_conformance_audience_remove_succeeds_then_get_is_404(
    world: World, conforming_client: httpx.Client
) -> None:
    path = AU.format(ad=AD_ACCOUNT) + f"/{world.audience_id}"
    removed = conforming_client.patch(path, json={"operation_type": "REMOVE"}, headers=world.bearer)
    assert removed.status_code == 200, removed.text
    _assert_error(conforming_client.get(path, headers=world.bearer), 404)


def test_spec_conformance_oauth_refresh_succeeds(
    world: World, conforming_client: httpx.Client
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": world.token["refresh_token"]}
    response = conforming_client.post("/v5/oauth/token", data=form, headers=world.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("pina_")
    assert body["refresh_token"] != world.token["refresh_token"]


def test_spec_conformance_oauth_client_credentials_succeeds(
    world: World, conforming_client: httpx.Client
) -> None:
    form = {"grant_type": "client_credentials", "scope": "ads:read"}
    response = conforming_client.post("/v5/oauth/token", data=form, headers=world.basic)
    assert response.status_code == 200, response.text


def test_spec_conformance_revoke_succeeds_with_empty_body_and_token_dies(
    world: World, conforming_client: httpx.Client
) -> None:
    form = {"token": world.token["access_token"], "token_type_hint": "access_token"}
    response = conforming_client.post("/v5/oauth/token/revoke", data=form, headers=world.basic)
    assert response.status_code == 200, response.text
    assert response.content == b""
    _assert_error(conforming_client.get("/v5/user_account", headers=world.bearer), 401, 2)


# --- 400 ---------------------------------------------------------------------------------------


BAD_BODIES = {
    "records as a JSON array": {"records": hashed_records(2), "operation_type": "ADD"},
    "unknown operation_type": {"records": hashed_records(1)[0], "operation_type": "APPEND"},
    "too many records": {"records": ",".join(hashed_records(1901)), "operation_type": "ADD"},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_spec_conformance_customer_list_update_rejects_bad_body(
    body: dict[str, object], world: World, conforming_client: httpx.Client
) -> None:
    path = CL.format(ad=AD_ACCOUNT) + f"/{world.customer_list_id}"
    _assert_error(conforming_client.patch(path, json=body, headers=world.bearer), 400)


def test_spec_conformance_audience_create_rejects_bad_audience_type(
    world: World, conforming_client: httpx.Client
) -> None:
    body = {**_audience_body(world), "audience_type": "customer_list"}
    response = conforming_client.post(AU.format(ad=AD_ACCOUNT), json=body, headers=world.bearer)
    _assert_error(response, 400)


@pytest.mark.parametrize("page_size", ["0", "251", "many"])
@pytest.mark.parametrize("path", [CL, AU], ids=["customer_lists", "audiences"])
def test_spec_conformance_list_rejects_page_size_out_of_range(
    path: str, page_size: str, world: World, conforming_client: httpx.Client
) -> None:
    url = path.format(ad=AD_ACCOUNT)
    response = conforming_client.get(url, params={"page_size": page_size}, headers=world.bearer)
    _assert_error(response, 400)


def test_spec_conformance_oauth_invalid_refresh_token_is_400_not_code_2(
    world: World, conforming_client: httpx.Client
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "pinr.not-a-token"}
    response = conforming_client.post("/v5/oauth/token", data=form, headers=world.basic)
    _assert_error(response, 400)
    assert error_body(response)["code"] != 2


# --- 401 ---------------------------------------------------------------------------------------


def _no_auth(world: World) -> dict[str, str]:
    return {}


def _garbage(world: World) -> dict[str, str]:
    return {"Authorization": "Bearer pina_garbage"}


def _malformed(world: World) -> dict[str, str]:
    return {"Authorization": "Token abc"}


BAD_AUTH = {"missing": _no_auth, "unknown": _garbage, "malformed": _malformed}


@pytest.mark.parametrize("auth", BAD_AUTH.values(), ids=BAD_AUTH.keys())
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_rejects_bad_token_with_401_code_2(
    op: Op, auth: Callable[[World], dict[str, str]], world: World, conforming_client: httpx.Client
) -> None:
    _assert_error(op.send(conforming_client, world, auth(world)), 401, 2)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_rejects_revoked_token_with_401_code_2(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    revoked = pinterest_mock.client.post(
        "/_mock/tokens/revoke", json={"access_token": world.token["access_token"]}
    )
    assert revoked.json() == {"revoked": 1}
    _assert_error(op.call(conforming_client, world), 401, 2)


def test_spec_conformance_oauth_bad_client_secret_is_401_code_2(
    world: World, conforming_client: httpx.Client
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": world.token["refresh_token"]}
    bad = base64.b64encode(f"{world.token['client_id']}:wrong".encode()).decode()
    response = conforming_client.post(
        "/v5/oauth/token", data=form, headers={"Authorization": f"Basic {bad}"}
    )
    _assert_error(response, 401, 2)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_rejects_missing_scope_with_401_code_3(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    scopes = [scope for scope in ALL_SCOPES if scope != op.scope]
    narrow = pinterest_mock.tokens("acme", scopes=scopes)
    headers = {"Authorization": f"Bearer {narrow['access_token']}"}
    _assert_error(op.send(conforming_client, world, headers), 401, 3)


# --- 403, 404 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", AD_ACCOUNT_OPS, ids=_ids(AD_ACCOUNT_OPS))
def test_spec_conformance_operation_rejects_foreign_ad_account_with_403_code_29(
    op: Op, world: World, conforming_client: httpx.Client
) -> None:
    _assert_error(op.call(conforming_client, world, ad=OTHER_AD_ACCOUNT), 403, 29)


@pytest.mark.parametrize("op", AD_ACCOUNT_OPS, ids=_ids(AD_ACCOUNT_OPS))
def test_spec_conformance_operation_answers_unknown_ad_account_with_404_code_2(
    op: Op, world: World, conforming_client: httpx.Client
) -> None:
    _assert_error(op.call(conforming_client, world, ad=UNKNOWN_ID), 404, 2)


@pytest.mark.parametrize("op", LIST_OPS, ids=_ids(LIST_OPS))
def test_spec_conformance_operation_answers_unknown_customer_list_with_404(
    op: Op, world: World, conforming_client: httpx.Client
) -> None:
    _assert_error(op.call(conforming_client, world, cl=UNKNOWN_ID), 404)


@pytest.mark.parametrize("op", AUDIENCE_OPS, ids=_ids(AUDIENCE_OPS))
def test_spec_conformance_operation_answers_unknown_audience_with_404(
    op: Op, world: World, conforming_client: httpx.Client
) -> None:
    _assert_error(op.call(conforming_client, world, au=UNKNOWN_ID), 404)


@pytest.mark.parametrize("op", AUDIENCE_OPS + LIST_OPS[-1:], ids=_ids(AUDIENCE_OPS + LIST_OPS[-1:]))
def test_spec_conformance_operation_answers_deleted_audience_with_404(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    deleted = pinterest_mock.client.post(f"/_mock/audiences/{world.audience_id}/delete")
    assert deleted.status_code == 200
    _assert_error(op.call(conforming_client, world), 404)


# --- 429, 500 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", WRITE_OPS, ids=_ids(WRITE_OPS))
def test_spec_conformance_operation_answers_eighth_write_in_a_second_with_429_code_8(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    for _ in range(7):
        assert op.call(conforming_client, world).is_success
    limited = op.call(conforming_client, world)
    _assert_error(limited, 429, 8)
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in limited.headers  # off by default (FIDELITY.md)
    pinterest_mock.clock.advance(1.0)
    assert op.call(conforming_client, world).is_success


def _fault(mock: PinterestMock, op: Op, world: World, status: int) -> None:
    rule = {"match": {"method": op.method, "path": op.url(world)}, "status": status}
    assert mock.client.post("/_mock/faults", json=rule).status_code == 201


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_answers_injected_429_with_code_8(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    _fault(pinterest_mock, op, world, 429)
    _assert_error(op.call(conforming_client, world), 429, 8)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_spec_conformance_operation_answers_injected_500_with_code_12(
    op: Op, world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    _fault(pinterest_mock, op, world, 500)
    _assert_error(op.call(conforming_client, world), 500, 12)


def test_spec_conformance_oauth_token_answers_injected_500_with_code_12(
    world: World, pinterest_mock: PinterestMock, conforming_client: httpx.Client
) -> None:
    rule = {"match": {"path": "/v5/oauth/token"}, "status": 500}
    assert pinterest_mock.client.post("/_mock/faults", json=rule).status_code == 201
    form = {"grant_type": "refresh_token", "refresh_token": world.token["refresh_token"]}
    response = conforming_client.post("/v5/oauth/token", data=form, headers=world.basic)
    _assert_error(response, 500, 12)


def test_spec_conformance_unknown_route_is_json_404(pinterest_mock: PinterestMock) -> None:
    # Not in the spec, so checked by hand: FIDELITY.md wants {"code", "message"} everywhere.
    response = pinterest_mock.client.get("/v5/no/such/route")
    _assert_error(response, 404)
    assert response.headers["content-type"].startswith("application/json")


# --- the oracle itself can fail ----------------------------------------------------------------


ORACLE_CASES = {
    "code not an integer": (404, "application/json", b'{"code": "2", "message": "x"}'),
    "status outside the enum": (200, "application/json", b'{"id": "1", "status": "DONE"}'),
    "html error page": (500, "text/html", b"<h1>Internal Server Error</h1>"),
}


@pytest.mark.parametrize("answer", ORACLE_CASES.values(), ids=ORACLE_CASES.keys())
def test_spec_conformance_transport_rejects_answer_the_spec_forbids(
    answer: tuple[int, str, bytes], openapi_spec: OpenAPI
) -> None:
    status, content_type, content = answer

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=content)

    transport = ConformingTransport(httpx.MockTransport(serve), openapi_spec)
    with httpx.Client(transport=transport, base_url="http://mock") as client:
        with pytest.raises(SpecViolation):
            client.get("/v5/ad_accounts/1/customer_lists/2")
        # The admin API is not Pinterest's: never checked.
        assert client.get("/_mock/state").status_code == status


def test_spec_conformance_oracle_is_the_vendored_release() -> None:
    # The checks are only as true as their oracle: the file is the release SOURCE.md names.
    source = (SPEC_DIR / "SOURCE.md").read_text(encoding="utf-8")
    recorded = re.search(r"sha256 `([0-9a-f]{64})`", source)
    assert recorded is not None
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == recorded.group(1)
