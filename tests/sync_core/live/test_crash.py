"""Crash safety: the worker, a real subprocess, is killed with SIGKILL at random instants while
entries flow and is restarted from the same store each time.

Judged by: the store's entries (what was accepted), each checkpoint restored by the test itself,
and the mock's list members and journal (the independent truth). At every restart: the
checkpoint has entered exactly the entries up to its watermark, its counters conserve, and
everyone it counts synced is a member at Pinterest. At the end: every accepted user entered
once, none lost, none twice, and the members are exactly the users counted synced.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sync_core import SyncEngine
from sync_core.live.entries import Entry
from sync_core.live.store import SqliteStore
from tests.sync_core.live.world import LiveMock, email_of, live_mock, prepare, sha, wait_for

KILLS = 22
SEED = 20260612
CONFIG = """
[sync]
flush_interval_s = 0.2
request_timeout_s = 5.0

[worker]
checkpoint_interval_s = 0.1
poll_interval_s = 0.02
"""
ROOT = Path(__file__).resolve().parents[3]


class Feeder(threading.Thread):
    """Appends small chunks of entries through its own store connection until stopped."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        super().__init__(name="feeder", daemon=True)
        self.path, self.rng = path, rng
        self.stop = threading.Event()
        self.appended = 0

    def run(self) -> None:
        store = SqliteStore(self.path)
        try:
            while not self.stop.is_set():
                now = time.time()
                count = self.rng.randint(1, 25)
                ids = [f"user-{self.appended + k}" for k in range(count)]
                store.append_entries([Entry("vip", u, email_of(u), None, now) for u in ids])
                self.appended += count
                self.stop.wait(self.rng.uniform(0.01, 0.06))
        finally:
            store.close()


def spawn(path: Path, config: Path, origin: str, seed: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "sync_core.live.command", "--store", str(path)]
    command += ["--api-base", origin, "--config", str(config), "--seed", str(seed)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=sink, env=env, cwd=ROOT)


def watermark(store: SqliteStore) -> int:
    saved = store.last_checkpoint()
    return 0 if saved is None else saved.entered_through


def check_restart(store: SqliteStore, mock: LiveMock) -> int:
    """What a restart will resume from is consistent; returns its watermark."""
    saved = store.last_checkpoint()
    if saved is None:
        return 0
    engine = SyncEngine.restore(saved.snapshot, random.Random(0))
    counters = engine.counters("vip")
    assert counters == saved.counters["vip"]
    # The watermark and the snapshot agree: entries 1..entered_through, each entered once.
    assert counters.entered == saved.entered_through
    total = counters.synced + counters.not_synced + counters.pending + counters.errored
    assert counters.entered == total
    synced = {sha(email_of(o.user_id)) for o in engine.outcomes() if o.outcome == "synced"}
    assert len(synced) == counters.synced
    assert synced <= mock.members()  # counted synced means Pinterest has them
    return saved.entered_through


def test_crash_sigkill_at_random_instants_loses_and_doubles_no_user(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path, config, log = tmp_path / "live.db", tmp_path / "live.toml", tmp_path / "worker.log"
    config.write_text(CONFIG)
    store = SqliteStore(path)
    with live_mock({"seed": SEED}) as mock:
        prepare(store, mock)
        # Slow answers keep requests in flight, failures force retries: kills land mid-way.
        mock.admin("/_mock/faults", {"match": {"method": "PATCH"}, "latency_s": 0.05})
        mock.admin(
            "/_mock/faults", {"match": {"method": "PATCH"}, "status": 503, "probability": 0.1}
        )
        feeder = Feeder(path, random.Random(SEED + 1))
        feeder.start()
        watermarks: list[int] = []
        for kill in range(KILLS):
            started = log.read_bytes().count(b"worker started") if log.exists() else 0
            worker = spawn(path, config, mock.origin, kill, log)
            # Mostly after the worker is up, sometimes while it is still restoring.
            time.sleep(rng.uniform(0.0, 0.3))
            if rng.random() < 0.8:
                wait_for(
                    lambda n=started, w=worker: (
                        log.read_bytes().count(b"worker started") > n or w.poll() is not None
                    ),
                    10,
                    "the worker to start",
                )
                # Then until it checkpoints past the last watermark: the test must interrupt
                # work under way, and on a loaded machine a fixed wait may see none.
                last = watermarks[-1] if watermarks else 0
                wait_for(
                    lambda w=worker, at=last: watermark(store) > at or w.poll() is not None,
                    20,
                    "the worker to make progress",
                )
                time.sleep(rng.uniform(0.0, 0.5))
            assert worker.poll() is None, log.read_text()[-2000:]
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(10) == -signal.SIGKILL
            watermarks.append(check_restart(store, mock))
        feeder.stop.set()
        feeder.join(10)
        accepted = store.last_seq()
        assert accepted == feeder.appended > 0

        final = spawn(path, config, mock.origin, KILLS, log)

        def drained() -> bool:
            saved = store.last_checkpoint()
            return saved is not None and (
                saved.entered_through == accepted and saved.counters["vip"].pending == 0
            )

        wait_for(drained, 30, "the final worker to drain the backlog")
        final.send_signal(signal.SIGTERM)
        assert final.wait(15) == 0, log.read_text()[-2000:]
        assert check_restart(store, mock) == accepted
        members = mock.members()
        journal = mock.journal()
    saved = store.last_checkpoint()
    assert saved is not None
    counters = saved.counters["vip"]
    # 0 lost, 0 counted twice: entered is exactly what was accepted, each user once.
    assert counters.entered == accepted
    assert (counters.pending, counters.errored, counters.not_synced) == (0, 0, 0)
    entered_users = Counter(o.user_id for _, o in store.outcomes())
    assert entered_users == Counter(f"user-{n}" for n in range(accepted))
    synced = {sha(email_of(o.user_id)) for _, o in store.outcomes() if o.outcome == "synced"}
    assert members == synced
    assert len(members) == counters.synced == accepted
    # The run really was interrupted with work under way: progress between kills, and
    # batches re-sent after a restart (the journal holds more accepted records than users).
    assert len(set(watermarks)) > KILLS // 2
    written = sum(r["records"] for r in journal if r["method"] == "PATCH" and r["status"] == 200)
    assert written >= accepted
    store.close()
