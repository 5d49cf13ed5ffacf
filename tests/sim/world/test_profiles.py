"""sim.world.profiles: seeded, messy, unique users derived cheaply from a Faker pool."""

import uuid

import pytest

from sim.world.profiles import ProfilePool

N = 20_000


@pytest.fixture(scope="module")
def pool() -> ProfilePool:
    return ProfilePool(seed=5, size=256)


def test_profile_pool_same_seed_same_users(pool: ProfilePool) -> None:
    again = ProfilePool(seed=5, size=256)
    assert list(pool.batch(0, 500)) == list(again.batch(0, 500))
    assert list(ProfilePool(seed=6, size=256).batch(0, 500)) != list(pool.batch(0, 500))


def test_profile_pool_users_do_not_depend_on_batching(pool: ProfilePool) -> None:
    whole = list(pool.batch(100, 300, missing_email=0.3, missing_maid=0.3, malformed=0.1))
    parts = list(pool.batch(100, 120, missing_email=0.3, missing_maid=0.3, malformed=0.1))
    parts += list(pool.batch(220, 180, missing_email=0.3, missing_maid=0.3, malformed=0.1))
    assert whole == parts


def test_profile_pool_emails_unique_after_normalisation(pool: ProfilePool) -> None:
    emails = [e.strip().lower() for e in pool.batch(0, N).emails if e is not None]
    assert len(emails) == N
    assert len(set(emails)) == N
    assert len(set(pool.batch(0, N).user_ids)) == N


def test_profile_pool_missing_shares_are_honoured(pool: ProfilePool) -> None:
    users = pool.batch(0, N, missing_email=0.25, missing_maid=0.6)
    assert sum(e is None for e in users.emails) / N == pytest.approx(0.25, abs=0.02)
    assert sum(m is None for m in users.maids) / N == pytest.approx(0.6, abs=0.02)


def test_profile_pool_emails_are_messy_like_crm_data(pool: ProfilePool) -> None:
    emails = [e for e in pool.batch(0, N, malformed=0.05).emails if e is not None]
    malformed = [
        e
        for e in emails
        if e.strip().count("@") != 1 or " " in e.strip() or "." not in e.rsplit("@", 1)[-1]
    ]
    assert len(malformed) / N == pytest.approx(0.05, abs=0.015)
    assert any(e != e.strip() for e in emails)  # padded
    assert any(e.isupper() for e in emails)  # shouted
    assert any(not e.isascii() for e in emails)  # Unicode local parts


def test_profile_pool_maids_are_uuid4_in_both_cases(pool: ProfilePool) -> None:
    maids = [m for m in pool.batch(0, 2000).maids if m is not None]
    assert all(uuid.UUID(m).version == 4 for m in maids)
    assert any(m.isupper() for m in maids) and any(m.islower() for m in maids)
    assert all(m.upper() == m or m.lower() == m for m in maids)


def test_profile_pool_refuses_empty_pool() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ProfilePool(seed=1, size=0)
