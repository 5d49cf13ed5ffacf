"""The metrics endpoint: a scrape over a real socket equals the engine's own counters."""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sync_core import (
    AudienceRef,
    Outcome,
    SendRequest,
    Step,
    SyncConfig,
    SyncEngine,
    TokenStatus,
)
from sync_core.live.metrics import (
    LAG_BUCKETS_S,
    EngineCollector,
    EngineReading,
    RequestMetrics,
    engine_reader,
    live_registry,
    serve_metrics,
)
from tests.sync_core.fakes import CLIENT_SECRET, Driver, FakePinterest, Fault

COUNTERS = ("entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def make_engine(fake: FakePinterest, *, retry_window_s: float = 120.0) -> SyncEngine:
    engine = SyncEngine(SyncConfig(retry_window_s=retry_window_s), rng=random.Random(3))
    engine.connect(fake.connection(), 0.0)
    steps = [
        Step(id="vip", connection_id="ws", ad_account_id="111", audience=AudienceRef(new="VIP")),
        Step(
            id="last",
            connection_id="ws",
            ad_account_id="111",
            audience=AudienceRef(new="Devices"),
            match_fields=("maid",),
            last_step=True,
        ),
    ]
    engine.launch(steps, 0.0)
    return engine


def enter(step_id: str, prefix: str, count: int) -> Callable[[SyncEngine, float], None]:
    """Every fifth user has neither email nor MAID: not synced."""

    def call(engine: SyncEngine, now: float) -> None:
        ids = [f"{prefix}{k}" for k in range(count)]
        usable = [k % 5 != 0 for k in range(count)]
        emails = [f"{prefix}{k}@example.com" if ok else None for k, ok in enumerate(usable)]
        maids = [f"6d92078a-8246-4ba4-ae5b-{k:012d}" if ok else None for k, ok in enumerate(usable)]
        engine.enter_many(step_id, ids, emails, maids, now)

    return call


def revoke(fake: FakePinterest) -> Callable[[SyncEngine, float], None]:
    return lambda engine, now: fake.revoke()


def scrape(port: int) -> Samples:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def step_value(samples: Samples, name: str, step_id: str) -> float:
    return samples[(name, (("step", step_id),))]


def lag_bucket(samples: Samples, step_id: str, le: str) -> float:
    return samples[("pinsim_step_sync_lag_seconds_bucket", (("le", le), ("step", step_id)))]


@pytest.fixture
def served() -> Iterator[Callable[[CollectorRegistry], int]]:
    servers = []

    def start(registry: CollectorRegistry) -> int:
        server = serve_metrics(registry, host="127.0.0.1", port=0)
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.close()


def test_metrics_scrape_equals_the_engine_counters(
    served: Callable[[CollectorRegistry], int],
) -> None:
    fake = FakePinterest()
    fake.faults.append(
        Fault(method="PATCH", status=429, count=2, headers={"x-ratelimit-reset": "1"})
    )
    engine = make_engine(fake)
    lock = threading.Lock()
    scrape_at = 200.0
    registry, requests = live_registry(
        engine_reader(lambda: engine, lock, connection_ids=["ws"], clock=lambda: scrape_at)
    )
    receive = engine.receive

    def receive_and_count(outcome: Outcome, now: float) -> None:  # as the worker does
        requests.observe(outcome)
        receive(outcome, now)

    engine.receive = receive_and_count  # type: ignore[method-assign]
    events = [
        (1.0, enter("vip", "a", 40)),
        (2.0, enter("last", "b", 10)),
        (60.0, revoke(fake)),
        (61.0, enter("vip", "c", 5)),  # never synced: errored at 61 + 120
        (150.0, enter("vip", "d", 6)),  # still pending at the scrape
    ]
    Driver(engine, fake, events=events).run(until=scrape_at)
    port = served(registry)

    samples = scrape(port)

    outcomes = list(engine.outcomes())
    for step_id in ("vip", "last"):
        counters = engine.counters(step_id)
        for name in COUNTERS:
            metric = "pinsim_step_pending" if name == "pending" else f"pinsim_step_{name}_total"
            assert step_value(samples, metric, step_id) == getattr(counters, name), name
        # Lag: every synced user, recomputed here from the per-user records, bucket by bucket.
        lags = [
            o.outcome_at - o.entered_at
            for o in outcomes
            if o.step_id == step_id and o.outcome == "synced" and o.outcome_at is not None
        ]
        assert len(lags) == counters.synced > 0
        for le in LAG_BUCKETS_S:
            assert lag_bucket(samples, step_id, str(float(le))) == sum(lag <= le for lag in lags)
        assert lag_bucket(samples, step_id, "+Inf") == counters.synced
        total = step_value(samples, "pinsim_step_sync_lag_seconds_sum", step_id)
        assert total == pytest.approx(sum(lags))
    vip = engine.counters("vip")
    # Closed forms: every fifth user (k = 0, 5, …) is unusable. a: 40 → 32 synced, 8 not;
    # c (after the revoke): 5 → 1 not synced, 4 errored; d: 6 → 2 not synced, 4 pending.
    assert (vip.entered, vip.synced, vip.not_synced, vip.errored, vip.pending) == (51, 32, 11, 4, 4)
    assert step_value(samples, "pinsim_step_oldest_pending_age_seconds", "vip") == 50.0
    assert step_value(samples, "pinsim_step_oldest_pending_age_seconds", "last") == 0.0
    assert engine.connection_status("ws") is TokenStatus.INVALID
    for state in TokenStatus:
        key = (("connection", "ws"), ("pinsim_connection_token", state.value))
        assert samples[("pinsim_connection_token", key)] == (state is TokenStatus.INVALID)
    by_status = collections.Counter(str(entry.status) for entry in fake.log)
    assert by_status["429"] == 2 and by_status["401"] >= 1  # the run exercised them
    for status, count in by_status.items():
        assert samples[("pinsim_requests_total", (("status", status),))] == count
    assert samples[("pinsim_rate_limited_total", ())] == 2


def test_metrics_scrape_shows_no_token_and_no_user_identifier(
    served: Callable[[CollectorRegistry], int],
) -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    registry, _ = live_registry(
        engine_reader(lambda: engine, threading.Lock(), connection_ids=["ws"], clock=lambda: 90.0)
    )
    Driver(engine, fake, events=[(1.0, enter("vip", "user-", 20))]).run(until=90)
    text = httpx.get(f"http://127.0.0.1:{served(registry)}/metrics", timeout=10).text
    for secret in ("tok-1", "ref-1", CLIENT_SECRET, "@", "user-1", "6d92078a"):
        assert secret not in text


class GuardedEngine:
    """Passes calls through to the engine, failing any made without the worker's lock."""

    def __init__(self, engine: SyncEngine, lock: threading.Lock) -> None:
        self._engine, self._lock = engine, lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._engine, name)
        assert self._lock.locked(), f"engine.{name} read without the lock"
        return attribute


def test_metrics_read_the_engine_only_under_the_workers_lock() -> None:
    fake = FakePinterest()
    engine = make_engine(fake)
    lock = threading.Lock()
    guarded = cast(SyncEngine, GuardedEngine(engine, lock))
    calls: list[str] = []

    def never() -> EngineReading:
        calls.append("read")
        raise AssertionError("registering must not read the engine")

    registry = CollectorRegistry()
    registry.register(EngineCollector(never))  # describe() names the metrics without reading
    assert calls == []
    registry, _ = live_registry(engine_reader(lambda: guarded, lock, connection_ids=["ws"]))
    assert registry.get_sample_value("pinsim_step_entered_total", {"step": "vip"}) == 0


def test_metrics_every_scrape_is_consistent_while_the_worker_runs(
    served: Callable[[CollectorRegistry], int],
) -> None:
    fake = FakePinterest()
    engine = make_engine(fake, retry_window_s=3600)
    lock = threading.Lock()
    rounds = 300
    clock = [0.0]
    registry, _ = live_registry(
        engine_reader(lambda: engine, lock, connection_ids=["ws"], clock=lambda: clock[0])
    )
    port = served(registry)

    def worker() -> None:  # one engine call at a time under the lock; answers at once
        for k in range(1, rounds + 1):
            now = float(k)
            with lock:
                clock[0] = now
                enter("vip", f"r{k}-", 50)(engine, now)
                while isinstance(action := engine.next_action(now), SendRequest):
                    engine.receive(cast(Any, fake.handle(action, now)), now)

    thread = threading.Thread(target=worker)
    thread.start()
    scrapes = 0
    deadline = time.monotonic() + 30
    while thread.is_alive() or scrapes == 0:
        assert time.monotonic() < deadline, "the worker did not finish"
        samples = scrape(port)
        scrapes += 1
        vip = {
            name: step_value(samples, name, "vip")
            for name, _ in samples
            if name.startswith("pinsim_step_") and not name.startswith("pinsim_step_sync_lag")
        }
        settled = sum(vip[f"pinsim_step_{n}_total"] for n in ("synced", "not_synced", "errored"))
        assert vip["pinsim_step_entered_total"] == settled + vip["pinsim_step_pending"]
        assert lag_bucket(samples, "vip", "+Inf") == vip["pinsim_step_synced_total"]
    thread.join()
    final = scrape(port)
    assert step_value(final, "pinsim_step_entered_total", "vip") == rounds * 50
    assert step_value(final, "pinsim_step_synced_total", "vip") == engine.counters("vip").synced


def test_metrics_count_requests_by_status_and_transport_failure() -> None:
    from sync_core import ResponseReceived, TransportFailed

    registry = CollectorRegistry()
    requests = RequestMetrics(registry)
    answers: list[Outcome] = [
        ResponseReceived(1, 200, {}, b""),
        ResponseReceived(2, 429, {}, b""),
        ResponseReceived(3, 429, {}, b""),
        TransportFailed(4, "timeout"),
    ]
    for outcome in answers:
        requests.observe(outcome)
    value = registry.get_sample_value
    assert value("pinsim_requests_total", {"status": "200"}) == 1
    assert value("pinsim_requests_total", {"status": "429"}) == 2
    assert value("pinsim_requests_total", {"status": "timeout"}) == 1
    assert value("pinsim_rate_limited_total") == 2
