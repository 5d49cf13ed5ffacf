"""OAuth: the consent page (``/oauth/``), ``POST /v5/oauth/token`` and its revoke endpoint.

Rules (FIDELITY.md "Tokens"):
- The consent page stands in for ``https://www.pinterest.com/oauth/``: it shows a confirm
  button (or, with ``auto_approve``, redirects at once) to ``redirect_uri?code=…&state=…``.
  The mock-only ``user`` query parameter says who consents (default ``default``).
- ``redirect_uri`` must be registered for the app (``MockConfig.redirect_uris``, loopback on
  any port; default: any URI): otherwise the page answers 400 itself, and the code exchange
  refuses it too — no open redirect.
- The token endpoint takes form bodies and HTTP Basic client credentials (401 code 2 when
  wrong). Grants: ``authorization_code`` (single-use code, same ``redirect_uri``),
  ``refresh_token`` (rotation: a new refresh token every time; scope rules of RFC 6749 §6)
  and ``client_credentials``.
  Unknown extra fields (``continuous_refresh``…) are ignored.
- Revoke answers 200 with an empty body; the token is invalid at once, and revoking a refresh
  token revokes its grant: every access token issued from it (RFC 7009 §2.1).
- Tokens and codes appear only in response bodies and redirects, never in errors or logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from mock_pinterest.backend import DEFAULT_USER, Backend, TokenGrant, parse_scopes
from mock_pinterest.errors import AuthenticationFailed, InvalidParameters
from mock_pinterest.models import OAuthClient
from mock_pinterest.pipeline import current_backend, operation
from mock_pinterest.wire import form_body

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")

bp = Blueprint("oauth", __name__)


def _consent_params(values: Mapping[str, str]) -> dict[str, str]:
    params = {key: values.get(key, "") for key in ("client_id", "redirect_uri", "scope", "state")}
    params["user"] = values.get("user") or DEFAULT_USER
    if values.get("response_type") != "code":
        raise InvalidParameters("response_type must be 'code'.")
    if not params["redirect_uri"]:
        raise InvalidParameters("redirect_uri is required.")
    return params


def _approve(backend: Backend, params: Mapping[str, str]) -> ResponseReturnValue:
    code = backend.authorize(
        params["client_id"], params["redirect_uri"], parse_scopes(params["scope"]), params["user"]
    )
    query = {"code": code} | ({"state": params["state"]} if params["state"] else {})
    separator = "&" if "?" in params["redirect_uri"] else "?"
    return redirect(f"{params['redirect_uri']}{separator}{urlencode(query)}", code=302)


@bp.route("/oauth/", methods=["GET", "POST"])
@operation(None, authenticated=False)
def oauth_authorize() -> ResponseReturnValue:
    backend = current_backend()
    if request.method == "POST":
        return _approve(backend, _consent_params(form_body()))
    params = _consent_params(request.args)
    # An unknown app or unregistered redirect_uri is an error on this page, never a redirect.
    backend.consent_client(params["client_id"], params["redirect_uri"])
    if backend.config.auto_approve:
        return _approve(backend, params)
    scopes = sorted(parse_scopes(params["scope"]))
    return render_template("consent.html", scopes=scopes, **params)


def _client(backend: Backend) -> OAuthClient:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise AuthenticationFailed()
    return backend.client(auth.username, auth.password or "")


def _required(form: Mapping[str, str], key: str) -> str:
    value = form.get(key)
    if not value:
        raise InvalidParameters(f"'{key}' is required.")
    return value


def _token_response(backend: Backend, grant: TokenGrant, response_type: str) -> Response:
    config = backend.config
    body: dict[str, object] = {
        "access_token": grant.access_token,
        "token_type": "bearer",
        "expires_in": round(grant.access.expires_at - backend.now()),
        "scope": ",".join(sorted(grant.access.scopes)),
        "response_type": response_type,
    }
    if grant.refresh_token is not None and grant.refresh is not None:
        body["refresh_token"] = grant.refresh_token
        body["refresh_token_expires_in"] = int(config.refresh_token_ttl_s)
        body["refresh_token_expires_at"] = backend.unix(grant.refresh.expires_at)
    return jsonify(body)


def _grant_code(backend: Backend, client: OAuthClient, form: Mapping[str, str]) -> TokenGrant:
    return backend.exchange_code(client, _required(form, "code"), _required(form, "redirect_uri"))


def _grant_refresh(backend: Backend, client: OAuthClient, form: Mapping[str, str]) -> TokenGrant:
    return backend.refresh(client, _required(form, "refresh_token"), form.get("scope"))


def _grant_client(backend: Backend, client: OAuthClient, form: Mapping[str, str]) -> TokenGrant:
    return backend.client_credentials(client, form.get("scope"))


_GRANTS: Mapping[str, Callable[[Backend, OAuthClient, Mapping[str, str]], TokenGrant]] = {
    "authorization_code": _grant_code,
    "refresh_token": _grant_refresh,
    "client_credentials": _grant_client,
}


@bp.post("/v5/oauth/token")
@operation("org_read", authenticated=False)
def oauth_token() -> ResponseReturnValue:
    backend = current_backend()
    form = form_body()
    client = _client(backend)
    grant_type = form.get("grant_type", "")
    exchange = _GRANTS.get(grant_type)
    if exchange is None:
        raise InvalidParameters(f"'grant_type' must be one of {', '.join(_GRANTS)}.")
    return _token_response(backend, exchange(backend, client, form), grant_type)


@bp.post("/v5/oauth/token/revoke")
@operation("org_write", authenticated=False)
def token_revoke() -> ResponseReturnValue:
    backend = current_backend()
    form = form_body()
    _client(backend)
    token = _required(form, "token")
    hint = form.get("token_type_hint")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise InvalidParameters("'token_type_hint' must be access_token or refresh_token.")
    backend.revoke(token)
    return Response(status=200)
