"""Schemathesis over every API operation the mock serves: no 5xx, every answer as the spec says.

Responsibility: derive the served operations from the Flask app's ``url_map`` (so the list
cannot drift from the code), generate requests for each from Pinterest's vendored spec, positive
(schema-valid) and negative (schema-breaking), send them to the app in process (WSGI, no
sockets), and check each answer: not a server error, a status code, content type and body the
spec lists for the operation.

Rules:
- Bounded and deterministic: ``EXAMPLES`` cases per operation and mode, Hypothesis derandomized
  with no example database, so CI replays the same inputs on every run.
- Each (operation, mode) gets a fresh mock holding one list and one audience; half the cases
  address them (real ids reach the handlers' deep paths), half keep the generated ids.
- The mock's clock moves a second per case, so the rate limits (per token, per second) answer
  429 only when a case is meant to provoke one, not because the run is fast.
- Every check runs for every operation and mode: no check is left out and nothing is xfailed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from mock_pinterest import create_app
from mock_pinterest.pytest_plugin import PinterestMock, open_mock
from tests.mock_pinterest.conftest import hashed_records
from tests.mock_pinterest.spec import SPEC_PATH

EXAMPLES = 25
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_API_PREFIX = "/v5"
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


def served_operations() -> list[tuple[str, str]]:
    """(spec path, method) of every API route the mock's app serves, from its ``url_map``."""
    app = create_app(None)
    served = {
        (_FLASK_PARAM.sub(r"{\1}", rule.rule.removeprefix(_API_PREFIX)), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(_API_PREFIX + "/")
        for method in (rule.methods or set()) - _IGNORED_METHODS
    }
    return sorted(served)


SERVED = served_operations()


@pytest.fixture(scope="module")
def schema() -> OpenApiSchema:
    """The vendored spec as a schemathesis schema (parsed once: it is 1.5 MB)."""
    with SPEC_PATH.open("rb") as file:
        document = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return schemathesis.openapi.from_dict(document)


@pytest.fixture
def mock() -> Iterator[PinterestMock]:
    mock = open_mock()
    try:
        yield mock
    finally:
        mock.close()


def _auth(mock: PinterestMock, path: str) -> dict[str, str]:
    """The spec's credentials for *path*: HTTP Basic (client) for OAuth, else a bearer token."""
    if path.startswith("/oauth/"):
        client = mock.backend.default_client
        pair = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {"Authorization": f"Bearer {mock.tokens()['access_token']}"}


def _real_ids(mock: PinterestMock, auth: dict[str, str]) -> dict[str, str]:
    """Path parameters naming resources that exist: the user's account, a list, an audience."""
    account = str(mock.tokens()["ad_account_ids"][0])
    base = f"/v5/ad_accounts/{account}"
    created = mock.client.post(
        f"{base}/customer_lists",
        headers=auth,
        json={"name": "list", "records": ",".join(hashed_records(3))},
    )
    assert created.status_code == 200, created.text
    audience = mock.client.post(
        f"{base}/audiences",
        headers=auth,
        json={
            "name": "audience",
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": str(created.json()["id"])},
        },
    )
    assert audience.status_code == 200, audience.text
    return {
        "ad_account_id": account,
        "customer_list_id": str(created.json()["id"]),
        "audience_id": str(audience.json()["id"]),
    }


def test_every_served_operation_is_in_the_spec(schema: OpenApiSchema) -> None:
    """The routes are derived from the app, so a route outside the spec would go unchecked."""
    assert len(SERVED) >= 13
    for path, method in SERVED:
        assert schema[path][method] is not None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), SERVED, ids=[f"{m} {p}" for p, m in SERVED])
def test_operation_conforms(
    schema: OpenApiSchema, mock: PinterestMock, path: str, method: str, mode: GenerationMode
) -> None:
    operation = schema[path][method]
    auth = _auth(mock, path)
    real = _real_ids(mock, _auth(mock, "/ad_accounts"))

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), use_real_ids=st.booleans())
    def exchange(case: Case[Any], use_real_ids: bool) -> None:
        if use_real_ids and case.path_parameters:
            case.path_parameters.update(
                {name: real[name] for name in case.path_parameters if name in real}
            )
        mock.clock.advance(1.0)
        response = case.call(app=mock.app, headers=auth)
        case.validate_response(response, checks=list(CHECKS))

    exchange()
