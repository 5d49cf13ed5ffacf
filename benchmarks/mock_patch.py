"""Benchmark: a full 1,900-record customer-list PATCH against the mock.

Measures the two ways the mock is served:
- in process, through ``httpx.WSGITransport`` (how the simulation calls it): the median and p90
  latency of one request over ``IN_PROCESS_RUNS`` runs, after a warm-up, and the median of the
  mock's own share of it (from the WSGI call into Flask to the drained answer, without httpx);
- over loopback, against waitress (``pinsim mock serve``): requests per second of
  ``LOOPBACK_CLIENTS`` concurrent keep-alive clients sending ``LOOPBACK_REQUESTS`` in all.

The rate limit is lifted so the mock's own cost is measured, not its 7 requests/s budget.
Records are realistic: SHA-256 digests (64 hex characters), comma-separated, rotating over a few
bodies. Exit status 0 when both targets are met, 1 otherwise.

Run: ``.venv/bin/python -m benchmarks.mock_patch``
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from flask import Flask

from mock_pinterest import create_app
from mock_pinterest.serve import serve_in_thread

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

RECORDS_PER_REQUEST = 1900
BODIES = 8
WARMUP_RUNS = 50
IN_PROCESS_RUNS = 500
LOOPBACK_CLIENTS = 4
LOOPBACK_REQUESTS = 2000
TARGET_MEDIAN_MS = 1.5
TARGET_REQUESTS_PER_S = 250.0
AD_ACCOUNT = "549755885175"
# Large enough never to bind during the benchmark: the limiter still runs, but never says no.
UNLIMITED = {"ads_write_per_second": 1_000_000_000}


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The mock, a token for it, and the PATCH to send."""

    app: Flask
    path: str
    headers: dict[str, str]
    bodies: tuple[bytes, ...]


def _records(batch: int) -> str:
    digests = (
        hashlib.sha256(f"user{batch}-{i}@example.com".encode()).hexdigest()
        for i in range(RECORDS_PER_REQUEST)
    )
    return ",".join(digests)


def prepare() -> Target:
    """A rate-unlimited mock with one user, token and customer list, through its own API."""
    app = create_app(UNLIMITED, clock=time.monotonic)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://mock") as admin:
        admin.post("/_mock/users", json={"user": "bench", "ad_account_ids": [AD_ACCOUNT]})
        token = admin.post("/_mock/tokens", json={"user": "bench"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        created = admin.post(
            f"/v5/ad_accounts/{AD_ACCOUNT}/customer_lists",
            json={"name": "bench", "records": _records(-1)},
            headers=headers,
        )
        created.raise_for_status()
    bodies = tuple(
        json.dumps({"operation_type": "ADD", "records": _records(b)}).encode()
        for b in range(BODIES)
    )
    path = f"/v5/ad_accounts/{AD_ACCOUNT}/customer_lists/{created.json()['id']}"
    return Target(app=app, path=path, headers=headers, bodies=bodies)


def _patch(client: httpx.Client, target: Target, i: int) -> None:
    response = client.patch(target.path, content=target.bodies[i % BODIES], headers=target.headers)
    if response.status_code != 200:
        raise RuntimeError(f"PATCH answered {response.status_code}: {response.text[:200]}")


class ServerClock:
    """A WSGI wrapper timing the app alone: from the call into Flask to the drained answer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.latencies_ms: list[float] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        started = time.perf_counter()
        answer: Iterable[bytes] = self.app(environ, start_response)
        body = b"".join(answer)
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        self.latencies_ms.append((time.perf_counter() - started) * 1000.0)
        return [body]


def in_process_latencies_ms(
    target: Target, runs: int = IN_PROCESS_RUNS
) -> tuple[list[float], list[float]]:
    """Latency of each of *runs* PATCHes through ``WSGITransport``, and the mock's own share
    of each, in milliseconds."""
    server = ServerClock(target.app)
    latencies: list[float] = []
    with httpx.Client(transport=httpx.WSGITransport(app=server), base_url="http://mock") as client:
        for i in range(WARMUP_RUNS):
            _patch(client, target, i)
        server.latencies_ms.clear()
        for i in range(runs):
            started = time.perf_counter()
            _patch(client, target, i)
            latencies.append((time.perf_counter() - started) * 1000.0)
    return latencies, server.latencies_ms


def loopback_requests_per_s(
    target: Target, clients: int = LOOPBACK_CLIENTS, requests: int = LOOPBACK_REQUESTS
) -> float:
    """Throughput of *clients* keep-alive clients sharing *requests* PATCHes over loopback."""
    origin, stop = serve_in_thread(target.app)
    errors: list[BaseException] = []
    share = requests // clients

    def run_client(offset: int) -> None:
        try:
            with httpx.Client(base_url=origin, timeout=30.0) as client:
                for i in range(share):
                    _patch(client, target, offset + i)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run_client, args=(c,)) for c in range(clients)]
    try:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        stop()
    if errors:
        raise errors[0]
    return share * clients / elapsed


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: Sequence[str] | None = None) -> int:
    target = prepare()
    latencies, server_ms = in_process_latencies_ms(target)
    median = statistics.median(latencies)
    p90 = statistics.quantiles(latencies, n=10)[-1]
    throughput = loopback_requests_per_s(target)
    median_ok = median <= TARGET_MEDIAN_MS
    throughput_ok = throughput >= TARGET_REQUESTS_PER_S
    print(f"PATCH of {RECORDS_PER_REQUEST} records (64-hex, comma-separated)")
    print(
        f"  in process (WSGITransport, {len(latencies)} runs): median {median:.3f} ms, "
        f"p90 {p90:.3f} ms  [target median <= {TARGET_MEDIAN_MS} ms: {_verdict(median_ok)}]"
    )
    print(f"    of which the mock (Flask app alone): median {statistics.median(server_ms):.3f} ms")
    print(
        f"  loopback (waitress, {LOOPBACK_CLIENTS} keep-alive clients, "
        f"{LOOPBACK_REQUESTS} requests): {throughput:.0f} requests/s  "
        f"[target >= {TARGET_REQUESTS_PER_S:.0f}/s: {_verdict(throughput_ok)}]"
    )
    return 0 if median_ok and throughput_ok else 1


if __name__ == "__main__":
    sys.exit(main())
