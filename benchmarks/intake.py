"""Intake throughput: entries accepted durably through the WSGI app into a real SQLite store.

Run: ``python -m benchmarks.intake [--entries N] [--batch N]``. Prints entries/s from the first
request to the last 202, each request one transaction committed with ``synchronous=FULL``
(the store's setting) in a temporary directory, so the figure includes the fsync per batch.
Requests go through the app in process (no socket): what is measured is parsing, validation
and the durable append. The issue's target is ≥ 20,000 entries/s. Not part of the test run;
figures depend on the machine and its disk.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sync_core.live.intake import create_intake_app
from sync_core.live.store import SqliteStore

_KEY = "bench-key"
_TARGET = 20_000  # entries/s, issue 12


def _bodies(entries: int, batch: int) -> list[bytes]:
    """Request bodies like Canvas's: an id and an email each, a MAID for every third user."""
    bodies = []
    for start in range(0, entries, batch):
        items = [
            {"user_id": f"user-{k:09d}", "email": f"First.Last{k}@Example.com"}
            | ({"maid": f"6d92078a-8246-4ba4-ae5b-{k:012d}"} if k % 3 == 0 else {})
            for k in range(start, min(start + batch, entries))
        ]
        bodies.append(json.dumps({"entries": items}).encode())
    return bodies


def throughput(entries: int, batch: int, folder: Path) -> float:
    """Entries acknowledged (202) per wall-clock second; bodies are built before the clock."""
    store = SqliteStore(folder / "live.db")
    app = create_intake_app(store, api_key=_KEY, step_ids={"s"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {_KEY}", "Content-Type": "application/json"}
    bodies = _bodies(entries, batch)
    started = time.perf_counter()
    for body in bodies:
        answer = client.post("/v1/steps/s/entries", data=body, headers=headers)
        assert answer.status_code == 202, answer.get_data(as_text=True)
    elapsed = time.perf_counter() - started
    assert store.last_seq() == entries, f"{store.last_seq()} of {entries} stored"
    store.close()
    return entries / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000, help="entries per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rate = throughput(args.entries, args.batch, Path(folder))
    verdict = "meets" if rate >= _TARGET else "misses"
    print(
        f"intake: {rate:,.0f} entries/s durably ({args.entries:,} entries, {args.batch:,} per "
        f"request; {verdict} the {_TARGET:,}/s target)"
    )


if __name__ == "__main__":
    main()
