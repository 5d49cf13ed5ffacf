"""The live worker against the mock on a real loopback socket, judged by the mock's own state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sync_core import Connection, SyncConfig
from sync_core.live.config import WorkerSettings
from sync_core.live.entries import Entry
from sync_core.live.store import SqliteStore
from sync_core.live.worker import Worker, normalise_api_base
from sync_core.preflight import EntryProfile, Flow
from tests.sync_core.live.world import (
    STEP,
    LiveMock,
    email_of,
    live_mock,
    prepare,
    sha,
    wait_for,
)

SYNC = SyncConfig(flush_interval_s=0.2, request_timeout_s=5.0)
SETTINGS = WorkerSettings(checkpoint_interval_s=0.1, poll_interval_s=0.02)


def entries(first: int, count: int, step_id: str = "vip") -> list[Entry]:
    import time

    now = time.time()
    return [
        Entry(step_id, f"user-{n}", email_of(f"user-{n}"), None, now)
        for n in range(first, first + count)
    ]


@contextmanager
def running_worker(path: Path, origin: str) -> Iterator[list[Worker]]:
    """A worker in a thread with its own store (sqlite3 connections stay in their thread)."""
    started = threading.Event()
    holder: list[Worker] = []
    errors: list[BaseException] = []

    def body() -> None:
        store = SqliteStore(path)
        try:
            worker = Worker(store, origin, sync=SYNC, settings=SETTINGS, seed=1)
            worker.start()
            holder.append(worker)
            started.set()
            worker.run()
        except BaseException as error:  # surfaced by the test thread below
            errors.append(error)
            started.set()
        finally:
            store.close()

    thread = threading.Thread(target=body, name="live-worker")
    thread.start()
    started.wait(10)
    try:
        assert not errors, errors
        yield holder
    finally:
        for worker in holder:
            worker.request_stop()
        thread.join(15)
        assert not thread.is_alive()
        assert not errors, errors


def settled(store: SqliteStore, entered: int) -> bool:
    saved = store.last_checkpoint()
    if saved is None or "vip" not in saved.counters:
        return False
    counters = saved.counters["vip"]
    return counters.entered == entered and counters.pending == 0


def synced_digests(store: SqliteStore) -> set[str]:
    return {sha(email_of(o.user_id)) for _, o in store.outcomes() if o.outcome == "synced"}


def test_worker_syncs_users_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        prepare(store, mock)
        with running_worker(path, mock.origin):
            for chunk in range(3):
                store.append_entries(entries(chunk * 50, 50))
            wait_for(lambda: settled(store, 150), 15, "150 users settled")
        members = mock.members()
        journal = mock.journal()
    saved = store.last_checkpoint()
    assert saved is not None and saved.entered_through == 150
    assert saved.counters["vip"].synced == 150
    outcomes = list(store.outcomes())
    assert [position for position, _ in outcomes] == list(range(150))
    assert {o.user_id for _, o in outcomes} == {f"user-{n}" for n in range(150)}
    assert members == {sha(email_of(f"user-{n}")) for n in range(150)} == synced_digests(store)
    patches = [r for r in journal if r["method"] == "PATCH" and r["status"] == 200]
    assert sum(r["records"] for r in patches) >= 150
    assert all(r["operation_type"] == "ADD" for r in patches)
    store.close()


def test_worker_saves_rotated_tokens_and_goes_on_with_them(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        original = prepare(store, mock)
        mock.admin("/_mock/faults", {"match": {"method": "PATCH"}, "status": 401, "count": 1})
        with running_worker(path, mock.origin):
            store.append_entries(entries(0, 20))
            wait_for(lambda: settled(store, 20), 15, "20 users settled")
        (saved,) = store.connections()
        journal = mock.journal()
        accepted = httpx.get(
            f"{mock.origin}/v5/ad_accounts",
            headers={"Authorization": f"Bearer {saved.access_token}"},
        )
        members = mock.members()
    assert saved.access_token != original.access_token
    assert saved.refresh_token != original.refresh_token  # the mock rotates refresh tokens
    assert accepted.status_code == 200  # what the store holds is what Pinterest accepts now
    refreshes = [r for r in journal if r["path"] == "/v5/oauth/token"]
    assert [r["status"] for r in refreshes] == [200]
    assert members == synced_digests(store) == {sha(email_of(f"user-{n}")) for n in range(20)}
    store.close()


def test_worker_skips_entries_of_unknown_steps_and_syncs_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        prepare(store, mock)
        with running_worker(path, mock.origin) as holder:
            store.append_entries(entries(0, 5, step_id="nope") + entries(5, 10))
            wait_for(lambda: settled(store, 10), 15, "10 users settled")
            assert holder[0].skipped == 5
        members = mock.members()
    saved = store.last_checkpoint()
    assert saved is not None and saved.entered_through == 15
    assert members == {sha(email_of(f"user-{n}")) for n in range(5, 15)}
    store.close()


def test_worker_picks_up_a_step_saved_while_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        prepare(store, mock)
        with running_worker(path, mock.origin):
            later = replace(STEP, id="later")
            store.save_steps([later])
            store.append_entries(entries(0, 10, step_id="later"))

            def later_settled() -> bool:
                saved = store.last_checkpoint()
                return (
                    saved is not None
                    and "later" in saved.counters
                    and (saved.counters["later"].synced == 10)
                )

            wait_for(later_settled, 15, "the new step's users synced")
        members = mock.members()
    assert members == {sha(email_of(f"user-{n}")) for n in range(10)}
    store.close()


def test_worker_api_base_accepts_the_banner_url() -> None:
    assert normalise_api_base("http://127.0.0.1:5000/v5/") == "http://127.0.0.1:5000"
    assert normalise_api_base("https://api.pinterest.com") == "https://api.pinterest.com"


def test_live_mock_helper_reads_members(tmp_path: Path) -> None:
    # The judge itself must be able to fail: an empty mock has no members.
    with live_mock() as mock:
        assert isinstance(mock, LiveMock) and mock.members() == set()


def test_worker_logs_the_preflight_per_connection_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    secret = "tok-preflight-secret"
    store.save_connection(
        Connection(
            id="workspace", access_token=secret, ad_account_ids=frozenset({STEP.ad_account_id})
        )
    )
    store.save_steps([STEP])
    expected = EntryProfile(flows=(Flow(step=STEP.id, rate_per_s=20_000.0, end_s=86_400.0),))
    worker = Worker(store, "http://127.0.0.1:9", sync=SyncConfig(), seed=1, expected=expected)
    with caplog.at_level(logging.INFO, logger="sync_core.live.worker"):
        worker.start()
    store.close()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("preflight ")]
    assert len(lines) == 1
    assert "connection=workspace steps=1" in lines[0]
    assert "load 20,000 of 13,039 records/s (153%)" in lines[0]  # 7 × 1,900 / 1.02
    assert "over capacity" in lines[0]
    assert secret not in caplog.text
