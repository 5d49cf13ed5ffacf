"""Engine-only throughput and memory, with a fake transport that answers every request 200.

Run: ``python -m benchmarks.engine [--users N] [--pending N]``. Prints:
- users/s: wall-clock rate of enter_many → batch → SendRequest → 200 → synced, end to end,
  for users with a raw email (so hashing is included);
- bytes per pending user: tracemalloc's traced growth while N users wait in the queue.
Not part of the test run; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc

from sync_core import (
    AudienceRef,
    Connection,
    ResponseReceived,
    SendRequest,
    Step,
    SyncConfig,
    SyncEngine,
    WaitUntil,
)

_CHUNK = 10_000  # users per enter_many call, like a driver's per-tick bulk arrivals
_OK_HEADERS = {"x-ratelimit-remaining": "100", "x-ratelimit-reset": "1"}


def _engine(config: SyncConfig) -> SyncEngine:
    engine = SyncEngine(config, rng=random.Random(0))
    engine.connect(Connection(id="ws", access_token="tok", ad_account_ids=frozenset({"1"})), 0.0)
    engine.launch(
        [Step(id="s", connection_id="ws", ad_account_id="1", audience=AudienceRef(existing="A"))],
        0.0,
    )
    return engine


def _answer(request: SendRequest) -> ResponseReceived:
    """200 to everything; the audience lookup finds audience "A" over list "9"."""
    body = b"{}"
    if request.method == "GET":
        item = {"id": "8", "name": "A", "rule": {"customer_list_id": "9"}}
        body = json.dumps({"items": [item], "bookmark": None}).encode()
    return ResponseReceived(request.request_id, 200, _OK_HEADERS, body)


def _users(start: int, count: int) -> tuple[list[str], list[str | None], list[str | None]]:
    ids = [f"user-{k:09d}" for k in range(start, start + count)]
    emails: list[str | None] = [f"First.Last{k}@Example.com" for k in range(start, start + count)]
    return ids, emails, [None] * count


def throughput(users: int) -> float:
    """Users synced per wall-clock second (inputs are generated before the clock starts)."""
    # Pacing is the token's business, not the engine's speed: lift it for this measurement.
    config = SyncConfig(requests_per_second=1_000_000, max_in_flight=1_000_000)
    engine = _engine(config)
    chunks = [_users(start, _CHUNK) for start in range(0, users, _CHUNK)]
    now = 0.0
    started = time.perf_counter()
    for ids, emails, maids in chunks:
        engine.enter_many("s", ids, emails, maids, now)
        flush_at = now + config.flush_interval_s
        now = flush_at
        # until the next flush, send what is due and wake when asked (the pacer spaces a
        # window's sends 1/(2r) apart: half a microsecond here)
        while True:
            action = engine.next_action(now)
            if isinstance(action, SendRequest):
                engine.receive(_answer(action), now)
            elif isinstance(action, WaitUntil) and action.at < flush_at + config.flush_interval_s:
                now = action.at
            else:
                break
    elapsed = time.perf_counter() - started
    synced = engine.counters("s").synced
    assert synced == users, f"only {synced} of {users} synced"
    return users / elapsed


def bytes_per_pending_user(users: int) -> float:
    """Traced memory growth per queued, unsent user."""
    engine = _engine(SyncConfig())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for start in range(0, users, _CHUNK):
        # Inputs are made while tracing and dropped after entry, so what stays counted is the
        # engine's state including the user-id strings it keeps alive.
        ids, emails, maids = _users(start, _CHUNK)
        engine.enter_many("s", ids, emails, maids, 0.0)
        del ids, emails, maids
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert engine.counters("s").pending == users
    return (after - before) / users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=200_000)
    args = parser.parse_args()
    rate = throughput(args.users)
    print(f"throughput: {rate:,.0f} users/s ({args.users:,} users, enter -> 200 -> synced)")
    per_user = bytes_per_pending_user(args.pending)
    print(f"memory: {per_user:.0f} bytes per pending user ({args.pending:,} pending, tracemalloc)")


if __name__ == "__main__":
    main()
