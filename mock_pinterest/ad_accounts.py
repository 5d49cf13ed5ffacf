"""Ad accounts: ``GET /v5/ad_accounts`` and ``GET /v5/ad_accounts/{ad_account_id}``.

Rules:
- A token sees the ad accounts its user owns and, unless ``include_shared_accounts=false``,
  those shared with it; any other existing account is 403 code 29, an unknown one 404 code 2.
- Serialise ``AdAccount`` as the spec spells it (``owner`` is ``{id, username}``).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from mock_pinterest.backend import Backend
from mock_pinterest.errors import InvalidParameters
from mock_pinterest.models import AdAccount
from mock_pinterest.pipeline import current_backend, current_token, operation
from mock_pinterest.wire import numeric_id, page_params, paginate

_BOOLEANS = {"true": True, "false": False}

bp = Blueprint("ad_accounts", __name__, url_prefix="/v5/ad_accounts")


def render_ad_account(backend: Backend, account: AdAccount, viewer: str) -> dict[str, object]:
    owner = backend.users[account.owner]
    return {
        "id": account.id,
        "name": account.name,
        "owner": {"id": owner.id, "username": owner.username},
        "country": "US",
        "currency": "USD",
        "permissions": ["OWNER"] if viewer == account.owner else ["AUDIENCE_MANAGER"],
        "created_time": backend.unix(account.created_at),
        "updated_time": backend.unix(account.created_at),
    }


@bp.get("")
@operation("ads_read", "ads:read")
def ad_accounts_list() -> ResponseReturnValue:
    backend = current_backend()
    token = current_token()
    include_shared = _BOOLEANS.get(request.args.get("include_shared_accounts", "true").lower())
    if include_shared is None:
        raise InvalidParameters("'include_shared_accounts' must be true or false.")
    page = page_params(allow_order=False)
    accounts = backend.ad_accounts_of(token.user, include_shared=include_shared)
    return jsonify(
        paginate(
            accounts,
            page,
            id_of=lambda account: account.id,
            render=lambda account: render_ad_account(backend, account, token.user),
        )
    )


@bp.get("/<ad_account_id>")
@operation("ads_read", "ads:read")
def ad_accounts_get(ad_account_id: str) -> ResponseReturnValue:
    backend = current_backend()
    token = current_token()
    account = backend.ad_account_for(token, numeric_id(ad_account_id, "ad_account_id"))
    return jsonify(render_ad_account(backend, account, token.user))
