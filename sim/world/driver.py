"""The SimPy driver: the real ``sync_core`` engine against the real mock, in simulated time.

Rules:
- The core decides, the driver does. One SimPy process (``_main``) feeds traffic, fires
  faults, takes the engine's actions and samples counters; one process per request in flight
  (``_exchange``) carries it over the simulated network to the mock and back. The engine is
  told every fact at the simulated instant it happens, and asked again at ``engine.timer()``.
- Traffic is fed in bulk, one tick at a time (a whole number of ticks per flush interval, at
  most 1 s each): the users of ``[t - tick, t)`` enter at ``t`` with their true entry instants,
  so they are eligible at the same flush as if they had entered one by one, their deadlines
  and lags are exact, and there is no SimPy event per user. ``sim.book.feed`` draws the traffic and
  keeps the ledger, in this process or in a helper process on another core (same outputs).
- Latency is data: the mock never sleeps. A request waits for one of the keep-alive pool's
  connections, travels the path (``sim.world.network``: propagation), is admitted or refused by the
  mock at its arrival, takes the server's service time (plus the mock's injected
  ``x-mock-latency-s``; a 429 is refused at the door and takes none) and travels back. A
  request whose round trip exceeds its timeout fails with ``timeout`` at that instant (the
  mock may still have applied it) and frees its connection.
- Windowed faults become the mock's fault rules at the start (their windows are on the mock
  clock); instant faults (revoke, reconnect, delete an audience) fire at their instant through
  the admin API or, for a reconnect, the OAuth flow a workspace admin would go through.
- Everything random is seeded from the run's seed: the same scenario and seed give the same
  run, whatever the wall clock.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import deque
from collections.abc import Callable, Generator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, cast

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import simpy

from mock_pinterest import MockConfig
from sim.book.digests import DigestSet
from sim.book.feed import FeedChunk, Outcome, open_feed
from sim.book.ledger import Audits
from sim.results.recorder import (
    COUNTERS,
    JOURNAL_COLUMNS,
    USERS_COLUMNS,
    FaultWindow,
    Limits,
    Recorder,
    RunData,
)
from sim.scenario import (
    SERVER_ERROR_STATUSES,
    FaultKind,
    FaultSpec,
    Scenario,
    StepAction,
    StepSpec,
)
from sim.world.network import LogNormal, NetworkModel, Part
from sim.world.pinterest import EPOCH_S, Grant, SimulatedPinterest
from sim.world.pool import ConnectionPool
from sync_core import (
    Action,
    AudienceRef,
    Connection,
    OutcomeColumns,
    Pacing,
    ResponseReceived,
    SendRequest,
    Step,
    StepCounters,
    SyncConfig,
    SyncEngine,
    TransportFailed,
)

__all__ = ["Progress", "simulate"]

Progress = Callable[[float, float], None]
"""``progress(sim_now, sim_end)``, called as simulated time passes."""

_SAMPLES_PER_RUN = 1440  # counter samples over a run: one a minute on a 24 h scenario
_PROGRESS_EVERY_S = 0.25  # wall seconds between progress callbacks
_SEED_RECORDS = 3  # members an existing audience holds before the run


def simulate(
    scenario: Scenario,
    seed: int,
    *,
    progress: Progress | None = None,
    feed_helper: bool | None = None,
) -> RunData:
    """Run ``scenario`` with ``seed`` to its end and return everything it produced.

    ``feed_helper`` runs traffic and ledger in a helper process (``sim.book.feed``; same outputs):
    ``None`` lets ``open_feed`` decide by the run's size."""
    started = time.perf_counter()
    run = _Run(scenario, seed, progress, feed_helper)
    try:
        run.env.run(until=run.env.process(run.main()))
        return run.result(wall_seconds=time.perf_counter() - started)
    finally:
        run.feed.close()
        run.pinterest.close()


@dataclass(slots=True)
class _SentRequest:
    """The driver's own note of one request that reached the mock."""

    sent_at: float
    body: int  # the ledger's number for the request's body, audited after the run
    answered_at: float = math.nan  # when the engine heard back (answer or timeout)


class _Run:
    """One simulation run: the environment, the engine, the mock and their books."""

    def __init__(
        self, scenario: Scenario, seed: int, progress: Progress | None, helper: bool | None
    ) -> None:
        self.scenario, self.seed, self.progress = scenario, seed, progress
        self.env = simpy.Environment()
        self.end_s = scenario.duration_s
        self.pinterest = SimulatedPinterest(_mock_config(scenario, seed), lambda: self.env.now)
        self.engine = SyncEngine(_sync_config(scenario), rng=random.Random(f"engine-{seed}"))
        network = scenario.network
        self.network = NetworkModel(
            propagation=network.propagation,
            service=network.service,
            rng=random.Random(f"latency-{seed}"),
            paths=network.paths,
        )
        self.pool = ConnectionPool(self.env, network.connections, self.network.open_path)
        self.recorder = Recorder([s.id for s in scenario.steps])
        self.sent: dict[str, _SentRequest] = {}
        self.exchanges: set[simpy.Process] = set()
        self.tick_s = scenario.sync.flush_interval_s / math.ceil(scenario.sync.flush_interval_s)
        self.sample_s = max(scenario.sync.flush_interval_s, self.end_s / _SAMPLES_PER_RUN)
        self.instant_faults = sorted(
            (f for f in scenario.faults if f.kind in _INSTANT_FAULTS), key=lambda f: f.at_s
        )
        self.wakeup: simpy.Event = self.env.event()
        self.feed = open_feed(scenario, seed, self.tick_s, helper=helper)
        self.waiting: deque[FeedChunk] = deque()  # drawn, not yet fed to the engine
        self.fed = 0  # users fed to the engine so far
        self.next_sample = 0.0
        self.last_progress = -math.inf
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
        if self.waiting:
            candidates.append(self.waiting[0].at)
        if self.feed.drawn_until < self.end_s:
            candidates.append(self.feed.drawn_until)
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
            self.engine.connect(_connection(conn.id, grant, frozenset(accounts)), now)
            self._create_existing_audiences(conn.id, grant)
        self.engine.launch([_step(spec) for spec in scenario.steps], now)

    def _create_existing_audiences(self, connection: str, grant: Grant) -> None:
        made: set[tuple[str, str]] = set()
        for spec in self.scenario.steps:
            key = (spec.ad_account, spec.audience.name)
            if spec.connection != connection or spec.audience.existing is None or key in made:
                continue
            made.add(key)
            seeds = [_seed_record(spec.audience.name, k) for k in range(_SEED_RECORDS)]
            self.pinterest.create_existing_audience(grant, *key, seeds)
            self.initial_members[_audience_key(*key)] = self.pinterest.audience_members(*key)

    # -- traffic ---------------------------------------------------------------------------

    def _feed_traffic(self, now: float) -> None:
        """Enter every user whose tick has ended by ``now``, drawing a flush interval ahead."""
        while self.feed.drawn_until <= now and self.feed.drawn_until < self.end_s:
            self.waiting.extend(self.feed.window())
        while self.waiting and self.waiting[0].at <= now:
            chunk = self.waiting.popleft()
            profiles = chunk.arrivals.profiles
            self.fed += len(profiles.user_ids)
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
        for rule in _WINDOW_RULES.get(fault.kind, _no_rules)(fault, until):
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
            now=now,
        )

    def _delete_audience(self, fault: FaultSpec, now: float) -> None:
        spec = self.scenario.step(str(fault.step))
        audience_id = self.pinterest.audience_id(spec.ad_account, spec.audience.name)
        if audience_id is not None:
            self.pinterest.delete_audience(audience_id)

    def _connection_of(self, fault: FaultSpec) -> str:
        return fault.connection or self.scenario.connections[0].id

    # -- requests --------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        while isinstance(action := self.engine.next_action(now), SendRequest):
            exchange = self.env.process(self._exchange(action))
            self.exchanges.add(exchange)
            exchange.callbacks.append(self.exchanges.discard)

    def _exchange(self, request: SendRequest) -> Generator[simpy.Event, Any, None]:
        sent_at = self.env.now
        deadline = self.env.timeout(request.timeout_s)
        granted = self.pool.acquire()
        if granted not in (yield granted | deadline):
            self.pool.abandon(granted)
            self._deliver(TransportFailed(request.request_id, "timeout"))
            return
        connection = cast(int, granted.value)
        path_s = self.pool.path_s[connection]
        try:
            arrival = self.env.timeout(self.network.leg(path_s, self.env.now))
            if arrival not in (yield arrival | deadline):
                self._deliver(TransportFailed(request.request_id, "timeout"))
                return
            answer = self.pinterest.send(
                request.method, request.path, request.headers, request.body
            )
            note = _SentRequest(sent_at, self.feed.note(request.body, self.fed))
            self.sent[answer.headers["x-pinterest-rid"]] = note
            back = self.env.timeout(self._answer_time(answer, path_s))
            if back not in (yield back | deadline):
                self._deliver(TransportFailed(request.request_id, "timeout"), note)
                return
        finally:
            self.pool.release(connection)
        self._deliver(
            ResponseReceived(
                request.request_id, answer.status_code, dict(answer.headers), answer.content
            ),
            note,
        )

    def _answer_time(self, answer: httpx.Response, path_s: float) -> float:
        """From arrival to the answer's return: service (none for a 429, refused at the
        door), the mock's injected latency, and the path back."""
        now = self.env.now
        service = 0.0 if answer.status_code == 429 else self.network.draw(Part.SERVICE, now)
        injected = float(answer.headers.get("x-mock-latency-s", 0.0))
        return service + injected + self.network.leg(path_s, now)

    def _deliver(
        self, outcome: ResponseReceived | TransportFailed, note: _SentRequest | None = None
    ) -> None:
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
        self.next_sample = min(self.end_s, (math.floor(now / self.sample_s) + 1) * self.sample_s)

    def _report_progress(self, now: float) -> None:
        if self.progress is None:
            return
        wall = time.perf_counter()
        if wall - self.last_progress >= _PROGRESS_EVERY_S or now >= self.end_s:
            self.last_progress = wall
            self.progress(now, self.end_s)

    # -- the result ------------------------------------------------------------------------

    def result(self, *, wall_seconds: float) -> RunData:
        scenario = self.scenario
        users = self._users()
        audiences = {s.id: _audience_key(s.ad_account, s.audience.name) for s in scenario.steps}
        removes = [s.id for s in scenario.steps if s.action is StepAction.REMOVE]
        self.feed.ask(Outcome(users, audiences, removes, self.initial_members))
        timeseries = _with_oldest_pending(self.recorder.timeseries(), users)
        members = {  # while the feed's helper, if any, works on the verdict
            s.id: _compact(self.pinterest.audience_members(s.ad_account, s.audience.name))
            for s in scenario.steps
        }
        journal = self._journal()
        verdict = self.feed.verdict()
        requests = _with_audits(journal, verdict.audits, self.sent)
        expected = verdict.expected_members
        return RunData(
            scenario=scenario.name,
            seed=self.seed,
            sim_seconds=self.end_s,
            wall_seconds=wall_seconds,
            timeseries=timeseries,
            users=users,
            requests=requests,
            members=members,
            expected_members={step: expected[key] for step, key in audiences.items()},
            fault_windows=tuple(_fault_window(f, self.end_s) for f in scenario.faults),
            limits=Limits(
                requests_per_second=scenario.pinterest.ads_write_per_second,
                max_records_per_request=scenario.pinterest.max_records_per_request,
                flush_interval_s=scenario.sync.flush_interval_s,
                retry_window_s=scenario.sync.retry_window_s,
            ),
            step_connections={s.id: s.connection for s in scenario.steps},
        )

    def _users(self) -> pd.DataFrame:
        frame = _users_frame(self.engine.outcome_columns())
        frame["deadline_at"] = frame["entered_at"] + self.scenario.sync.retry_window_s
        return frame[list(USERS_COLUMNS)]

    def _journal(self) -> pd.DataFrame:
        journal = pd.DataFrame([record.to_json() for record in self.pinterest.journal()])
        if journal.empty:
            journal = pd.DataFrame(columns=list(JOURNAL_COLUMNS))
        return journal


def _with_audits(
    journal: pd.DataFrame, audits: Audits, sent: dict[str, _SentRequest]
) -> pd.DataFrame:
    """The journal with the driver's send and answer instants and the ledger's body audit."""
    notes = [sent.get(rid) for rid in journal["request_id"]]
    # requests the harness made itself while setting up carry no driver note
    journal["sent_at"] = [math.nan if n is None else n.sent_at for n in notes]
    journal["answered_at"] = [math.nan if n is None else n.answered_at for n in notes]
    for column, absent in _AUDIT_COLUMNS.items():
        values = getattr(audits, column).tolist()
        journal[column] = [absent if n is None else values[n.body] for n in notes]
    return journal


# -- translation tables: scenario → mock, engine and fault actions --------------------------


_AUDIT_COLUMNS: dict[str, float | bool] = {
    "min_deadline_at": math.nan,
    "max_entered_at": math.nan,
    "raw_pii": False,
}


def _mock_config(scenario: Scenario, seed: int) -> MockConfig:
    settings = scenario.pinterest
    return MockConfig(
        seed=seed,
        ads_write_per_second=settings.ads_write_per_second,
        ads_write_per_minute=settings.ads_write_per_minute,
        max_records_per_request=settings.max_records_per_request,
        match_rate=settings.match_rate,
        retry_after=settings.retry_after,
        rate_limit_algorithm=str(settings.rate_limiter),
        auto_approve=True,
        epoch_s=EPOCH_S,
    )


def _sync_config(scenario: Scenario) -> SyncConfig:
    sync = scenario.sync
    return SyncConfig(
        flush_interval_s=sync.flush_interval_s,
        requests_per_second=sync.requests_per_second,
        max_records_per_request=sync.max_records_per_request,
        retry_window_s=sync.retry_window_s,
        max_in_flight=sync.max_in_flight,
        request_timeout_s=sync.request_timeout_s,
        pacing=Pacing(sync.pacer.value),
        pacing_margin_s=sync.pacing_margin_s,
    )


def _connection(connection_id: str, grant: Grant, accounts: frozenset[str]) -> Connection:
    return Connection(
        id=connection_id,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        client_id=grant.client_id,
        client_secret=grant.client_secret,
        scopes=grant.scopes,
        ad_account_ids=accounts,
    )


def _step(spec: StepSpec) -> Step:
    return Step(
        id=spec.id,
        connection_id=spec.connection,
        ad_account_id=spec.ad_account,
        audience=AudienceRef(new=spec.audience.new, existing=spec.audience.existing),
        action=Action.REMOVE if spec.action is StepAction.REMOVE else Action.ADD,
        match_fields=tuple(spec.match_fields),
        last_step=spec.last_step,
    )


def _audience_key(ad_account: str, name: str) -> str:
    return f"{ad_account}/{name}"


def _seed_record(name: str, k: int) -> str:
    return hashlib.sha256(f"seed-{k}@{name}.example".encode()).hexdigest()


def _no_rules(fault: FaultSpec, until: float) -> list[dict[str, object]]:
    return []


def _storm_rules(fault: FaultSpec, until: float) -> list[dict[str, object]]:
    rule: dict[str, object] = {
        "match": {"category": "ads_write"},
        "status": 429,
        "from": fault.at_s,
        "until": until,
    }
    if fault.share < 1.0:
        rule["probability"] = fault.share
    return [rule]


def _server_error_rules(fault: FaultSpec, until: float) -> list[dict[str, object]]:
    statuses = fault.status or SERVER_ERROR_STATUSES
    # Rules are tried in order: the k-th of n fires on share/(n - k·share) of what reaches it,
    # so each status answers share/n of all requests.
    rules: list[dict[str, object]] = []
    for k, status in enumerate(statuses):
        left = 1.0 - k * fault.share / len(statuses)
        rules.append(
            {
                "match": {"path": "/v5/ad_accounts/*"},
                "status": status,
                "from": fault.at_s,
                "until": until,
                "probability": min(1.0, fault.share / len(statuses) / left),
            }
        )
    return rules


def _latency_rules(fault: FaultSpec, until: float) -> list[dict[str, object]]:
    if fault.extra_s is None:
        return []
    return [{"latency_s": fault.extra_s, "from": fault.at_s, "until": until}]


_WINDOW_RULES: dict[FaultKind, Callable[[FaultSpec, float], list[dict[str, object]]]] = {
    FaultKind.RATE_LIMIT_STORM: _storm_rules,
    FaultKind.SERVER_ERRORS: _server_error_rules,
    FaultKind.LATENCY: _latency_rules,
}

_INSTANT_FAULTS: dict[FaultKind, Callable[[_Run, FaultSpec, float], None]] = {
    FaultKind.REVOKE_TOKEN: _Run._revoke,
    FaultKind.RECONNECT: _Run._reconnect,
    FaultKind.DELETE_AUDIENCE: _Run._delete_audience,
}


def _fault_window(fault: FaultSpec, end_s: float) -> FaultWindow:
    if fault.kind in _INSTANT_FAULTS:
        return FaultWindow(kind=fault.kind.value, start_s=fault.at_s)
    until = end_s if fault.until_s is None else fault.until_s
    return FaultWindow(kind=fault.kind.value, start_s=fault.at_s, end_s=until)


def _users_frame(columns: OutcomeColumns) -> pd.DataFrame:
    """The engine's outcome columns as the contract's ``users`` frame (no object per user)."""
    state = np.frombuffer(columns.state, np.uint8)
    pending = state == columns.state_labels.index("pending")
    outcome_at = np.frombuffer(columns.outcome_at, np.float64).copy()
    outcome_at[pending] = math.nan
    status = np.frombuffer(columns.last_status, np.int16).astype(float)
    status[status == 0] = math.nan  # no answer yet
    errored = state == columns.state_labels.index("errored")
    return pd.DataFrame(
        {
            "user_id": columns.user_ids,
            "step": _text(columns.step_ids, np.frombuffer(columns.step, np.uint16)),
            "entered_at": np.frombuffer(columns.entered_at, np.float64).copy(),
            "outcome": _text(columns.state_labels, state),
            "outcome_at": outcome_at,
            "attempts": np.frombuffer(columns.attempts, np.uint16).astype(np.int64),
            "last_status": status,
            "reason": _text(
                columns.reason_labels, np.frombuffer(columns.reason, np.uint8), errored
            ),
        }
    )


_TEXT = pd.Series(np.array(["text"], dtype=object)).dtype  # what pandas makes of strings


def _text(
    labels: tuple[str | None, ...],
    codes: npt.NDArray[np.integer],
    keep: npt.NDArray[np.bool_] | None = None,
) -> pd.Series | npt.NDArray[np.object_]:
    """The column pandas makes of ``labels[codes]`` (None where not ``keep``), decoded by
    Arrow when pandas keeps text in Arrow, instead of one Python string per row."""
    named = np.array([label is not None for label in labels], dtype=bool)[codes]
    shown = named if keep is None else named & keep
    arrow = isinstance(_TEXT, pd.StringDtype) and _TEXT.storage == "pyarrow"
    if not arrow or not shown.any():  # no text at all: pandas keeps objects
        values: npt.NDArray[np.object_] = np.array(labels, dtype=object)[codes]
        if keep is not None:
            values[~keep] = None
        return values
    indices = pa.array(codes.astype(np.int32), mask=~shown)
    dictionary = pa.array([label or "" for label in labels], type=pa.large_string())
    text = pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
    series: pd.Series = text.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)
    return series


def _with_oldest_pending(timeseries: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Fill ``oldest_pending_age_s``: at each sample, the age of the earliest-entered user who
    had entered and was not yet resolved (synced, errored or not synced) by then."""
    out = timeseries.copy()
    for step, rows in out.groupby("step", sort=False):
        mine = users[users["step"] == step].sort_values("entered_at", kind="stable")
        entered = mine["entered_at"].to_numpy(float)
        resolved = _resolved_at(mine)
        # first user (in entry order) still unresolved at t: first i with prefix-max > t
        running = np.maximum.accumulate(resolved) if len(resolved) else resolved
        t = rows["t"].to_numpy(float)
        first = np.searchsorted(running, t, side="right")
        ages = np.zeros(len(t))
        has = first < len(entered)
        idx = first[has]
        ages[has] = np.where(entered[idx] <= t[has], t[has] - entered[idx], 0.0)
        out.loc[rows.index, "oldest_pending_age_s"] = ages
    return out


def _compact(ids: frozenset[str]) -> AbstractSet[str]:
    """A list's members as a ``DigestSet`` when all are SHA-256 hex (the audience check then
    compares two sorted columns); as they are when the list holds anything else."""
    compact = DigestSet.of(ids)
    return ids if compact is None else compact


def _resolved_at(users: pd.DataFrame) -> npt.NDArray[np.float64]:
    resolved = users["outcome_at"].to_numpy(float).copy()
    resolved[(users["outcome"] == "pending").to_numpy()] = math.inf
    return resolved


def _counter_values(counters: StepCounters) -> dict[str, int]:
    """The recorder's counter names are the engine's ``StepCounters`` fields."""
    return {name: getattr(counters, name) for name in COUNTERS}
