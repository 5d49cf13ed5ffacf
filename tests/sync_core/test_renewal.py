"""Refreshing an access token ahead of its expiry, in simulated time against the fake.

The truth is the fake's request log: which requests it answered 401, when each refresh was
sent and with which refresh token. The fake expires every access token it issues
``lifetime_s`` after issuing it and says so in ``expires_in``, as Pinterest does.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from sync_core import (
    AudienceRef,
    ResponseReceived,
    SendRequest,
    Step,
    SyncConfig,
    SyncEngine,
    TokenStatus,
    TransportFailed,
)
from sync_core.renewal import JITTER_SHARE, Renewal
from sync_core.wire import parse_token
from tests.sync_core.fakes import Driver, FakePinterest, Fault, LogEntry

H = 3600.0
LEAD = 300.0
TIMEOUT = 30.0  # SyncConfig's request timeout: the margin before an expiry
EARLIEST = LEAD + (LEAD - TIMEOUT) * JITTER_SHARE  # the most a refresh precedes the expiry


class ExpiringPinterest(FakePinterest):
    """The fake, with access tokens that die ``lifetime_s`` after they were issued (or at
    ``dies_at`` when a test makes one die early) and refresh answers that say ``expires_in``."""

    def __init__(self, lifetime_s: float, *, states_expiry: bool = True) -> None:
        super().__init__()
        self.lifetime_s = lifetime_s
        self.states_expiry = states_expiry
        self.dies_at: dict[str, float] = {"tok-1": lifetime_s}
        self.issued_at: dict[str, float] = {"tok-1": 0.0}
        self.now = 0.0

    def handle(self, request: SendRequest, now: float) -> ResponseReceived | TransportFailed:
        self.now = now
        self.access_tokens = {t for t in self.access_tokens if self.dies_at.get(t, 0.0) > now}
        return super().handle(request, now)

    def _refresh(self, request: SendRequest) -> tuple[int, object, dict[str, str]]:
        status, body, headers = super()._refresh(request)
        if status == 200:
            assert isinstance(body, dict)
            self.dies_at[body["access_token"]] = self.now + self.lifetime_s
            self.issued_at[body["access_token"]] = self.now
            if self.states_expiry:
                body["expires_in"] = round(self.lifetime_s)
        return status, body, headers

    def unauthorized(self) -> list[LogEntry]:
        return [e for e in self.log if e.status == 401]

    def refreshes(self) -> list[LogEntry]:
        return self.requests("POST", "/oauth/token")


def engine_for(
    fake: FakePinterest,
    *,
    expires_at: float | None,
    seed: int = 1,
    lead_s: float | None = LEAD,
    steps: bool = True,
) -> SyncEngine:
    engine = SyncEngine(SyncConfig(refresh_lead_s=lead_s), rng=random.Random(seed))
    engine.connect(fake.connection(expires_at=expires_at), 0.0)
    if steps:
        step = Step(id="s1", connection_id="ws", ad_account_id="111", audience=AudienceRef(new="V"))
        engine.launch([step], 0.0)
    return engine


def a_user_a_minute(until: float) -> list[tuple[float, Callable[[SyncEngine, float], None]]]:
    """One user entering every minute: writes go on all the time, so an expired token shows."""

    def enter(k: int) -> Callable[[SyncEngine, float], None]:
        return lambda engine, now: engine.enter("s1", f"u{k}", f"u{k}@example.com", None, now)

    return [(60.0 * k + 1.0, enter(k)) for k in range(int(until // 60))]


def refresh_token_sent(entry: LogEntry) -> str:
    form = dict(pair.split("=") for pair in (entry.body or b"").decode().split("&"))
    return form["refresh_token"]


def run(fake: ExpiringPinterest, engine: SyncEngine, until: float) -> Driver:
    driver = Driver(engine, fake, events=a_user_a_minute(until))
    driver.run(until)
    return driver


# -- the plan ----------------------------------------------------------------------------------


def test_the_lead_before_the_hold_is_at_most_a_quarter_of_the_time_to_it() -> None:
    # writes stop 30 s (the margin) before the expiry; the refresh is due 270 s before that
    assert Renewal.plan(3600.0, LEAD, TIMEOUT, 0.0) == Renewal(hold_at=3570.0, lead_s=270.0)
    # a 1-minute token: 30 s to the hold, a quarter of it before
    assert Renewal.plan(160.0, LEAD, TIMEOUT, 100.0) == Renewal(hold_at=130.0, lead_s=7.5)
    assert Renewal.plan(3600.0, 10.0, TIMEOUT, 0.0) == Renewal(hold_at=3570.0, lead_s=0.0)


def test_no_plan_without_an_expiry_or_a_lead() -> None:
    assert Renewal.plan(None, LEAD, TIMEOUT, 0.0) is None
    assert Renewal.plan(3600.0, 0.0, TIMEOUT, 0.0) is None
    assert Renewal.plan(3600.0, None, TIMEOUT, 0.0) is None


def test_the_jitter_is_drawn_once_when_its_window_opens() -> None:
    renewal = Renewal(hold_at=3570.0, lead_s=270.0)
    rng = random.Random(3)
    assert renewal.opens_at == 3570.0 - 270.0 * (1 + JITTER_SHARE)
    assert not renewal.draw(rng, renewal.opens_at - 1, 5.0)
    assert renewal.draw(rng, renewal.opens_at, 5.0)
    drawn = renewal.due_at
    assert drawn is not None and 3600.0 - 435.0 <= drawn <= 3600.0 - 300.0
    assert drawn % 5.0 == 0  # on a flush tick
    assert not renewal.draw(rng, 3500.0, 5.0) and renewal.due_at == drawn


def test_a_refresh_answer_states_its_lifetime_only_when_usable() -> None:
    body = {"access_token": "a", "refresh_token": "r", "expires_in": 3600}
    assert parse_token(json.dumps(body).encode()).expires_in == 3600.0
    for bad in ("3600", True, 0, -5, None):
        assert parse_token(json.dumps(body | {"expires_in": bad}).encode()).expires_in is None


# -- the engine --------------------------------------------------------------------------------


def test_a_token_of_known_expiry_is_refreshed_ahead_with_rotation_and_never_401s() -> None:
    fake = ExpiringPinterest(H)
    engine = engine_for(fake, expires_at=H)
    run(fake, engine, 6 * H)
    assert fake.unauthorized() == []
    refreshes = fake.refreshes()
    # each token lives an hour and is refreshed 300-435 s before its end: 6.5-6.9 a 6 h run
    assert [e.status for e in refreshes] == [200] * 6
    for n, entry in enumerate(refreshes, start=1):
        issued = fake.issued_at[f"tok-{n}"]  # the token it replaces
        assert H - EARLIEST <= entry.t - issued <= H - LEAD
    # rotation: each refresh sent the refresh token the one before it handed out
    assert [refresh_token_sent(e) for e in refreshes] == [f"ref-{n}" for n in range(1, 7)]
    patches = fake.requests("PATCH")
    assert all(e.t < fake.dies_at[e.token] for e in patches)
    # a refresh goes out after the flush tick's writes, never before them: none is late
    assert all(e.t % 5.0 == 0 for e in patches)
    assert all(e.t % 5.0 < 0.2 for e in refreshes)
    assert engine.counters("s1").synced == 360


def test_the_refresh_instant_comes_from_the_engines_rng() -> None:
    def first_refresh_at(seed: int) -> float:
        fake = ExpiringPinterest(H)
        engine = engine_for(fake, expires_at=H, seed=seed)
        run(fake, engine, H)
        return fake.refreshes()[0].t

    times = [first_refresh_at(seed) for seed in range(8)]
    assert first_refresh_at(0) == times[0]
    assert len(set(times)) >= 5  # 30 ticks in the jitter's 150 s
    assert all(H - EARLIEST <= t <= H - LEAD for t in times)


def test_no_second_refresh_while_one_is_in_flight_and_writes_hold_near_the_expiry() -> None:
    lead = 100.0
    engine = engine_for(FakePinterest(), expires_at=1000.0, lead_s=lead, steps=False)
    wait = engine.next_action(0.0)
    assert not isinstance(wait, SendRequest)
    refresh = engine.next_action(900.0)  # the latest it can be due: expiry - lead
    assert isinstance(refresh, SendRequest) and refresh.path == "/v5/oauth/token"
    for now in (900.0, 950.0, 975.0, 999.0):  # past the hold at 970: refreshing, in flight
        assert not isinstance(engine.next_action(now), SendRequest)
    assert engine.connection_status("ws") is TokenStatus.REFRESHING
    answer = json.dumps({"access_token": "tok-2", "refresh_token": "ref-2", "expires_in": 1000})
    engine.receive(ResponseReceived(refresh.request_id, 200, {}, answer.encode()), 999.5)
    assert engine.connection_status("ws") is TokenStatus.VALID
    assert engine.connection_tokens("ws") == ("tok-2", "ref-2")
    following = engine.timer()  # the next token's window: counted from the refresh's send
    hold = 900.0 + 1000.0 - TIMEOUT
    assert following == pytest.approx(hold - (lead - TIMEOUT) * (1 + JITTER_SHARE))


def test_a_refresh_failing_until_near_the_expiry_holds_the_writes_instead_of_a_401() -> None:
    fake = ExpiringPinterest(H)
    fake.faults.append(Fault(path_contains="/oauth/token", status=503, until=H + 120.0))
    engine = engine_for(fake, expires_at=H)
    run(fake, engine, 2 * H)
    assert fake.unauthorized() == []
    assert all(e.t < H - TIMEOUT for e in fake.requests("PATCH") if e.token == "tok-1")
    assert any(e.token == "tok-2" for e in fake.requests("PATCH"))
    assert engine.counters("s1").pending <= 1


def test_a_refused_refresh_ahead_keeps_the_token_until_it_expires_then_invalidates() -> None:
    fake = ExpiringPinterest(H)
    fake.refresh_tokens.clear()
    engine = engine_for(fake, expires_at=H)
    run(fake, engine, H - 100.0)
    assert [e.status for e in fake.refreshes()] == [400]
    assert engine.connection_status("ws") is TokenStatus.VALID
    run_on = Driver(engine, fake)
    run_on.now = H - 100.0
    run_on.run(2 * H)
    assert engine.connection_status("ws") is TokenStatus.INVALID
    assert fake.unauthorized() == []
    assert max(e.t for e in fake.requests("PATCH")) < H - TIMEOUT


def test_unknown_expiry_keeps_the_401_path_and_the_refresh_answer_teaches_the_expiry() -> None:
    fake = ExpiringPinterest(H)
    engine = engine_for(fake, expires_at=None)
    run(fake, engine, 4 * H)
    assert [e.token for e in fake.unauthorized()] == ["tok-1"]  # only the first token's expiry
    assert len(fake.refreshes()) == 4


@pytest.mark.parametrize("lead_s", [0.0, None])
def test_without_a_lead_every_expiry_costs_a_401(lead_s: float | None) -> None:
    fake = ExpiringPinterest(H)
    engine = engine_for(fake, expires_at=H, lead_s=lead_s)
    run(fake, engine, 4 * H)
    assert len(fake.unauthorized()) == len(fake.refreshes()) == 3


def test_a_token_that_dies_before_its_stated_expiry_takes_the_401_path() -> None:
    fake = ExpiringPinterest(H)
    fake.dies_at["tok-1"] = H / 2  # revoked early, say: the stated hour is wrong
    engine = engine_for(fake, expires_at=H)
    run(fake, engine, 2 * H)
    assert [e.token for e in fake.unauthorized()] == ["tok-1"]
    assert [e.status for e in fake.refreshes()] == [200, 200]
    assert engine.connection_status("ws") is TokenStatus.VALID


def test_restore_keeps_the_expiry_and_the_drawn_refresh_instant() -> None:
    def refreshes_at(crash_at: float | None) -> list[float]:
        fake = ExpiringPinterest(H)
        engine = engine_for(fake, expires_at=H)
        events = a_user_a_minute(3 * H)
        driver = Driver(engine, fake, events=events)
        if crash_at is not None:
            driver.run(crash_at)
            quiet = driver.now + 1.0  # past every answer: nothing is in flight
            driver = Driver(SyncEngine.restore(engine.snapshot(), random.Random(2)), fake)
            driver.inputs = [e for e in events if e[0] > quiet]
            driver.now = quiet
        driver.run(3 * H)
        assert fake.unauthorized() == []
        return [e.t for e in fake.refreshes()]

    # 3,200 s: the first token's jitter is drawn (from 3,165 s), its refresh not yet sent; the
    # restored engine's rng is in another state, so a jitter drawn again would differ
    straight = refreshes_at(None)
    assert straight[0] > 3200.0
    assert refreshes_at(3200.0)[0] == straight[0]
