"""``pinsim live run``: the live worker with its two doors — the intake Canvas posts entries
to, and the Prometheus endpoint.

Rules:
- The worker runs on the main thread (signals reach it there); the intake (waitress) and the
  metrics endpoint serve on daemon threads. Each intake thread opens its own store
  connection (``PerThreadSink``): a SQLite connection stays in the thread that opened it.
- The intake takes entries only for the steps the worker has launched (it asks the worker on
  every request), so an entry it acknowledges can always be entered.
- The intake's key is read from an environment variable named on the command line, never from
  the command line itself. Both doors bind to loopback unless told otherwise.
- Logs are JSON lines on stderr (``sync_core.live.logs``: tokens, secrets and identifiers
  redacted); the HTTP client's own per-request lines are not among them.
- SIGTERM/SIGINT: the intake stops taking entries first, then the worker stops gracefully
  (``sync_core.live.worker``); exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from sync_core.errors import LaunchError
from sync_core.live import config as live_config
from sync_core.live import logs
from sync_core.live.config import ConfigError, LiveConfig
from sync_core.live.intake import PerThreadSink, create_intake_app
from sync_core.live.metrics import engine_reader, live_registry, serve_metrics
from sync_core.live.store import SqliteStore, open_store
from sync_core.live.worker import Worker, normalise_api_base

__all__ = ["main"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # both end the worker cleanly

_INTAKE_THREADS = 4
_INTAKE_STOP_S = 5.0  # how long a stop waits for the intake loop to close its sockets


class _LaunchedSteps:
    """The intake's view of which steps exist: the worker's launched ones, asked each time."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._worker.step_ids


class _Connections:
    """The metrics' view of the worker's connections, iterated afresh at each scrape."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def __iter__(self) -> Iterator[str]:
        return iter(self._worker.connection_ids)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 0-65535, got {text!r}")
    return host or "127.0.0.1", int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinsim live run", description="Run the live sync worker until SIGTERM/SIGINT."
    )
    parser.add_argument("--store", type=Path, required=True, help="SQLite store (created 0600)")
    parser.add_argument(
        "--api-base",
        required=True,
        help="Pinterest API origin, e.g. https://api.pinterest.com or http://127.0.0.1:5000",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML: [sync], [worker], [[step]], [[connection]]"
    )
    parser.add_argument(
        "--intake", type=_address, metavar="HOST:PORT", help="serve the entry intake there"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="PINSIM_INTAKE_KEY",
        help="environment variable holding the intake's bearer key (%(default)s)",
    )
    parser.add_argument(
        "--metrics", type=_address, metavar="HOST:PORT", help="serve Prometheus metrics there"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the backoff jitter")
    parser.add_argument("--log-level", default="INFO", help="logging level (%(default)s)")
    return parser


def _serve(app: Flask, host: str, port: int) -> tuple[int, Callable[[], None]]:
    """``app`` on waitress in a daemon thread: the bound port and a stop."""
    socket_map: dict[int, Any] = {}
    created = create_server(app, map=socket_map, host=host, port=port, threads=_INTAKE_THREADS)
    assert isinstance(created, BaseWSGIServer)  # one host and one port: one listening socket
    server: Any = created  # waitress's stubs leave out trigger and effective_port
    thread = threading.Thread(target=server.run, name="pinsim-intake", daemon=True)
    thread.start()

    def stop() -> None:
        # server.close() from this thread would close the loop's sockets under it (waitress
        # #468: EBADF, or a closed descriptor's number reused by the next file opened). The
        # loop closes them itself when the trigger wakes it; that empties the map and ends it.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map, ignore_all=True))
        thread.join(_INTAKE_STOP_S)
        server.task_dispatcher.shutdown()

    return int(server.effective_port), stop


def main(argv: Sequence[str] | None = None) -> int:
    """``pinsim live run``: 0 after a graceful stop, 2 on a bad config, step or key."""
    args = _parser().parse_args(argv)
    level = logging.getLevelNamesMapping().get(args.log_level.upper(), logging.INFO)
    with logs.configured(level=level):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    api_key = os.environ.get(args.api_key_env, "")
    if args.intake is not None and not api_key:
        print(
            f"pinsim live run: environment variable {args.api_key_env} is not set", file=sys.stderr
        )
        return 2
    store = open_store(args.store, "pinsim live run")
    if store is None:
        return 2
    try:
        config = LiveConfig() if args.config is None else live_config.load(args.config)
        live_config.apply(config, store, normalise_api_base(args.api_base))
    except (ConfigError, OSError) as error:
        print(f"pinsim live run: {error}", file=sys.stderr)
        store.close()
        return 2
    worker = Worker(
        store,
        args.api_base,
        sync=config.sync,
        settings=config.worker,
        seed=args.seed,
        on_outcome=lambda outcome: requests.observe(outcome),  # bound below, before run
        open_store=lambda: SqliteStore(args.store),  # checkpoints are written off the loop
        expected=config.expected,
    )
    try:
        worker.start()
    except LaunchError as error:
        print(f"pinsim live run: {error}", file=sys.stderr)
        store.close()
        return 2
    read = engine_reader(lambda: worker.engine, worker.lock, connection_ids=_Connections(worker))
    registry, requests = live_registry(read)
    stops: list[Callable[[], None]] = []
    if args.metrics is not None:
        metrics = serve_metrics(registry, host=args.metrics[0], port=args.metrics[1])
        stops.append(metrics.close)
        print(f"metrics: http://{metrics.host}:{metrics.port}/metrics", flush=True)
    if args.intake is not None:
        sink = PerThreadSink(lambda: SqliteStore(args.store))
        app = create_intake_app(sink, api_key=api_key, step_ids=_LaunchedSteps(worker))
        port, stop = _serve(app, *args.intake)
        stops.insert(0, stop)  # the intake closes first: no entry taken once stopping
        print(f"intake: http://{args.intake[0]}:{port}/v1/steps/<step>/entries", flush=True)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        worker.request_stop()

    previous = {signum: signal.signal(signum, on_signal) for signum in _STOP_SIGNALS}
    try:
        worker.run()
    finally:
        for signum, handler in previous.items():  # main() may run in a longer-lived process
            signal.signal(signum, handler)
        for stop_serving in stops:
            stop_serving()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
