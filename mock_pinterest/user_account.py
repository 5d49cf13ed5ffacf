"""The token's user: ``GET /v5/user_account`` (operationId ``user_account/get``).

Rules:
- Answers the ``Account`` schema for the token's user; with ``ad_account_id`` (Business
  Access), for that ad account's owner, if the token may see the account.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from mock_pinterest.pipeline import current_backend, current_token, operation
from mock_pinterest.wire import numeric_id

bp = Blueprint("user_account", __name__, url_prefix="/v5")


@bp.get("/user_account")
@operation("org_read", "user_accounts:read")
def user_account_get() -> ResponseReturnValue:
    backend = current_backend()
    token = current_token()
    username = token.user
    ad_account_id = request.args.get("ad_account_id")
    if ad_account_id is not None:
        username = backend.ad_account_for(token, numeric_id(ad_account_id, "ad_account_id")).owner
    user = backend.users[username]
    return jsonify(
        {
            "id": user.id,
            "username": user.username,
            "account_type": "BUSINESS",
            "business_name": user.username,
            "profile_image": "",
            "website_url": "",
            "about": "",
        }
    )
