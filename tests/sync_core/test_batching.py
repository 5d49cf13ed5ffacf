"""Queues and batches of one customer list."""

from __future__ import annotations

from array import array

from sync_core.batching import Batch, TargetQueue


def digest(k: int) -> bytes:
    return k.to_bytes(32, "big")


def queue_with(entries: list[tuple[str, int, float]]) -> tuple[TargetQueue, array[float]]:
    """(operation, records, entered_at) per user; users are indexed in order."""
    queue, entered_at = TargetQueue(), array("d")
    for index, (operation, nrec, at) in enumerate(entries):
        entered_at.append(at)
        blob = b"".join(digest(index * 10 + r) for r in range(nrec))
        queue.push(operation, array("q", [index]), bytes([nrec]), blob)
    return queue, entered_at


def test_target_queue_cuts_at_most_max_records_without_splitting_a_user() -> None:
    queue, entered_at = queue_with([("ADD", 2, 0.0), ("ADD", 2, 0.0), ("ADD", 1, 0.0)])
    batch = queue.cut(entered_at, released_before=5.0, max_records=3)
    assert batch is not None and list(batch.users) == [0]
    rest = queue.cut(entered_at, released_before=5.0, max_records=3)
    assert rest is not None and list(rest.users) == [1, 2]
    assert rest.records() == ",".join(d.hex() for d in (digest(10), digest(11), digest(20)))


def test_target_queue_never_mixes_operations_and_keeps_entry_order() -> None:
    queue, entered_at = queue_with([("ADD", 1, 0.0), ("REMOVE", 1, 0.0), ("ADD", 1, 0.0)])
    cuts = [queue.cut(entered_at, 5.0, 1900) for _ in range(3)]
    assert [(b.operation, list(b.users)) for b in cuts if b] == [
        ("ADD", [0]),
        ("REMOVE", [1]),
        ("ADD", [2]),
    ]


def test_target_queue_releases_only_users_entered_before_the_tick() -> None:
    queue, entered_at = queue_with([("ADD", 1, 1.0), ("ADD", 1, 5.0), ("ADD", 1, 6.0)])
    assert queue.cut(entered_at, released_before=0.0, max_records=1900) is None
    batch = queue.cut(entered_at, released_before=5.0, max_records=1900)
    assert batch is not None and list(batch.users) == [0]
    assert queue.head() == ("ADD", 1)  # entered exactly at the tick: waits for the next one
    later = queue.cut(entered_at, released_before=10.0, max_records=1900)
    assert later is not None and list(later.users) == [1, 2]


def test_target_queue_drops_users_whose_deadline_is_too_close() -> None:
    queue, entered_at = queue_with([("ADD", 1, 1.0), ("ADD", 1, 2.0), ("ADD", 1, 3.0)])
    queue.drop_expired(entered_at, entered_before=2.0)
    assert len(queue) == 1 and queue.head() == ("ADD", 2)


def test_batch_split_and_drop_expired_keep_records_aligned_with_users() -> None:
    blob = digest(1) + digest(2) + digest(3) + digest(4)
    batch = Batch("ADD", array("q", [5, 6, 7]), bytes([2, 1, 1]), blob)
    left, right = batch.split()
    assert (list(left.users), left.blob) == ([5], digest(1) + digest(2))
    assert (list(right.users), right.blob) == ([6, 7], digest(3) + digest(4))
    entered_at = array("d", [0.0] * 5 + [1.0, 2.0, 3.0])
    batch.drop_expired(entered_at, entered_before=1.5)
    assert (list(batch.users), batch.records()) == ([6, 7], f"{digest(3).hex()},{digest(4).hex()}")
