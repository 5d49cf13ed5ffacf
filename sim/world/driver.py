"""The SimPy driver: the real ``sync_core`` engine against the real mock, in simulated time.

Rules:
- The core decides, the driver does. One SimPy process (``main``) feeds traffic, fires faults,
  takes the engine's actions and samples counters; one process per request in flight
  (``_exchange``) carries it over the simulated network to the mock and back. The engine is
  told every fact at the simulated instant it happens, and asked again at ``engine.timer()``.
- Traffic is fed in bulk, one tick at a time (a whole number of ticks per flush interval, at
  most 1 s each): the users of ``[t - tick, t)`` enter at ``t`` with their true entry instants,
  so they are eligible at the same flush as if they had entered one by one, their deadlines
  and lags are exact, and there is no SimPy event per user. The driver sees traffic and the
  book through one door, ``sim.book.open_feed``: the chunks due, each request body as sent.
- Latency is data: the mock never sleeps. A request waits for one of the keep-alive pool's
  connections, travels the path (``sim.world.network``: propagation), is admitted or refused
  by the mock at its arrival, takes the server's service time (plus the mock's injected
  ``x-mock-latency-s``; a 429 is refused at the door and takes none) and travels back. A
  request whose round trip exceeds its timeout fails with ``timeout`` at that instant (the
  mock may still have applied it) and frees its connection.
- Windowed faults become the mock's fault rules at the start (``sim.world.translate``; their
  windows are on the mock clock), or, for faults on the link (timeouts, resets, an outage),
  are decided per request as it is sent (``sim.world.link``): such a request never reaches the
  mock or its answer never comes back, and its connection is opened again. Instant faults
  (revoke, reconnect, delete an audience, shorten token lifetimes) fire at their instant
  through the admin API or, for a reconnect, the OAuth flow a workspace admin would go
  through. A worker crash replaces the engine by one restored from its snapshot; answers to
  the requests the old one had in flight are dropped (their ``answered_at`` stays NaN, as for
  every answer the engine never heard).
- The driver only drives: when the run ends it hands what it holds (``RunFacts``) to
  ``sim.results.assemble``, which builds the result frames.
- Everything random is seeded from the run's seed: the same scenario and seed give the same
  run, whatever the wall clock.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Generator
from typing import Any, cast

import httpx
import simpy

from sim.book import open_feed
from sim.progress import Progress
from sim.results.assemble import RunFacts, SentNote, assemble
from sim.results.recorder import COUNTERS, Recorder, RunData
from sim.scenario import FaultKind, FaultSpec, Refresh, Scenario
from sim.world import translate
from sim.world.link import LinkFaults, Mishap
from sim.world.network import LogNormal, NetworkModel, Part
from sim.world.pinterest import Grant, SimulatedPinterest
from sim.world.pool import ConnectionPool
from sync_core import (
    ResponseReceived,
    SendRequest,
    StepCounters,
    SyncEngine,
    TransportFailed,
)

__all__ = ["simulate"]

_SAMPLES_PER_RUN = 1440  # counter samples over a run: one a minute on a 24 h scenario
_PROGRESS_EVERY_S = 0.25  # wall seconds between progress callbacks
_PROGRESS_SIM_EVERY_S = 3600.0  # and at least this often in simulated time (a fast run's log)
_SEED_RECORDS = 3  # members an existing audience holds before the run


def simulate(
    scenario: Scenario,
    seed: int,
    *,
    progress: Progress | None = None,
    feed_helper: bool | None = None,
) -> RunData:
    """Run ``scenario`` with ``seed`` to its end and return everything it produced.

    ``feed_helper`` runs traffic and the book in a helper process (``sim.book.helper``; same
    outputs): ``None`` lets ``sim.book.open_feed`` decide by the run's size."""
    started = time.perf_counter()
    run = _Run(scenario, seed, progress, feed_helper)
    try:
        run.env.run(until=run.env.process(run.main()))
        return assemble(run.facts(), wall_seconds=time.perf_counter() - started)
    finally:
        run.feed.close()
        run.pinterest.close()


class _Run:
    """One simulation run: the environment, the engine, the mock and their books."""

    def __init__(
        self, scenario: Scenario, seed: int, progress: Progress | None, helper: bool | None
    ) -> None:
        self.scenario, self.seed, self.progress = scenario, seed, progress
        self.env = simpy.Environment()
        self.end_s = scenario.duration_s
        self.pinterest = SimulatedPinterest(
            translate.mock_config(scenario, seed), lambda: self.env.now
        )
        self.engine = SyncEngine(
            translate.sync_config(scenario), rng=random.Random(f"engine-{seed}")
        )
        network = scenario.network
        self.network = NetworkModel(
            propagation=network.propagation,
            service=network.service,
            rng=random.Random(f"latency-{seed}"),
            paths=network.paths,
        )
        self.pool = ConnectionPool(self.env, network.connections, self.network.open_path)
        self.recorder = Recorder([s.id for s in scenario.steps])
        self.sent: dict[str, SentNote] = {}
        self.exchanges: set[simpy.Process] = set()
        self.tick_s = scenario.sync.flush_interval_s / math.ceil(scenario.sync.flush_interval_s)
        self.sample_s = max(scenario.sync.flush_interval_s, self.end_s / _SAMPLES_PER_RUN)
        self.link = LinkFaults(scenario.faults, self.end_s, random.Random(f"link-{seed}"))
        self.generation = 0  # the engine's incarnation: a worker crash starts a new one
        self.instant_faults = sorted(
            (f for f in scenario.faults if f.kind in _INSTANT_FAULTS), key=lambda f: f.at_s
        )
        self.wakeup: simpy.Event = self.env.event()
        self.feed = open_feed(scenario, seed, self.tick_s, helper=helper)
        self.next_sample = 0.0
        self.last_progress = -math.inf
        self.next_progress = 0.0  # simulated instant of the next progress call at the latest
        self.initial_members: dict[str, frozenset[str]] = {}

    # -- the main process ------------------------------------------------------------------

    def main(self) -> Generator[simpy.Event, Any, None]:
        self._set_up()
        while True:
            now = self.env.now
            self._feed_traffic(now)
            self._fire_faults(now)
            self._pump(now)
            self._sample(now)
            self._report_progress(now)
            if now >= self.end_s:
                break
            self.wakeup = self.env.event()
            yield self.env.timeout(self._next_wake(now) - now) | self.wakeup
        # The run is over: nothing new is sent, but answers already on their way still arrive,
        # so the engine's counters and the mock's lists end up describing the same requests.
        if self.exchanges:
            yield self.env.all_of(list(self.exchanges))
            self._sample(self.env.now)

    def _next_wake(self, now: float) -> float:
        candidates = [self.end_s, self.next_sample]
        candidates.append(self.feed.next_due())
        if (timer := self.engine.timer()) is not None:
            candidates.append(timer)
        if self.instant_faults:
            candidates.append(self.instant_faults[0].at_s)
        return max(now, min(candidates))

    # -- set-up ----------------------------------------------------------------------------

    def _set_up(self) -> None:
        scenario, now = self.scenario, self.env.now
        for fault in scenario.faults:
            self._install_window(fault)
        for conn in scenario.connections:
            accounts = {s.ad_account for s in scenario.steps if s.connection == conn.id}
            self.pinterest.create_user(conn.id, sorted(accounts))
            grant = self.pinterest.connect(conn.id)
            connection = translate.connection(conn.id, grant, frozenset(accounts), now=now)
            self.engine.connect(connection, now)
            self._create_existing_audiences(conn.id, grant)
        self.engine.launch([translate.step(spec) for spec in scenario.steps], now)

    def _create_existing_audiences(self, connection: str, grant: Grant) -> None:
        made: set[tuple[str, str]] = set()
        for spec in self.scenario.steps:
            key = (spec.ad_account, spec.audience.name)
            if spec.connection != connection or spec.audience.existing is None or key in made:
                continue
            made.add(key)
            seeds = [translate.seed_record(spec.audience.name, k) for k in range(_SEED_RECORDS)]
            self.pinterest.create_existing_audience(grant, *key, seeds)
            self.initial_members[translate.audience_key(*key)] = frozenset(
                self.pinterest.audience_members(*key)
            )

    # -- traffic ---------------------------------------------------------------------------

    def _feed_traffic(self, now: float) -> None:
        """Enter every user whose tick has ended by ``now``, drawing a flush interval ahead."""
        for chunk in self.feed.due(now):
            profiles = chunk.arrivals.profiles
            self.engine.enter_many(
                chunk.arrivals.step,
                profiles.user_ids,
                profiles.emails,
                profiles.maids,
                now,
                entered_at=chunk.arrivals.entered_at.tolist(),
            )

    # -- faults ----------------------------------------------------------------------------

    def _install_window(self, fault: FaultSpec) -> None:
        until = self.end_s if fault.until_s is None else fault.until_s
        for rule in translate.fault_rules(fault, until):
            self.pinterest.add_fault(rule)
        if fault.kind is FaultKind.LATENCY and fault.median_s is not None:
            p99 = fault.p99_s if fault.p99_s is not None else fault.median_s * 5
            delay = LogNormal(fault.median_s, p99)
            self.network.add_window(fault.part, fault.at_s, until, delay)

    def _fire_faults(self, now: float) -> None:
        while self.instant_faults and self.instant_faults[0].at_s <= now:
            fault = self.instant_faults.pop(0)
            _INSTANT_FAULTS[fault.kind](self, fault, now)

    def _revoke(self, fault: FaultSpec, now: float) -> None:
        self.pinterest.revoke_user(self._connection_of(fault))

    def _reconnect(self, fault: FaultSpec, now: float) -> None:
        connection = self._connection_of(fault)
        grant = self.pinterest.connect(connection)
        self.engine.reconnect(
            connection,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=now + grant.expires_in_s,
            now=now,
        )

    def _delete_audience(self, fault: FaultSpec, now: float) -> None:
        spec = self.scenario.step(str(fault.step))
        audience_id = self.pinterest.audience_id(spec.ad_account, spec.audience.name)
        if audience_id is not None:
            self.pinterest.delete_audience(audience_id)

    def _expire_tokens(self, fault: FaultSpec, now: float) -> None:
        refuse = fault.refresh is Refresh.REFUSED
        lifetime = cast(float, fault.lifetime_s)  # the scenario requires it
        self.pinterest.shorten_tokens(fault.connection, lifetime, refuse_refresh=refuse)

    def _crash_worker(self, fault: FaultSpec, now: float) -> None:
        """The worker dies and comes back from its snapshot; what it had in flight is lost to
        it (``SyncEngine.restore`` sends those batches again)."""
        self.generation += 1
        rng = random.Random(f"engine-{self.seed}-restart-{self.generation}")
        self.engine = SyncEngine.restore(self.engine.snapshot(), rng)

    def _connection_of(self, fault: FaultSpec) -> str:
        return fault.connection or self.scenario.connections[0].id

    # -- requests --------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        while isinstance(action := self.engine.next_action(now), SendRequest):
            exchange = self.env.process(self._exchange(action))
            self.exchanges.add(exchange)
            exchange.callbacks.append(self.exchanges.discard)

    def _exchange(self, request: SendRequest) -> Generator[simpy.Event, Any, None]:
        sent_at, generation = self.env.now, self.generation
        deadline = self.env.timeout(request.timeout_s)
        mishap = self.link.draw(sent_at, lambda: self._connection_sending(request))
        granted = self.pool.acquire()
        if granted not in (yield granted | deadline):
            self.pool.abandon(granted)
            self._deliver(generation, TransportFailed(request.request_id, "timeout"))
            return
        connection = cast(int, granted.value)
        path_s = self.pool.path_s[connection]
        note: SentNote | None = None
        try:
            arrival = self.env.timeout(self.network.leg(path_s, self.env.now))
            if arrival not in (yield arrival | deadline):
                self._deliver(generation, TransportFailed(request.request_id, "timeout"))
                return
            if mishap is None or mishap.reaches_server:
                answer = self.pinterest.send(
                    request.method, request.path, request.headers, request.body
                )
                note = SentNote(sent_at, self.feed.sent(request.body))
                self.sent[answer.headers["x-pinterest-rid"]] = note
            if mishap is not None:
                yield from self._mishap(request, mishap, path_s, deadline, generation)
                self.pool.reopen(connection)
                return
            back = self.env.timeout(self._answer_time(answer, path_s))
            if back not in (yield back | deadline):
                self._deliver(generation, TransportFailed(request.request_id, "timeout"))
                return
        finally:
            self.pool.release(connection)
        outcome = ResponseReceived(
            request.request_id, answer.status_code, dict(answer.headers), answer.content
        )
        self._deliver(generation, outcome, note)

    def _mishap(
        self,
        request: SendRequest,
        mishap: Mishap,
        path_s: float,
        deadline: simpy.Event,
        generation: int,
    ) -> Generator[simpy.Event, Any, None]:
        """The rest of an exchange that goes wrong (``sim.world.link``): silence until the
        client's timeout, or a failure heard after the server's service time (when it got the
        request) and the path back."""
        failure = mishap.failure
        if not mishap.silent:
            service = self.network.draw(Part.SERVICE, self.env.now) if mishap.reaches_server else 0
            heard = self.env.timeout(service + self.network.leg(path_s, self.env.now))
            if heard not in (yield heard | deadline):
                failure = "timeout"
        else:
            yield deadline
        self._deliver(generation, TransportFailed(request.request_id, failure))

    def _connection_sending(self, request: SendRequest) -> str | None:
        """The workspace login a request is sent for: whose access token it bears, or whose
        refresh token it spends (a refresh authenticates the app, not the login)."""
        bearer = request.headers.get("Authorization", "")
        for connection in self.scenario.connections:
            access, refresh = self.engine.connection_tokens(connection.id)
            spends = (
                refresh is not None
                and request.body is not None
                and (refresh.encode() in request.body)
            )
            if bearer == f"Bearer {access}" or spends:
                return connection.id
        return None

    def _answer_time(self, answer: httpx.Response, path_s: float) -> float:
        """From arrival to the answer's return: service (none for a 429, refused at the
        door), the mock's injected latency, and the path back."""
        now = self.env.now
        service = 0.0 if answer.status_code == 429 else self.network.draw(Part.SERVICE, now)
        injected = float(answer.headers.get("x-mock-latency-s", 0.0))
        return service + injected + self.network.leg(path_s, now)

    def _deliver(
        self,
        generation: int,
        outcome: ResponseReceived | TransportFailed,
        note: SentNote | None = None,
    ) -> None:
        """Tell the engine an outcome, unless the engine that sent the request crashed since:
        its answer is lost with it. ``note`` marks when an answer was heard; a request whose
        answer never was (lost, or a transport failure) keeps none."""
        if generation != self.generation:
            return
        if note is not None:
            note.answered_at = self.env.now
        self.engine.receive(outcome, self.env.now)
        if not self.wakeup.triggered:
            self.wakeup.succeed()

    # -- observation -----------------------------------------------------------------------

    def _sample(self, now: float) -> None:
        if now < self.next_sample and now < self.end_s:
            return
        counters = {s.id: _counter_values(self.engine.counters(s.id)) for s in self.scenario.steps}
        self.recorder.sample(now, counters, {})
        slot = math.floor(now / self.sample_s) + 1
        # float error can put slot·sample_s back at `now` (0.3 s samples): the loop would wake
        # at the same instant forever, so step one more slot
        if slot * self.sample_s <= now:
            slot += 1
        self.next_sample = min(self.end_s, slot * self.sample_s)

    def _report_progress(self, now: float) -> None:
        if self.progress is None:
            return
        wall = time.perf_counter()
        due = wall - self.last_progress >= _PROGRESS_EVERY_S or now >= self.next_progress
        if due or now >= self.end_s:
            self.last_progress = wall
            self.next_progress = (
                math.floor(now / _PROGRESS_SIM_EVERY_S) + 1
            ) * _PROGRESS_SIM_EVERY_S
            entered = sum(self.engine.counters(step.id).entered for step in self.scenario.steps)
            self.progress(now, self.end_s, entered)

    # -- the end ---------------------------------------------------------------------------

    def facts(self) -> RunFacts:
        """What the run holds at its end, for ``sim.results.assemble``."""
        return RunFacts(
            scenario=self.scenario,
            seed=self.seed,
            engine=self.engine,
            recorder=self.recorder,
            sent=self.sent,
            initial_members=self.initial_members,
            pinterest=self.pinterest,
            feed=self.feed,
        )


_INSTANT_FAULTS: dict[FaultKind, Callable[[_Run, FaultSpec, float], None]] = {
    FaultKind.REVOKE_TOKEN: _Run._revoke,
    FaultKind.RECONNECT: _Run._reconnect,
    FaultKind.DELETE_AUDIENCE: _Run._delete_audience,
    FaultKind.TOKEN_EXPIRY: _Run._expire_tokens,
    FaultKind.WORKER_CRASH: _Run._crash_worker,
}


def _counter_values(counters: StepCounters) -> dict[str, int]:
    """The recorder's counter names are the engine's ``StepCounters`` fields."""
    return {name: getattr(counters, name) for name in COUNTERS}
