"""The Prometheus endpoint: the engine's state read when scraped, and what the worker counts.

Two sources, one registry:

- ``EngineCollector`` reads the engine at each scrape (a custom collector: the numbers live in
  the engine, nothing is copied into Prometheus objects between scrapes). From one
  ``EngineReading`` it derives, per step, the seven counters (``pinsim_step_<counter>_total``,
  except ``pinsim_step_pending``, a gauge), ``pinsim_step_oldest_pending_age_seconds`` (0 with
  none pending), ``pinsim_step_sync_lag_seconds`` (histogram of entry → synced over every
  synced user; its count is the step's ``synced``), and per connection
  ``pinsim_connection_token{pinsim_connection_token="valid|refreshing|invalid"}`` (a state set).
  The lag histogram is derived from the engine's outcome columns rather than fed by the
  worker, so it survives a restart from a checkpoint and can never disagree with ``synced``.
- ``RequestMetrics`` is fed by the worker with each outcome it hands the engine:
  ``pinsim_requests_total{status}`` (HTTP status, or ``timeout``/``connection`` for a transport
  failure) and ``pinsim_rate_limited_total`` (the 429s among them). The engine does not keep
  these, so they count from the process's start, as Prometheus counters do.

Rules:
- Thread safety: the worker owns the engine and a lock, and holds it around every engine call
  (never across IO). The scrape runs on the endpoint's thread and touches the engine only
  inside ``read`` — ``engine_reader`` takes the same lock, copies counters, token states and
  the outcome columns (the engine's ``outcome_columns`` are copies: ~25 ms per million users),
  and lets go; everything derived from the copy is computed after the lock is released.
- The engine's timeline is the wall clock (``now`` = epoch seconds, as entries are stamped),
  so ``clock()`` at the scrape minus the oldest pending entry is that entry's age.
- Labels are step and connection ids only: no token, no user id, no email ever reaches a
  metric.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector

from sync_core import Outcome, OutcomeColumns, ResponseReceived, StepCounters, SyncEngine
from sync_core.metrics import UserState
from sync_core.token import TokenStatus

__all__ = [
    "LAG_BUCKETS_S",
    "EngineCollector",
    "EngineReading",
    "MetricsServer",
    "RequestMetrics",
    "engine_reader",
    "live_registry",
    "read_engine",
    "serve_metrics",
]

# Entry → synced: a flush interval (5 s) plus a round trip when all is well; up to the retry
# window (13 h) when a token is revoked and reconnected late.
LAG_BUCKETS_S: tuple[float, ...] = (
    1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 13 * 3600,
)  # fmt: skip

# counter → help; ``pending`` is a gauge (it goes down), the rest only ever grow
_COUNTERS: Mapping[str, str] = {
    "entered": "Users who entered the step.",
    "proceeded": "Users who moved on to the next step.",
    "synced": "Users whose add or remove Pinterest accepted.",
    "not_synced": "Users with no usable value for the step's match fields.",
    "errored": "Users who errored: their retry window ran out, or Pinterest rejected them.",
    "exited": "Users who left the canvas at this (last) step.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineReading:
    """One consistent look at the engine: everything a scrape shows, copied at ``now``."""

    now: float
    counters: Mapping[str, StepCounters]
    tokens: Mapping[str, TokenStatus]
    columns: OutcomeColumns


def read_engine(engine: SyncEngine, *, connection_ids: Iterable[str], now: float) -> EngineReading:
    """Copy what the metrics need; call it with the worker's lock held."""
    columns = engine.outcome_columns()
    return EngineReading(
        now=now,
        counters={step_id: engine.counters(step_id) for step_id in columns.step_ids},
        tokens={cid: engine.connection_status(cid) for cid in connection_ids},
        columns=columns,
    )


def engine_reader(
    engine: Callable[[], SyncEngine],
    lock: AbstractContextManager[object],
    *,
    connection_ids: Iterable[str],
    clock: Callable[[], float] = time.time,
) -> Callable[[], EngineReading]:
    """A ``read`` for ``EngineCollector``: under ``lock``, the engine ``engine()`` returns now
    (so a worker that restores a new engine is followed) and the connections in
    ``connection_ids`` (iterated at each scrape, under the lock)."""

    def read() -> EngineReading:
        with lock:
            return read_engine(engine(), connection_ids=connection_ids, now=clock())

    return read


class EngineCollector(Collector):
    """Exposes the engine's state, read through ``read`` at each scrape."""

    def __init__(
        self, read: Callable[[], EngineReading], *, lag_buckets_s: Sequence[float] = LAG_BUCKETS_S
    ) -> None:
        self._read = read
        self._buckets = np.asarray(sorted(lag_buckets_s), dtype=np.float64)

    def describe(self) -> Iterator[Metric]:
        # Names only, so registering checks for clashes without reading the engine.
        return iter(_families(self._buckets))

    def collect(self) -> Iterator[Metric]:
        reading = self._read()  # the only moment the engine is touched
        return iter(_families(self._buckets, reading))


def _families(buckets: np.ndarray, reading: EngineReading | None = None) -> list[Metric]:
    counters = {
        name: CounterMetricFamily(f"pinsim_step_{name}", text, labels=["step"])
        for name, text in _COUNTERS.items()
    }
    pending = GaugeMetricFamily("pinsim_step_pending", "Users waiting to sync.", labels=["step"])
    oldest = GaugeMetricFamily(
        "pinsim_step_oldest_pending_age_seconds",
        "How long the earliest-entered pending user has waited (0: none pending).",
        labels=["step"],
    )
    lag = HistogramMetricFamily(
        "pinsim_step_sync_lag_seconds", "Entry to synced, per synced user.", labels=["step"]
    )
    token = StateSetMetricFamily(
        "pinsim_connection_token", "The connection's token state.", labels=["connection"]
    )
    if reading is not None:
        _fill_steps(reading, counters, pending, oldest, lag, buckets)
        for cid, status in reading.tokens.items():
            token.add_metric([cid], {state.value: state is status for state in TokenStatus})
    return [*counters.values(), pending, oldest, lag, token]


def _fill_steps(
    reading: EngineReading,
    counters: Mapping[str, CounterMetricFamily],
    pending: GaugeMetricFamily,
    oldest: GaugeMetricFamily,
    lag: HistogramMetricFamily,
    buckets: np.ndarray,
) -> None:
    columns = _Columns(reading.columns)
    oldest_entered = columns.oldest_pending_entered_at()
    lag_counts, lag_sums = columns.lag_histograms(buckets)
    edges = [str(float(edge)) for edge in buckets] + ["+Inf"]  # Go float text: 1.0, 2.5
    for code, step_id in enumerate(reading.columns.step_ids):
        tally = reading.counters[step_id]
        for name, family in counters.items():
            family.add_metric([step_id], getattr(tally, name))
        pending.add_metric([step_id], tally.pending)
        first = oldest_entered[code]
        oldest.add_metric([step_id], 0.0 if np.isinf(first) else max(0.0, reading.now - first))
        cumulative = np.cumsum(lag_counts[code])
        lag.add_metric(
            [step_id],
            [(edge, float(n)) for edge, n in zip(edges, cumulative, strict=True)],
            float(lag_sums[code]),
        )


class _Columns:
    """The engine's outcome columns as numpy views, one row per user."""

    def __init__(self, columns: OutcomeColumns) -> None:
        self.steps = len(columns.step_ids)
        self.step = np.frombuffer(columns.step, dtype="<u2")
        self.entered_at = np.frombuffer(columns.entered_at, dtype="<f8")
        self.state = np.frombuffer(columns.state, dtype=np.uint8)
        self.outcome_at = np.frombuffer(columns.outcome_at, dtype="<f8")

    def oldest_pending_entered_at(self) -> np.ndarray:
        """Per step code, the earliest ``entered_at`` of a pending user (+inf: none)."""
        first = np.full(self.steps, np.inf)
        waiting = self.state == UserState.PENDING
        np.minimum.at(first, self.step[waiting], self.entered_at[waiting])
        return first

    def lag_histograms(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per step code: synced users per bucket (the last is +Inf), and their lags' sum."""
        synced = self.state == UserState.SYNCED
        codes = self.step[synced].astype(np.int64)
        lags = self.outcome_at[synced] - self.entered_at[synced]
        slot = np.searchsorted(buckets, lags, side="left")  # first edge >= lag: ``le``
        width = len(buckets) + 1
        counts = np.bincount(codes * width + slot, minlength=self.steps * width)
        sums = np.bincount(codes, weights=lags, minlength=self.steps)
        return counts.reshape(self.steps, width), sums


class RequestMetrics:
    """What the worker counts: every outcome it hands the engine, by status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "pinsim_requests",
            "Requests answered, by HTTP status (or timeout/connection when none came).",
            ["status"],
            registry=registry,
        )
        self._rate_limited = Counter(
            "pinsim_rate_limited", "Requests refused with 429.", registry=registry
        )

    def observe(self, outcome: Outcome) -> None:
        """Count one outcome; call it as the outcome is fed to ``engine.receive``."""
        status = str(outcome.status) if isinstance(outcome, ResponseReceived) else outcome.kind
        self._requests.labels(status).inc()
        if status == "429":
            self._rate_limited.inc()


def live_registry(
    read: Callable[[], EngineReading], *, lag_buckets_s: Sequence[float] = LAG_BUCKETS_S
) -> tuple[CollectorRegistry, RequestMetrics]:
    """A registry holding the engine collector and the worker's request counters (and nothing
    process-global: two workers in one process, or tests, do not collide)."""
    registry = CollectorRegistry()
    registry.register(EngineCollector(read, lag_buckets_s=lag_buckets_s))
    return registry, RequestMetrics(registry)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running endpoint; ``port`` is the bound one (useful after asking for port 0)."""

    host: str
    port: int
    _stop: Callable[[], None]

    def close(self) -> None:
        self._stop()


def serve_metrics(
    registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 9464
) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` on a daemon thread. Loopback by
    default: the counters are business data, exposing them wider is a deliberate choice."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    lock = threading.Lock()

    def stop() -> None:
        with lock:  # idempotent: a second close is harmless
            if thread.is_alive():
                server.shutdown()
                server.server_close()
                thread.join()

    return MetricsServer(host, server.server_port, stop)
