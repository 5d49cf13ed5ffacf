"""sim.world.pinterest: the real mock app in process, on a fake clock the test moves by hand.

Effects are checked through the mock's public API (a token either works on
``GET /v5/user_account`` or gets 401) and through the backend's own state, not through the
wrapper's return values alone.
"""

import hashlib
from collections.abc import Iterator

import pytest

from mock_pinterest import MockConfig
from sim.world.pinterest import EPOCH_S, Grant, SimulatedPinterest, SimulationSetupError

ACCOUNT = "549755885175"
OTHER_ACCOUNT = "549755885176"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SEEDS = frozenset(sha(f"seed{k}@example.com") for k in range(5))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pinterest(clock: FakeClock) -> Iterator[SimulatedPinterest]:
    sim = SimulatedPinterest(MockConfig(seed=3, epoch_s=EPOCH_S), clock)
    yield sim
    sim.close()


@pytest.fixture
def grant(pinterest: SimulatedPinterest) -> Grant:
    pinterest.create_user("acme", [ACCOUNT])
    return pinterest.connect("acme")


def whoami(pinterest: SimulatedPinterest, token: str) -> int:
    answer = pinterest.send("GET", "/v5/user_account", {"Authorization": f"Bearer {token}"}, None)
    return answer.status_code


# -- connecting ------------------------------------------------------------------------


def test_pinterest_connect_yields_a_working_token(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    answer = pinterest.send(
        "GET", "/v5/user_account", {"Authorization": f"Bearer {grant.access_token}"}, None
    )
    assert answer.status_code == 200
    assert answer.json()["username"] == "acme"
    assert grant.scopes == {"ads:read", "ads:write", "user_accounts:read"}
    assert grant.access_token in pinterest.backend.access_tokens
    assert pinterest.backend.access_tokens[grant.access_token].user == "acme"
    assert grant.refresh_token in pinterest.backend.refresh_tokens
    assert grant.client_id == pinterest.backend.default_client.client_id


def test_pinterest_connect_goes_through_consent_and_code_exchange(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    paths = [(r.method, r.path, r.status) for r in pinterest.journal()]
    assert paths == [("POST", "/oauth/", 302), ("POST", "/v5/oauth/token", 200)]
    assert pinterest.backend.codes == {}  # the single-use code was consumed


def test_pinterest_connect_twice_gives_distinct_grants(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    second = pinterest.connect("acme")
    assert second.access_token != grant.access_token
    assert whoami(pinterest, grant.access_token) == 200
    assert whoami(pinterest, second.access_token) == 200


def test_pinterest_grant_repr_shows_no_secret(grant: Grant) -> None:
    for text in (repr(grant), str(grant)):
        assert grant.access_token not in text
        assert grant.refresh_token not in text
        assert grant.client_secret not in text
        assert grant.client_id in text


# -- audiences -------------------------------------------------------------------------


def test_pinterest_existing_audience_is_visible_with_its_seed_members(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    assert pinterest.audience_id(ACCOUNT, "Lapsed") is None
    pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(SEEDS))
    audience_id = pinterest.audience_id(ACCOUNT, "Lapsed")
    assert audience_id is not None
    audience = pinterest.backend.audiences[audience_id]
    assert audience.audience_type == "CUSTOMER_LIST"
    assert audience.ad_account_id == ACCOUNT
    assert pinterest.audience_members(ACCOUNT, "Lapsed") == SEEDS
    # the list really is in the mock, reachable by the rule's id
    listed = pinterest.backend.customer_lists[str(audience.rule["customer_list_id"])]
    assert listed.members == set(SEEDS)
    # names are per ad account
    assert pinterest.audience_id(OTHER_ACCOUNT, "Lapsed") is None
    assert pinterest.audience_members(OTHER_ACCOUNT, "Lapsed") == frozenset()
    assert pinterest.audience_members(ACCOUNT, "Nobody") == frozenset()


def test_pinterest_delete_audience_hides_it_but_keeps_what_was_written(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(SEEDS))
    audience_id = pinterest.audience_id(ACCOUNT, "Lapsed")
    assert audience_id is not None
    pinterest.delete_audience(audience_id)
    assert pinterest.audience_id(ACCOUNT, "Lapsed") is None
    assert pinterest.backend.audiences[audience_id].removed
    assert pinterest.audience_members(ACCOUNT, "Lapsed") == SEEDS


def test_pinterest_delete_unknown_audience_is_a_setup_error(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    with pytest.raises(SimulationSetupError, match="404"):
        pinterest.delete_audience("999999999")


def test_pinterest_audience_members_reads_the_live_audience_after_recreation(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(SEEDS))
    old = pinterest.audience_id(ACCOUNT, "Lapsed")
    assert old is not None
    pinterest.delete_audience(old)
    fresh = frozenset({sha("fresh@example.com")})
    pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(fresh))
    new = pinterest.audience_id(ACCOUNT, "Lapsed")
    assert new is not None and new != old
    assert pinterest.audience_members(ACCOUNT, "Lapsed") == fresh


# -- faults ----------------------------------------------------------------------------


def test_pinterest_revoke_user_makes_its_token_unauthorised(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.create_user("other", [OTHER_ACCOUNT])
    bystander = pinterest.connect("other")
    assert whoami(pinterest, grant.access_token) == 200
    pinterest.revoke_user("acme")
    assert whoami(pinterest, grant.access_token) == 401
    assert pinterest.backend.refresh_tokens[grant.refresh_token].revoked
    assert whoami(pinterest, bystander.access_token) == 200  # other users unaffected


def test_pinterest_fault_rule_applies_in_its_window_only(
    pinterest: SimulatedPinterest, grant: Grant, clock: FakeClock
) -> None:
    pinterest.add_fault(
        {"match": {"path": "/v5/user_account"}, "status": 503, "from": 10.0, "until": 20.0}
    )
    statuses = {}
    for t in (0.0, 9.5, 10.0, 19.9, 20.0):
        clock.now = t
        statuses[t] = whoami(pinterest, grant.access_token)
    assert statuses == {0.0: 200, 9.5: 200, 10.0: 503, 19.9: 503, 20.0: 200}


def test_pinterest_fault_rule_count_and_match(pinterest: SimulatedPinterest, grant: Grant) -> None:
    token_id = pinterest.backend.access_tokens[grant.access_token].token_id
    pinterest.add_fault(
        {"match": {"token_id": token_id, "method": "GET"}, "status": 429, "count": 2}
    )
    assert [whoami(pinterest, grant.access_token) for _ in range(3)] == [429, 429, 200]


def test_pinterest_fault_rule_latency_is_reported_not_slept(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.add_fault({"match": {"path": "/v5/user_account"}, "latency_s": 3600.0})
    answer = pinterest.send(
        "GET", "/v5/user_account", {"Authorization": f"Bearer {grant.access_token}"}, None
    )
    assert answer.status_code == 200
    assert float(answer.headers["x-mock-latency-s"]) == 3600.0


# -- the journal -----------------------------------------------------------------------


def test_pinterest_journal_records_requests_at_the_fake_clocks_time(
    pinterest: SimulatedPinterest, clock: FakeClock
) -> None:
    clock.now = 2.5
    pinterest.create_user("acme", [ACCOUNT])  # admin: not journaled
    granted = pinterest.connect("acme")
    clock.now = 3600.25
    assert whoami(pinterest, granted.access_token) == 200
    clock.now = 7200.0
    pinterest.revoke_user("acme")
    assert whoami(pinterest, granted.access_token) == 401
    journal = pinterest.journal()
    assert [(r.t, r.method, r.path, r.status) for r in journal] == [
        (2.5, "POST", "/oauth/", 302),
        (2.5, "POST", "/v5/oauth/token", 200),
        (3600.25, "GET", "/v5/user_account", 200),
        (7200.0, "GET", "/v5/user_account", 401),
    ]
    token_id = pinterest.backend.access_tokens[granted.access_token].token_id
    assert journal[2].token_id == token_id and journal[2].user == "acme"
    assert all(granted.access_token not in repr(r) for r in journal)
    # journal() is a copy: the caller cannot rewrite the mock's record
    journal.clear()
    assert len(pinterest.journal()) == 4


def test_pinterest_timestamps_in_bodies_use_the_epoch_offset(
    pinterest: SimulatedPinterest, grant: Grant, clock: FakeClock
) -> None:
    clock.now = 100.0
    pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(SEEDS))
    audience_id = pinterest.audience_id(ACCOUNT, "Lapsed")
    assert audience_id is not None
    answer = pinterest.send(
        "GET",
        f"/v5/ad_accounts/{ACCOUNT}/audiences/{audience_id}",
        {"Authorization": f"Bearer {grant.access_token}"},
        None,
    )
    assert answer.status_code == 200
    assert answer.json()["created_timestamp"] == 1_767_225_700  # 2026-01-01T00:01:40Z


# -- setup errors ----------------------------------------------------------------------


def test_pinterest_setup_error_when_consent_fails(pinterest: SimulatedPinterest) -> None:
    pinterest.add_fault({"match": {"path": "/oauth/"}, "status": 503, "count": 1})
    with pytest.raises(SimulationSetupError, match=r"consent.*503"):
        pinterest.connect("acme")


def test_pinterest_setup_error_when_code_exchange_fails(pinterest: SimulatedPinterest) -> None:
    pinterest.add_fault({"match": {"path": "/v5/oauth/token"}, "status": 500, "count": 1})
    with pytest.raises(SimulationSetupError, match="code exchange answered 500") as caught:
        pinterest.connect("acme")
    # the consent's code is never echoed either
    assert all(code not in str(caught.value) for code in pinterest.backend.codes)


def test_pinterest_setup_error_with_revoked_grant_names_no_token(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.revoke_user("acme")
    with pytest.raises(SimulationSetupError, match="401") as caught:
        pinterest.create_existing_audience(grant, ACCOUNT, "Lapsed", sorted(SEEDS))
    message = str(caught.value)
    assert "Lapsed" in message
    assert grant.access_token not in message and grant.refresh_token not in message
    assert pinterest.audience_id(ACCOUNT, "Lapsed") is None


def test_pinterest_setup_error_on_foreign_ad_account_names_no_token(
    pinterest: SimulatedPinterest, grant: Grant
) -> None:
    pinterest.create_user("other", [OTHER_ACCOUNT])
    with pytest.raises(SimulationSetupError) as caught:
        pinterest.create_existing_audience(grant, OTHER_ACCOUNT, "Theirs", [])
    assert grant.access_token not in str(caught.value)
    assert pinterest.audience_id(OTHER_ACCOUNT, "Theirs") is None


def test_pinterest_setup_error_on_bad_fault_rule(pinterest: SimulatedPinterest) -> None:
    with pytest.raises(SimulationSetupError, match="POST /_mock/faults answered 400"):
        pinterest.add_fault({"match": {"path": "/v5/*"}})  # neither status nor latency
    assert pinterest.client.get("/_mock/faults").json() == {"items": []}
