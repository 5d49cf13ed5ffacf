"""Fixtures shared by the mock's tests: the spec oracle and a spec-checking client.

``pinterest_mock`` itself comes from the project's pytest plugin
(``mock_pinterest.pytest_plugin``), exactly as downstream test suites get it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from openapi_core import OpenAPI

from mock_pinterest.pytest_plugin import IN_PROCESS_BASE_URL, PinterestMock
from tests.mock_pinterest.spec import SPEC_PATH, ConformingTransport, load_spec


@pytest.fixture(scope="session")
def openapi_spec() -> OpenAPI:
    """Pinterest's official OpenAPI spec (vendored), loaded once per session."""
    return load_spec(SPEC_PATH)


@pytest.fixture
def conforming_client(
    pinterest_mock: PinterestMock, openapi_spec: OpenAPI
) -> Iterator[httpx.Client]:
    """An in-process client to ``pinterest_mock`` that checks every API answer against the spec."""
    transport = ConformingTransport(httpx.WSGITransport(app=pinterest_mock.app), openapi_spec)
    with httpx.Client(transport=transport, base_url=IN_PROCESS_BASE_URL) as client:
        yield client


def hashed_records(count: int, salt: str = "") -> list[str]:
    """*count* distinct SHA-256 hex digests, the shape real customer-list records take."""
    return [hashlib.sha256(f"user{salt}{i}@example.com".encode()).hexdigest() for i in range(count)]
