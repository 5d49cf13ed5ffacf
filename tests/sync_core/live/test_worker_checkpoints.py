"""Checkpoints written off the loop (``Worker(open_store=…)``): every one lands, in order, and a
failed write stops the worker instead of letting it run on unsaved. Judged by the store and the
mock's list members."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from sync_core import SyncConfig
from sync_core.live.config import WorkerSettings
from sync_core.live.entries import Entry
from sync_core.live.store import SqliteStore, Store
from sync_core.live.worker import Worker
from tests.sync_core.live.world import email_of, live_mock, prepare, sha, wait_for

SYNC = SyncConfig(flush_interval_s=0.1, request_timeout_s=5.0)
SETTINGS = WorkerSettings(checkpoint_interval_s=0.05, poll_interval_s=0.02)


def _entries(first: int, count: int) -> list[Entry]:
    now = time.time()
    return [
        Entry("vip", f"user-{n}", email_of(f"user-{n}"), None, now)
        for n in range(first, first + count)
    ]


def _run_in_thread(
    path: Path, origin: str, open_store: Callable[[], Store]
) -> tuple[list[Worker], list[BaseException], threading.Thread]:
    """A worker in a thread with its own store (sqlite3 connections stay in their thread)."""
    holder: list[Worker] = []
    errors: list[BaseException] = []
    started = threading.Event()

    def body() -> None:
        store = SqliteStore(path)
        try:
            worker = Worker(
                store, origin, sync=SYNC, settings=SETTINGS, seed=1, open_store=open_store
            )
            worker.start()
            holder.append(worker)
            started.set()
            worker.run()
        except BaseException as error:  # the test thread looks at it
            errors.append(error)
        finally:
            started.set()
            store.close()

    thread = threading.Thread(target=body, name="live-worker")
    thread.start()
    started.wait(10)
    return holder, errors, thread


def test_worker_writes_every_checkpoint_from_its_writer_thread(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        prepare(store, mock)
        holder, errors, thread = _run_in_thread(path, mock.origin, lambda: SqliteStore(path))
        for chunk in range(4):
            store.append_entries(_entries(chunk * 40, 40))

        def settled() -> bool:
            saved = store.last_checkpoint()
            counters = None if saved is None else saved.counters.get("vip")
            return counters is not None and counters.synced == 160

        wait_for(settled, 15, "160 users synced in a checkpoint")
        holder[0].request_stop()
        thread.join(15)
        members = mock.members()
    assert not thread.is_alive() and not errors, errors
    saved = store.last_checkpoint()
    assert saved is not None and saved.entered_through == 160
    outcomes = list(store.outcomes())
    # written by several checkpoints, each starting where the last one ended
    assert [position for position, _ in outcomes] == list(range(160))
    synced = {sha(email_of(o.user_id)) for _, o in outcomes if o.outcome == "synced"}
    assert members == synced == {sha(email_of(f"user-{n}")) for n in range(160)}
    store.close()


class _BrokenStore:
    """A store whose checkpoints fail, as a full disk would."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def checkpoint(self, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        self._inner.close()


def test_worker_stops_when_its_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock() as mock:
        prepare(store, mock)
        holder, errors, thread = _run_in_thread(
            path, mock.origin, lambda: cast(Store, _BrokenStore(SqliteStore(path)))
        )
        store.append_entries(_entries(0, 10))
        thread.join(15)
        if thread.is_alive():  # it kept running on unsaved: stop it, then fail below
            holder[0].request_stop()
            thread.join(15)
    assert [type(e) for e in errors] == [OSError]
    with pytest.raises(OSError, match="disk full"):
        raise errors[0]
    store.close()
