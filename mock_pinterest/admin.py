"""The admin API under ``/_mock/``: set up, inspect and disturb the mock (CONTRACTS.md §1).

Rules:
- JSON in and out, no auth, never rate limited, never journaled (the gate skips ``/_mock``).
- It changes state only through backend methods, like the API blueprints.
- ``GET /_mock/state`` and ``GET /_mock/journal`` are the only places that expose list
  members (hashed ids) and token ids; raw tokens appear only in ``POST /_mock/tokens``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from mock_pinterest.audiences import render_audience
from mock_pinterest.backend import DEFAULT_SCOPES, DEFAULT_USER, Backend
from mock_pinterest.customer_lists import render_customer_list
from mock_pinterest.errors import InvalidParameters, NotFound
from mock_pinterest.pipeline import current_backend
from mock_pinterest.wire import json_body, numeric_id

bp = Blueprint("admin", __name__, url_prefix="/_mock")

_MAX_TTL_S = 365 * 86_400.0  # a token lifetime beyond a year is no expiry fault


def _optional_body() -> dict[str, Any]:
    return json_body() if request.content_length else {}


def _name(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidParameters(f"'{key}' must be a non-empty string.")
    return value


def _string_list(body: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidParameters(f"'{key}' must be a list of strings.")
    return value


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    current_backend().reset()
    return jsonify({})


@bp.get("/state")
def state() -> ResponseReturnValue:
    backend = current_backend()
    return jsonify(
        {
            "users": [_user_state(backend, name) for name in backend.users],
            "ad_accounts": [
                {
                    "id": account.id,
                    "name": account.name,
                    "owner": account.owner,
                    "shared_with": sorted(account.shared_with),
                }
                for account in backend.ad_accounts.values()
            ],
            "customer_lists": [
                render_customer_list(backend, customer_list)
                # a MemberSet iterates in sorted order: no second sort of millions of ids
                | {"members": list(customer_list.members), "removed": customer_list.removed}
                for customer_list in backend.customer_lists.values()
            ],
            "audiences": [
                render_audience(backend, audience) | {"removed": audience.removed}
                for audience in backend.audiences.values()
            ],
        }
    )


def _user_state(backend: Backend, username: str) -> dict[str, object]:
    return {
        "user": username,
        "id": backend.users[username].id,
        "ad_account_ids": [account.id for account in backend.ad_accounts_of(username)],
    }


@bp.post("/users")
def users() -> ResponseReturnValue:
    backend = current_backend()
    body = json_body()
    username = _name(body, "user")
    ids = [numeric_id(i, "ad_account_ids") for i in _string_list(body, "ad_account_ids", [])]
    backend.ensure_user(username, ids)
    owned = [account.id for account in backend.ad_accounts_of(username, include_shared=False)]
    return jsonify({"user": username, "ad_account_ids": owned})


@bp.post("/ad_accounts/<ad_account_id>/share")
def share(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    username = _name(json_body(), "user")
    account = backend.share_ad_account(numeric_id(ad_account_id, "ad_account_id"), username)
    return jsonify({"ad_account_id": account.id, "shared_with": sorted(account.shared_with)})


@bp.post("/tokens")
def tokens() -> ResponseReturnValue:
    backend = current_backend()
    body = _optional_body()
    username = _name(body, "user", DEFAULT_USER)
    scopes = frozenset(_string_list(body, "scopes", sorted(DEFAULT_SCOPES)))
    grant = backend.issue_token(username, scopes)
    client = backend.default_client
    return jsonify(
        {
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "user": username,
            "ad_account_ids": [account.id for account in backend.ad_accounts_of(username)],
            "expires_in": round(grant.access.expires_at - backend.now()),
        }
    )


@bp.post("/tokens/revoke")
def tokens_revoke() -> ResponseReturnValue:
    backend = current_backend()
    body = json_body()
    if "access_token" in body:
        revoked = backend.revoke_grants(access_token=_name(body, "access_token"))
    elif "refresh_token" in body:
        revoked = backend.revoke_grants(refresh_token=_name(body, "refresh_token"))
    elif "user" in body:
        revoked = backend.revoke_grants(user=_name(body, "user"))
    else:
        raise InvalidParameters("Give 'access_token', 'refresh_token' or 'user'.")
    return jsonify({"revoked": revoked})


@bp.post("/tokens/expiry")
def tokens_expiry() -> ResponseReturnValue:
    backend = current_backend()
    body = json_body()
    ttl = body.get("access_token_ttl_s")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= _MAX_TTL_S:
        raise InvalidParameters(
            f"'access_token_ttl_s' must be a number of seconds in (0, {_MAX_TTL_S:g}]."
        )
    refuse = body.get("refuse_refresh", False)
    if not isinstance(refuse, bool):
        raise InvalidParameters("'refuse_refresh' must be true or false.")
    user = _name(body, "user") if "user" in body else None
    shortened = backend.shorten_tokens(float(ttl), user=user, refuse_refresh=refuse)
    return jsonify({"shortened": shortened})


@bp.post("/audiences/<audience_id>/delete")
def audience_delete(audience_id: str) -> ResponseReturnValue:
    audience = current_backend().remove_audience(numeric_id(audience_id, "audience_id"))
    return jsonify({"id": audience.id, "removed": True})


@bp.post("/faults")
def faults_add() -> ResponseReturnValue:
    rule = current_backend().faults.add(json_body())
    return jsonify({"id": rule.id}), 201


@bp.get("/faults")
def faults_list() -> ResponseReturnValue:
    return jsonify({"items": [rule.to_json() for rule in current_backend().faults.rules()]})


@bp.delete("/faults")
def faults_clear() -> ResponseReturnValue:
    current_backend().faults.clear()
    return jsonify({})


@bp.delete("/faults/<rule_id>")
def faults_delete(rule_id: str) -> ResponseReturnValue:
    if not current_backend().faults.remove(rule_id):
        raise NotFound("Fault rule not found.")
    return jsonify({})


@bp.get("/journal")
def journal() -> ResponseReturnValue:
    backend = current_backend()
    output = request.args.get("format", "json")
    if output == "csv":
        return Response(backend.journal.to_csv(), mimetype="text/csv")
    if output != "json":
        raise InvalidParameters("'format' must be json or csv.")
    return jsonify({"items": backend.journal.to_json()})
