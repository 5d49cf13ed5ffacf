"""Pinterest's official Python SDK (``pinterest-api-sdk``) works against the mock on loopback.

The SDK reads its configuration at import time, and its ``config.json`` lookup walks the whole
tree under the parent of the working directory, so:
- the SDK is imported once, from an empty temporary working directory, with ``os.environ``
  restored afterwards (its dotenv loading may add variables);
- in-process tests hand it explicit clients aimed at this test's server;
- one test runs it in a subprocess with a clean environment, the way a user configures it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mock_pinterest.pytest_plugin import PinterestMock
from tests.mock_pinterest.conftest import hashed_records

AD_ACCOUNT = "549755885175"
# The SDK's generated client calls an API urllib3 deprecates; it is the SDK's warning, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:HTTPResponse.getheaders?\\(\\) is deprecated:DeprecationWarning"
)


_GENERATED = "openapi_generated.pinterest_client"
# Name the tests use → module of the SDK (or of its generated client) defining it.
SDK_NAMES = {
    "AdAccountsApi": f"{_GENERATED}.api.ad_accounts_api",
    "AudiencesApi": f"{_GENERATED}.api.audiences_api",
    "UserAccountApi": f"{_GENERATED}.api.user_account_api",
    "ApiException": f"{_GENERATED}.exceptions",
    "NotFoundException": f"{_GENERATED}.exceptions",
    "UnauthorizedException": f"{_GENERATED}.exceptions",
    "AudienceUpdateOperationType": f"{_GENERATED}.model.audience_update_operation_type",
    "AudienceUpdateRequest": f"{_GENERATED}.model.audience_update_request",
    "Audience": "pinterest.ads.audiences",
    "CustomerList": "pinterest.ads.customer_lists",
    "PinterestSDKClient": "pinterest.client",
    "get_new_access_token": "pinterest.utils.refresh_access_token",
}


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The SDK's classes and functions, imported in isolation from this machine's files."""
    environ = dict(os.environ)
    workdir = tmp_path_factory.mktemp("sdk-import") / "cwd"  # its parent holds nothing else
    workdir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        pytest.importorskip("pinterest")
        names = {name: getattr(importlib.import_module(m), name) for name, m in SDK_NAMES.items()}
    os.environ.clear()
    os.environ.update(environ)
    return SimpleNamespace(**names)


@dataclass(frozen=True, slots=True, kw_only=True)
class Live:
    """The mock on loopback, the user ``acme`` and its credentials."""

    mock: PinterestMock
    base_url: str
    token: dict[str, Any]

    def journal(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.mock.client.get("/_mock/journal").json()["items"]
        return items


@pytest.fixture
def live(pinterest_mock: PinterestMock) -> Live:
    pinterest_mock.create_user("acme", [AD_ACCOUNT])
    token = pinterest_mock.tokens("acme")
    return Live(mock=pinterest_mock, base_url=pinterest_mock.live_url() + "/v5", token=token)


@pytest.fixture
def client(sdk: SimpleNamespace, live: Live) -> Iterator[Any]:
    """An SDK client for ``acme`` talking to this test's server."""
    # _get_config is how the SDK itself builds every client (it also relaxes client-side
    # validations); its defaults were bound at import time, so pass the host explicitly.
    config = sdk.PinterestSDKClient._get_config(live.token["access_token"], api_uri=live.base_url)
    sdk_client = sdk.PinterestSDKClient(configuration=config)
    yield sdk_client
    sdk_client.rest_client.pool_manager.clear()
    sdk_client.close()


def _status_and_code(error: Any) -> tuple[int, int]:
    return int(error.status), int(json.loads(error.body)["code"])


def test_sdk_refreshes_token_into_a_working_client(sdk: SimpleNamespace, live: Live) -> None:
    token = sdk.get_new_access_token(
        app_id=live.token["client_id"],
        app_secret=live.token["client_secret"],
        refresh_access_token=live.token["refresh_token"],
        host=live.base_url,
    )
    assert token.startswith("pina_") and token != live.token["access_token"]
    config = sdk.PinterestSDKClient._get_config(token, api_uri=live.base_url)
    sdk_client = sdk.PinterestSDKClient(configuration=config)
    try:
        account = sdk.UserAccountApi(sdk_client).user_account_get()
    finally:
        sdk_client.close()
    assert account.to_dict()
    assert [(r["path"], r["status"]) for r in live.journal()] == [
        ("/v5/oauth/token", 200),
        ("/v5/user_account", 200),
    ]


def test_sdk_lists_ad_accounts_through_generated_api(sdk: SimpleNamespace, client: Any) -> None:
    response = sdk.AdAccountsApi(client).ad_accounts_list()
    assert AD_ACCOUNT in [item["id"] for item in response["items"]]


def test_sdk_customer_list_create_add_remove_and_get_all(sdk: SimpleNamespace, client: Any) -> None:
    customer_list = sdk.CustomerList.create(
        AD_ACCOUNT, "SDK list", records=",".join(hashed_records(3)), client=client
    )
    uploaded = customer_list.num_uploaded_user_records
    assert customer_list.add_record(",".join(hashed_records(5, "more")))
    assert customer_list.num_uploaded_user_records == uploaded + 5
    assert customer_list.remove_record(",".join(hashed_records(2)))
    assert customer_list.num_removed_user_records == 2
    assert customer_list.status in {"PROCESSING", "READY", "TOO_SMALL", "UPLOADING"}
    listed, _bookmark = sdk.CustomerList.get_all(AD_ACCOUNT, client=client)
    assert customer_list.id in [item.id for item in listed]


def test_sdk_audience_create_update_get_all_and_remove(sdk: SimpleNamespace, client: Any) -> None:
    customer_list = sdk.CustomerList.create(
        AD_ACCOUNT, "SDK list", records=hashed_records(1)[0], client=client
    )
    audience = sdk.Audience.create(
        AD_ACCOUNT,
        "SDK audience",
        rule={"customer_list_id": customer_list.id},
        audience_type="CUSTOMER_LIST",
        description="",
        client=client,
    )
    assert audience.update_fields(client=client, name="SDK audience, renamed")
    listed, _bookmark = sdk.Audience.get_all(AD_ACCOUNT, client=client)
    assert ("SDK audience, renamed", audience.id) in [(item.name, item.id) for item in listed]

    api = sdk.AudiencesApi(client)
    remove = sdk.AudienceUpdateRequest(operation_type=sdk.AudienceUpdateOperationType("REMOVE"))
    api.audiences_update(AD_ACCOUNT, audience.id, audience_update_request=remove)
    with pytest.raises(sdk.NotFoundException):
        api.audiences_get(AD_ACCOUNT, audience.id)


def test_sdk_sees_401_code_2_after_revoke(sdk: SimpleNamespace, client: Any, live: Live) -> None:
    revoke = {"access_token": live.token["access_token"]}
    assert live.mock.client.post("/_mock/tokens/revoke", json=revoke).json() == {"revoked": 1}
    with pytest.raises(sdk.UnauthorizedException) as raised:
        sdk.AdAccountsApi(client).ad_accounts_list()
    assert _status_and_code(raised.value) == (401, 2)


def test_sdk_sees_404_after_audience_deleted(sdk: SimpleNamespace, client: Any, live: Live) -> None:
    customer_list = sdk.CustomerList.create(
        AD_ACCOUNT, "SDK list", records=hashed_records(1)[0], client=client
    )
    audience = sdk.Audience.create(
        AD_ACCOUNT,
        "Doomed",
        rule={"customer_list_id": customer_list.id},
        audience_type="CUSTOMER_LIST",
        client=client,
    )
    assert live.mock.client.post(f"/_mock/audiences/{audience.id}/delete").status_code == 200
    with pytest.raises(sdk.NotFoundException):
        sdk.AudiencesApi(client).audiences_get(AD_ACCOUNT, audience.id)
    with pytest.raises(sdk.NotFoundException):
        customer_list.add_record(hashed_records(1, "late")[0])


def test_sdk_sees_429_code_8_when_rate_limited(
    sdk: SimpleNamespace, client: Any, live: Live
) -> None:
    customer_list = sdk.CustomerList.create(
        AD_ACCOUNT, "SDK list", records=hashed_records(1)[0], client=client
    )
    for i in range(6):  # the create was the first of 7 writes allowed in this second
        customer_list.add_record(hashed_records(1, f"burst{i}")[0])
    with pytest.raises(sdk.ApiException) as raised:
        customer_list.add_record(hashed_records(1, "one too many")[0])
    assert _status_and_code(raised.value) == (429, 8)
    live.mock.clock.advance(1.0)
    assert customer_list.add_record(hashed_records(1, "next second")[0])


_ENV_SCRIPT = textwrap.dedent(
    """
    import json
    from pinterest.client import PinterestSDKClient
    from openapi_generated.pinterest_client.api.ad_accounts_api import AdAccountsApi

    client = PinterestSDKClient.create_default_client()
    items = AdAccountsApi(client).ad_accounts_list()["items"]
    print(json.dumps([item["id"] for item in items]))
    """
)


def test_sdk_configured_by_environment_refreshes_and_lists(live: Live, tmp_path: Path) -> None:
    workdir = tmp_path / "project" / "run"  # config.json is searched under its parent
    workdir.mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PINTEREST_API_URI": live.base_url,
        "PINTEREST_APP_ID": live.token["client_id"],
        "PINTEREST_APP_SECRET": live.token["client_secret"],
        "PINTEREST_REFRESH_ACCESS_TOKEN": live.token["refresh_token"],
    }
    done = subprocess.run(
        [sys.executable, "-c", _ENV_SCRIPT],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert AD_ACCOUNT in json.loads(done.stdout)
    assert [r["path"] for r in live.journal()] == ["/v5/oauth/token", "/v5/ad_accounts"]
