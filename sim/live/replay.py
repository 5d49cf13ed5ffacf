"""``pinsim live replay SCENARIO [--speed K] [--out DIR]``: a scenario's wall-clock twin.

The scenario's traffic and faults are played in real time, K times faster, through the live
runtime — the intake, the durable store, the wall-clock worker and its engine, httpx over a
socket — against ``pinsim mock serve --speed K`` running as its own process on loopback; the
run is written as ``pinsim run`` writes one, so ``pinsim compare`` can set it beside its
simulated twin.

Rules:
- Only the clock and the transport differ from ``sim.world.driver``: the same traffic (the
  book's ``InlineFeed``, same seed, same ticks: a tick's users are posted to the intake when it
  ends, with their true entry instants), the same faults at the same scenario instants, the
  same mock settings (``sim.world.translate``), the engine's settings scaled to speed K
  (``sim.live.timebase.scale_sync``). Scenario second ``t`` is wall instant
  ``wall_zero + t / K`` and mock instant ``mock_zero + t`` (``Timebase``).
- The worker runs in this process on its own thread (its store connection opened there), so
  its engine can be sampled under ``worker.lock`` like the recorder samples the simulated one:
  every ``max(flush interval, duration / 1440)`` scenario seconds, at the end of the scenario
  and once more after the requests in flight have been answered.
- The network: the loopback socket is the path; the scenario's ``[network]`` median round trip
  (two propagation legs and the service time) becomes one fault rule of constant latency, which
  the mock sleeps (scaled by K) — medians, not the simulation's spread.
- Faults: windowed ones are the mock's fault rules (``translate.fault_rules``) with their
  windows moved onto the mock's clock, installed before scenario second 0; a latency window on
  a network part (``median``/``p99``), a fault on the link (``timeout``, ``connection_reset``,
  ``outage``: the simulated network's, ``sim.world.link``) and a ``worker_crash`` have no mock
  rule and are not reproduced (said on stderr). A ``token_expiry`` shortens the mock's token
  lifetimes through its admin API, the lifetime moved onto the mock's clock.
  Instant ones fire at their scaled instant, a few wall milliseconds early so that they act
  before the engine's sends of that instant (a flush on the same tick), as the driver fires
  faults before it pumps. A revoke and a deleted audience go through the admin API; a reconnect
  mints new tokens for the workspace (admin API), saves them in the store and asks the worker
  to look at the store at its next turn (``Worker.refresh_setup``) — the path of ``pinsim live
  connect`` without the worker's once-a-second look, which at speed K is K scenario seconds.
- The end: at scenario second ``duration`` the last tick's users are posted; a few of the
  worker's polls later it is stopped (it stops sending, waits for what is in flight, takes a
  last checkpoint), then sampled a last time.
- Outputs (``RunData``, docs/CONTRACTS.md §3.1), every instant in scenario seconds:
  ``users`` from ``engine.outcome_columns()`` (``sim.results.assemble``'s frame), ``requests``
  from the mock's journal over its admin API — ``sent_at`` is the request's arrival on the mock
  (loopback: within a millisecond of its send) for the engine's requests, NaN for the replay's
  own set-up requests; ``answered_at`` is when the worker fed the answer to its engine (NaN
  for a timeout); the body audits (``min_deadline_at``, ``max_entered_at``, ``raw_pii``) are
  the simulation's own note of what it sent and are left NaN/False here (the worker keeps no
  copy of its bodies), so the checks built on them are reported "not judged"
  (``NOT_JUDGED_LIVE``), as is ``flush_cadence``, whose tick tolerance is the simulation's —
  ``members`` from the mock's state, ``expected_members`` from the book's
  ledger fed the same arrivals (the independent way, as in a simulated run).
- Nothing secret is printed or logged: tokens go from the mock's admin API to the store.
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd

from mock_pinterest.serve import positive_speed
from sim.book.feed import FeedChunk, InlineFeed, RunEnd
from sim.live.mock_process import MockProcess, MockProcessError
from sim.live.timebase import Timebase, first_tick_after, scale_sync
from sim.progress import Progress
from sim.results.assemble import users_frame, with_oldest_pending
from sim.results.recorder import (
    COUNTERS,
    JOURNAL_COLUMNS,
    REQUESTS_COLUMNS,
    USERS_COLUMNS,
    Recorder,
    RunData,
)
from sim.runner import RunOutcome, judge_and_write
from sim.scenario import FaultKind, FaultSpec, Refresh, Scenario, ScenarioError, StepAction, load
from sim.world import translate
from sync_core import Connection, ResponseReceived
from sync_core.events import Outcome
from sync_core.live.config import WorkerSettings, mint_mock_connection
from sync_core.live.intake import create_intake_app
from sync_core.live.store import SqliteStore
from sync_core.live.worker import Worker

__all__ = ["NOT_JUDGED_LIVE", "ReplayError", "main", "replay"]

_SAMPLES_PER_RUN: Final = 1440  # as sim.world.driver: one a minute on a 24 h scenario
_LEAD_WALL_S: Final = 0.25  # from the worker's start to scenario 0: fault rules go in meanwhile
_POLL_WALL_S: Final = 0.005  # the worker's look at the store: a tick's users reach it this late
# Users are posted when their tick ends: ticks this short (at most a second of scenario time,
# a whole number a flush, as the driver's) come close to a Canvas posting each as it enters.
_TICK_WALL_S: Final = 0.01
_END_GRACE_WALL_S: Final = 0.05  # the worker takes the last tick's users before it stops
_ENTER_ALL_WALL_S: Final = 30.0  # at most this long for a lagging worker to take them all
# An instant fault acts before the engine's sends of the same instant (the driver fires faults
# before it pumps): fired this early, a revoke on a flush tick is in place when the flush goes.
_FAULT_LEAD_WALL_S: Final = 0.003
_READY_TIMEOUT_S: Final = 60.0
_POST_LIMIT: Final = 20_000  # entries per intake request, well under its body limit
_SEED_RECORDS: Final = 3  # members an existing audience holds before the run, as the driver's
_NOT_MOCK_SETTINGS: Final = ("seed", "speed", "sleep_latency", "epoch_s")  # flags or serve's own


# Checks that hold a run to what only a simulation notes: said so in the outputs, not passed.
NOT_JUDGED_LIVE: Final[Mapping[str, str]] = {
    "flush_cadence": "a live run's send instants are arrivals over a socket, K times a few "
    "wall milliseconds off the engine's flush ticks, and no note of its bodies' entry instants",
    "deadline_respected": "the worker keeps no copy of the bodies it sent (their deadlines)",
    "no_raw_pii": "the worker keeps no copy of the bodies it sent",
}


class ReplayError(RuntimeError):
    """The replay could not run (the worker failed, the intake refused entries…)."""


def replay(
    scenario: Scenario,
    *,
    speed: float,
    out_dir: str | Path,
    seed: int | None = None,
    progress: Progress | None = None,
    notes: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Play ``scenario`` (its own seed unless ``seed`` is given) at ``speed`` and write the run
    into ``out_dir``; ``notes`` hears what is not reproduced live."""
    run_seed = scenario.seed if seed is None else seed
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="pinsim-replay-") as folder,
        _Replay(scenario, run_seed, speed, Path(folder), notes or (lambda _: None)) as run,
    ):
        run.play(progress)
        data = run.assemble(wall_seconds=time.perf_counter() - started)
    return judge_and_write(scenario, data, out_dir, not_judged=NOT_JUDGED_LIVE)


# --- the worker on its thread ------------------------------------------------------------------


class _WorkerThread:
    """The live worker on a thread of its own; its store is opened on that thread."""

    def __init__(
        self, store_path: Path, api_base: str, scenario: Scenario, speed: float, seed: int
    ):
        self.answered: dict[str, float] = {}  # mock request id → wall instant its answer was fed
        self._args = (
            store_path,
            api_base,
            scale_sync(translate.sync_config(scenario), speed),
            seed,
        )
        self._ready = threading.Event()
        self._worker: Worker | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pinsim-replay-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        if not self._ready.wait(_READY_TIMEOUT_S) or self._worker is None:
            raise ReplayError(f"the worker did not start: {self.error!r}")
        return self._worker

    def _run(self) -> None:
        store_path, api_base, sync, seed = self._args
        store = SqliteStore(store_path)
        try:
            worker = Worker(
                store,
                api_base,
                sync=sync,
                settings=WorkerSettings(poll_interval_s=_POLL_WALL_S),
                seed=seed,
                on_outcome=self._note,
                # checkpoints written on a thread of their own: at speed K a write that held
                # the loop would cost K times its length in scenario time
                open_store=lambda: SqliteStore(store_path),
            )
            worker.start()
            self._worker = worker
            self._ready.set()
            worker.run()
        except BaseException as error:  # reported by the replay's thread, which checks it
            self.error = error
        finally:
            self._ready.set()
            store.close()

    def _note(self, outcome: Outcome) -> None:
        if isinstance(outcome, ResponseReceived):
            rid = next(
                (v for k, v in outcome.headers.items() if k.lower() == "x-pinterest-rid"), None
            )
            if rid is not None:
                self.answered[rid] = time.time()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, grace_s: float) -> None:
        if self._worker is not None:
            self._worker.request_stop()
        self._thread.join(grace_s)
        if self._thread.is_alive():
            raise ReplayError(f"the worker did not stop within {grace_s:g} s")


# --- one replay ----------------------------------------------------------------------------------


class _Replay:
    """One live run: the mock process, the store, the worker, the intake, the feed, the recorder."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        speed: float,
        folder: Path,
        notes: Callable[[str], None],
    ) -> None:
        self.scenario, self.seed, self.speed = scenario, seed, speed
        self.end_s = scenario.duration_s
        flush_s = scenario.sync.flush_interval_s
        self.tick_s = flush_s / max(math.ceil(flush_s), math.ceil(flush_s / speed / _TICK_WALL_S))
        self.sample_s = max(flush_s, self.end_s / _SAMPLES_PER_RUN)
        self.feed = InlineFeed(scenario, seed, self.tick_s)
        self.recorder = Recorder([s.id for s in scenario.steps])
        self.store = SqliteStore(folder / "store.sqlite")
        try:
            self.mock = MockProcess.start(
                folder, speed=speed, seed=seed, settings=_mock_settings(scenario, seed)
            )
        except BaseException:
            self.store.close()
            raise
        self.harness_requests: set[str] = set()  # the replay's own set-up calls of the API
        self.initial_members: dict[str, frozenset[str]] = {}
        self.worker_thread = _WorkerThread(
            folder / "store.sqlite", self.mock.origin, scenario, speed, seed
        )
        self.instant_faults = sorted(
            (f for f in scenario.faults if f.kind in _INSTANT_FAULTS), key=lambda f: f.at_s
        )
        self.fault_lead_s = _FAULT_LEAD_WALL_S * speed  # in scenario seconds
        self.api_key = secrets.token_urlsafe(24)
        self._notes = notes
        self.timebase: Timebase | None = None
        self.worker: Worker | None = None  # once started

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.worker_thread.alive():
                self.worker_thread.stop(_READY_TIMEOUT_S)
        finally:
            self.store.close()
            self.mock.close()

    # -- set-up ----------------------------------------------------------------------------------

    def _set_up(self) -> Worker:
        reading = self.mock.read_clock()
        for conn in self.scenario.connections:
            self.store.save_connection(self._connect(conn.id))
        self.store.save_steps([translate.step(spec) for spec in self.scenario.steps])
        self._install_network()
        worker = self.worker = self.worker_thread.start()
        missing = sorted({s.id for s in self.scenario.steps} - worker.step_ids)
        if missing:
            raise ReplayError(f"the worker did not launch steps {missing} (see its log)")
        interval = worker.engine.config.flush_interval_s
        wall_zero = first_tick_after(time.time() + _LEAD_WALL_S, interval)
        self.timebase = Timebase.at(self.speed, wall_zero, reading)
        for fault in self.scenario.faults:
            self._install_window(fault, self.timebase)
        return worker

    def _connect(self, connection_id: str) -> Connection:
        accounts = sorted(
            {s.ad_account for s in self.scenario.steps if s.connection == connection_id}
        )
        self.mock.admin("POST", "/_mock/users", {"user": connection_id, "ad_account_ids": accounts})
        connection = mint_mock_connection(
            self.mock.origin, connection_id, connection_id, server_second_s=1 / self.speed
        )
        self._create_existing_audiences(connection)
        return connection

    def _create_existing_audiences(self, connection: Connection) -> None:
        """As ``sim.world.pinterest.SimulatedPinterest.create_existing_audience``: a list with
        a few members, and an audience on it, made by the marketer before the Canvas runs."""
        made: set[tuple[str, str]] = set()
        for spec in self.scenario.steps:
            key = (spec.ad_account, spec.audience.name)
            if spec.connection != connection.id or spec.audience.existing is None or key in made:
                continue
            made.add(key)
            seeds = [translate.seed_record(spec.audience.name, k) for k in range(_SEED_RECORDS)]
            base = f"/v5/ad_accounts/{spec.ad_account}"
            records = {"name": f"{key[1]} (list)", "records": ",".join(seeds), "list_type": "EMAIL"}
            created = self.mock.api(
                "POST", f"{base}/customer_lists", connection.access_token, records
            )
            rule = {"customer_list_id": created["id"]}
            audience = {"name": key[1], "audience_type": "CUSTOMER_LIST", "rule": rule}
            made_audience = self.mock.api(
                "POST", f"{base}/audiences", connection.access_token, audience
            )
            self.harness_requests |= {created["request_id"], made_audience["request_id"]}
            self.initial_members[translate.audience_key(*key)] = _members(self.mock.state(), *key)

    def _install_network(self) -> None:
        network = self.scenario.network
        round_trip_s = 2 * network.propagation.median_s + network.service.median_s
        if round_trip_s > 0:
            self.mock.admin("POST", "/_mock/faults", {"latency_s": round_trip_s})

    def _install_window(self, fault: FaultSpec, timebase: Timebase) -> None:
        until = self.end_s if fault.until_s is None else fault.until_s
        rules = translate.fault_rules(fault, until)
        if fault.kind is FaultKind.LATENCY and fault.median_s is not None:
            self._notes(f"not reproduced live: the {fault.part} latency window at {fault.at_s:g} s")
        if fault.kind in _NOT_LIVE:
            why = _NOT_LIVE[fault.kind]
            self._notes(f"not reproduced live: the {fault.kind} at {fault.at_s:g} s ({why})")
        for rule in rules:
            moved = {**rule, "from": timebase.mock(float(rule["from"]))}  # type: ignore[arg-type]
            moved["until"] = timebase.mock(float(rule["until"]))  # type: ignore[arg-type]
            self.mock.admin("POST", "/_mock/faults", moved)

    # -- the run ---------------------------------------------------------------------------------

    def play(self, progress: Progress | None) -> None:
        worker = self._set_up()
        assert self.timebase is not None
        sink = create_intake_app(self.store, api_key=self.api_key, step_ids=worker.step_ids)
        intake = sink.test_client()
        next_sample = 0.0
        while True:
            self._sleep_until(self._next_event(next_sample))
            now = min(self.timebase.scenario(time.time()), self.end_s)
            self._check_worker()
            self._post(intake, self.feed.due(now))
            self._fire_faults(now, worker)
            if now >= next_sample or now >= self.end_s:
                self._sample(now, worker)
                next_sample = min(self.end_s, (math.floor(now / self.sample_s) + 1) * self.sample_s)
                if progress is not None:
                    progress(now, self.end_s)
            if now >= self.end_s:
                break
        self._sleep_until(self.end_s, extra_wall_s=_END_GRACE_WALL_S)
        self._wait_entered(worker)
        self.worker_thread.stop(worker.engine.config.request_timeout_s + _READY_TIMEOUT_S)
        self._check_worker(running=False)
        self._sample(max(self.end_s, self.timebase.scenario(time.time())), worker)

    def _wait_entered(self, worker: Worker) -> None:
        """Before the worker stops, it takes in every entry posted: on a loaded machine it can
        lag the wall clock by more than the grace, and the book holds every user posted."""
        posted = self.store.last_seq()
        deadline = time.monotonic() + _ENTER_ALL_WALL_S
        while (through := worker.entered_through) < posted:
            self._check_worker()
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"the worker took in {through} of {posted} entries "
                    f"{_ENTER_ALL_WALL_S:g} s after the end of the scenario"
                )
            time.sleep(_POLL_WALL_S)

    def _next_event(self, next_sample: float) -> float:
        candidates = [self.end_s, next_sample, self.feed.next_due()]
        if self.instant_faults:
            candidates.append(self.instant_faults[0].at_s - self.fault_lead_s)
        return min(candidates)

    def _sleep_until(self, t: float, *, extra_wall_s: float = 0.0) -> None:
        assert self.timebase is not None
        wait = self.timebase.wall(t) + extra_wall_s - time.time()
        if wait > 0:
            time.sleep(wait)

    def _check_worker(self, *, running: bool = True) -> None:
        if self.worker_thread.error is not None:
            raise ReplayError(f"the worker failed: {self.worker_thread.error!r}")
        if running and not self.worker_thread.alive():
            raise ReplayError("the worker stopped before the end of the scenario")

    def _post(self, intake: Any, chunks: list[FeedChunk]) -> None:
        """A tick's users to the intake, one request per step, with their wall entry instants."""
        for step, entries in _entries_by_step(chunks, self.timebase).items():
            for first in range(0, len(entries), _POST_LIMIT):
                part = entries[first : first + _POST_LIMIT]
                answer = intake.post(
                    f"/v1/steps/{step}/entries",
                    json={"entries": part},
                    headers={"Authorization": f"Bearer {self.api_key}"},
                )
                if answer.status_code != 202:  # the message names the field, never a value
                    message = (answer.get_json(silent=True) or {}).get("message")
                    raise ReplayError(
                        f"the intake refused {len(part)} entries for step {step}: "
                        f"HTTP {answer.status_code} {message}"
                    )

    def _fire_faults(self, now: float, worker: Worker) -> None:
        while self.instant_faults and self.instant_faults[0].at_s - self.fault_lead_s <= now:
            fault = self.instant_faults.pop(0)
            _INSTANT_FAULTS[fault.kind](self, fault, worker)

    def _revoke(self, fault: FaultSpec, worker: Worker) -> None:
        self.mock.admin("POST", "/_mock/tokens/revoke", {"user": self._connection_of(fault)})

    def _reconnect(self, fault: FaultSpec, worker: Worker) -> None:
        connection = self._connection_of(fault)
        tokens = self.mock.admin("POST", "/_mock/tokens", {"user": connection})
        expires_at = time.time() + float(tokens["expires_in"]) / self.speed  # mock seconds
        self.store.save_tokens(
            connection, tokens["access_token"], tokens["refresh_token"], expires_at
        )
        worker.refresh_setup()

    def _delete_audience(self, fault: FaultSpec, worker: Worker) -> None:
        spec = self.scenario.step(str(fault.step))
        for audience in self.mock.state()["audiences"]:
            mine = audience["ad_account_id"] == spec.ad_account
            if mine and audience["name"] == spec.audience.name and not audience["removed"]:
                self.mock.admin("POST", f"/_mock/audiences/{audience['id']}/delete", {})

    def _expire_tokens(self, fault: FaultSpec, worker: Worker) -> None:
        assert self.timebase is not None and fault.lifetime_s is not None
        start = self.timebase.mock(fault.at_s)
        body: dict[str, object] = {
            "access_token_ttl_s": self.timebase.mock(fault.at_s + fault.lifetime_s) - start,
            "refuse_refresh": fault.refresh is Refresh.REFUSED,
        }
        if fault.connection is not None:
            body["user"] = fault.connection
        self.mock.admin("POST", "/_mock/tokens/expiry", body)

    def _connection_of(self, fault: FaultSpec) -> str:
        return fault.connection or self.scenario.connections[0].id

    def _sample(self, now: float, worker: Worker) -> None:
        with worker.lock:
            engine = worker.engine
            counters = {s.id: engine.counters(s.id) for s in self.scenario.steps}
        values = {
            step: {name: getattr(c, name) for name in COUNTERS} for step, c in counters.items()
        }
        self.recorder.sample(now, values, {})

    # -- the outputs -----------------------------------------------------------------------------

    def assemble(self, *, wall_seconds: float) -> RunData:
        scenario, timebase, worker = self.scenario, self.timebase, self.worker
        if timebase is None or worker is None:
            raise ReplayError("assemble() needs a finished play()")
        with worker.lock:
            columns = worker.engine.outcome_columns()
        users = _users(columns, timebase, scenario.sync.retry_window_s)
        audiences = {
            s.id: translate.audience_key(s.ad_account, s.audience.name) for s in scenario.steps
        }
        removes = [s.id for s in scenario.steps if s.action is StepAction.REMOVE]
        findings = self.feed.findings(RunEnd.of(users, audiences, removes, self.initial_members))
        state = self.mock.state()
        requests = _requests(
            self.mock.journal(), timebase, self.worker_thread.answered, self.harness_requests
        )
        expected = findings.result().expected_members
        return RunData(
            scenario=scenario.name,
            seed=self.seed,
            sim_seconds=scenario.duration_s,
            wall_seconds=wall_seconds,
            timeseries=with_oldest_pending(self.recorder.timeseries(), users),
            users=users,
            requests=requests,
            members={s.id: _members(state, s.ad_account, s.audience.name) for s in scenario.steps},
            expected_members={step: expected[key] for step, key in audiences.items()},
            fault_windows=tuple(
                translate.fault_window(f, scenario.duration_s) for f in scenario.faults
            ),
            limits=translate.limits(scenario),
            step_connections={s.id: s.connection for s in scenario.steps},
        )


_INSTANT_FAULTS: Final[dict[FaultKind, Callable[[_Replay, FaultSpec, Worker], None]]] = {
    FaultKind.REVOKE_TOKEN: _Replay._revoke,
    FaultKind.RECONNECT: _Replay._reconnect,
    FaultKind.DELETE_AUDIENCE: _Replay._delete_audience,
    FaultKind.TOKEN_EXPIRY: _Replay._expire_tokens,
}
# faults a live replay cannot play, and why
_NOT_LIVE: Final = {
    FaultKind.TIMEOUT: "the loopback socket is the link: it loses nothing",
    FaultKind.CONNECTION_RESET: "the loopback socket is the link: it resets nothing",
    FaultKind.OUTAGE: "the mock keeps serving: it cannot refuse connections",
    FaultKind.WORKER_CRASH: "the replay runs one worker to the end",
}


def _mock_settings(scenario: Scenario, seed: int) -> dict[str, object]:
    """The simulation's mock settings for this scenario, as ``pinsim mock serve --config``
    takes them (the clock's own fields and unset limits left out)."""
    settings = asdict(translate.mock_config(scenario, seed))
    return {k: v for k, v in settings.items() if k not in _NOT_MOCK_SETTINGS and v is not None}


def _entries_by_step(
    chunks: Sequence[FeedChunk], timebase: Timebase | None
) -> dict[str, list[dict[str, object]]]:
    assert timebase is not None
    by_step: dict[str, list[dict[str, object]]] = {}
    for chunk in chunks:
        arrivals, profiles = chunk.arrivals, chunk.arrivals.profiles
        walls = (timebase.wall_zero + arrivals.entered_at / timebase.speed).tolist()
        rows = zip(profiles.user_ids, profiles.emails, profiles.maids, walls, strict=True)
        by_step.setdefault(arrivals.step, []).extend(
            {"user_id": user, "email": email, "maid": maid, "entered_at": at}
            for user, email, maid, at in rows
        )
    return by_step


def _users(columns: Any, timebase: Timebase, retry_window_s: float) -> pd.DataFrame:
    frame = users_frame(columns)
    for column in ("entered_at", "outcome_at"):
        frame[column] = (frame[column] - timebase.wall_zero) * timebase.speed
    frame["deadline_at"] = frame["entered_at"] + retry_window_s
    return frame[list(USERS_COLUMNS)]


def _requests(
    journal: list[dict[str, Any]],
    timebase: Timebase,
    answered: Mapping[str, float],
    harness: set[str],
) -> pd.DataFrame:
    frame = pd.DataFrame(journal, columns=list(JOURNAL_COLUMNS))
    frame["t"] = frame["t"].astype(float) - timebase.mock_zero
    ids = frame["request_id"].astype(str)
    engine = frame["token_id"].notna().to_numpy() & ~ids.isin(harness).to_numpy()
    frame["sent_at"] = np.where(engine, frame["t"].to_numpy(float), math.nan)
    walls = np.array([answered.get(rid, math.nan) for rid in ids], dtype=float)
    frame["answered_at"] = np.where(engine, (walls - timebase.wall_zero) * timebase.speed, math.nan)
    frame["min_deadline_at"] = math.nan
    frame["max_entered_at"] = math.nan
    frame["raw_pii"] = False
    return frame[list(REQUESTS_COLUMNS)]


def _members(state: Mapping[str, Any], ad_account: str, name: str) -> frozenset[str]:
    """As ``SimulatedPinterest.audience_members``: the list behind the named audience — the live
    one, else the latest removed one."""
    named = [
        a for a in state["audiences"] if a["ad_account_id"] == ad_account and a["name"] == name
    ]
    if not named:
        return frozenset()
    chosen = next((a for a in named if not a["removed"]), named[-1])
    lists = {c["id"]: c for c in state["customer_lists"]}
    found = lists.get(str(chosen["rule"].get("customer_list_id")))
    return frozenset(found["members"]) if found is not None else frozenset()


# --- the command ---------------------------------------------------------------------------------


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="pinsim live replay",
        description="play a scenario in real time through the live worker against pinsim mock "
        "serve, and write the run as pinsim run does",
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario file")
    parser.add_argument(
        "--speed",
        type=positive_speed,
        default=1.0,
        metavar="K",
        help="scenario seconds per wall second (default 1: real time)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: out/<name>-live)")
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``pinsim live replay``: 0 when every check and expectation held, 1 when one did not or
    the replay could not run, 2 for a user mistake (one line, no traceback)."""
    try:
        options = _parser().parse_args(argv)
        if not options.scenario.is_file():
            raise _UsageError(f"{options.scenario}: no such file")
        scenario = load(options.scenario)
    except (_UsageError, ScenarioError) as error:
        print(f"pinsim: error: {error}", file=sys.stderr)
        return 2
    from sim.cli import summary_table  # the same table as pinsim run
    from sim.progress import RunBar

    out = options.out or Path("out") / f"{scenario.name}-live"
    bar = RunBar(sys.stderr, label=f"{scenario.name} ×{options.speed:g}")
    try:
        outcome = replay(
            scenario,
            speed=options.speed,
            out_dir=out,
            seed=options.seed,
            progress=bar,
            notes=lambda note: print(f"note: {note}", file=sys.stderr),
        )
    except (ReplayError, MockProcessError) as error:
        print(f"pinsim live replay: {error}", file=sys.stderr)
        return 1
    bar.finish(outcome.data.wall_seconds)
    print(summary_table(outcome))
    print(f"report: {outcome.report}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
