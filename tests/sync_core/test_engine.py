"""SyncEngine end to end against the in-memory fake Pinterest, in simulated time."""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Callable

import pytest

from sync_core import (
    Action,
    AudienceRef,
    Connection,
    ResponseReceived,
    SendRequest,
    Step,
    SyncConfig,
    SyncEngine,
    TokenStatus,
    UsageError,
    WaitUntil,
)
from tests.sync_core.fakes import CLIENT_ID, CLIENT_SECRET, Fault, FakePinterest, drive

H = 3600.0


def sha(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def make_engine(
    fake: FakePinterest,
    steps: list[Step] | None = None,
    *,
    seed: int = 1,
    **config: float,
) -> SyncEngine:
    engine = SyncEngine(SyncConfig(**config), rng=random.Random(seed))  # type: ignore[arg-type]
    engine.connect(
        Connection(
            id="ws",
            access_token="tok-1",
            refresh_token="ref-1",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            ad_account_ids=frozenset(fake.ad_accounts),
        ),
        0.0,
    )
    engine.launch(steps or [step()], 0.0)
    return engine


def step(
    sid: str = "s1",
    *,
    new: str | None = "VIP",
    existing: str | None = None,
    action: Action = Action.ADD,
    fields: tuple[str, ...] = ("email",),
    last: bool = False,
) -> Step:
    return Step(
        id=sid,
        connection_id="ws",
        ad_account_id="111",
        audience=AudienceRef(new=new, existing=existing),
        action=action,
        match_fields=fields,
        last_step=last,
    )


def enter_users(
    sid: str, count: int, *, prefix: str = "u", maids: bool = False
) -> Callable[[SyncEngine, float], None]:
    def enter(engine: SyncEngine, now: float) -> None:
        ids = [f"{prefix}{k}" for k in range(count)]
        emails = [f"{prefix}{k}@example.com" for k in range(count)]
        maid_values = [f"6d92078a-8246-4ba4-ae5b-{k:012d}" if maids else None for k in range(count)]
        engine.enter_many(sid, ids, emails, maid_values, now)

    return enter


def outcomes_by_user(engine: SyncEngine) -> dict[str, tuple[str, float | None, str | None]]:
    return {o.user_id: (o.outcome, o.outcome_at, o.reason) for o in engine.outcomes()}


def max_in_any_second(times: list[float]) -> int:
    """Independent check: the most requests in any half-open window [t, t + 1)."""
    ordered = sorted(times)
    return max(
        (bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0
    )


# -- happy path, batching, pacing ------------------------------------------------------------


def test_engine_syncs_new_audience_users_with_hashed_records_only() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    drive(engine, fake, until=60, events=[(1.0, enter_users("s1", 3))])
    assert sorted(fake.members_of("VIP")) == sorted(sha(f"u{k}@example.com") for k in range(3))
    assert all("@" not in (e.body or b"").decode() for e in fake.log)
    counters = engine.counters("s1")
    assert (counters.entered, counters.synced, counters.pending, counters.proceeded) == (3, 3, 0, 3)
    patch = fake.requests("PATCH")[0]
    assert patch.t == 5.0  # the first flush tick after the entry at t=1
    assert outcomes_by_user(engine)["u0"] == ("synced", 5.05, None)


def test_engine_cuts_requests_of_at_most_max_records_and_paces_them() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    drive(engine, fake, until=120, events=[(0.5, enter_users("s1", 20_000))])
    patches = fake.requests("PATCH")
    assert [len(p.records) for p in patches] == [1900] * 10 + [1000]
    assert max_in_any_second([e.t for e in fake.log]) == 7
    assert engine.counters("s1").synced == 20_000


def test_engine_pacing_bound_and_fairness_across_50_audiences_on_one_token() -> None:
    fake = FakePinterest(page_size_cap=250)
    steps = [step(f"s{k}", new=f"aud-{k}") for k in range(50)]
    engine = make_engine(fake, steps, max_in_flight=8)
    events = [(0.0, enter_users(f"s{k}", 5000, prefix=f"a{k}-")) for k in range(50)]
    drive(engine, fake, until=600, events=events, latency_s=0.3)
    assert max_in_any_second([e.t for e in fake.log]) <= 7
    patches = fake.requests("PATCH")
    lists = [p.path.rsplit("/", 1)[1] for p in patches]
    assert len(set(lists[:50])) == 50  # every audience gets its turn before any gets a second
    assert len(set(lists[50:100])) == 50
    assert all(engine.counters(f"s{k}").synced == 5000 for k in range(50))


def test_engine_decides_batch_contents_when_the_slot_is_granted() -> None:
    fake = FakePinterest()
    fake.faults.append(
        Fault(method="PATCH", status=429, until=40.0, headers={"x-ratelimit-reset": "10"})
    )
    engine = make_engine(fake)
    events = [(float(t), enter_users("s1", 10, prefix=f"t{t}-")) for t in range(0, 40, 2)]
    drive(engine, fake, until=200, events=events)
    batches: dict[str, set[tuple[str, ...]]] = {}
    for patch in fake.requests("PATCH"):
        batches.setdefault(patch.records[0], set()).add(patch.records)
    # Each batch keeps its contents across retries; a batch is cut only when a slot is granted
    # (one per 10 s rate-limit window), taking everything released by then: 5 batches for the
    # 20 entries of 2 s, where cutting at each 5 s tick would have made 8.
    assert all(len(versions) == 1 for versions in batches.values())
    sizes = sorted(len(next(iter(v))) for v in batches.values())
    assert sizes == [10, 40, 50, 50, 50]
    assert engine.counters("s1").synced == 200


def test_engine_sends_add_then_remove_of_one_user_in_entry_order() -> None:
    fake = FakePinterest()
    fake.add_audience("Lapsed")
    steps = [
        step("add", new=None, existing="Lapsed"),
        step("remove", new=None, existing="Lapsed", action=Action.REMOVE),
    ]
    engine = make_engine(fake, steps, max_in_flight=4)
    events = [
        (1.0, enter_users("add", 1, prefix="x")),
        (2.0, enter_users("remove", 1, prefix="x")),
        (3.0, enter_users("add", 1, prefix="y")),
    ]
    drive(engine, fake, until=60, events=events, latency_s=2.0)
    ops = [(p.operation, p.records) for p in fake.requests("PATCH")]
    assert ops == [
        ("ADD", (sha("x0@example.com"),)),
        ("REMOVE", (sha("x0@example.com"),)),
        ("ADD", (sha("y0@example.com"),)),
    ]
    patches = fake.requests("PATCH")
    assert patches[1].t >= patches[0].t + 2.0  # the remove waited for the add's answer
    assert fake.members_of("Lapsed") == [sha("y0@example.com")]


def test_engine_removal_step_removes_members_and_counts_them_synced() -> None:
    fake = FakePinterest()
    fake.add_audience("Churned", members=(sha("u0@example.com"), sha("u1@example.com")))
    steps = [step(new=None, existing="Churned", action=Action.REMOVE, last=True)]
    engine = make_engine(fake, steps)
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 1))])
    assert fake.members_of("Churned") == [sha("u1@example.com")]
    counters = engine.counters("s1")
    assert (counters.synced, counters.exited, counters.proceeded) == (1, 1, 0)


def test_engine_counts_missing_and_malformed_fields_not_synced_at_entry() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    emails = ["ok@example.com", None, "", "not-an-email", "a@b@c.com", "  "]
    engine.enter_many("s1", [f"u{k}" for k in range(6)], emails, [None] * 6, 0.0)
    counters = engine.counters("s1")
    assert (counters.entered, counters.not_synced, counters.pending) == (6, 5, 1)
    assert outcomes_by_user(engine)["u1"] == ("not_synced", 0.0, None)


def test_engine_sends_both_ids_of_a_two_field_step_in_one_request() -> None:
    fake = FakePinterest()
    engine = make_engine(fake, [step(fields=("email", "maid"))])
    maid = "6D92078A-8246-4BA4-AE5B-76104861E7DC"

    def enter(engine: SyncEngine, now: float) -> None:
        engine.enter_many("s1", ["both", "maid-only"], ["b@example.com", None], [maid, maid], now)

    drive(engine, fake, until=60, events=[(0.0, enter)])
    hashed_maid = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"
    assert fake.requests("PATCH")[0].records == (sha("b@example.com"), hashed_maid, hashed_maid)
    assert engine.counters("s1").synced == 2
    assert b'"list_type":"EMAIL"' in (fake.requests("POST", "customer_lists")[0].body or b"")


# -- provisioning ----------------------------------------------------------------------------


def test_engine_finds_existing_audience_by_name_across_bookmark_pages() -> None:
    fake = FakePinterest(page_size_cap=2)
    for name in ("a", "b", "c", "d"):
        fake.add_audience(name)
    list_id = fake.add_audience("Lapsed")
    engine = make_engine(fake, [step(new=None, existing="Lapsed")])
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 2))])
    assert len(fake.requests("GET", "/audiences")) == 3
    assert fake.requests("POST") == []
    assert fake.requests("PATCH")[0].path.endswith(f"/customer_lists/{list_id}")
    assert engine.provisioned_list_id("s1") == list_id


@pytest.mark.parametrize(
    "fault",
    [
        Fault(method="POST", path_contains="customer_lists", lost="timeout", count=1),
        Fault(method="POST", path_contains="customer_lists", status=500, count=2),
        Fault(method="POST", path_contains="audiences", lost="connection", count=1),
        Fault(method="POST", path_contains="audiences", status=503, count=1),
    ],
)
def test_engine_provisions_a_new_audience_once_when_a_create_is_retried(fault: Fault) -> None:
    fake = FakePinterest()
    fake.faults.append(fault)
    steps = [step("a"), step("b", fields=("maid",))]  # two steps, one audience name
    engine = make_engine(fake, steps)
    drive(engine, fake, until=300, events=[(0.0, enter_users("a", 5))])
    created_lists = [e for e in fake.requests("POST", "customer_lists") if e.status == 201]
    created_audiences = [e for e in fake.requests("POST", "/audiences") if e.status == 201]
    assert (len(created_lists), len(created_audiences)) == (1, 1)
    assert [a["name"] for a in fake.audiences] == ["VIP"]
    assert engine.counters("a").synced == 5


def test_engine_never_creates_a_name_that_already_exists() -> None:
    fake = FakePinterest()
    list_id = fake.add_audience("VIP")
    engine = make_engine(fake, [step(new="VIP")])
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 1))])
    assert fake.requests("POST") == []
    assert engine.provisioned_list_id("s1") == list_id


def test_engine_queues_users_entering_before_provisioning_completes() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="GET", status=500, count=3))
    engine = make_engine(fake)
    drive(engine, fake, until=300, events=[(0.0, enter_users("s1", 4))])
    assert engine.counters("s1").synced == 4
    assert len(fake.requests("PATCH")) == 1


def test_engine_errors_users_of_a_missing_existing_audience_at_their_deadline() -> None:
    fake = FakePinterest()
    engine = make_engine(fake, [step(new=None, existing="Ghost")], retry_window_s=3600.0)
    drive(engine, fake, until=2 * H, events=[(10.0, enter_users("s1", 1))])
    assert outcomes_by_user(engine)["u0"] == ("errored", 3610.0, "audience_deleted")
    assert fake.requests("POST") == [] and fake.requests("PATCH") == []
