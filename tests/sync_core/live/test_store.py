"""``SqliteStore``: round trips, a private file, atomic appends and checkpoints."""

from __future__ import annotations

import sqlite3
import stat
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from sync_core import Action, AudienceRef, Connection, Step, StepCounters, UserOutcome
from sync_core.live.entries import Entry
from sync_core.live.store import SqliteStore, StoredEntry, open_store

ACCESS, REFRESH, SECRET = "pina_access-secret", "pinr_refresh-secret", "client-secret-xyz"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = SqliteStore(tmp_path / "live.db")
    yield opened
    opened.close()


def entry(n: int, step_id: str = "vip") -> Entry:
    return Entry(step_id, f"user-{n}", f"u{n}@example.com", None, 1_700_000_000.0 + n)


def connection() -> Connection:
    return Connection(
        id="workspace",
        access_token=ACCESS,
        refresh_token=REFRESH,
        client_id="app-1",
        client_secret=SECRET,
        scopes=frozenset({"ads:read", "ads:write"}),
        ad_account_ids=frozenset({"549755885175", "1"}),
    )


def counters(entered: int) -> dict[str, StepCounters]:
    return {
        "vip": StepCounters(
            entered=entered,
            proceeded=entered,
            synced=entered,
            not_synced=0,
            pending=0,
            errored=0,
            exited=0,
        )
    }


def synced(user_id: str) -> UserOutcome:
    return UserOutcome(
        user_id=user_id,
        step_id="vip",
        entered_at=1.0,
        outcome="synced",
        outcome_at=2.0,
        attempts=1,
        last_status=200,
        reason=None,
    )


def test_store_file_is_private_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    opened = SqliteStore(path)
    opened.save_connection(connection())
    opened.append_entries([entry(1)])
    for name in ("live.db", "live.db-wal"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    opened.close()


def test_store_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    SqliteStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_store_connection_and_tokens_round_trip(store: SqliteStore) -> None:
    store.save_connection(connection())
    assert store.connections() == [connection()]
    store.save_tokens("workspace", "pina_new", "pinr_new")
    (saved,) = store.connections()
    assert (saved.access_token, saved.refresh_token) == ("pina_new", "pinr_new")
    assert saved.client_secret == SECRET
    with pytest.raises(KeyError):
        store.save_tokens("nobody", "a", "b")


def test_store_steps_round_trip(store: SqliteStore) -> None:
    steps = [
        Step(
            id="vip",
            connection_id="workspace",
            ad_account_id="1",
            audience=AudienceRef(new="VIP buyers"),
            match_fields=("email", "maid"),
        ),
        Step(
            id="lapsed",
            connection_id="workspace",
            ad_account_id="1",
            audience=AudienceRef(existing="Lapsed"),
            action=Action.REMOVE,
            last_step=True,
        ),
    ]
    store.save_steps(steps)
    assert sorted(store.steps(), key=lambda s: s.id) == sorted(steps, key=lambda s: s.id)


def test_store_append_numbers_entries_in_order(store: SqliteStore) -> None:
    assert store.last_seq() == 0
    assert store.append_entries([entry(1), entry(2)]) == 2
    assert store.append_entries([entry(3)]) == 3
    assert store.append_entries([]) == 3
    assert store.entries_after(0, 10).stored() == [
        StoredEntry(1, entry(1)),
        StoredEntry(2, entry(2)),
        StoredEntry(3, entry(3)),
    ]
    assert store.entries_after(1, 1).stored() == [StoredEntry(2, entry(2))]


def test_store_entries_come_in_columns_split_by_step_in_order(store: SqliteStore) -> None:
    store.append_entries([entry(1, "a"), entry(2, "b"), entry(3, "a"), entry(4, "b")])
    batch = store.entries_after(0, 10)
    assert list(batch.user_ids) == ["user-1", "user-2", "user-3", "user-4"]
    split = {step: list(group.user_ids) for step, group in batch.by_step()}
    assert split == {"a": ["user-1", "user-3"], "b": ["user-2", "user-4"]}
    assert [s for s, _ in batch.by_step()] == ["a", "b"]
    assert len(store.entries_after(4, 10)) == 0


def test_store_append_is_all_or_none(store: SqliteStore) -> None:
    store.append_entries([entry(1)])
    broken = Entry("vip", cast(str, None), None, None, 1.0)  # NOT NULL fails on row 3
    with pytest.raises(sqlite3.IntegrityError):
        store.append_entries([entry(2), entry(3), broken, entry(4)])
    assert store.last_seq() == 1
    assert [s.entry for s in store.entries_after(0, 10).stored()] == [entry(1)]
    assert store.append_entries([entry(5)]) == 2


def test_store_entries_are_seen_by_another_connection(tmp_path: Path) -> None:
    writer, reader = SqliteStore(tmp_path / "x.db"), SqliteStore(tmp_path / "x.db")
    writer.append_entries([entry(1), entry(2)])
    assert list(reader.entries_after(0, 10).seqs) == [1, 2]
    writer.close()
    reader.close()


def test_store_checkpoint_round_trip_with_outcomes(store: SqliteStore) -> None:
    assert store.last_checkpoint() is None
    store.checkpoint(
        b"blob-1",
        2,
        taken_at=10.0,
        counters=counters(2),
        outcomes=[(0, synced("a")), (1, synced("b"))],
        outcomes_through=2,
    )
    store.checkpoint(
        b"blob-2",
        3,
        taken_at=11.0,
        counters=counters(3),
        outcomes=[(2, synced("c"))],
        outcomes_through=3,
    )
    saved = store.last_checkpoint()
    assert saved is not None
    assert (saved.snapshot, saved.entered_through, saved.outcomes_through) == (b"blob-2", 3, 3)
    assert saved.taken_at == 11.0
    assert saved.counters == counters(3)
    assert [(p, o.user_id) for p, o in store.outcomes()] == [(0, "a"), (1, "b"), (2, "c")]
    assert next(iter(store.outcomes()))[1] == synced("a")


def test_store_checkpoint_is_one_transaction(store: SqliteStore) -> None:
    store.checkpoint(b"old", 1, taken_at=1.0, counters=counters(1), outcomes_through=0)
    bad = replace(synced("u"), user_id=cast(str, None))
    with pytest.raises(sqlite3.IntegrityError):
        store.checkpoint(
            b"new",
            5,
            taken_at=2.0,
            counters=counters(5),
            outcomes=[(0, synced("a")), (1, bad)],
            outcomes_through=2,
        )
    saved = store.last_checkpoint()
    assert saved is not None and (saved.snapshot, saved.entered_through) == (b"old", 1)
    assert list(store.outcomes()) == []


def test_store_survives_reopening(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "x.db")
    first.save_connection(connection())
    first.append_entries([entry(1)])
    first.checkpoint(b"blob", 1, taken_at=3.0, counters=counters(1))
    first.close()
    again = SqliteStore(tmp_path / "x.db")
    assert again.connections() == [connection()]
    assert again.last_seq() == 1
    saved = again.last_checkpoint()
    assert saved is not None and saved.snapshot == b"blob"
    again.close()


def test_store_reprs_hold_no_secret(store: SqliteStore) -> None:
    store.save_connection(connection())
    store.checkpoint(ACCESS.encode(), 0, taken_at=1.0, counters={})
    shown = " ".join((repr(store), repr(store.connections()), repr(store.last_checkpoint())))
    for secret in (ACCESS, REFRESH, SECRET):
        assert secret not in shown


def test_many_threads_may_open_a_new_store_at_once(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for attempt in range(5):  # the race is for the first open of a new file: try a few
        path = tmp_path / f"new-{attempt}.db"
        ready = threading.Barrier(16)

        def open_store(path: Path = path, ready: threading.Barrier = ready) -> None:
            try:
                ready.wait()
                store = SqliteStore(path)
                store.append_entries([Entry("s", "u", None, None, 0.0)])
                store.close()
            except BaseException as error:  # reported below, with the thread's own error
                errors.append(error)

        threads = [threading.Thread(target=open_store) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_a_store_that_cannot_be_opened_is_one_line_for_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert open_store(tmp_path / "missing" / "live.db", "pinsim live run") is None
    err = capsys.readouterr().err
    assert err.startswith("pinsim live run: error: ") and "live.db" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("plain text, not SQLite\n" * 100)
    assert open_store(not_a_database, "pinsim live run") is None
    assert "notes.db" in capsys.readouterr().err
