"""Test helper for the mock's own tests: an app on a fake clock, an httpx client, tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from mock_pinterest import Backend, backend_of, create_app


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    config: Mapping[str, object] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.app = create_app(dict(self.config), clock=self.clock)
        self.backend: Backend = backend_of(self.app)
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=self.app), base_url="http://mock"
        )

    def token(self, user: str = "default", scopes: list[str] | None = None) -> dict[str, object]:
        body: dict[str, object] = {"user": user}
        if scopes is not None:
            body["scopes"] = scopes
        answer = self.http.post("/_mock/tokens", json=body)
        assert answer.status_code == 200
        result: dict[str, object] = answer.json()
        return result

    def auth(self, user: str = "default", scopes: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, scopes)['access_token']}"}

    def account(self, user: str = "default") -> str:
        ids = self.token(user)["ad_account_ids"]
        assert isinstance(ids, list)
        return str(ids[0])

    def new_list(self, headers: dict[str, str], account: str, records: list[str]) -> str:
        answer = self.http.post(
            f"/v5/ad_accounts/{account}/customer_lists",
            headers=headers,
            json={"name": "list", "records": ",".join(records)},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"])


def hashed(count: int, salt: str = "") -> list[str]:
    return [hashlib.sha256(f"user{salt}{i}@example.com".encode()).hexdigest() for i in range(count)]
