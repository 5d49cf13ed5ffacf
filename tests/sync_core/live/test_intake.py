"""The intake: what Canvas may hand in, what it is told, and that nothing half-lands."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app

from sync_core.live.entries import MAX_PROBLEMS, Entry
from sync_core.live.intake import PerThreadSink, create_intake_app

KEY = "k3y-for-tests"
NOW = 1_767_225_600.0
URL = "/v1/steps/vip/entries"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET_EMAIL = "Secret.Person@Example.com"


class FakeStore:
    """Keeps appended batches in memory; ``fail`` makes the next append raise."""

    def __init__(self) -> None:
        self.batches: list[list[Entry]] = []
        self.fail = False

    def append_entries(self, entries: Sequence[Entry]) -> int:
        if self.fail:
            raise OSError("disk full")
        self.batches.append(list(entries))
        return sum(map(len, self.batches))

    @property
    def entries(self) -> list[Entry]:
        return [e for batch in self.batches for e in batch]


def make_app(store: Any, *, max_body_bytes: int = 64 * 1024) -> Flask:
    return create_intake_app(
        store, api_key=KEY, step_ids={"vip"}, max_body_bytes=max_body_bytes, clock=lambda: NOW
    )


def post(
    app: Flask, document: object, *, url: str = URL, headers: dict[str, str] | None = None
) -> TestResponse:
    return app.test_client().post(url, json=document, headers=AUTH if headers is None else headers)


def test_intake_accepts_entries_and_reports_the_last_sequence_number() -> None:
    store = FakeStore()
    app = make_app(store)
    first = post(app, {"entries": [{"user_id": "u1", "email": "a@x.com"}]})
    document = {
        "entries": [
            {"user_id": "u2", "maid": "m-2", "entered_at": NOW - 30},
            {"user_id": "u3", "email": None, "maid": None, "entered_at": None},
        ]
    }
    second = post(app, document)
    assert (first.status_code, first.get_json()) == (202, {"accepted": 1, "through": 1})
    assert (second.status_code, second.get_json()) == (202, {"accepted": 2, "through": 3})
    assert store.entries == [
        Entry("vip", "u1", "a@x.com", None, NOW),
        Entry("vip", "u2", None, "m-2", NOW - 30),
        Entry("vip", "u3", None, None, NOW),
    ]
    assert [len(b) for b in store.batches] == [1, 2]  # one append per request


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": "Basic " + KEY},
    ],
)
def test_intake_refuses_a_missing_or_wrong_key(headers: dict[str, str]) -> None:
    store = FakeStore()
    answer = post(make_app(store), {"entries": [{"user_id": "u1"}]}, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert KEY not in answer.get_data(as_text=True)
    assert store.batches == []


def test_intake_answers_404_for_an_unknown_step_only_to_a_caller_with_the_key() -> None:
    app = make_app(FakeStore())
    url = "/v1/steps/nope/entries"
    assert post(app, {"entries": [{"user_id": "u"}]}, url=url).status_code == 404
    assert post(app, {"entries": [{"user_id": "u"}]}, url=url, headers={}).status_code == 401


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_intake_refuses_an_oversize_body_before_reading_it() -> None:
    store = FakeStore()
    app = make_app(store, max_body_bytes=1000)
    environ = EnvironBuilder(
        path=URL, method="POST", headers=list(AUTH.items()), content_type="application/json"
    ).get_environ()
    environ["wsgi.input"] = Unreadable()
    environ["CONTENT_LENGTH"] = "1001"
    chunks, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413 ")
    assert json.loads(b"".join(chunks))["error"] == "too_large"
    assert store.batches == []


def test_intake_stops_reading_an_undeclared_body_at_the_limit() -> None:
    store = FakeStore()
    app = make_app(store, max_body_bytes=1000)
    body = json.dumps({"entries": [{"user_id": f"u{k}"} for k in range(200)]}).encode()
    environ = EnvironBuilder(
        path=URL, method="POST", headers=list(AUTH.items()), content_type="application/json"
    ).get_environ()
    environ["wsgi.input"] = io.BytesIO(body)
    environ.pop("CONTENT_LENGTH", None)  # chunked: the length is only known by reading
    environ["wsgi.input_terminated"] = True
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413 ")
    assert store.batches == []


def test_intake_names_every_bad_entry_and_stores_none_of_the_request() -> None:
    store = FakeStore()
    entries: list[object] = [
        {"user_id": "ok-1", "email": SECRET_EMAIL},
        {"email": SECRET_EMAIL},
        {"user_id": "ok-2"},
        {"user_id": 7},
        {"user_id": "u", "email": 5},
        {"user_id": "u", "entered_at": NOW + 60},
        {"user_id": "u", "entered_at": "yesterday"},
        {"user_id": "u", "userId": SECRET_EMAIL},
        {"user_id": "u", SECRET_EMAIL: 1},
        SECRET_EMAIL,
        {"user_id": ""},
        {"user_id": "u", "maid": "m" * 257},
    ]
    answer = post(make_app(store), {"entries": entries})
    body = answer.get_json()
    assert answer.status_code == 422
    assert [(p["path"], p["reason"]) for p in body["problems"]] == [
        ("entries[1].user_id", "missing"),
        ("entries[3].user_id", "not a string"),
        ("entries[4].email", "not a string or null"),
        ("entries[5].entered_at", "in the future"),
        ("entries[6].entered_at", "not a number or null"),
        ("entries[7].userId", "unknown field"),
        ("entries[8]", "unknown field"),
        ("entries[9]", "not an object"),
        ("entries[10].user_id", "empty"),
        ("entries[11].maid", "longer than 256 characters"),
    ]
    assert body["invalid"] == 10
    assert body["message"].startswith("entries[1].user_id: missing; entries[3].user_id")
    assert SECRET_EMAIL.lower() not in answer.get_data(as_text=True).lower()
    assert store.batches == []


def test_intake_names_the_first_problems_and_counts_the_rest() -> None:
    answer = post(make_app(FakeStore()), {"entries": [{}] * (MAX_PROBLEMS + 5)})
    body = answer.get_json()
    assert (answer.status_code, body["invalid"]) == (422, MAX_PROBLEMS + 5)
    assert len(body["problems"]) == MAX_PROBLEMS
    assert body["message"].endswith("; and 5 more")


@pytest.mark.parametrize(
    ("document", "path", "reason"),
    [
        ([{"user_id": "u"}], "body", "not an object"),
        ({}, "entries", "missing"),
        ({"entries": []}, "entries", "empty"),
        ({"entries": {"user_id": "u"}}, "entries", "not a list"),
        ({"entries": [{"user_id": "u"}], "step": "vip"}, "body.step", "unknown field"),
    ],
)
def test_intake_refuses_a_document_of_the_wrong_shape(
    document: object, path: str, reason: str
) -> None:
    store = FakeStore()
    answer = post(make_app(store), document)
    assert answer.status_code == 422
    assert answer.get_json()["problems"] == [{"path": path, "reason": reason}]
    assert store.batches == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"entries": [', "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b'{"entries": [{"user_id": "u"}]}', "text/plain", 415),
    ],
)
def test_intake_refuses_a_body_that_is_not_json(
    body: bytes, content_type: str, status: int
) -> None:
    store = FakeStore()
    app = make_app(store, max_body_bytes=1_000_000)
    answer = app.test_client().post(URL, data=body, content_type=content_type, headers=AUTH)
    assert answer.status_code == status
    assert answer.is_json
    assert store.batches == []


def test_intake_clamps_a_slightly_early_clock_and_keeps_past_instants() -> None:
    store = FakeStore()
    document = {
        "entries": [{"user_id": "a", "entered_at": NOW + 0.5}, {"user_id": "b", "entered_at": 5}]
    }
    assert post(make_app(store), document).status_code == 202
    assert [e.entered_at for e in store.entries] == [NOW, 5.0]


def test_intake_acknowledges_nothing_when_the_store_fails() -> None:
    store = FakeStore()
    store.fail = True
    answer = post(make_app(store), {"entries": [{"user_id": "u1", "email": SECRET_EMAIL}]})
    assert answer.status_code == 500
    assert "accepted" not in answer.get_json()
    assert SECRET_EMAIL not in answer.get_data(as_text=True)


def test_intake_answers_json_for_a_wrong_method() -> None:
    answer = make_app(FakeStore()).test_client().get(URL, headers=AUTH)
    assert (answer.status_code, answer.get_json()["error"]) == (405, "method_not_allowed")


_text = st.text(max_size=40)
_entry = st.fixed_dictionaries(
    {"user_id": st.text(min_size=1, max_size=40)},
    optional={
        "email": st.none() | _text,
        "maid": st.none() | _text,
        "entered_at": st.none()
        | st.floats(min_value=0, max_value=NOW)
        | st.integers(min_value=0, max_value=int(NOW)),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_entry, min_size=1, max_size=30))
def test_intake_stores_exactly_what_was_sent(entries: list[dict[str, Any]]) -> None:
    store = FakeStore()
    answer = post(make_app(store), {"entries": entries})
    assert answer.get_json() == {"accepted": len(entries), "through": len(entries)}
    expected = [
        Entry(
            "vip",
            e["user_id"],
            e.get("email"),
            e.get("maid"),
            NOW if e.get("entered_at") is None else e["entered_at"],
        )
        for e in entries
    ]
    assert store.entries == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(_entry, min_size=1, max_size=30), st.data())
def test_intake_lands_nothing_when_any_entry_is_bad(
    entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    store = FakeStore()
    bad = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(st.sampled_from(["user_id", "email", "maid", "entered_at"]))
    entries[bad] = entries[bad] | {field: data.draw(st.sampled_from([[], {}, True, -1.0]))}
    if field in ("email", "maid") and entries[bad][field] == -1.0:
        entries[bad][field] = 3  # a number is never a string
    answer = post(make_app(store), {"entries": entries})
    assert answer.status_code == 422
    assert answer.get_json()["problems"][0]["path"] == f"entries[{bad}].{field}"
    assert store.batches == []


def test_intake_appends_durably_into_the_sqlite_store(tmp_path: Path) -> None:
    from sync_core.live.store import SqliteStore

    path = tmp_path / "live.db"
    SqliteStore(path).close()  # the worker creates the store before the intake serves
    app = make_app(PerThreadSink(lambda: SqliteStore(path)))
    answers: list[int] = []

    def send(k: int) -> None:  # from other threads, as a threaded WSGI server would
        document = {"entries": [{"user_id": f"t{k}-{n}", "email": f"{n}@x.com"} for n in range(50)]}
        answers.append(post(app, document).get_json()["through"])

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = post(app, {"entries": [{"user_id": "late"}, {"user_id": None}]})
    assert refused.status_code == 422
    reopened = SqliteStore(path)  # a fresh connection reads only what was committed
    stored = reopened.entries_after(0, 1000)
    assert sorted(answers) == [50, 100, 150, 200]
    assert len(stored) == 200 and reopened.last_seq() == 200
    assert set(stored.user_ids) == {f"t{k}-{n}" for k in range(4) for n in range(50)}
    assert set(stored.step_ids) == {"vip"} and set(stored.entered_at) == {NOW}
    reopened.close()
