"""State and rules of the mock Pinterest: the moto-style backend behind the blueprints.

Rules:
- The backend holds every piece of state (users, ad accounts, OAuth clients, codes and tokens,
  customer lists, audiences, fault rules, rate-limit tallies, the journal) and every rule that
  decides an answer. Blueprints parse HTTP, call one method here, and serialise the result.
- Time comes only from the injected ``clock``; nothing here reads the wall clock.
- Randomness comes only from ``random.Random`` instances seeded from ``config.seed``: ids,
  tokens and fault draws are identical for the same seed and the same request sequence.
  Ids are increasing digit strings (≤ 18 characters), so "by ID" ordering is creation order.
- Whether a hashed id matches a Pinterest account is a pure function of the id and the seed.
  Audience sizes are computed from list members at refresh instants only: a refresh falls due
  ``size_refresh_delay_s`` after the first change it has not seen, and is applied before any
  later change, so a late read still sees the members as they were at the due instant. The
  member set counts a member's match once, at the first refresh that sees it.
- Rule violations raise ``mock_pinterest.errors`` exceptions; messages never carry secrets.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mock_pinterest.config import MockConfig
from mock_pinterest.errors import (
    AuthenticationFailed,
    InsufficientScope,
    InvalidGrant,
    InvalidParameters,
    InvalidScope,
    NotFound,
    NotPermitted,
)
from mock_pinterest.faults import FaultBook, max_latency_s
from mock_pinterest.journal import Journal
from mock_pinterest.members import MemberSet
from mock_pinterest.models import (
    AccessToken,
    AdAccount,
    Audience,
    AuthCode,
    CustomerList,
    OAuthClient,
    RefreshToken,
    User,
)
from mock_pinterest.ratelimit import RateLimiter, windows_for
from mock_pinterest.records import ParsedRecords
from mock_pinterest.redirects import is_registered

DEFAULT_USER = "default"
DEFAULT_SCOPES = frozenset({"ads:read", "ads:write", "user_accounts:read"})
KNOWN_SCOPES = DEFAULT_SCOPES | frozenset(
    {
        "boards:read",
        "boards:write",
        "pins:read",
        "pins:write",
        "catalogs:read",
        "catalogs:write",
        "user_accounts:write",
        "biz_access:read",
        "biz_access:write",
    }
)
# Fault draws use their own stream so adding a fault never shifts the ids that follow.
_FAULT_STREAM = 0x5EED_FA17
_MATCH_SPACE = 1 << 32


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenGrant:
    """The tokens one successful OAuth exchange hands out."""

    access_token: str
    access: AccessToken
    refresh_token: str | None
    refresh: RefreshToken | None


class _IdSequence:
    """Increasing ids of a fixed number of digits, with seeded gaps."""

    def __init__(self, rng: random.Random, digits: int) -> None:
        self._rng = rng
        self._next = 10 ** (digits - 1) + rng.randrange(10 ** (digits - 2))

    def __call__(self) -> str:
        self._next += self._rng.randrange(1, 100_000)
        return str(self._next)


class Backend:
    """All state and rules of one mock Pinterest."""

    def __init__(self, config: MockConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.journal = Journal()
        self.faults = FaultBook(
            random.Random(config.seed ^ _FAULT_STREAM),
            max_latency_s=max_latency_s(sleep_latency=config.sleep_latency, speed=config.speed),
        )
        self.limiter = RateLimiter(windows_for(config))
        self._match_salt = config.seed & 0xFFFF_FFFF
        self._match_below = int(config.match_rate * _MATCH_SPACE)
        self._request_id_prefix = f"{config.seed & 0xFFFF:04x}"
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded initial state: one user ``default`` with one ad account, and
        one OAuth client owned by it."""
        seed = self.config.seed
        self._rng = random.Random(seed)
        self._user_ids = _IdSequence(self._rng, 15)
        self._account_ids = _IdSequence(self._rng, 12)
        self._list_ids = _IdSequence(self._rng, 12)
        self._audience_ids = _IdSequence(self._rng, 13)
        self.users: dict[str, User] = {}
        self.ad_accounts: dict[str, AdAccount] = {}
        self.clients: dict[str, OAuthClient] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.customer_lists: dict[str, CustomerList] = {}
        self.audiences: dict[str, Audience] = {}
        # access-token lifetimes shortened at run time (``shorten_tokens``): by user, None for all
        self.access_ttl_s: dict[str | None, float] = {}
        self._token_count = 0
        self._grant_count = 0
        self._request_count = 0
        self.journal.clear()
        self.faults.clear()
        self.limiter.reset()
        self.ensure_user(DEFAULT_USER, [self._account_ids()])
        client_id = str(1_000_000 + self._rng.randrange(9_000_000))
        self.default_client = OAuthClient(
            client_id=client_id,
            client_secret=self._secret(40),
            owner=DEFAULT_USER,
            redirect_uris=self.config.redirect_uris,
        )
        self.clients[client_id] = self.default_client

    def now(self) -> float:
        return self.clock()

    def unix(self, at: float) -> int:
        """A mock-clock instant as the Unix seconds bodies show."""
        return int(self.config.epoch_s + at)

    def next_request_id(self) -> str:
        self._request_count += 1
        return f"{self._request_id_prefix}{self._request_count:012x}"

    def _secret(self, hex_digits: int) -> str:
        return f"{self._rng.getrandbits(hex_digits * 4):0{hex_digits}x}"

    # -- users and ad accounts -------------------------------------------------------------

    def ensure_user(self, username: str, ad_account_ids: Iterable[str] = ()) -> User:
        """Create the user if new, and the ad accounts it owns (idempotent)."""
        user = self.users.get(username)
        if user is None:
            user = self.users[username] = User(id=self._user_ids(), username=username)
        for account_id in ad_account_ids:
            account = self.ad_accounts.get(account_id)
            if account is None:
                self.ad_accounts[account_id] = AdAccount(
                    id=account_id, name=f"{username} ads", owner=username, created_at=self.now()
                )
            elif account.owner != username:
                raise InvalidParameters("Ad account is owned by another user.")
        return user

    def share_ad_account(self, ad_account_id: str, username: str) -> AdAccount:
        account = self.ad_accounts.get(ad_account_id)
        if account is None:
            raise NotFound("AdAccount not found.")
        self.ensure_user(username)
        account.shared_with.add(username)
        return account

    def ad_accounts_of(self, username: str, *, include_shared: bool = True) -> list[AdAccount]:
        return [
            account
            for account in self.ad_accounts.values()
            if account.owner == username or (include_shared and username in account.shared_with)
        ]

    def ad_account_for(self, token: AccessToken, ad_account_id: str) -> AdAccount:
        """The ad account, if the token's user owns it or has it shared (404 / 403)."""
        account = self.ad_accounts.get(ad_account_id)
        if account is None:
            raise NotFound("AdAccount not found.")
        if token.user != account.owner and token.user not in account.shared_with:
            raise NotPermitted()
        return account

    # -- OAuth -----------------------------------------------------------------------------

    def client(self, client_id: str, client_secret: str) -> OAuthClient:
        """The client whose credentials these are (401 code 2 otherwise)."""
        client = self.clients.get(client_id)
        if client is None or client.client_secret != client_secret:
            raise AuthenticationFailed()
        return client

    def consent_client(self, client_id: str, redirect_uri: str) -> OAuthClient:
        """The app a consent request names, if ``redirect_uri`` is registered for it. Checked
        before anything is shown or redirected: the answer is an error page, never a
        redirect to an unknown URI."""
        client = self.clients.get(client_id)
        if client is None:
            raise InvalidParameters("Unknown client_id.")
        if not is_registered(redirect_uri, client.redirect_uris):
            raise InvalidParameters("redirect_uri is not registered for this app.")
        return client

    def authorize(
        self, client_id: str, redirect_uri: str, scopes: frozenset[str], username: str
    ) -> str:
        """Record the user's consent and hand out a single-use code."""
        self.consent_client(client_id, redirect_uri)
        if not scopes or not scopes <= KNOWN_SCOPES:
            raise InvalidParameters("Invalid scope.")
        self.ensure_user(username)
        code = self._secret(40)
        self.codes[code] = AuthCode(
            client_id=client_id,
            user=username,
            scopes=scopes,
            redirect_uri=redirect_uri,
            expires_at=self.now() + self.config.code_ttl_s,
        )
        return code

    def exchange_code(self, client: OAuthClient, code: str, redirect_uri: str) -> TokenGrant:
        # A code is consumed by any attempt, even a failing one, as OAuth servers should.
        grant = self.codes.pop(code, None)
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.redirect_uri != redirect_uri
            or not is_registered(redirect_uri, client.redirect_uris)
            or self.now() >= grant.expires_at
        ):
            raise self._invalid_grant()
        return self._grant(grant.user, grant.scopes, client.client_id, None)

    def refresh(self, client: OAuthClient, refresh_token: str, scope: str | None) -> TokenGrant:
        """A new access token and a new refresh token (rotation), as RFC 6749 §6 says: no or
        an empty ``scope`` gives the grant's scopes, a narrower set is allowed for the access
        token, any scope beyond the grant is ``invalid_scope``; the new refresh token keeps
        the grant's scopes."""
        old = self.refresh_tokens.get(refresh_token)
        if (
            old is None
            or old.revoked
            or old.client_id != client.client_id
            or self.now() >= old.expires_at
        ):
            raise self._invalid_grant()
        scopes = parse_scopes(scope or "") or old.scopes
        if not scopes <= old.scopes:
            raise InvalidScope()
        if not self.config.old_refresh_token_survives_rotation:
            old.revoked = True
        return self._grant(old.user, scopes, client.client_id, old.grant, refresh_scopes=old.scopes)

    def client_credentials(self, client: OAuthClient, scope: str | None) -> TokenGrant:
        scopes = DEFAULT_SCOPES if scope is None else parse_scopes(scope)
        if not scopes or not scopes <= KNOWN_SCOPES:
            raise InvalidParameters("Invalid scope.")
        grant = self._grant(client.owner, scopes, client.client_id, None)
        return TokenGrant(
            access_token=grant.access_token, access=grant.access, refresh_token=None, refresh=None
        )

    def issue_token(self, username: str, scopes: frozenset[str]) -> TokenGrant:
        """Admin shortcut: a token pair for a user, as if it had gone through consent."""
        if not scopes <= KNOWN_SCOPES:
            raise InvalidParameters("Invalid scope.")
        self.ensure_user(username)
        return self._grant(username, scopes, self.default_client.client_id, None)

    def revoke(self, token: str) -> None:
        """Revoke one access token, or a refresh token with its whole grant: every access token
        issued from it dies too (RFC 7009 §2.1). Unknown tokens are ignored (RFC 7009)."""
        access = self.access_tokens.get(token)
        if access is not None:
            access.revoked = True
        refresh = self.refresh_tokens.get(token)
        if refresh is not None:
            self._revoke({refresh.grant})

    def revoke_grants(
        self,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        user: str | None = None,
    ) -> int:
        """Admin revocation: the whole grant of an access or a refresh token, or every grant
        of a user (access removed in the Business Hub). Returns how many access tokens died."""
        if access_token is not None or refresh_token is not None:
            found = self.access_tokens.get(access_token or "") or self.refresh_tokens.get(
                refresh_token or ""
            )
            grants = set() if found is None else {found.grant}
        else:
            grants = {t.grant for t in self.access_tokens.values() if t.user == user}
            grants |= {t.grant for t in self.refresh_tokens.values() if t.user == user}
        return self._revoke(grants)

    def _revoke(self, grants: set[int]) -> int:
        """Revoke every access and refresh token of ``grants``; how many access tokens died."""
        revoked = 0
        for access in self.access_tokens.values():
            if access.grant in grants and not access.revoked:
                access.revoked = True
                revoked += 1
        for refresh in self.refresh_tokens.values():
            if refresh.grant in grants:
                refresh.revoked = True
        return revoked

    def shorten_tokens(
        self, ttl_s: float, *, user: str | None = None, refuse_refresh: bool = False
    ) -> int:
        """From now on a user's access tokens (every user's, for None) live ``ttl_s``: the live
        ones expire within it, new ones are issued with it. ``refuse_refresh`` revokes their
        refresh tokens too (the access tokens work until they expire). Returns how many live
        access tokens were shortened."""
        now = self.now()
        self.access_ttl_s[user] = ttl_s
        shortened = 0
        for access in self.access_tokens.values():
            mine = user in (None, access.user) and not access.revoked
            if mine and access.expires_at > now + ttl_s:
                access.expires_at = now + ttl_s
                shortened += 1
        if refuse_refresh:
            for refresh in self.refresh_tokens.values():
                if user in (None, refresh.user):
                    refresh.revoked = True
        return shortened

    def access_lifetime_s(self, user: str) -> float:
        """How long an access token issued to ``user`` now lives."""
        overrides = [self.access_ttl_s[k] for k in (user, None) if k in self.access_ttl_s]
        return min(overrides, default=self.config.access_token_ttl_s)

    def lookup_token(self, token: str | None) -> AccessToken | None:
        """The access token record, valid or not, for journaling and fault matching."""
        return None if token is None else self.access_tokens.get(token)

    def authenticate(self, token: AccessToken | None) -> AccessToken:
        if token is None or token.revoked or self.now() >= token.expires_at:
            raise AuthenticationFailed()
        return token

    @staticmethod
    def require_scope(token: AccessToken, scope: str) -> None:
        if scope not in token.scopes:
            raise InsufficientScope()

    def _grant(
        self,
        username: str,
        scopes: frozenset[str],
        client_id: str,
        grant: int | None,
        *,
        refresh_scopes: frozenset[str] | None = None,
    ) -> TokenGrant:
        if grant is None:
            self._grant_count += 1
            grant = self._grant_count
        self._token_count += 1
        now = self.now()
        access_token = f"pina_{self._secret(64)}"
        access = self.access_tokens[access_token] = AccessToken(
            token_id=f"tok-{self._token_count}",
            user=username,
            scopes=scopes,
            client_id=client_id,
            grant=grant,
            expires_at=now + self.access_lifetime_s(username),
        )
        refresh_token = f"pinr.{self._secret(64)}"
        refresh = self.refresh_tokens[refresh_token] = RefreshToken(
            user=username,
            scopes=scopes if refresh_scopes is None else refresh_scopes,
            client_id=client_id,
            grant=grant,
            expires_at=now + self.config.refresh_token_ttl_s,
        )
        return TokenGrant(
            access_token=access_token, access=access, refresh_token=refresh_token, refresh=refresh
        )

    def _invalid_grant(self) -> InvalidGrant:
        return InvalidGrant(
            status=self.config.invalid_grant_status, code=self.config.invalid_grant_code
        )

    # -- customer lists --------------------------------------------------------------------

    def create_customer_list(
        self, account: AdAccount, name: str, list_type: str, records: ParsedRecords
    ) -> CustomerList:
        self._check_record_count(records)
        now = self.now()
        customer_list = CustomerList(
            id=self._list_ids(),
            ad_account_id=account.id,
            name=name,
            list_type=list_type,
            created_at=now,
            updated_at=now,
            members=MemberSet(self.is_matched, records.valid),
            num_batches=1,
            num_uploaded_user_records=records.sent,
            exceptions=self._exceptions(records),
            pending_since=now,
        )
        self.customer_lists[customer_list.id] = customer_list
        return customer_list

    def customer_list_for(self, account: AdAccount, customer_list_id: str) -> CustomerList:
        found = self.customer_lists.get(customer_list_id)
        if found is None or found.removed or found.ad_account_id != account.id:
            raise NotFound("Customer list not found.", code=self.config.not_found_code)
        self._refresh_if_due(found)
        return found

    def customer_lists_of(self, account: AdAccount) -> list[CustomerList]:
        found = [
            customer_list
            for customer_list in self.customer_lists.values()
            if customer_list.ad_account_id == account.id and not customer_list.removed
        ]
        for customer_list in found:
            self._refresh_if_due(customer_list)
        return found

    def update_customer_list(
        self,
        account: AdAccount,
        customer_list_id: str,
        operation_type: str,
        records: ParsedRecords,
    ) -> CustomerList:
        """ADD or REMOVE records; counters count every item sent (FIDELITY.md)."""
        customer_list = self.customer_list_for(account, customer_list_id)
        self._check_record_count(records)
        if operation_type == "ADD":
            customer_list.members.add(records.valid)
            customer_list.num_uploaded_user_records += records.sent
        else:
            customer_list.members.remove(records.valid)
            customer_list.num_removed_user_records += records.sent
        now = self.now()
        customer_list.num_batches += 1
        customer_list.updated_at = now
        customer_list.exceptions = self._exceptions(records)
        if customer_list.pending_since is None:
            customer_list.pending_since = now
        return customer_list

    def customer_list_status(self, customer_list: CustomerList) -> str:
        if customer_list.matched is None:
            return "PROCESSING"
        return "READY" if customer_list.matched >= self.config.min_visible_size else "TOO_SMALL"

    def is_matched(self, hashed_id: str) -> bool:
        """Whether a hashed id belongs to a Pinterest account: fixed by id and seed."""
        return zlib.crc32(hashed_id.encode(), self._match_salt) < self._match_below

    def _check_record_count(self, records: ParsedRecords) -> None:
        if records.sent > self.config.max_records_per_request:
            raise InvalidParameters(
                f"Too many records: at most {self.config.max_records_per_request} per request."
            )
        if records.invalid and self.config.invalid_records == "reject":
            raise InvalidParameters("Invalid records: emails must be lowercase, ids hashed.")

    @staticmethod
    def _exceptions(records: ParsedRecords) -> dict[str, int]:
        return {"invalid_records": records.invalid} if records.invalid else {}

    def _refresh_if_due(self, customer_list: CustomerList) -> None:
        pending_since = customer_list.pending_since
        if pending_since is None or self.now() < pending_since + self.config.size_refresh_delay_s:
            return
        customer_list.matched = customer_list.members.matched
        customer_list.pending_since = None

    # -- audiences -------------------------------------------------------------------------

    def create_audience(
        self,
        account: AdAccount,
        *,
        name: str,
        audience_type: str,
        rule: dict[str, object],
        description: str | None,
    ) -> Audience:
        self._check_rule(account, audience_type, rule)
        now = self.now()
        audience = Audience(
            id=self._audience_ids(),
            ad_account_id=account.id,
            name=name,
            audience_type=audience_type,
            description=description,
            rule=rule,
            created_at=now,
            updated_at=now,
        )
        self.audiences[audience.id] = audience
        return audience

    def audience_for(self, account: AdAccount, audience_id: str) -> Audience:
        found = self.audiences.get(audience_id)
        hidden = found is not None and found.removed and not self.config.removed_audience_visible
        if found is None or hidden or found.ad_account_id != account.id:
            raise NotFound("Audience not found.", code=self.config.not_found_code)
        return found

    def audiences_of(self, account: AdAccount) -> list[Audience]:
        return [
            audience
            for audience in self.audiences.values()
            if audience.ad_account_id == account.id and not audience.removed
        ]

    def update_audience(
        self,
        account: AdAccount,
        audience_id: str,
        *,
        operation_type: str,
        changes: Mapping[str, object],
    ) -> Audience:
        audience = self.audience_for(account, audience_id)
        if audience.removed:
            raise NotFound("Audience not found.", code=self.config.not_found_code)
        if operation_type == "REMOVE":
            self.remove_audience(audience.id)
            return audience
        rule = changes.get("rule")
        if isinstance(rule, dict):
            self._check_rule(account, audience.audience_type, rule)
            audience.rule = rule
        if isinstance(changes.get("name"), str):
            audience.name = str(changes["name"])
        if "description" in changes:
            description = changes["description"]
            audience.description = description if isinstance(description, str) else None
        audience.updated_at = self.now()
        return audience

    def remove_audience(self, audience_id: str) -> Audience:
        """Remove an audience and the customer list it is built on: writes to that list
        answer 404 from now on."""
        audience = self.audiences.get(audience_id)
        if audience is None or audience.removed:
            raise NotFound("Audience not found.", code=self.config.not_found_code)
        audience.removed = True
        audience.updated_at = self.now()
        customer_list = self.customer_lists.get(self.rule_list_id(audience) or "")
        if customer_list is not None:
            customer_list.removed = True
        return audience

    def audience_size(self, audience: Audience) -> tuple[int | None, str]:
        """(size, status): size hidden (None) under ``min_visible_size`` matched members;
        both only as of the last refresh of the audience's list."""
        customer_list = self.customer_lists.get(self.rule_list_id(audience) or "")
        if customer_list is None:
            return None, "READY"
        self._refresh_if_due(customer_list)
        if customer_list.matched is None:
            return None, "INITIALIZING"
        if customer_list.matched < self.config.min_visible_size:
            return None, "TOO_SMALL"
        return customer_list.matched, "READY"

    @staticmethod
    def rule_list_id(audience: Audience) -> str | None:
        if audience.audience_type != "CUSTOMER_LIST":
            return None
        value = audience.rule.get("customer_list_id")
        return value if isinstance(value, str) else None

    def _check_rule(self, account: AdAccount, audience_type: str, rule: dict[str, object]) -> None:
        if audience_type != "CUSTOMER_LIST":
            return
        list_id = rule.get("customer_list_id")
        found = self.customer_lists.get(list_id) if isinstance(list_id, str) else None
        if found is None or found.removed or found.ad_account_id != account.id:
            raise InvalidParameters(
                "rule.customer_list_id must name a customer list of this ad account."
            )


def parse_scopes(scope: str) -> frozenset[str]:
    """Pinterest scopes are comma-separated (spaces tolerated, as some clients send them)."""
    return frozenset(part for part in scope.replace(" ", ",").split(",") if part)
