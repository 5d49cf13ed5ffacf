"""Customer lists: ``/v5/ad_accounts/{ad_account_id}/customer_lists[/{customer_list_id}]``.

Rules:
- Parse, call the backend, serialise ``CustomerList`` exactly as the spec spells it: counters
  as numbers, ``status`` one of PROCESSING/READY/TOO_SMALL/UPLOADING, ``type: "customerlist"``.
- ``records`` must be a string (a JSON array is a 400); it is parsed once, in ``records``.
- The PATCH is the simulation's hot path: no per-record Python objects beyond the strings.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from mock_pinterest.backend import Backend
from mock_pinterest.models import CustomerList
from mock_pinterest.pipeline import call_state, current_backend, current_token, operation
from mock_pinterest.records import LIST_TYPES, ParsedRecords, parse_records
from mock_pinterest.wire import (
    enum_field,
    json_body,
    numeric_id,
    page_params,
    paginate,
    text_field,
)

OPERATION_TYPES = ("ADD", "REMOVE")

bp = Blueprint("customer_lists", __name__, url_prefix="/v5/ad_accounts/<ad_account_id>")


def render_customer_list(backend: Backend, customer_list: CustomerList) -> dict[str, object]:
    return {
        "id": customer_list.id,
        "ad_account_id": customer_list.ad_account_id,
        "name": customer_list.name,
        "created_time": backend.unix(customer_list.created_at),
        "updated_time": backend.unix(customer_list.updated_at),
        "num_batches": customer_list.num_batches,
        "num_uploaded_user_records": customer_list.num_uploaded_user_records,
        "num_removed_user_records": customer_list.num_removed_user_records,
        "status": backend.customer_list_status(customer_list),
        "type": "customerlist",
        "exceptions": dict(customer_list.exceptions),
    }


def _records(
    body: dict[str, object], list_type: str, *, allow_empty: bool = False
) -> ParsedRecords:
    records = text_field(body, "records", allow_empty=allow_empty)
    assert records is not None
    parsed = parse_records(records, list_type)
    call_state().records = parsed.sent
    return parsed


@bp.post("/customer_lists")
@operation("ads_write", "ads:write")
def customer_lists_create(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    body = json_body()
    name = text_field(body, "name")
    assert name is not None
    list_type = enum_field(body, "list_type", LIST_TYPES, default="EMAIL")
    records = _records(body, list_type, allow_empty=backend.config.empty_list_create)
    customer_list = backend.create_customer_list(account, name, list_type, records)
    call_state().customer_list_id = customer_list.id
    return jsonify(render_customer_list(backend, customer_list))


@bp.get("/customer_lists")
@operation("ads_read", "ads:read")
def customer_lists_list(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    page = page_params()
    return jsonify(
        paginate(
            backend.customer_lists_of(account),
            page,
            id_of=lambda customer_list: customer_list.id,
            render=lambda customer_list: render_customer_list(backend, customer_list),
        )
    )


@bp.get("/customer_lists/<customer_list_id>")
@operation("ads_read", "ads:read")
def customer_lists_get(ad_account_id: str, customer_list_id: str) -> ResponseReturnValue:
    backend = current_backend()
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    customer_list = backend.customer_list_for(
        account, numeric_id(customer_list_id, "customer_list_id")
    )
    return jsonify(render_customer_list(backend, customer_list))


@bp.patch("/customer_lists/<customer_list_id>")
@operation("ads_write", "ads:write")
def customer_lists_update(ad_account_id: str, customer_list_id: str) -> ResponseReturnValue:
    backend = current_backend()
    state = call_state()
    state.customer_list_id = numeric_id(customer_list_id, "customer_list_id")
    account = backend.ad_account_for(current_token(), numeric_id(ad_account_id, "ad_account_id"))
    body = json_body()
    operation_type = enum_field(body, "operation_type", OPERATION_TYPES)
    state.operation_type = operation_type
    found = backend.customer_list_for(account, customer_list_id)
    parsed = _records(body, found.list_type)
    customer_list = backend.update_customer_list(account, customer_list_id, operation_type, parsed)
    return jsonify(render_customer_list(backend, customer_list))
