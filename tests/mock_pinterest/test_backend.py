from __future__ import annotations

from mock_pinterest import Backend, MockConfig
from mock_pinterest.errors import NotFound
from mock_pinterest.records import parse_records
from tests.mock_pinterest.harness import FakeClock, Harness, hashed


def _ids(seed: int) -> list[str]:
    mock = Harness({"seed": seed})
    headers, account = mock.auth(), mock.account()
    return [account, mock.new_list(headers, account, hashed(1)), str(mock.token()["access_token"])]


def test_backend_same_seed_gives_same_ids() -> None:
    assert _ids(4) == _ids(4)
    assert _ids(4) != _ids(5)
    assert all(part.isdigit() and len(part) <= 18 for part in _ids(4)[:2])


def test_backend_match_decision_depends_on_id_and_seed_only() -> None:
    ids = hashed(2000)
    first = Backend(MockConfig(seed=1, match_rate=0.6), FakeClock())
    again = Backend(MockConfig(seed=1, match_rate=0.6), FakeClock())
    other = Backend(MockConfig(seed=2, match_rate=0.6), FakeClock())
    matched = [first.is_matched(i) for i in ids]
    assert matched == [again.is_matched(i) for i in ids]
    assert matched != [other.is_matched(i) for i in ids]
    assert 1100 <= sum(matched) <= 1300


def test_backend_refresh_counts_members_as_of_the_due_instant() -> None:
    clock = FakeClock()
    backend = Backend(MockConfig(size_refresh_delay_s=10, match_rate=1.0), clock)
    account = backend.ad_accounts[next(iter(backend.ad_accounts))]
    created = backend.create_customer_list(
        account, "l", "EMAIL", parse_records(",".join(hashed(150)), "EMAIL")
    )
    clock.advance(20)
    late = parse_records(",".join(hashed(50, salt="late")), "EMAIL")
    backend.update_customer_list(account, created.id, "ADD", late)
    assert created.matched == 150 and len(created.members) == 200


def test_backend_never_reads_the_wall_clock() -> None:
    clock = FakeClock(now=-1000.0)
    backend = Backend(MockConfig(), clock)
    grant = backend.issue_token("default", frozenset({"ads:read"}))
    assert grant.access.expires_at == -1000.0 + 30 * 86_400


def test_backend_remove_audience_twice_is_not_found() -> None:
    mock = Harness()
    headers, account = mock.auth(), mock.account()
    list_id = mock.new_list(headers, account, hashed(1))
    acct = mock.backend.ad_accounts[account]
    audience = mock.backend.create_audience(
        acct,
        name="a",
        audience_type="CUSTOMER_LIST",
        rule={"customer_list_id": list_id},
        description=None,
    )
    mock.backend.remove_audience(audience.id)
    try:
        mock.backend.remove_audience(audience.id)
    except NotFound as error:
        assert error.status == 404
    else:
        raise AssertionError("second removal should be NotFound")
