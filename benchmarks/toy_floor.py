"""The toy floor (issue 14): the least any SimPy simulation of a sync must do, timed on this
machine, so the real simulation's speed is judged against it rather than against a number.

Run: ``python -m benchmarks.toy_floor [--only blast|steady]``; one JSON line a case (users,
wall seconds, users per wall-second, peak RSS). ``benchmarks.simulation`` runs it beside the
real cases, each in its own process, and prints the ratios.

Rules:
- The pipeline is the issue's: traffic (1 s ticks, the driver's) → 5 s batches → a 7/s token
  bucket → 1,900-record PATCHes through a minimal Flask app, all in SimPy.
- Per user it does the work a real minimal implementation must: make an email string, normalise
  it (lower-case), SHA-256 it to hex, join it into a JSON body, send that through
  ``httpx.WSGITransport`` (as the simulation calls the mock) to a route that parses the JSON and
  adds the records to a set. It leaves out what the issue's toy leaves out: MAIDs, malformed and
  missing identifiers, per-user state, network latency, faults, checks and outputs.
- The cases mirror the real ones: ``blast`` is ``scenarios/black_friday_blast.toml`` (10
  audiences × 200,000 users at 1 min on one token, 1 h run), ``steady`` is 16 h of poisson
  at 100 users/s into one audience.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import cast

import httpx
import numpy as np
import simpy
from flask import Flask, request

__all__ = ["CASES", "Case", "run"]

TICK_S = 1.0
BATCH_S = 5.0
REQUESTS_PER_S = 7.0
RECORDS_PER_REQUEST = 1900
_PATH = "/v5/ad_accounts/1/customer_lists/{audience}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    name: str
    audiences: int
    duration_s: float
    blast_per_audience: int = 0  # users entering each audience at ``blast_at_s``
    blast_at_s: float = 0.0
    rate_per_s: float = 0.0  # poisson users a second into each audience


CASES = {
    "blast": Case(
        name="toy_blast_2M",
        audiences=10,
        duration_s=3600.0,
        blast_per_audience=200_000,
        blast_at_s=60.0,
    ),
    "steady": Case(
        name="toy_steady_16h_100_per_s", audiences=1, duration_s=16 * 3600.0, rate_per_s=100.0
    ),
}


def _app(members: dict[str, set[str]]) -> Flask:
    app = Flask("toy_floor")

    @app.patch("/v5/ad_accounts/<account>/customer_lists/<audience>")
    def patch(account: str, audience: str) -> dict[str, object]:
        body = request.get_json()
        records = body["records"].split(",")
        members.setdefault(audience, set()).update(records)
        return {"id": audience, "num_uploaded_user_records": len(records)}

    return app


class _Floor:
    """Traffic, batching, bucket and sender for one case, on one SimPy clock."""

    def __init__(self, case: Case, client: httpx.Client) -> None:
        self.case, self.client = case, client
        self.env = simpy.Environment()
        self.rng = np.random.default_rng(14)
        self.pending: list[list[str]] = [[] for _ in range(case.audiences)]
        self.requests: simpy.Store = simpy.Store(self.env)
        self.users = 0

    def _enter(self, audience: int, count: int) -> None:
        first, self.users = self.users, self.users + count
        self.pending[audience] += [
            hashlib.sha256(f"User.{k}@Example.com".lower().encode()).hexdigest()
            for k in range(first, first + count)
        ]

    def traffic(self) -> Generator[simpy.Event, object, None]:
        case = self.case
        while self.env.now < case.duration_s:
            yield self.env.timeout(TICK_S)
            blasting = self.env.now - TICK_S <= case.blast_at_s < self.env.now
            for audience in range(case.audiences):
                count = int(self.rng.poisson(case.rate_per_s * TICK_S)) if case.rate_per_s else 0
                self._enter(audience, count + (case.blast_per_audience if blasting else 0))

    def batches(self) -> Generator[simpy.Event, object, None]:
        while True:
            yield self.env.timeout(BATCH_S)
            for audience, records in enumerate(self.pending):
                for start in range(0, len(records), RECORDS_PER_REQUEST):
                    self.requests.put((audience, records[start : start + RECORDS_PER_REQUEST]))
                self.pending[audience] = []

    def sender(self) -> Generator[simpy.Event, object, None]:
        # a token bucket of one second's worth: at most 7 requests in any second
        tokens, refilled = REQUESTS_PER_S, 0.0
        while True:
            audience, records = cast(tuple[int, list[str]], (yield self.requests.get()))
            now = self.env.now
            tokens = min(REQUESTS_PER_S, tokens + (now - refilled) * REQUESTS_PER_S)
            refilled = now
            if tokens < 1:
                yield self.env.timeout((1 - tokens) / REQUESTS_PER_S)
                tokens, refilled = 1.0, self.env.now
            tokens -= 1
            body = json.dumps({"operation_type": "ADD", "records": ",".join(records)})
            answer = self.client.patch(
                _PATH.format(audience=audience),
                content=body,
                headers={"Content-Type": "application/json"},
            )
            answer.raise_for_status()

    def run(self) -> None:
        for process in (self.traffic(), self.batches(), self.sender()):
            self.env.process(process)
        self.env.run(until=self.case.duration_s)


def run(case: Case) -> dict[str, object]:
    """Run ``case`` once; its figures as one JSON-ready mapping."""
    started = time.perf_counter()
    members: dict[str, set[str]] = {}
    with httpx.Client(
        transport=httpx.WSGITransport(app=_app(members)), base_url="http://toy"
    ) as client:
        floor = _Floor(case, client)
        floor.run()
    wall = time.perf_counter() - started
    return {
        "case": case.name,
        "users": floor.users,
        "members": sum(map(len, members.values())),  # all but the last batch's, if still going
        "wall_s": round(wall, 2),
        "users_per_wall_s": round(floor.users / wall),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(CASES))
    options = parser.parse_args()
    if options.only is not None:
        print(json.dumps(run(CASES[options.only])), flush=True)
        return
    for name in CASES:  # each in its own process, so that its peak RSS is its own
        subprocess.run([sys.executable, "-m", "benchmarks.toy_floor", "--only", name], check=True)


if __name__ == "__main__":
    main()
