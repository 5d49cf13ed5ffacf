"""Coalescing: an add and a remove of one hashed id, both unsent, reduced to the last entered.

Judged from the fake Pinterest's request log and list members (what was sent and what the
audience holds), and from the engine's counters only for what they are meant to show."""

from __future__ import annotations

import random
from array import array

import pytest

from sync_core import Action, SyncEngine
from sync_core.batching import TargetQueue
from tests.sync_core.fakes import Driver, FakePinterest, drive
from tests.sync_core.test_engine import enter_users, make_engine, sha, step

MAID = "6d92078a-8246-4ba4-ae5b-{:012d}"


def add_and_remove(fake: FakePinterest, *, fields: tuple[str, ...] = ("email",)) -> SyncEngine:
    fake.add_audience("Lapsed")
    steps = [
        step("add", new=None, existing="Lapsed", fields=fields),
        step("remove", new=None, existing="Lapsed", action=Action.REMOVE, fields=fields),
    ]
    return make_engine(fake, steps)


def patches(fake: FakePinterest) -> list[tuple[str | None, tuple[str, ...]]]:
    return [(p.operation, p.records) for p in fake.requests("PATCH")]


def outcome(engine: SyncEngine, step_id: str, user_id: str) -> tuple[str, float | None, str | None]:
    found = [o for o in engine.outcomes() if o.step_id == step_id and o.user_id == user_id]
    assert len(found) == 1
    return found[0].outcome, found[0].outcome_at, found[0].reason


def assert_conserved(engine: SyncEngine, *step_ids: str) -> None:
    for step_id in step_ids:
        c = engine.counters(step_id)
        assert c.entered == c.synced + c.not_synced + c.pending + c.errored
        assert c.pending >= 0


def test_coalescing_add_then_remove_in_one_window_sends_only_the_remove() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)
    events = [(1.0, enter_users("add", 3, prefix="x")), (2.0, enter_users("remove", 1, prefix="x"))]
    drive(engine, fake, until=60, events=events)
    x0, x1, x2 = (sha(f"x{k}@example.com") for k in range(3))
    assert patches(fake) == [("ADD", (x1, x2)), ("REMOVE", (x0,))]
    assert sorted(fake.members_of("Lapsed")) == sorted([x1, x2])
    assert outcome(engine, "add", "x0") == ("not_synced", 2.0, "superseded")
    assert outcome(engine, "remove", "x0")[0] == "synced"
    add, remove = engine.counters("add"), engine.counters("remove")
    assert (add.entered, add.synced, add.not_synced, add.pending) == (3, 2, 1, 0)
    assert (remove.entered, remove.synced, remove.not_synced) == (1, 1, 0)
    assert_conserved(engine, "add", "remove")


def test_coalescing_remove_then_add_in_one_window_sends_only_the_add() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)
    events = [(1.0, enter_users("remove", 1, prefix="x")), (2.0, enter_users("add", 1, prefix="x"))]
    drive(engine, fake, until=60, events=events)
    assert patches(fake) == [("ADD", (sha("x0@example.com"),))]
    assert fake.members_of("Lapsed") == [sha("x0@example.com")]
    assert outcome(engine, "remove", "x0") == ("not_synced", 2.0, "superseded")
    assert engine.counters("remove").not_synced == 1
    assert_conserved(engine, "add", "remove")


def test_coalescing_keeps_the_later_entry_instant_whatever_the_feeding_order() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)

    def feed(engine: SyncEngine, now: float) -> None:
        # the add step's chunk is fed first, though its user entered after the remove's
        engine.enter_many("add", ["a"], ["x@example.com"], [None], now, entered_at=[3.0])
        engine.enter_many("remove", ["r"], ["x@example.com"], [None], now, entered_at=[2.0])

    drive(engine, fake, until=60, events=[(4.0, feed)])
    assert patches(fake) == [("ADD", (sha("x@example.com"),))]
    assert outcome(engine, "remove", "r")[2] == "superseded"


def test_coalescing_never_reaches_into_a_batch_already_cut() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)
    # the add is cut at the 5 s tick; the remove enters while it is in flight (latency 2 s)
    events = [(1.0, enter_users("add", 1, prefix="x")), (6.0, enter_users("remove", 1, prefix="x"))]
    drive(engine, fake, until=60, events=events, latency_s=2.0)
    x0 = sha("x0@example.com")
    assert patches(fake) == [("ADD", (x0,)), ("REMOVE", (x0,))]
    assert fake.members_of("Lapsed") == []
    assert engine.counters("add").synced == 1 and engine.counters("remove").synced == 1


def test_coalescing_decides_per_record_for_two_record_users() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake, fields=("email", "maid"))

    def add_both(engine: SyncEngine, now: float) -> None:
        engine.enter_many("add", ["a"], ["x@example.com"], [MAID.format(1)], now)

    def remove_email(engine: SyncEngine, now: float) -> None:
        engine.enter_many("remove", ["r"], ["x@example.com"], [None], now)

    drive(engine, fake, until=60, events=[(1.0, add_both), (2.0, remove_email)])
    email, maid = sha("x@example.com"), sha(MAID.format(1))
    # the add keeps its MAID (sent, so the user is synced); its email is superseded
    assert patches(fake) == [("ADD", (maid,)), ("REMOVE", (email,))]
    assert fake.members_of("Lapsed") == [maid]
    assert outcome(engine, "add", "a")[0] == "synced"
    assert outcome(engine, "remove", "r")[0] == "synced"


def test_coalescing_supersedes_a_two_record_user_once_both_records_are() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake, fields=("email", "maid"))

    def enter(step_id: str, user: str, email: str | None, maid: str | None, at: float):  # type: ignore[no-untyped-def]
        return (at, lambda e, now: e.enter_many(step_id, [user], [email], [maid], now))

    events = [
        enter("add", "a", "x@example.com", MAID.format(1), 1.0),
        enter("remove", "r1", "x@example.com", None, 2.0),
        enter("remove", "r2", None, MAID.format(1), 3.0),
    ]
    drive(engine, fake, until=60, events=events)
    assert outcome(engine, "add", "a") == ("not_synced", 3.0, "superseded")
    assert patches(fake) == [("REMOVE", (sha("x@example.com"), sha(MAID.format(1))))]
    assert engine.counters("add").not_synced == 1
    assert_conserved(engine, "add", "remove")


def test_coalescing_leaves_repeated_adds_alone_and_still_removes_last() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)
    events = [
        (1.0, enter_users("add", 1, prefix="x")),
        (2.0, enter_users("add", 1, prefix="x")),
        (3.0, enter_users("remove", 1, prefix="x")),
    ]
    drive(engine, fake, until=60, events=events)
    x0 = sha("x0@example.com")
    assert patches(fake) == [("ADD", (x0,)), ("REMOVE", (x0,))]  # the later add superseded
    assert fake.members_of("Lapsed") == []
    assert engine.counters("add").not_synced == 1 and engine.counters("add").synced == 1


def test_coalescing_is_off_for_an_audience_only_added_to() -> None:
    fake = FakePinterest()
    fake.add_audience("Lapsed")
    steps = [step("a1", new=None, existing="Lapsed"), step("a2", new=None, existing="Lapsed")]
    engine = make_engine(fake, steps)
    events = [(1.0, enter_users("a1", 2, prefix="x")), (2.0, enter_users("a2", 2, prefix="x"))]
    drive(engine, fake, until=60, events=events)
    assert sum(len(records) for _, records in patches(fake)) == 4
    assert engine.counters("a1").synced == 2 and engine.counters("a2").synced == 2


def test_coalescing_state_survives_snapshot_and_restore() -> None:
    fake = FakePinterest()
    engine = add_and_remove(fake)
    drive(engine, fake, until=1.5, events=[(1.0, enter_users("add", 2, prefix="x"))])
    restored = SyncEngine.restore(engine.snapshot(), random.Random(1))
    driver = Driver(restored, fake, events=[(2.0, enter_users("remove", 1, prefix="x"))])
    driver.now = 1.5
    driver.run(until=60)
    x0, x1 = sha("x0@example.com"), sha("x1@example.com")
    assert patches(fake) == [("ADD", (x1,)), ("REMOVE", (x0,))]
    assert outcome(restored, "add", "x0")[2] == "superseded"
    assert_conserved(restored, "add", "remove")


@pytest.mark.parametrize("seed", range(5))
def test_coalescing_net_membership_is_the_entry_order_effect(seed: int) -> None:
    """Random adds and removes of a few ids, fed in bursts: what the audience holds at the end
    is the last operation per id by entry instant (a closed form), and fewer records went out
    than sending every entry would have taken."""
    rng = random.Random(seed)
    fake = FakePinterest()
    engine = add_and_remove(fake)
    entries = sorted(
        (rng.uniform(0, 40), rng.choice(["add", "remove"]), rng.randrange(6)) for _ in range(60)
    )
    events = []
    for n, (at, step_id, k) in enumerate(entries):
        events.append((at, _entry(step_id, f"u{n}", f"id{k}@example.com")))
    drive(engine, fake, until=300, events=events, latency_s=0.3)
    last: dict[int, str] = {}
    for _, step_id, k in entries:
        last[k] = step_id
    expected = sorted(sha(f"id{k}@example.com") for k, op in last.items() if op == "add")
    assert sorted(set(fake.members_of("Lapsed"))) == expected
    sent = sum(len(records) for _, records in patches(fake))
    assert sent < len(entries)
    assert_conserved(engine, "add", "remove")


def _entry(step_id: str, user: str, email: str):  # type: ignore[no-untyped-def]
    return lambda engine, now: engine.enter_many(step_id, [user], [email], [None], now)


# -- the queue alone -----------------------------------------------------------------------


def test_target_queue_coalescing_drops_superseded_users_at_the_front() -> None:
    queue, entered_at = TargetQueue(), array("d", [0.0, 1.0, 2.0])
    queue.coalesce()
    digest = bytes(range(32))
    assert list(queue.push("ADD", array("q", [0]), b"\x01", digest, entered_at)) == []
    assert list(queue.push("REMOVE", array("q", [1]), b"\x01", digest, entered_at)) == [0]
    assert list(queue.push("ADD", array("q", [2]), b"\x01", digest, entered_at)) == [1]
    assert queue.head() == ("ADD", 2)
    batch = queue.cut(entered_at, released_before=5.0, max_records=1900)
    assert batch is not None and list(batch.users) == [2] and batch.blob == digest
    assert len(queue) == 0 and queue.head() is None
