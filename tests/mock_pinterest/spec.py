"""Pinterest's official OpenAPI spec as a test oracle for the mock's answers.

Responsibility: load the vendored spec, ``openapi/openapi.yaml`` beside this module (its
source, licence and sha256 in that folder), into an openapi-core ``OpenAPI`` object, and check
an httpx exchange against the spec's operation: status, content type and body schema.

Rules:
- The spec's server is ``https://api.pinterest.com/v5``; the mock serves the same paths under
  any origin, so requests are re-homed onto the spec's origin before matching.
- Only API paths (``/v5/…``) are checked; the admin API (``/_mock/…``) is not Pinterest's.
- ``ConformingTransport`` checks every API answer that passes through it, so a test cannot
  forget to; a violation raises :class:`SpecViolation` from the client call itself.
- Loading takes about a second: load once per session (the ``openapi_spec`` fixture).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
SPEC_PATH = SPEC_DIR / "openapi.yaml"
SPEC_ORIGIN = "https://api.pinterest.com"
API_PREFIX = "/v5/"


class SpecViolation(AssertionError):
    """A mock answer that Pinterest's spec does not allow for the request made."""


def load_spec(path: Path = SPEC_PATH) -> OpenAPI:
    """The spec at *path* as an ``OpenAPI`` object (the spec itself is trusted, not checked)."""
    with path.open("rb") as file:
        document = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # Validating the 1.5 MB spec against the OpenAPI meta-schema costs seconds and tests
    # Pinterest, not us.
    return OpenAPI(SchemaPath.from_dict(document), config=Config(spec_validator_cls=None))


@dataclass(slots=True)  # not frozen: openapi-core writes the resolved path parameters back
class _SpecRequest:
    """An httpx request seen through openapi-core's ``Request`` protocol."""

    request: httpx.Request
    parameters: RequestParameters

    @classmethod
    def of(cls, request: httpx.Request) -> _SpecRequest:
        query = ImmutableMultiDict(list(request.url.params.multi_items()))
        headers = Headers(list(request.headers.multi_items()))
        return cls(request, RequestParameters(query=query, header=headers))

    @property
    def host_url(self) -> str:
        return SPEC_ORIGIN

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return str(self.request.headers.get("content-type", "application/octet-stream")).lower()


@dataclass(frozen=True, slots=True)
class _SpecResponse:
    """An httpx response (already read) seen through openapi-core's ``Response`` protocol."""

    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        # openapi-core matches media types exactly; an empty body has no type to match.
        default = "" if not self.response.content else "application/octet-stream"
        return str(self.response.headers.get("content-type", default)).lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.multi_items()))

    @property
    def data(self) -> bytes | None:
        return self.response.content or None


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def _describe(error: BaseException) -> str:
    causes: list[str] = [f"{type(error).__name__}: {error}"]
    for detail in getattr(error, "schema_errors", ()):
        causes.append(f"  schema: {detail.message} at {list(detail.absolute_path)}")
    if error.__cause__ is not None:
        causes.append(_describe(error.__cause__))
    return "\n".join(causes)


def check_response(spec: OpenAPI, response: httpx.Response) -> None:
    """Raise :class:`SpecViolation` unless *response* is what the spec allows its request."""
    request = response.request
    try:
        spec.validate_response(_SpecRequest.of(request), _SpecResponse(response))
    except OpenAPIError as error:
        body = response.content[:500].decode("utf-8", "replace")
        raise SpecViolation(
            f"{request.method} {request.url.path} -> {response.status_code} "
            f"({response.headers.get('content-type')}) {body}\n{_describe(error)}"
        ) from error


class ConformingTransport(httpx.BaseTransport):
    """Wraps a transport and checks every API answer against the spec as it passes."""

    def __init__(self, inner: httpx.BaseTransport, spec: OpenAPI) -> None:
        self._inner = inner
        self._spec = spec
        self.checked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if is_api_path(request.url.path):
            response.read()
            response.request = request
            check_response(self._spec, response)
            self.checked += 1
        return response

    def close(self) -> None:
        self._inner.close()


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The ``{"code", "message"}`` body of an error answer (asserting its shape)."""
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("code"), int), body
    assert isinstance(body.get("message"), str), body
    return body
