"""The live worker refreshes tokens ahead of their expiry, on the wall clock against the mock on
a loopback socket, judged by the mock's request journal: no request answered 401."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sync_core import SyncConfig
from sync_core.live.config import WorkerSettings
from sync_core.live.entries import Entry
from sync_core.live.store import SqliteStore
from sync_core.live.worker import Worker
from tests.sync_core.live.world import email_of, live_mock, prepare, sha, wait_for

LIFETIME_S = 4.0  # the mock's access tokens live this long
# writes stop 1 s (the request timeout) before an expiry; the refresh comes a quarter of the
# 3 s to that instant before it, less the jitter: about every 2 s
SYNC = SyncConfig(flush_interval_s=0.2, request_timeout_s=1.0, refresh_lead_s=2.5)
SETTINGS = WorkerSettings(checkpoint_interval_s=0.1, poll_interval_s=0.02)
RUN_S = 7.0  # nearly two lifetimes of the first token


def test_the_live_worker_refreshes_ahead_of_expiry_and_never_meets_a_401(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = SqliteStore(path)
    with live_mock({"access_token_ttl_s": LIFETIME_S}) as mock:
        original = prepare(store, mock)
        assert original.expires_at is not None  # from the mint answer's expires_in
        assert abs(original.expires_at - (time.time() + LIFETIME_S)) < 1.0
        worker = _start_worker(path, mock.origin)
        entered = 0
        started = time.monotonic()
        while time.monotonic() - started < RUN_S:  # a user every 0.25 s: writes all along
            user = f"user-{entered}"
            store.append_entries([Entry("vip", user, email_of(user), None, time.time())])
            entered += 1
            time.sleep(0.25)
        wait_for(lambda: _settled(store, entered), 10, f"{entered} users settled")
        worker.stop()
        journal = mock.journal()
        members = mock.members()
    assert [r for r in journal if r["status"] == 401] == []
    refreshes = [r for r in journal if r["path"] == "/v5/oauth/token"]
    assert len(refreshes) >= 2 and all(r["status"] == 200 for r in refreshes)
    (saved,) = store.connections()
    assert saved.refresh_token != original.refresh_token  # rotated, and saved
    assert saved.expires_at is not None and saved.expires_at > original.expires_at
    assert members == {sha(email_of(f"user-{n}")) for n in range(entered)}
    store.close()


class _Running:
    """A worker in a thread with its own store (sqlite3 connections stay in their thread)."""

    def __init__(self, path: Path, origin: str) -> None:
        self.errors: list[BaseException] = []
        self.holder: list[Worker] = []
        started = threading.Event()

        def body() -> None:
            own = SqliteStore(path)
            try:
                worker = Worker(own, origin, sync=SYNC, settings=SETTINGS, seed=1)
                worker.start()
                self.holder.append(worker)
                started.set()
                worker.run()
            except BaseException as error:  # surfaced by ``stop``
                self.errors.append(error)
                started.set()
            finally:
                own.close()

        self.thread = threading.Thread(target=body, name="live-worker")
        self.thread.start()
        started.wait(10)

    def stop(self) -> None:
        for worker in self.holder:
            worker.request_stop()
        self.thread.join(15)
        assert not self.thread.is_alive() and not self.errors, self.errors


def _start_worker(path: Path, origin: str) -> _Running:
    return _Running(path, origin)


def _settled(store: SqliteStore, entered: int) -> bool:
    saved = store.last_checkpoint()
    if saved is None or "vip" not in saved.counters:
        return False
    counters = saved.counters["vip"]
    return counters.entered == entered and counters.pending == 0
