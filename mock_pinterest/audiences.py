"""Audiences: ``/v5/ad_accounts/{ad_account_id}/audiences[/{audience_id}]``.

Rules:
- Serialise ``Audience`` as the spec spells it: ``created_timestamp``/``updated_timestamp``
  (not ``created_time``), ``size`` null until enough members matched, ``type: "audience"``.
- ``audience_type`` and ``operation_type`` are case-sensitive enums; ``rule`` is an object
  whose declared fields are checked as the spec's ``AudienceRule`` says
  (``mock_pinterest.audience_rules``) and whose extra keys are kept; ``description: ""`` is
  accepted.
- There is no DELETE verb: removal is a PATCH with ``operation_type: "REMOVE"``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from mock_pinterest.audience_rules import check_rule
from mock_pinterest.backend import Backend
from mock_pinterest.errors import InvalidParameters
from mock_pinterest.models import Audience
from mock_pinterest.pipeline import current_backend, current_token, operation
from mock_pinterest.wire import (
    enum_field,
    json_body,
    numeric_id,
    object_field,
    page_params,
    paginate,
    text_field,
)

AUDIENCE_TYPES = ("CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE", "PERSONA")
OPERATION_TYPES = ("UPDATE", "REMOVE")
OWNERSHIP_TYPES = ("OWNED", "RECEIVED")

bp = Blueprint("audiences", __name__, url_prefix="/v5/ad_accounts/<ad_account_id>")


def render_audience(backend: Backend, audience: Audience) -> dict[str, object]:
    size, status = backend.audience_size(audience)
    return {
        "id": audience.id,
        "ad_account_id": audience.ad_account_id,
        "name": audience.name,
        "audience_type": audience.audience_type,
        "description": audience.description,
        "rule": dict(audience.rule),
        "size": size,
        "status": status,
        "type": "audience",
        "created_timestamp": backend.unix(audience.created_at),
        "updated_timestamp": backend.unix(audience.updated_at),
    }


def _rule(body: dict[str, Any]) -> dict[str, object]:
    rule = object_field(body, "rule")
    check_rule(rule)
    return rule


def _description(body: dict[str, Any]) -> str | None:
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidParameters("'description' must be a string.")
    return description


@bp.post("/audiences")
@operation("ads_write", "ads:write")
def audiences_create(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    body = json_body()
    name = text_field(body, "name")
    assert name is not None
    audience = backend.create_audience(
        account,
        name=name,
        audience_type=enum_field(body, "audience_type", AUDIENCE_TYPES),
        rule=_rule(body),
        description=_description(body),
    )
    return jsonify(render_audience(backend, audience))


@bp.get("/audiences")
@operation("ads_read", "ads:read")
def audiences_list(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    page = page_params()
    enum_field(request.args, "ownership_type", OWNERSHIP_TYPES, default="OWNED")
    return jsonify(
        paginate(
            backend.audiences_of(account),
            page,
            id_of=lambda audience: audience.id,
            render=lambda audience: render_audience(backend, audience),
        )
    )


@bp.get("/audiences/<audience_id>")
@operation("ads_read", "ads:read")
def audiences_get(ad_account_id: str, audience_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    audience = backend.audience_for(account, numeric_id(audience_id, "audience_id"))
    return jsonify(render_audience(backend, audience))


@bp.patch("/audiences/<audience_id>")
@operation("ads_write", "ads:write")
def audiences_update(ad_account_id: str, audience_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    body = json_body()
    operation_type = enum_field(body, "operation_type", OPERATION_TYPES, default="UPDATE")
    if "name" in body:
        text_field(body, "name")
    if "rule" in body:
        _rule(body)
    _description(body)
    audience = backend.update_audience(
        account, numeric_id(audience_id, "audience_id"), operation_type=operation_type, changes=body
    )
    return jsonify(render_audience(backend, audience))
