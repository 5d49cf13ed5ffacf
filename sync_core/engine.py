"""``SyncEngine``: the sans-IO audience sync engine the drivers run.

Rules:
- Every call takes ``now`` (seconds, never decreasing); the engine reads no clock, does no IO
  and draws randomness only from the injected ``random.Random``.
- Inputs: ``enter``/``enter_many`` (users), ``receive`` (outcomes of requests), ``reconnect``.
  Output: ``next_action(now)`` hands out ``SendRequest`` until it answers ``WaitUntil(at)`` or
  ``Idle``; ``timer()`` says when to call again.
- Work units: one *target* per (connection, ad account, audience name) — its provisioning, its
  queue and its batches. Steps writing the same audience share one target, so a name is
  provisioned once and adds and removes keep entry order.
- Match fields: a step has ONE customer list (its audience's ``rule.customer_list_id``).
  A user's records are the hashes of every selected field they have (email and/or MAID, as
  Pinterest's list accepts any combination); they travel together in one request, so a user is
  synced exactly when that request is accepted. The list is created with ``list_type`` EMAIL
  when the step matches on email, else MAID.
- Coalescing: in a target written by add and remove steps, of an add and a remove of one
  hashed id both still queued only the later entered is sent; a user all of whose records were
  superseded so is Not Synced at that instant, reason ``superseded`` (``coalescing``).
- Deadlines: ``entered_at + retry_window_s``. A pending user errors at exactly that instant. No
  request carries a user whose deadline falls within ``request_timeout_s`` of the send, so no
  answer can arrive for a user after they errored.
- What each answer means is ``outcomes.classify_answer``; this module only applies verdicts.
  What it keeps per connection, target, step and request is ``runtime``; users' columns are
  ``users``; their digests come from ``identity``.
"""

from __future__ import annotations

import math
import pickle
import random
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace

from sync_core import wire
from sync_core.batching import Batch
from sync_core.errors import PeerError, UsageError
from sync_core.events import (
    EngineAction,
    Idle,
    Outcome,
    ResponseReceived,
    SendRequest,
    TransportFailed,
    WaitUntil,
)
from sync_core.identity import user_digests
from sync_core.launch import validate
from sync_core.metrics import OutcomeColumns, StepCounters, StepTally, UserOutcome, UserState
from sync_core.model import Connection, Step, SyncConfig
from sync_core.outcomes import NO_STATUS, Disposition, Reason, Verdict, classify, classify_answer
from sync_core.preflight import EntryProfile, TokenPreflight, preflight
from sync_core.provisioning import Provisioner, Stage
from sync_core.renewal import Renewal
from sync_core.retry import Backoff
from sync_core.runtime import ConnectionRuntime, Flight, FlightKind, StepRuntime, Target
from sync_core.token import TokenStatus
from sync_core.users import UserTable

__all__ = ["SyncEngine"]

_SNAPSHOT_VERSION = 8  # 2: the pacer replaced the send-time limiter; 3: records in ``runtime``;
# 4: users' ids pickled as one string, the pacer's window on the engine's clock; 5: ids packed;
# 6: the pacer's minute window; 7: a token's expiry and its refresh ahead of time (``renewal``);
# 8: target queues coalesce adds and removes (``coalescing``)
_PROBING = frozenset({Reason.FORBIDDEN, Reason.AUDIENCE_DELETED})


class SyncEngine:
    """The engine; see the module docstring and docs/CONTRACTS.md §2."""

    def __init__(self, config: SyncConfig | None = None, *, rng: random.Random) -> None:
        self.config = config or SyncConfig()
        self._rng = rng
        self._backoff = Backoff(base_s=self.config.backoff_base_s, max_s=self.config.backoff_max_s)
        self._now = -math.inf
        self._users = UserTable()
        self._conns: dict[str, ConnectionRuntime] = {}
        self._targets: dict[tuple[str, str, str], Target] = {}
        self._steps: dict[str, StepRuntime] = {}
        self._step_list: list[StepRuntime] = []
        self._tallies: list[StepTally] = []  # per step code, as the user table counts steps
        self._flights: dict[int, Flight] = {}
        self._next_id = 1

    # -- setup -------------------------------------------------------------------------------

    def connect(self, connection: Connection, now: float) -> None:
        """Register a workspace connection (its tokens, scopes and ad accounts)."""
        self._advance(now)
        if connection.id in self._conns:
            raise UsageError(f"connection {connection.id!r} exists; use reconnect()")
        conn = self._conns[connection.id] = ConnectionRuntime(connection, self.config)
        conn.token.renewal = self._plan_renewal(connection.expires_at, now)
        self._watch_expiry(conn, now)

    def launch(self, steps: Sequence[Step], now: float) -> None:
        """Validate every step, then start provisioning their audiences. All or nothing."""
        self._advance(now)
        tokens = {cid: conn.token for cid, conn in self._conns.items()}
        ids = [step.id for step in steps]
        duplicates = sorted({i for i in ids if ids.count(i) > 1 or i in self._steps})
        if duplicates:
            raise UsageError(f"step ids launched twice: {', '.join(map(repr, duplicates))}")
        for step in steps:
            validate(step, tokens)
        for step in steps:
            self._add_step(step)

    def preflight(self, steps: Sequence[Step], profile: EntryProfile) -> tuple[TokenPreflight, ...]:
        """What ``profile``'s traffic into ``steps`` will cost per token with this engine's
        settings (``sync_core.preflight``): ask before ``launch``. Reads no state, changes none."""
        return preflight(steps, profile, self.config)

    def _add_step(self, step: Step) -> None:
        conn = self._conns[step.connection_id]
        key = (step.connection_id, step.ad_account_id, step.audience.name)
        target = self._targets.get(key)
        if target is None:
            list_type = "EMAIL" if "email" in step.match_fields else "MAID"
            target = Target(
                Provisioner(
                    ad_account_id=step.ad_account_id,
                    name=step.audience.name,
                    is_new=step.audience.is_new,
                    list_type=list_type,
                )
            )
            self._targets[key] = target
            conn.targets.append(target)
        elif step.audience.is_new:
            target.provisioner.is_new = True
        if any(r.target is target and r.step.action != step.action for r in self._step_list):
            target.queue.coalesce()  # adds and removes meet in this queue
        runtime = StepRuntime(
            step=step,
            index=len(self._step_list),
            conn=conn,
            target=target,
            tally=StepTally(last_step=step.last_step),
            use_email="email" in step.match_fields,
            use_maid="maid" in step.match_fields,
        )
        self._steps[step.id] = runtime
        self._step_list.append(runtime)
        self._tallies.append(runtime.tally)

    def reconnect(
        self,
        connection_id: str,
        *,
        access_token: str,
        refresh_token: str | None = None,
        expires_at: float | None = None,
        now: float,
    ) -> None:
        """New tokens for a connection (after an admin reconnects it); it is valid again.
        ``expires_at``: when the access token expires, on the engine's clock (None: unknown)."""
        self._advance(now)
        conn = self._conns.get(connection_id)
        if conn is None:
            raise UsageError(f"unknown connection {connection_id!r}")
        renewal = self._plan_renewal(expires_at, now)
        conn.token.reconnect(access_token, refresh_token, expires_at=expires_at, renewal=renewal)
        self._watch_expiry(conn, now)

    # -- users -------------------------------------------------------------------------------

    def enter(
        self, step_id: str, user_id: str, email: str | None, maid: str | None, now: float
    ) -> None:
        """One user reaches a step."""
        self.enter_many(step_id, (user_id,), (email,), (maid,), now)

    def enter_many(
        self,
        step_id: str,
        user_ids: Sequence[str],
        emails: Sequence[str | None],
        maids: Sequence[str | None],
        now: float,
        entered_at: Sequence[float] | None = None,
    ) -> None:
        """Users reach a step together; same semantics as calling ``enter`` for each.

        ``entered_at`` gives each user's true entry instant (at most ``now``), so deadlines and
        lags stay exact when a driver feeds a second of traffic in one call. Counters change at
        ``now``; a user whose deadline already passed errors at the next call."""
        runtime = self._steps.get(step_id)
        if runtime is None:
            raise UsageError(f"unknown step {step_id!r}")
        if not len(user_ids) == len(emails) == len(maids):
            raise UsageError("enter_many needs user_ids, emails and maids of equal length")
        times = self._entry_times(len(user_ids), entered_at, now)
        ids = list(user_ids)
        if entered_at is not None:
            ids, emails, maids = _in_entry_order(times, ids, emails, maids)
        self._advance(now)
        records, digests = user_digests(
            emails, maids, use_email=runtime.use_email, use_maid=runtime.use_maid
        )
        pending = self._users.add(ids, runtime.index, times, now, records)
        runtime.tally.entered += len(ids)
        runtime.tally.not_synced += len(ids) - len(pending)
        nrec = records.replace(b"\x00", b"")  # the pending users' record counts
        superseded = runtime.target.queue.push(
            runtime.step.action.value, pending, nrec, digests, self._users.entered_at
        )
        if superseded:
            self._users.supersede(superseded, now, self._tallies)

    def _entry_times(self, n: int, entered_at: Sequence[float] | None, now: float) -> array[float]:
        """Validated entry instants, sorted (index order must stay deadline order)."""
        if entered_at is None:
            return array("d", [now]) * n
        if len(entered_at) != n:
            raise UsageError("enter_many needs one entered_at per user")
        times = array("d", entered_at)
        if n and max(times) > now:
            raise UsageError("entered_at must not be after now")
        return times

    # -- the action loop ---------------------------------------------------------------------

    def next_action(self, now: float) -> EngineAction:
        """The next request to send, or when to call again (``WaitUntil``), or ``Idle``."""
        self._advance(now)
        for conn in self._conns.values():
            request = self._next_request(conn, now)
            if request is not None:
                return request
        at = self.timer()
        return Idle() if at is None else WaitUntil(at)

    def receive(self, outcome: Outcome, now: float) -> None:
        """The fate of a request handed out by ``next_action``."""
        flight = self._flights.get(outcome.request_id)
        if flight is None:
            raise UsageError(f"unknown or already answered request {outcome.request_id}")
        self._advance(now)
        del self._flights[outcome.request_id]
        flight.conn.pacer.record_done(sent_at=flight.sent_at, now=now)
        if isinstance(outcome, ResponseReceived):
            flight.conn.pacer.on_round_trip(now - flight.sent_at)
        status, body, disposition, reset_s = self._interpret(flight, outcome, now)
        _ON_ANSWER[flight.kind](self, flight, status, body, disposition, reset_s, now)

    def timer(self) -> float | None:
        """When ``next_action`` next has something to do (None: only after new input)."""
        candidates = [self._next_deadline()]
        candidates.extend(self._conn_due(conn) for conn in self._conns.values())
        candidates.extend(self._expiry_due(conn) for conn in self._conns.values())
        future = [at for at in candidates if at is not None and at > self._now]
        return min(future, default=None)

    # -- reading -----------------------------------------------------------------------------

    def counters(self, step_id: str) -> StepCounters:
        runtime = self._steps.get(step_id)
        if runtime is None:
            raise UsageError(f"unknown step {step_id!r}")
        return runtime.tally.freeze()

    def outcomes(self) -> Iterator[UserOutcome]:
        users, steps = self._users, self._step_list
        for index in range(len(users)):
            yield users.outcome(index, steps[users.step[index]].step.id)

    def outcome_columns(self) -> OutcomeColumns:
        """What ``outcomes()`` yields, as columns: no object per user."""
        return self._users.columns(tuple(runtime.step.id for runtime in self._step_list))

    def connection_status(self, connection_id: str) -> TokenStatus:
        return self._conns[connection_id].token.status

    def connection_tokens(self, connection_id: str) -> tuple[str, str | None]:
        """A connection's current (access, refresh) tokens — a refresh rotates them — for a
        driver to persist before it sends again. Secrets: never log them."""
        conn = self._conns.get(connection_id)
        if conn is None:
            raise UsageError(f"unknown connection {connection_id!r}")
        return conn.token.access_token, conn.token.connection.refresh_token

    def connection_expires_at(self, connection_id: str) -> float | None:
        """When the connection's access token expires, on the engine's clock (None: unknown),
        for a driver to persist beside the tokens."""
        conn = self._conns.get(connection_id)
        if conn is None:
            raise UsageError(f"unknown connection {connection_id!r}")
        return conn.token.connection.expires_at

    def provisioned_list_id(self, step_id: str) -> str | None:
        """The customer list a step writes to, once provisioning found or created it."""
        return self._steps[step_id].target.provisioner.list_id

    # -- persistence -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes (not the rng). Only restore blobs you wrote yourself:
        the format is pickle."""
        state = {k: v for k, v in self.__dict__.items() if k != "_rng"}
        return pickle.dumps((_SNAPSHOT_VERSION, state), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes, rng: random.Random) -> SyncEngine:
        """An engine from ``snapshot`` bytes. Requests that were in flight are treated as lost
        (their fate unknown) and retried; ``request_id``s stay unique."""
        version, state = pickle.loads(blob)
        if version != _SNAPSHOT_VERSION:
            raise UsageError(f"snapshot version {version} is not {_SNAPSHOT_VERSION}")
        engine = cls.__new__(cls)
        engine.__dict__.update(state)
        engine._rng = rng
        engine._forget_flights()
        return engine

    def _forget_flights(self) -> None:
        for flight in self._flights.values():
            flight.conn.pacer.record_done(sent_at=flight.sent_at, now=self._now)
            target = flight.target
            if flight.kind is FlightKind.BATCH:
                assert target is not None and flight.batch is not None
                flight.batch.retry_at = self._now
                target.waiting.append(flight.batch)
            elif flight.kind is FlightKind.PROVISION:
                assert target is not None
                target.prov_in_flight = False
                target.provisioner.on_unknown_fate()
            else:
                flight.conn.refresh_in_flight = False
        self._flights.clear()

    # -- time and deadlines ------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise UsageError(f"time went backwards: {now} after {self._now}")
        self._now = now
        self._expire(now)
        for conn in self._conns.values():
            self._watch_expiry(conn, now)

    def _next_deadline(self) -> float | None:
        index = self._users.first_pending()
        return None if index < 0 else self._users.entered_at[index] + self.config.retry_window_s

    def _expire(self, now: float) -> None:
        users, window = self._users, self.config.retry_window_s
        while (index := users.first_pending()) >= 0:
            deadline_at = users.entered_at[index] + window
            if deadline_at > now:
                break
            runtime = self._step_list[users.step[index]]
            users.expire(index, self._expiry_reason(index, runtime), deadline_at, runtime.tally)
        entered_before = now + self.config.request_timeout_s - window
        for target in self._targets.values():
            # Why they can never be sent is known now (a dead token, say), not at their
            # deadline, when a reconnect may have hidden it: note it while it is true.
            for index in target.queue.drop_expired(users.entered_at, entered_before):
                runtime = self._step_list[users.step[index]]
                users.note_reason(index, self._expiry_reason(index, runtime))

    def _expiry_reason(self, index: int, runtime: StepRuntime) -> Reason:
        if runtime.conn.token.status is not TokenStatus.VALID:
            return Reason.AUTH_INVALID
        own = Reason(self._users.reason[index])
        return own or runtime.target.reason or Reason.RATE_LIMITED

    def _release_tick(self, entered_at: float) -> float:
        """The flush tick (a multiple of flush_interval_s) at which a user may be sent: the
        first one after entry. Ticks are half-open, ``[k·T, (k+1)·T)`` flushes at ``(k+1)·T``,
        so a driver feeding a tick's users at its end never finds them already overdue."""
        interval = self.config.flush_interval_s
        return (math.floor(entered_at / interval) + 1) * interval

    # -- choosing what to send ---------------------------------------------------------------

    def _next_request(self, conn: ConnectionRuntime, now: float) -> SendRequest | None:
        if not conn.pacer.can_send(now):
            return None
        token = conn.token
        if token.status is TokenStatus.REFRESHING:
            if conn.refresh_in_flight or token.refresh_at > now:
                return None
            return self._send_refresh(conn, now)
        if token.status is TokenStatus.INVALID:
            return None
        for _ in range(len(conn.targets)):
            target = conn.targets[0]
            conn.targets.rotate(-1)  # round-robin: the next call starts at the next audience
            send = self._target_request(conn, target, now)
            if send is not None:
                return send
        if not conn.refresh_in_flight and token.renewal_due(now):
            # ahead of the expiry, after the writes due now; writes go on while it is in flight
            return self._send_refresh(conn, now)
        return None

    def _send_refresh(self, conn: ConnectionRuntime, now: float) -> SendRequest:
        conn.refresh_in_flight = True
        token = conn.token
        secrets = token.connection
        refresh = wire.refresh_token(
            secrets.client_id, secrets.client_secret, secrets.refresh_token or ""
        )
        return self._send(Flight(FlightKind.REFRESH, conn, token.access_token), refresh, now)

    def _target_request(
        self, conn: ConnectionRuntime, target: Target, now: float
    ) -> SendRequest | None:
        if target.blocked_until > now:
            return None
        token = conn.token.access_token
        if not target.provisioner.ready:
            if target.prov_in_flight or target.due_at > now:
                return None
            target.prov_in_flight = True
            request = target.provisioner.request(token, self.config.page_size)
            return self._send(Flight(FlightKind.PROVISION, conn, token, target), request, now)
        batch = self._due_retry(target, now) or self._cut(target, now)
        if batch is None:
            return None
        list_id = target.provisioner.list_id or ""
        request = wire.update_customer_list(
            token, target.account, list_id, batch.records(), batch.operation
        )
        return self._send(Flight(FlightKind.BATCH, conn, token, target, batch), request, now)

    def _due_retry(self, target: Target, now: float) -> Batch | None:
        entered_before = now + self.config.request_timeout_s - self.config.retry_window_s
        entered_at = self._users.entered_at
        while target.waiting:
            batch = min(target.waiting, key=lambda b: b.retry_at)
            if batch.retry_at > now:
                return None
            target.waiting.remove(batch)
            batch.drop_expired(entered_at, entered_before)
            if batch.users:
                return batch
            target.outstanding -= 1  # every member's deadline passed or is too close
        return None

    def _cut(self, target: Target, now: float) -> Batch | None:
        head = target.queue.head()
        if head is None:
            return None
        if not self._may_cut(target, head[0]):
            return None
        batch = target.queue.cut(
            self._users.entered_at,
            self._released_before(now),
            self.config.max_records_per_request,
        )
        if batch is not None:
            target.outstanding += 1
            target.outstanding_op = batch.operation
        return batch

    @staticmethod
    def _may_cut(target: Target, operation: str) -> bool:
        if target.outstanding and target.outstanding_op != operation:
            return False  # the other operation's batches finish first: entry order holds
        # While the audience fails (403/404), only the slow retries probe it.
        return target.reason not in _PROBING

    def _released_before(self, now: float) -> float:
        """The latest flush tick that has come: users who entered before it may be sent."""
        interval = self.config.flush_interval_s
        return math.floor(now / interval) * interval

    def _send(self, flight: Flight, request: wire.WireRequest, now: float) -> SendRequest:
        request_id = self._next_id
        self._next_id += 1
        flight.conn.pacer.record_send(now)
        self._flights[request_id] = replace(flight, sent_at=now)
        method, path, headers, body = request
        return SendRequest(
            request_id=request_id,
            method=method,
            path=path,
            headers=headers,
            body=body,
            timeout_s=self.config.request_timeout_s,
        )

    # -- when is there something to do -------------------------------------------------------

    def _conn_due(self, conn: ConnectionRuntime) -> float | None:
        pacer, token = conn.pacer, conn.token
        if pacer.saturated() or token.status is TokenStatus.INVALID:
            return None  # an answer or a reconnect comes first
        if token.status is TokenStatus.REFRESHING:
            due = None if conn.refresh_in_flight else token.refresh_at
        else:
            dues = [at for at in map(self._target_due, conn.targets) if at is not None]
            renew_at = None if conn.refresh_in_flight else token.renewal_at()
            if renew_at is not None:
                dues.append(renew_at)
            due = min(dues, default=None)
        return None if due is None else max(due, pacer.next_free_at())

    def _expiry_due(self, conn: ConnectionRuntime) -> float | None:
        """When a valid token's renewal jitter is drawn or its writes must stop: instants that
        need a call, not a send (no pacer)."""
        renewal = conn.token.renewal
        if renewal is None or conn.token.status is not TokenStatus.VALID:
            return None
        hold_at = renewal.hold_at
        return hold_at if renewal.due_at is not None else min(renewal.opens_at, hold_at)

    def _target_due(self, target: Target) -> float | None:
        if not target.provisioner.ready:
            due = None if target.prov_in_flight else target.due_at
        else:
            due = min((batch.retry_at for batch in target.waiting), default=None)
            head = target.queue.head()
            if head is not None and self._may_cut(target, head[0]):
                tick = self._release_tick(self._users.entered_at[head[1]])
                due = tick if due is None else min(due, tick)
        return None if due is None else max(due, target.blocked_until)

    # -- refreshing ahead of expiry ----------------------------------------------------------

    def _plan_renewal(self, expires_at: float | None, now: float) -> Renewal | None:
        config = self.config
        return Renewal.plan(expires_at, config.refresh_lead_s, config.request_timeout_s, now)

    def _watch_expiry(self, conn: ConnectionRuntime, now: float) -> None:
        """Draw a valid token's renewal jitter once its window opens; hold its writes once a
        request sent now could arrive after the expiry (``renewal``'s rules)."""
        token = conn.token
        renewal = token.renewal
        if renewal is None or token.status is not TokenStatus.VALID:
            return
        renewal.draw(self._rng, now, self.config.flush_interval_s)
        if now >= renewal.hold_at:
            token.on_expiring(now)

    # -- applying answers --------------------------------------------------------------------

    def _interpret(
        self, flight: Flight, outcome: Outcome, now: float
    ) -> tuple[int, bytes, Disposition, float]:
        conn = flight.conn
        if isinstance(outcome, TransportFailed):
            failed = classify(None, failure=outcome.kind)
            return NO_STATUS, b"", failed, self.config.default_reset_s
        assert isinstance(outcome, ResponseReceived)
        limits = wire.parse_rate_limit(outcome.headers)
        stated = None if limits.reset_s is None else limits.reset_s * self.config.server_second_s
        reset_s = stated or self.config.default_reset_s
        if flight.kind is FlightKind.BATCH:  # a customer-list write: ads_write's windows
            conn.pacer.on_window_stated(
                limit=limits.limit, remaining=limits.remaining, sent_at=flight.sent_at
            )
        if limits.remaining == 0 and limits.reset_s is not None:
            conn.pacer.on_budget_spent(sent_at=flight.sent_at, reset_s=reset_s, now=now)
        disposition = classify_answer(outcome.status, outcome.body)
        if disposition.verdict is Verdict.WAIT_RESET:
            hold_at = self._hold_after_refusal(conn, flight.sent_at, reset_s, now)
            conn.pacer.block_until(hold_at, now)
            reset_s = max(0.0, hold_at - now)  # the refused request's retry waits as long
        elif disposition.verdict is Verdict.SUCCESS:
            conn.pacer.on_accepted()
        return outcome.status, outcome.body, disposition, reset_s

    def _hold_after_refusal(
        self, conn: ConnectionRuntime, sent_at: float, reset_s: float, now: float
    ) -> float:
        """When a 429 lets the token send again: what the pacer makes of the server's reset
        the first time; while the refusals go on (a storm), at least the reset and the
        exponential backoff from now, so a token that Pinterest keeps refusing is probed ever
        more gently instead of at full pace. Requests sent before the current hold was decided
        were refused for the same reason: they do not escalate it."""
        hold_at, streak = conn.pacer.on_refused(sent_at=sent_at, reset_s=reset_s, now=now)
        if streak <= 1:
            return hold_at
        return max(hold_at, now + max(reset_s, self._backoff.delay_s(streak - 1, self._rng)))

    def _apply_token_verdict(self, flight: Flight, verdict: Verdict, now: float) -> None:
        if verdict in (Verdict.REFRESH, Verdict.INVALIDATE):
            flight.conn.token.on_unauthorized(
                sent_with=flight.sent_with, refreshable=verdict is Verdict.REFRESH, now=now
            )

    def _retry_at(self, verdict: Verdict, attempts: int, reset_s: float, now: float) -> float:
        delays = {
            Verdict.WAIT_RESET: reset_s,
            Verdict.SLOW_RETRY: self.config.slow_retry_s,
        }
        if verdict is Verdict.BACKOFF:
            return now + self._backoff.delay_s(attempts, self._rng)
        return now + delays.get(verdict, 0.0)

    def _on_batch(
        self,
        flight: Flight,
        status: int,
        body: bytes,
        disposition: Disposition,
        reset_s: float,
        now: float,
    ) -> None:
        target, batch = flight.target, flight.batch
        assert target is not None and batch is not None
        if disposition.verdict is Verdict.SUCCESS:
            flight.conn.token.on_success(flight.sent_with)
            target.reason = Reason.NONE
            target.outstanding -= 1
            self._users.mark_synced(batch.users, batch.fresh, status, now, self._tallies)
            return
        self._users.note_attempts(batch.users, status, disposition.reason)
        batch.fresh = False
        self._apply_token_verdict(flight, disposition.verdict, now)
        if disposition.verdict is Verdict.SPLIT:
            self._split(target, batch, now)
            return
        if disposition.verdict is Verdict.BACKOFF:
            batch.attempts += 1
        batch.retry_at = self._retry_at(disposition.verdict, batch.attempts, reset_s, now)
        if disposition.verdict is Verdict.SLOW_RETRY:
            target.blocked_until = max(target.blocked_until, batch.retry_at)
            target.reason = disposition.reason
        target.waiting.append(batch)

    def _split(self, target: Target, batch: Batch, now: float) -> None:
        if len(batch) == 1:
            index = batch.users[0]
            runtime = self._step_list[self._users.step[index]]
            self._users.resolve(index, UserState.ERRORED, now, runtime.tally)
            target.outstanding -= 1
            return
        for part in batch.split():
            part.retry_at = now
            target.waiting.append(part)
        target.outstanding += 1

    def _on_provision(
        self,
        flight: Flight,
        status: int,
        body: bytes,
        disposition: Disposition,
        reset_s: float,
        now: float,
    ) -> None:
        target = flight.target
        assert target is not None
        target.prov_in_flight = False
        provisioner = target.provisioner
        if disposition.verdict is Verdict.SUCCESS:
            try:
                provisioner.on_success(body)
            except PeerError:
                disposition = Disposition(Verdict.BACKOFF, Reason.SERVER_ERROR)
            else:
                flight.conn.token.on_success(flight.sent_with)
                target.prov_attempts = 0
                target.reason = Reason.NONE
                if provisioner.stage is Stage.NOT_FOUND:
                    target.reason = Reason.AUDIENCE_DELETED
                    target.due_at = now + self.config.slow_retry_s
                return
        self._apply_token_verdict(flight, disposition.verdict, now)
        if disposition.verdict is not Verdict.WAIT_RESET:
            provisioner.on_unknown_fate()
        if disposition.verdict is Verdict.BACKOFF:
            target.prov_attempts += 1
        verdict = (
            Verdict.SLOW_RETRY if disposition.verdict is Verdict.SPLIT else disposition.verdict
        )
        target.due_at = self._retry_at(verdict, target.prov_attempts, reset_s, now)
        target.reason = disposition.reason

    def _on_refresh(
        self,
        flight: Flight,
        status: int,
        body: bytes,
        disposition: Disposition,
        reset_s: float,
        now: float,
    ) -> None:
        conn = flight.conn
        conn.refresh_in_flight = False
        token = conn.token
        if token.status is TokenStatus.INVALID or flight.sent_with != token.access_token:
            return  # reconnected (or invalidated) meanwhile: that answer is moot
        verdict = disposition.verdict
        if verdict is Verdict.SUCCESS:
            try:
                pair = wire.parse_token(body)
            except PeerError:
                verdict = Verdict.BACKOFF
            else:
                self._on_new_tokens(flight, pair, now)
                return
        if verdict in (Verdict.BACKOFF, Verdict.WAIT_RESET):
            attempts = token.refresh_attempts + 1
            token.on_refresh_retry(self._retry_at(verdict, attempts, reset_s, now))
        else:
            token.on_refresh_refused()

    def _on_new_tokens(self, flight: Flight, pair: wire.TokenPair, now: float) -> None:
        """A refresh's tokens (the refresh token rotated if it gives one) and their expiry,
        counted from the send: the token was issued after it, so this errs early, never late."""
        lifetime = pair.expires_in  # in the server's seconds
        second = self.config.server_second_s
        expires_at = None if lifetime is None else flight.sent_at + lifetime * second
        flight.conn.token.on_refreshed(
            pair.access_token,
            pair.refresh_token,
            expires_at=expires_at,
            renewal=self._plan_renewal(expires_at, now),
        )
        self._watch_expiry(flight.conn, now)


_OnAnswer = Callable[[SyncEngine, Flight, int, bytes, Disposition, float, float], None]
_ON_ANSWER: Mapping[FlightKind, _OnAnswer] = {
    FlightKind.BATCH: SyncEngine._on_batch,
    FlightKind.PROVISION: SyncEngine._on_provision,
    FlightKind.REFRESH: SyncEngine._on_refresh,
}


def _in_entry_order(
    times: array[float],
    ids: list[str],
    emails: Sequence[str | None],
    maids: Sequence[str | None],
) -> tuple[list[str], Sequence[str | None], Sequence[str | None]]:
    """The users sorted by entry instant (stable); ``times`` is sorted in place. A no-op, bar
    one C-speed check, when they already are."""
    ordered = sorted(times)
    if times.tolist() == ordered:
        return ids, emails, maids
    order = sorted(range(len(times)), key=times.__getitem__)
    times[:] = array("d", ordered)
    return [ids[k] for k in order], [emails[k] for k in order], [maids[k] for k in order]
