"""The mock's state records: users, ad accounts, OAuth artefacts, customer lists, audiences.

Rules:
- These are the backend's mutable state, so they are plain slotted dataclasses, not frozen;
  only ``backend`` mutates them, blueprints only read them to serialise.
- Members of a customer list are a ``members.MemberSet``: a set of strings kept as raw
  digests in compact columns (~33 bytes a hashed id), each member's match counted once, at
  the first refresh that sees it, so tens of millions of members stay cheap.
- Times are mock-clock seconds (``*_at``); conversion to Unix seconds happens on output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mock_pinterest.members import MemberSet


@dataclass(slots=True, kw_only=True)
class User:
    id: str
    username: str


@dataclass(slots=True, kw_only=True)
class AdAccount:
    id: str
    name: str
    owner: str
    created_at: float
    shared_with: set[str] = field(default_factory=set)


@dataclass(slots=True, kw_only=True)
class OAuthClient:
    client_id: str
    client_secret: str
    owner: str
    # Where the consent page may send codes; None: anywhere (``redirects.is_registered``).
    redirect_uris: tuple[str, ...] | None = None


@dataclass(slots=True, kw_only=True)
class AuthCode:
    client_id: str
    user: str
    scopes: frozenset[str]
    redirect_uri: str
    expires_at: float


@dataclass(slots=True, kw_only=True)
class AccessToken:
    token_id: str
    user: str
    scopes: frozenset[str]
    client_id: str
    grant: int
    expires_at: float
    revoked: bool = False


@dataclass(slots=True, kw_only=True)
class RefreshToken:
    user: str
    scopes: frozenset[str]
    client_id: str
    grant: int
    expires_at: float
    revoked: bool = False


@dataclass(slots=True, kw_only=True)
class CustomerList:
    id: str
    ad_account_id: str
    name: str
    list_type: str
    created_at: float
    updated_at: float
    members: MemberSet
    num_batches: int = 0
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    # Matched members as of the last size refresh; None until the first refresh.
    matched: int | None = None
    # First change not yet reflected in ``matched``; a refresh is due a delay after it.
    pending_since: float | None = None
    removed: bool = False


@dataclass(slots=True, kw_only=True)
class Audience:
    id: str
    ad_account_id: str
    name: str
    audience_type: str
    description: str | None
    rule: dict[str, object]
    created_at: float
    updated_at: float
    removed: bool = False
