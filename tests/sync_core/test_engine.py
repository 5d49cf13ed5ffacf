"""SyncEngine end to end against the in-memory fake Pinterest, in simulated time."""

from __future__ import annotations

import hashlib
import itertools
import random
from array import array
from bisect import bisect_left
from collections.abc import Callable
from typing import TypedDict, Unpack

import pytest

from sync_core import (
    Action,
    AudienceRef,
    Pacing,
    ResponseReceived,
    SendRequest,
    Step,
    SyncConfig,
    SyncEngine,
    TokenStatus,
    UsageError,
    UserOutcome,
    WaitUntil,
)
from tests.sync_core.fakes import Driver, FakePinterest, Fault, drive

H = 3600.0


class ConfigChanges(TypedDict, total=False):
    """The settings these tests vary from `SyncConfig`'s defaults."""

    max_in_flight: int
    retry_window_s: float
    slow_retry_s: float
    pacing: Pacing
    server_second_s: float
    flush_interval_s: float


def sha(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def make_engine(
    fake: FakePinterest,
    steps: list[Step] | None = None,
    *,
    seed: int = 1,
    **config: Unpack[ConfigChanges],
) -> SyncEngine:
    engine = SyncEngine(SyncConfig(**config), rng=random.Random(seed))
    engine.connect(fake.connection(), 0.0)
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
    return max((bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


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
    # Each batch keeps its contents across retries; a batch is cut only when a slot is granted,
    # taking everything released by then. Each 10 s hold ends with one send, the first batch's
    # retry (the next would go 1/r later, and the refusal is back first), so the second batch
    # is cut once the 429s stop, at 44 s, with the 170 users entered since the first: 2
    # batches, where cutting at each 5 s tick would have made 8.
    assert all(len(versions) == 1 for versions in batches.values())
    sizes = sorted(len(next(iter(v))) for v in batches.values())
    assert sizes == [30, 170]
    assert engine.counters("s1").synced == 200


def test_engine_sends_add_then_remove_of_one_user_in_entry_order() -> None:
    fake = FakePinterest()
    fake.add_audience("Lapsed")
    steps = [
        step("add", new=None, existing="Lapsed"),
        step("remove", new=None, existing="Lapsed", action=Action.REMOVE),
    ]
    engine = make_engine(fake, steps, max_in_flight=4)
    # the remove enters after the add was cut (once the audience is found, at 5.5 s), so it is
    # not coalesced with it
    events = [
        (1.0, enter_users("add", 1, prefix="x")),
        (6.0, enter_users("remove", 1, prefix="x")),
        (7.0, enter_users("add", 1, prefix="y")),
    ]
    drive(engine, fake, until=60, events=events, latency_s=5.5)
    ops = [(p.operation, p.records) for p in fake.requests("PATCH")]
    assert ops == [
        ("ADD", (sha("x0@example.com"),)),
        ("REMOVE", (sha("x0@example.com"),)),
        ("ADD", (sha("y0@example.com"),)),
    ]
    patches = fake.requests("PATCH")
    assert patches[1].t >= patches[0].t + 5.5  # the remove waited for the add's answer
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


# -- every row of the classification table ---------------------------------------------------


def patch_times(fake: FakePinterest) -> list[float]:
    return [p.t for p in fake.requests("PATCH")]


@pytest.mark.parametrize(
    ("pacing", "wait_s"),
    [
        # the budget reopens within (R - 1, R] of the refused arrival: resend R - 1 after it
        (Pacing.ADAPTIVE, 3.0 - 1.0),
        (Pacing.FIXED, 0.05 + 3.0),  # the earlier design: R after the answer came back
    ],
)
def test_engine_waits_for_the_rate_limit_reset_after_a_429(pacing: Pacing, wait_s: float) -> None:
    fake = FakePinterest()
    fake.faults.append(
        Fault(method="PATCH", status=429, count=1, headers={"x-ratelimit-reset": "3"})
    )
    engine = make_engine(fake, pacing=pacing)
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 1))])
    first, retry = patch_times(fake)
    assert retry == pytest.approx(first + wait_s)
    assert outcomes_by_user(engine)["u0"][0] == "synced"
    assert next(engine.outcomes()).attempts == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault(method="PATCH", status=500, count=3),
        Fault(method="PATCH", status=503, count=3),
        Fault(method="PATCH", lost="timeout", count=3),
        Fault(method="PATCH", lost="connection", count=3),
    ],
)
def test_engine_backs_off_with_seeded_jitter_on_server_and_transport_errors(fault: Fault) -> None:
    def run(seed: int) -> list[float]:
        fake = FakePinterest()
        fake.faults.append(
            Fault(**{k: getattr(fault, k) for k in ("method", "status", "lost")}, count=3)
        )
        engine = make_engine(fake, seed=seed)
        drive(engine, fake, until=600, events=[(0.0, enter_users("s1", 1))])
        assert engine.counters("s1").synced == 1
        return patch_times(fake)

    times = run(seed=1)
    answer_delay = 30.0 if fault.lost else 0.05
    gaps = [b - (a + answer_delay) for a, b in itertools.pairwise(times)]
    for attempt, gap in enumerate(gaps, start=1):
        ceiling = 1.0 * 2 ** (attempt - 1)
        assert ceiling / 2 <= gap <= ceiling
    assert run(seed=1) == times and run(seed=2) != times


def test_engine_refreshes_the_token_once_on_401_and_retries_with_the_new_one() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    fake.access_tokens.clear()  # the access token expired; the refresh token still works
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 1))])
    refreshes = fake.requests("POST", "/oauth/token")
    assert len(refreshes) == 1 and refreshes[0].status == 200
    assert fake.log[-1].token == "tok-2" and fake.log[-1].status == 200
    assert engine.counters("s1").synced == 1
    assert engine.connection_status("ws") is TokenStatus.VALID


def test_engine_invalidates_after_a_second_401_and_resumes_on_reconnect() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    fake.faults.append(Fault(method="GET", status=401, count=2))

    def reconnect(engine: SyncEngine, now: float) -> None:
        access, refresh = fake.issue()
        engine.reconnect("ws", access_token=access, refresh_token=refresh, now=now)

    driver = Driver(engine, fake, events=[(0.0, enter_users("s1", 2)), (7200.0, reconnect)])
    driver.run(until=3600)
    assert engine.connection_status("ws") is TokenStatus.INVALID
    assert engine.counters("s1").pending == 2
    assert len(fake.requests("POST", "/oauth/token")) == 1
    requests_while_invalid = len(fake.log)
    driver.run(until=8000)
    assert engine.counters("s1").synced == 2
    assert requests_while_invalid < len(fake.log)


def test_engine_errors_users_auth_invalid_at_deadline_when_refresh_is_refused() -> None:
    fake = FakePinterest()
    engine = make_engine(fake, retry_window_s=100.0)
    fake.revoke()
    drive(engine, fake, until=500, events=[(2.5, enter_users("s1", 1))])
    assert engine.connection_status("ws") is TokenStatus.INVALID
    assert outcomes_by_user(engine)["u0"] == ("errored", 102.5, "auth_invalid")


def test_engine_invalidates_without_refresh_on_missing_scope() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    action = engine.next_action(0.0)
    assert isinstance(action, SendRequest)
    body = b'{"code": 3, "message": "Your token does not have sufficient permissions."}'
    engine.receive(ResponseReceived(action.request_id, 401, {}, body), 0.1)
    assert engine.connection_status("ws") is TokenStatus.INVALID
    assert not isinstance(engine.next_action(0.2), SendRequest)


@pytest.mark.parametrize(("status", "reason"), [(403, "forbidden"), (404, "audience_deleted")])
def test_engine_retries_403_and_404_slowly_until_the_deadline(status: int, reason: str) -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=status))
    engine = make_engine(fake, retry_window_s=3000.0, slow_retry_s=600.0)
    drive(engine, fake, until=5000, events=[(1.0, enter_users("s1", 1))])
    times = patch_times(fake)
    assert [round(b - a, 2) for a, b in itertools.pairwise(times)] == [600.05] * 4
    assert outcomes_by_user(engine)["u0"] == ("errored", 3001.0, reason)


def test_engine_heals_after_a_deleted_audience_stops_failing() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=404, count=1))
    engine = make_engine(fake, slow_retry_s=600.0)
    drive(engine, fake, until=2000, events=[(1.0, enter_users("s1", 3))])
    assert engine.counters("s1").synced == 3


def test_engine_splits_a_rejected_batch_to_isolate_the_bad_record() -> None:
    fake = FakePinterest()
    fake.bad_records.add(sha("u5@example.com"))
    engine = make_engine(fake)
    drive(engine, fake, until=60, events=[(0.0, enter_users("s1", 8))])
    outcomes = outcomes_by_user(engine)
    assert outcomes["u5"][0::2] == ("errored", "rejected")
    assert sorted(fake.members_of("VIP")) == sorted(
        sha(f"u{k}@example.com") for k in range(8) if k != 5
    )
    counters = engine.counters("s1")
    assert (counters.synced, counters.errored) == (7, 1)


# -- deadline --------------------------------------------------------------------------------


def test_engine_errors_a_user_at_exactly_entry_plus_13h_under_a_429_storm() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=429, headers={"x-ratelimit-reset": "60"}))
    engine = make_engine(fake)
    entered_at = 7.3
    drive(
        engine, fake, until=entered_at + 13 * H - 0.001, events=[(entered_at, enter_users("s1", 1))]
    )
    assert engine.counters("s1").pending == 1
    assert isinstance(engine.next_action(entered_at + 13 * H - 0.001), WaitUntil)
    assert engine.timer() == entered_at + 13 * H
    engine.next_action(entered_at + 13 * H)
    assert outcomes_by_user(engine)["u0"] == ("errored", entered_at + 13 * H, "rate_limited")
    counters = engine.counters("s1")
    assert (counters.pending, counters.errored) == (0, 1)
    deadline = entered_at + 13 * H
    assert all(p.t + 30.0 < deadline for p in fake.requests("PATCH"))


def test_engine_keeps_entered_equal_to_the_sum_of_outcomes() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=500, until=50.0))
    engine = make_engine(fake, retry_window_s=40.0)
    events = [(float(t), enter_users("s1", 30, prefix=f"t{t}-")) for t in range(0, 100, 7)]
    driver = Driver(engine, fake, events=events)
    for until in (10, 45, 80, 200):
        driver.run(until)
        c = engine.counters("s1")
        assert c.entered == c.synced + c.not_synced + c.pending + c.errored
    assert engine.counters("s1").errored > 0 and engine.counters("s1").synced > 0


# -- API contract ----------------------------------------------------------------------------


def test_engine_hands_out_at_most_max_in_flight_requests() -> None:
    fake = FakePinterest()
    fake.add_audience("Lapsed")
    engine = make_engine(fake, [step(new=None, existing="Lapsed")], max_in_flight=3)
    engine.enter_many("s1", ["a"], ["a@example.com"], [None], 0.0)
    first = engine.next_action(0.0)
    assert isinstance(first, SendRequest)
    engine.receive(fake.handle(first, 0.0), 0.0)  # provisioning done
    engine.enter_many(
        "s1",
        [f"u{k}" for k in range(5000)],
        [f"u{k}@x.io" for k in range(5000)],
        [None] * 5000,
        0.0,
    )
    sent: list[SendRequest] = []
    now = 5.0  # the first flush tick; no answer comes back
    while now < 8.0:
        action = engine.next_action(now)
        if isinstance(action, SendRequest):
            sent.append(action)
        now = action.at if isinstance(action, WaitUntil) and action.at > now else now + 0.1
    assert len(sent) == 3


def test_engine_rejects_misuse_with_usage_errors() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    engine.next_action(10.0)
    with pytest.raises(UsageError, match="backwards"):
        engine.next_action(5.0)
    with pytest.raises(UsageError, match="unknown step"):
        engine.enter("nope", "u", "u@example.com", None, 10.0)
    with pytest.raises(UsageError, match="equal length"):
        engine.enter_many("s1", ["a", "b"], ["a@example.com"], [None], 10.0)
    with pytest.raises(UsageError, match="unknown or already answered"):
        engine.receive(ResponseReceived(999, 200, {}, b"{}"), 10.0)
    assert engine.counters("s1").entered == 0


def test_engine_treats_a_malformed_2xx_body_as_a_server_fault() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    action = engine.next_action(0.0)
    assert isinstance(action, SendRequest)
    engine.receive(ResponseReceived(action.request_id, 200, {}, b"<html>"), 0.1)
    retry = engine.next_action(0.1)
    assert isinstance(retry, WaitUntil) and 0.6 <= retry.at <= 1.1


def test_engine_snapshot_restore_resumes_and_retries_lost_requests() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    drive(engine, fake, until=1.0, events=[(0.5, enter_users("s1", 10))])
    sent = engine.next_action(5.0)
    assert isinstance(sent, SendRequest)
    restored = SyncEngine.restore(engine.snapshot(), random.Random(1))
    pause = restored.next_action(5.0)  # the lost send still paces the next: 1/(2r) later
    assert isinstance(pause, WaitUntil) and pause.at == pytest.approx(5.0 + 1 / 14)
    drive_from = restored.next_action(pause.at)
    assert isinstance(drive_from, SendRequest) and drive_from.request_id > sent.request_id
    restored.receive(fake.handle(drive_from, pause.at), pause.at + 0.05)
    assert restored.counters("s1").synced == 10


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_engine_pauses_the_token_when_pinterest_counts_more_than_it_sent(scale: float) -> None:
    fake = FakePinterest()
    fake.add_audience("Lapsed")
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "7"}
    # scale 0.1: a server whose seconds are a tenth of the engine's (a mock 10 times faster,
    # the flush a tenth as long too): its reset of 7 is 0.7 engine seconds
    engine = make_engine(
        fake,
        [step(new=None, existing="Lapsed")],
        server_second_s=scale,
        flush_interval_s=5.0 * scale,
    )
    action = engine.next_action(0.0)
    assert isinstance(action, SendRequest)
    answer = fake.handle(action, 0.0)
    assert isinstance(answer, ResponseReceived)
    engine.enter_many("s1", ["u"], ["u@example.com"], [None], 0.0)
    # one send of our own, yet Pinterest says none remain: someone else spends this token.
    # The reset counts from that request's arrival: a send R after it arrives no sooner.
    engine.receive(ResponseReceived(answer.request_id, 200, exhausted, answer.body), 0.01)
    held = engine.next_action(0.01)
    assert isinstance(held, WaitUntil) and held.at == pytest.approx(7.0 * scale)
    assert isinstance(engine.next_action(held.at), SendRequest)


def test_engine_keeps_its_pace_when_no_remaining_only_echoes_its_own_full_window() -> None:
    fake = FakePinterest()
    names = [f"A{k}" for k in range(8)]
    for name in names:
        fake.add_audience(name)
    steps = [step(f"s{k}", new=None, existing=name) for k, name in enumerate(names)]
    engine = make_engine(fake, steps, max_in_flight=8)
    sends: list[SendRequest] = []
    now = 0.0
    while len(sends) < 7:  # each as soon as the engine allows: 1/(2r) apart
        action = engine.next_action(now)
        if isinstance(action, WaitUntil):
            now = action.at
        else:
            assert isinstance(action, SendRequest)
            sends.append(action)
    assert now == pytest.approx(6 / 14)
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    last = fake.handle(sends[-1], now)
    assert isinstance(last, ResponseReceived)
    engine.receive(ResponseReceived(last.request_id, 200, exhausted, last.body), 0.9)
    # the 7th send filled our own window: the next is due when the first leaves it, at 1.0
    # (never more than r sends in a second; by estimated arrival, 1 s + the 20 ms margin −
    # the ~21 ms one-way estimate from that answer is earlier), not a whole-second reset
    # after the answer (1.9)
    assert engine.next_action(0.9) == WaitUntil(1.0)


def test_engine_enter_many_uses_each_users_entry_instant_for_deadlines() -> None:
    fake = FakePinterest()
    fake.revoke()  # nothing can sync: every user errors at their own deadline
    engine = make_engine(fake, retry_window_s=100.0)
    engine.enter_many(
        "s1",
        ["late", "early"],
        ["l@example.com", "e@example.com"],
        [None, None],
        1.0,
        entered_at=[0.75, 0.25],
    )
    assert engine.counters("s1").entered == 2
    driver = Driver(engine, fake)
    driver.now = 1.0
    driver.run(until=500)
    outcomes = {o.user_id: (o.entered_at, o.outcome_at) for o in engine.outcomes()}
    assert outcomes == {"early": (0.25, 100.25), "late": (0.75, 100.75)}


def test_engine_enter_many_errors_users_fed_out_of_order_at_their_own_deadlines() -> None:
    fake = FakePinterest()
    fake.revoke()
    engine = make_engine(fake, retry_window_s=100.0)
    engine.enter_many("s1", ["b"], ["b@example.com"], [None], 1.0, entered_at=[0.9])
    engine.enter_many("s1", ["a"], ["a@example.com"], [None], 1.0, entered_at=[0.4])
    with pytest.raises(UsageError, match="after now"):
        engine.enter_many("s1", ["u"], ["u@example.com"], [None], 1.0, entered_at=[1.5])
    driver = Driver(engine, fake)
    driver.now = 1.0
    driver.run(until=500)
    outcomes = {o.user_id: o.outcome_at for o in engine.outcomes()}
    assert outcomes == {"a": 100.4, "b": 100.9}


def test_engine_backs_off_a_token_pinterest_keeps_refusing_then_resumes_pace() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=429, until=3600.0))
    engine = make_engine(fake)
    events = [(float(t), enter_users("s1", 1900, prefix=f"t{t}-")) for t in range(0, 60, 5)]
    drive(engine, fake, until=3700.0, events=events)
    storm = [p.t for p in fake.requests("PATCH") if p.t < 3600.0]
    # Full pace would be ~7 requests/s (25,000 in the hour); a growing hold (capped at the
    # backoff maximum, 300 s) keeps the storm down to a few dozen probes, further and further
    # apart. One refusal alone may be bad luck (a 1 s reset: the budget may be back at once);
    # from the second in a row on, every probe waits at least the announced reset.
    assert len(storm) < 200
    gaps = [b - a for a, b in itertools.pairwise(sorted(set(storm)))]  # between probe instants
    assert gaps[0] < 1.0 <= min(gaps[1:]) and max(gaps) > 100.0
    assert engine.counters("s1").synced == 12 * 1900  # everyone goes once the storm ends


def test_engine_outcome_columns_agree_with_outcomes() -> None:
    fake = FakePinterest()
    fake.faults.append(Fault(method="PATCH", status=429, until=110.0))
    engine = make_engine(fake, [step("s1"), step("s2", new="Other")], retry_window_s=100.0)
    events = [
        (0.0, enter_users("s1", 5)),
        (1.0, enter_users("s2", 3, prefix="v")),
        (120.0, enter_users("s1", 4, prefix="w")),
    ]
    engine.enter_many("s2", ["blank"], [None], [None], 0.0)
    drive(engine, fake, until=300.0, events=events)
    cols = engine.outcome_columns()
    states = [cols.state_labels[code] for code in cols.state]
    reasons = [cols.reason_labels[code] for code in cols.reason]
    steps = [cols.step_ids[code] for code in array("H", cols.step)]
    rebuilt = [
        UserOutcome(
            user_id=user,
            step_id=sid,
            entered_at=entered,
            outcome=state,
            outcome_at=None if state == "pending" else at,
            attempts=tries,
            last_status=status or None,
            reason=reason if state == "errored" else None,
        )
        for user, sid, entered, state, at, tries, status, reason in zip(
            cols.user_ids,
            steps,
            array("d", cols.entered_at),
            states,
            array("d", cols.outcome_at),
            array("H", cols.attempts),
            array("h", cols.last_status),
            reasons,
            strict=True,
        )
    ]
    assert rebuilt == list(engine.outcomes())
    assert {"synced", "errored", "not_synced"} <= set(states)


def test_engine_requests_refused_together_hold_only_for_the_reset() -> None:
    fake = FakePinterest()
    names = ["A", "B", "C", "D"]
    for name in names:
        fake.add_audience(name)
    fake.faults.append(
        Fault(method="PATCH", status=429, count=4, headers={"x-ratelimit-reset": "1"})
    )
    steps = [step(f"s{k}", new=None, existing=name) for k, name in enumerate(names)]
    engine = make_engine(fake, steps)
    events = [(0.0, enter_users(f"s{k}", 10, prefix=f"{k}-")) for k in range(4)]
    # half a second to answer: the four go out 1/(2r) apart before the first refusal is back
    drive(engine, fake, until=30.0, events=events, latency_s=0.5)
    patches = fake.requests("PATCH")
    refused = [p.t for p in patches if p.status == 429]
    assert refused == pytest.approx([5.0 + k / 14 for k in range(4)])
    # all were sent before the first refusal came back: one refusal of one schedule, not a
    # streak escalated by each further refusal into a backoff. A 1 s reset means the budget
    # may be back at once, so three go again as their answers come in (5.5) and 1/(2r) apart;
    # the fourth would be the 8th send within a second, so it waits for the window (1 s after
    # the first send, plus the widened margin, less the one-way estimate).
    retried = [p.t for p in patches if p.status == 200]
    assert retried[:3] == pytest.approx([5.5 + k / 14 for k in range(3)])
    assert 6.0 <= retried[3] < 6.05
    assert all(engine.counters(f"s{k}").synced == 10 for k in range(4))
