"""The simulated Pinterest: the real ``mock_pinterest`` app, in process, on the SimPy clock.

Rules:
- Everything that changes the mock's state goes over HTTP (httpx ``WSGITransport``, no
  socket): the public API for what a workspace would do (OAuth consent and token exchange,
  creating an existing audience), the ``/_mock/`` admin API for what the world does to it
  (users, revocations, deleted audiences, fault rules).
- Reads of bulk results (journal rows, list members) go straight to ``backend_of(app)``:
  serialising two million hashed ids to JSON only to parse them back would prove nothing.
- The mock's clock is the simulation's ``now``; its timestamps are offset to a real-looking
  epoch (2026-01-01) so bodies look like Pinterest's.
- No token ever leaves this module in an error message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from mock_pinterest import MockConfig, backend_of, create_app
from mock_pinterest.journal import JournalRecord
from sim.book.digests import DigestSet

__all__ = ["BASE_URL", "EPOCH_S", "Grant", "SimulatedPinterest", "SimulationSetupError"]

BASE_URL = "http://mock"
EPOCH_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REDIRECT_URI = "https://pinsim.example/oauth/callback"
SCOPES = "ads:read,ads:write,user_accounts:read"


class SimulationSetupError(RuntimeError):
    """The mock refused a setup call the simulation relies on (a harness bug, not a finding)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """What an OAuth connection yields: the engine's ``Connection`` fields."""

    access_token: str
    refresh_token: str
    client_id: str
    client_secret: str
    scopes: frozenset[str]
    expires_in_s: float  # the access token's lifetime, as the token answer states it

    def __repr__(self) -> str:  # never print tokens or secrets
        return f"Grant(client_id={self.client_id!r}, scopes={sorted(self.scopes)!r})"


class SimulatedPinterest:
    """One mock Pinterest app and an httpx client bound to it."""

    def __init__(self, config: MockConfig, clock: Callable[[], float]) -> None:
        self.app = create_app(config, clock=clock)
        self.backend = backend_of(self.app)
        self.transport = httpx.WSGITransport(app=self.app)
        self.client = httpx.Client(transport=self.transport, base_url=BASE_URL)

    def close(self) -> None:
        self.client.close()

    # -- the wire --------------------------------------------------------------------------

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> httpx.Response:
        """One request from the engine, answered at the current simulated instant.

        Straight to the transport, with the client's default headers: the client's URL
        merging, cookie jar, auth and redirect handling cost more than the mock's own work
        and the engine's requests use none of them."""
        merged = httpx.Headers(self.client.headers)
        merged.update(headers)
        request = httpx.Request(method, BASE_URL + path, headers=merged, content=body)
        response = self.transport.handle_request(request)
        response.read()
        return response

    # -- setup -----------------------------------------------------------------------------

    def create_user(self, user: str, ad_account_ids: Iterable[str]) -> None:
        self._admin("POST", "/_mock/users", {"user": user, "ad_account_ids": list(ad_account_ids)})

    def connect(self, user: str) -> Grant:
        """The OAuth flow a workspace admin goes through: consent, then code exchange."""
        client_id = self.backend.default_client.client_id
        client_secret = self.backend.default_client.client_secret
        query = {
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": SCOPES,
            "state": f"connect-{user}",
            "user": user,
        }
        consent = self.client.post("/oauth/", data=query)
        if consent.status_code != 302:
            raise SimulationSetupError(f"OAuth consent for {user!r} answered {consent.status_code}")
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        answer = self.client.post(
            "/v5/oauth/token",
            auth=(client_id, client_secret),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        )
        if answer.status_code != 200:
            raise SimulationSetupError(f"OAuth code exchange answered {answer.status_code}")
        body = answer.json()
        return Grant(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            client_id=client_id,
            client_secret=client_secret,
            scopes=frozenset(body["scope"].split(",")),
            expires_in_s=float(body["expires_in"]),
        )

    def create_existing_audience(
        self, grant: Grant, ad_account_id: str, name: str, seed_records: Iterable[str]
    ) -> None:
        """An audience that exists before the Canvas launches, as a marketer made it."""
        headers = {"Authorization": f"Bearer {grant.access_token}"}
        base = f"/v5/ad_accounts/{ad_account_id}"
        created = self.client.post(
            f"{base}/customer_lists",
            headers=headers,
            json={
                "name": f"{name} (list)",
                "records": ",".join(seed_records),
                "list_type": "EMAIL",
            },
        )
        self._expect_ok(created, f"creating the list of existing audience {name!r}")
        audience = self.client.post(
            f"{base}/audiences",
            headers=headers,
            json={
                "name": name,
                "audience_type": "CUSTOMER_LIST",
                "rule": {"customer_list_id": created.json()["id"]},
            },
        )
        self._expect_ok(audience, f"creating existing audience {name!r}")

    # -- faults ----------------------------------------------------------------------------

    def revoke_user(self, user: str) -> None:
        self._admin("POST", "/_mock/tokens/revoke", {"user": user})

    def shorten_tokens(self, user: str | None, lifetime_s: float, *, refuse_refresh: bool) -> None:
        """Access tokens of ``user`` (everyone's for None) live ``lifetime_s`` from now on."""
        body: dict[str, object] = {
            "access_token_ttl_s": lifetime_s,
            "refuse_refresh": refuse_refresh,
        }
        if user is not None:
            body["user"] = user
        self._admin("POST", "/_mock/tokens/expiry", body)

    def delete_audience(self, audience_id: str) -> None:
        self._admin("POST", f"/_mock/audiences/{audience_id}/delete", {})

    def add_fault(self, rule: Mapping[str, object]) -> None:
        self._admin("POST", "/_mock/faults", rule)

    # -- reads -----------------------------------------------------------------------------

    def journal(self) -> list[JournalRecord]:
        return list(self.backend.journal.records)

    def audience_id(self, ad_account_id: str, name: str) -> str | None:
        """The live audience of that name in that ad account, if any."""
        for audience in self.backend.audiences.values():
            live = not audience.removed
            if live and audience.ad_account_id == ad_account_id and audience.name == name:
                return audience.id
        return None

    def audience_members(self, ad_account_id: str, name: str) -> AbstractSet[str]:
        """Hashed ids in the customer list behind the named audience: the live one, else the
        latest removed one (what was written before a deletion still counts). A ``DigestSet``
        made straight from the mock's raw digests when every member is a lowercase 64-hex id
        (no Python string per member), else a ``frozenset`` of the ids."""
        named = [
            audience
            for audience in self.backend.audiences.values()
            if audience.ad_account_id == ad_account_id and audience.name == name
        ]
        if not named:
            return frozenset()
        chosen = next((a for a in named if not a.removed), named[-1])
        found = self.backend.customer_lists.get(str(chosen.rule.get("customer_list_id")))
        if found is None:
            return frozenset()
        if found.members.others():
            return frozenset(found.members)
        return DigestSet(found.members.digests())

    # -- helpers ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Mapping[str, object]) -> None:
        answer = self.client.request(method, path, json=body)
        self._expect_ok(answer, f"{method} {path}")

    @staticmethod
    def _expect_ok(answer: httpx.Response, what: str) -> None:
        if not answer.is_success:
            raise SimulationSetupError(f"{what} answered {answer.status_code}: {answer.text[:200]}")
