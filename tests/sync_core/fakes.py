"""A tiny in-memory Pinterest and a simulated-time driver, to test the engine end to end.

``FakePinterest.handle(request, now)`` answers one ``SendRequest`` the way Pinterest's v5 API
would for the endpoints the engine uses, and logs it. ``Fault`` rules script failures: a status
answered instead, or a transport failure after the request took effect (a lost answer).
``drive`` runs the engine against the fake in simulated time with a fixed latency.
It shares no code with ``sync_core``: a test of the engine against itself would prove nothing.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sync_core import (
    Connection,
    Idle,
    ResponseReceived,
    SendRequest,
    SyncEngine,
    TransportFailed,
    WaitUntil,
)

CLIENT_ID, CLIENT_SECRET = "app-1", "app-secret"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    t: float
    method: str
    path: str
    status: int
    token: str
    records: tuple[str, ...] = ()
    operation: str | None = None
    body: bytes | None = None


@dataclass(slots=True, kw_only=True)
class Fault:
    """Answer matching requests with ``status`` (or lose the answer: ``lost``) — at most
    ``count`` times, within ``[start, until)``. ``lost`` requests still take effect."""

    method: str | None = None
    path_contains: str = ""
    status: int = 500
    lost: str | None = None  # "timeout" | "connection": applied, but the answer never arrives
    count: int | None = None
    start: float = 0.0
    until: float = float("inf")
    headers: dict[str, str] = field(default_factory=dict)
    when: Callable[[SendRequest], bool] | None = None

    def matches(self, request: SendRequest, now: float) -> bool:
        return (
            (self.count is None or self.count > 0)
            and self.start <= now < self.until
            and (self.method is None or request.method == self.method)
            and self.path_contains in request.path
            and (self.when is None or self.when(request))
        )


@dataclass(slots=True)
class CustomerList:
    id: str
    name: str
    members: list[str] = field(default_factory=list)


class FakePinterest:
    def __init__(self, *, ad_accounts: tuple[str, ...] = ("111",), page_size_cap: int = 2):
        self.ad_accounts = set(ad_accounts)
        self.access_tokens = {"tok-1"}
        self.refresh_tokens = {"ref-1"}
        self.lists: dict[str, CustomerList] = {}
        self.audiences: list[dict[str, object]] = []
        self.deleted_lists: set[str] = set()
        self.faults: list[Fault] = []
        self.log: list[LogEntry] = []
        self.page_size_cap = page_size_cap  # small pages make the engine follow bookmarks
        self.bad_records: set[str] = set()
        self._ids = itertools.count(1000)
        self._tokens = itertools.count(2)

    # -- set-up helpers --------------------------------------------------------------------

    def connection(self, *, expires_at: float | None = None) -> Connection:
        """The connection "ws" holding the first tokens this fake issued, for its accounts."""
        return Connection(
            id="ws",
            access_token="tok-1",
            refresh_token="ref-1",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            ad_account_ids=frozenset(self.ad_accounts),
            expires_at=expires_at,
        )

    def add_audience(self, name: str, members: tuple[str, ...] = ()) -> str:
        list_id = self._new_list(name)
        self.lists[list_id].members.extend(members)
        self.audiences.append(
            {"id": str(next(self._ids)), "name": name, "rule": {"customer_list_id": list_id}}
        )
        return list_id

    def members_of(self, audience_name: str) -> list[str]:
        for audience in self.audiences:
            if audience["name"] == audience_name:
                rule = audience["rule"]
                assert isinstance(rule, dict)
                return self.lists[rule["customer_list_id"]].members
        raise KeyError(audience_name)

    def revoke(self) -> None:
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def issue(self) -> tuple[str, str]:
        n = next(self._tokens)
        access, refresh = f"tok-{n}", f"ref-{n}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return access, refresh

    def requests(self, method: str, fragment: str = "") -> list[LogEntry]:
        return [e for e in self.log if e.method == method and fragment in e.path]

    # -- serving ---------------------------------------------------------------------------

    def handle(self, request: SendRequest, now: float) -> ResponseReceived | TransportFailed:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        fault = next((f for f in self.faults if f.matches(request, now)), None)
        if fault is not None and fault.count is not None:
            fault.count -= 1
        body: object
        if fault is not None and fault.lost is None:
            status, body, headers = fault.status, {"code": 0, "message": "fault"}, fault.headers
        else:
            status, body, headers = self._serve(request, token)
        records, operation = _records_of(request)
        self.log.append(
            LogEntry(
                t=now,
                method=request.method,
                path=request.path,
                status=status,
                token=token,
                records=records,
                operation=operation,
                body=request.body,
            )
        )
        if fault is not None and fault.lost is not None:
            return TransportFailed(
                request.request_id, "timeout" if fault.lost == "timeout" else "connection"
            )
        payload = json.dumps(body).encode() if body is not None else b""
        return ResponseReceived(request.request_id, status, headers, payload)

    def _serve(self, request: SendRequest, token: str) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/v5/oauth/token":
            return self._refresh(request)
        if token not in self.access_tokens:
            return 401, {"code": 2, "message": "Authentication failed."}, {}
        if len(parts) < 3 or parts[2] not in self.ad_accounts:
            return 404, {"code": 2, "message": "AdAccount not found."}, {}
        body = json.loads(request.body) if request.body else {}
        query = parse_qs(url.query)
        route = (request.method, len(parts), parts[3] if len(parts) > 3 else "")
        handlers: dict[tuple[str, int, str], Callable[[], tuple[int, object]]] = {
            ("GET", 4, "audiences"): lambda: self._page(self.audiences, query),
            ("GET", 4, "customer_lists"): lambda: self._page(self._list_items(), query),
            ("POST", 4, "customer_lists"): lambda: self._create_list(body),
            ("POST", 4, "audiences"): lambda: self._create_audience(body),
            ("PATCH", 5, "customer_lists"): lambda: self._patch(parts[4], body),
        }
        status, answer = handlers[route]()
        return status, answer, {"x-ratelimit-remaining": "5", "x-ratelimit-reset": "1"}

    def _refresh(self, request: SendRequest) -> tuple[int, object, dict[str, str]]:
        basic = request.headers["authorization"].removeprefix("Basic ")
        assert base64.b64decode(basic).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs((request.body or b"").decode())
        assert form["grant_type"] == ["refresh_token"]
        if form["refresh_token"][0] not in self.refresh_tokens:
            return 400, {"code": 1, "message": "Invalid refresh token."}, {}
        self.refresh_tokens.discard(form["refresh_token"][0])
        access, refresh = self.issue()
        return 200, {"access_token": access, "refresh_token": refresh, "token_type": "bearer"}, {}

    def _page(
        self, items: list[dict[str, object]], query: dict[str, list[str]]
    ) -> tuple[int, object]:
        start = int(query.get("bookmark", ["0"])[0])
        size = min(int(query["page_size"][0]), self.page_size_cap)
        end = start + size
        bookmark = str(end) if end < len(items) else None
        return 200, {"items": items[start:end], "bookmark": bookmark}

    def _list_items(self) -> list[dict[str, object]]:
        return [{"id": cl.id, "name": cl.name} for cl in self.lists.values()]

    def _new_list(self, name: str) -> str:
        list_id = str(next(self._ids))
        self.lists[list_id] = CustomerList(list_id, name)
        return list_id

    def _create_list(self, body: dict[str, object]) -> tuple[int, object]:
        assert isinstance(body["records"], str)
        list_id = self._new_list(str(body["name"]))
        return 201, {"id": list_id, "name": body["name"], "type": "customerlist"}

    def _create_audience(self, body: dict[str, object]) -> tuple[int, object]:
        assert body["audience_type"] == "CUSTOMER_LIST"
        audience = {"id": str(next(self._ids)), "name": body["name"], "rule": body["rule"]}
        self.audiences.append(audience)
        return 201, audience

    def _patch(self, list_id: str, body: dict[str, object]) -> tuple[int, object]:
        records = body["records"]
        if list_id in self.deleted_lists or list_id not in self.lists:
            return 404, {"code": 2, "message": "Customer list not found."}
        if not isinstance(records, str) or self.bad_records & set(records.split(",")):
            return 400, {"code": 1, "message": "Invalid parameters."}
        members = self.lists[list_id].members
        if body["operation_type"] == "ADD":
            members.extend(records.split(","))
        else:
            gone = set(records.split(","))
            members[:] = [m for m in members if m not in gone]
        return 200, {"id": list_id}


def _records_of(request: SendRequest) -> tuple[tuple[str, ...], str | None]:
    if request.method != "PATCH" or not request.body:
        return (), None
    body = json.loads(request.body)
    return tuple(body["records"].split(",")), body["operation_type"]


Arrivals = list[tuple[float, Callable[[SyncEngine, float], None]]]


class Driver:
    """Runs the engine against the fake in simulated time with a fixed latency. ``events`` are
    (time, callback(engine, now)) inputs such as entries or reconnects. Lost answers are
    reported as failed once the request's timeout has passed."""

    def __init__(
        self,
        engine: SyncEngine,
        fake: FakePinterest,
        *,
        latency_s: float = 0.05,
        events: Arrivals | None = None,
    ) -> None:
        self.engine, self.fake, self.latency_s = engine, fake, latency_s
        self.inputs = sorted(events or [], key=lambda e: e[0])
        self.answers: list[tuple[float, int, ResponseReceived | TransportFailed]] = []
        self.seq = itertools.count()
        self.now = 0.0

    def run(self, until: float) -> float:
        """Advance until ``until`` or until nothing is left to do; returns the last instant."""
        while True:
            self._step(self.now)
            upcoming = [self._wake]
            if self.answers:
                upcoming.append(self.answers[0][0])
            if self.inputs:
                upcoming.append(self.inputs[0][0])
            nxt = min(upcoming)
            if nxt == float("inf") or nxt > until:
                return self.now
            self.now = nxt

    def _step(self, now: float) -> None:
        engine = self.engine
        while self.inputs and self.inputs[0][0] <= now:
            self.inputs.pop(0)[1](engine, now)
        while self.answers and self.answers[0][0] <= now:
            engine.receive(heapq.heappop(self.answers)[2], now)
        action = engine.next_action(now)
        while isinstance(action, SendRequest):
            outcome = self.fake.handle(action, now)
            delay = action.timeout_s if isinstance(outcome, TransportFailed) else self.latency_s
            heapq.heappush(self.answers, (now + delay, next(self.seq), outcome))
            action = engine.next_action(now)
        assert isinstance(action, (WaitUntil, Idle))
        self._wake = action.at if isinstance(action, WaitUntil) else float("inf")
        assert self._wake > now, "WaitUntil must be in the future"


def drive(
    engine: SyncEngine,
    fake: FakePinterest,
    *,
    until: float,
    latency_s: float = 0.05,
    events: Arrivals | None = None,
) -> float:
    """One-shot ``Driver(...).run(until)``."""
    return Driver(engine, fake, latency_s=latency_s, events=events).run(until)
