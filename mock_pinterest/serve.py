"""The mock as a standalone server: ``pinsim mock serve`` and a loopback helper for tests.

Responsibility: put the mock app behind waitress (a production, threaded WSGI server), once
as a foreground command for people and other programs, once as a background thread for tests
and fixtures.

Rules:
- The standalone app runs on the wall clock (``clock=time.time``); only this module, never the
  backend, decides that.
- The default user's credentials are minted through the admin API before serving, so what is
  printed is exactly what the mock accepts. The access token is a throwaway local credential
  meant to be pasted into ``PINTEREST_ACCESS_TOKEN``: it goes to stdout in the banner and
  nowhere else (no logger ever sees it).
- ``serve_in_thread`` stops cleanly: the stop request runs inside waitress's own event loop
  (through its trigger), so no socket is closed under a thread that is polling it.
- Ctrl-C (and SIGTERM) end ``main`` with exit status 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from mock_pinterest import create_app

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "Credentials",
    "add_arguments",
    "banner",
    "load_config",
    "main",
    "mint_credentials",
    "serve_in_thread",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_THREADS = 4
API_PREFIX = "/v5"
# How long `stop()` waits for the server thread; waitress's loop wakes at least once a second.
_STOP_TIMEOUT_S = 10.0

Stop = Callable[[], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What the admin API hands out for a user (``POST /_mock/tokens``)."""

    user: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    ad_account_ids: tuple[str, ...]

    def __repr__(self) -> str:
        # Keep secrets out of tracebacks and debug logs that repr() their locals.
        return f"Credentials(user={self.user!r}, client_id={self.client_id!r}, …)"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``pinsim mock serve``'s options on *parser* (the sim CLI reuses this)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 picks a free one (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the mock's rng")
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML file of MockConfig fields (top level keys)"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="waitress worker threads"
    )
    return parser


def load_config(path: Path | None, seed: int | None) -> dict[str, object]:
    """MockConfig fields from an optional TOML file, with ``--seed`` taking precedence."""
    config: dict[str, object] = {}
    if path is not None:
        with path.open("rb") as file:
            config.update(tomllib.load(file))
    if seed is not None:
        config["seed"] = seed
    return config


def mint_credentials(app: Flask, user: str | None = None) -> Credentials:
    """Create (idempotently) *user* and a token for it through the admin API, in process."""
    body: dict[str, object] = {} if user is None else {"user": user}
    response = app.test_client().post("/_mock/tokens", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"admin API refused to mint a token: HTTP {response.status_code}")
    data: dict[str, Any] = response.get_json()
    return Credentials(
        user=str(data["user"]),
        client_id=str(data["client_id"]),
        client_secret=str(data["client_secret"]),
        access_token=str(data["access_token"]),
        refresh_token=str(data["refresh_token"]),
        ad_account_ids=tuple(str(i) for i in data["ad_account_ids"]),
    )


def banner(origin: str, credentials: Credentials) -> str:
    """The text printed once the server listens: where it is and how to talk to it."""
    base_url = origin + API_PREFIX
    accounts = ", ".join(credentials.ad_account_ids) or "(none)"
    return "\n".join(
        (
            f"Pinterest mock listening on {base_url}",
            f"  admin API:      {origin}/_mock/  (POST /_mock/tokens mints more tokens)",
            f"  user:           {credentials.user}  ad accounts: {accounts}",
            f"  client_id:      {credentials.client_id}",
            "",
            "Official SDK (pinterest-api-sdk) environment, local throwaway credentials:",
            f"  export PINTEREST_API_URI={base_url}",
            f"  export PINTEREST_ACCESS_TOKEN={credentials.access_token}",
            "  # or refresh on start instead of a fixed access token:",
            f"  export PINTEREST_APP_ID={credentials.client_id}",
            f"  export PINTEREST_APP_SECRET={credentials.client_secret}",
            f"  export PINTEREST_REFRESH_ACCESS_TOKEN={credentials.refresh_token}",
            "",
            "Ctrl-C stops the server.",
        )
    )


def _bind(app: Flask, host: str, port: int, threads: int, socket_map: dict[int, Any]) -> Any:
    try:
        server = create_server(app, map=socket_map, host=host, port=port, threads=threads)
    except OSError:
        # waitress registered its trigger and socket in the map before bind() failed.
        wasyncore.close_all(socket_map, ignore_all=True)
        raise
    # One host and one port give one listening socket, hence a single-socket server.
    assert isinstance(server, BaseWSGIServer)
    return server


def _origin(server: Any) -> str:
    return f"http://{server.effective_host}:{server.effective_port}"


def serve_in_thread(
    app: Flask, host: str = DEFAULT_HOST, port: int = 0, *, threads: int = DEFAULT_THREADS
) -> tuple[str, Stop]:
    """Serve *app* on waitress in a daemon thread; return its origin and an idempotent stop.

    The origin has no path (``http://127.0.0.1:PORT``): the API is under ``/v5``, the admin API
    under ``/_mock``. ``port=0`` picks a free port.
    """
    socket_map: dict[int, Any] = {}
    server = _bind(app, host, port, threads, socket_map)
    thread = threading.Thread(target=server.run, name=f"mock-waitress-{port}", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        # Runs inside the server's loop thread: closing every socket empties the map,
        # which ends the loop; then the worker threads are told to finish.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map, ignore_all=True))
        thread.join(_STOP_TIMEOUT_S)
        server.task_dispatcher.shutdown()

    return _origin(server), stop


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve_forever(server: Any) -> None:
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.run()  # returns after Ctrl-C: waitress catches KeyboardInterrupt itself
    except KeyboardInterrupt:
        pass  # raised between waitress's own handler and here: still a clean stop
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        server.task_dispatcher.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """``pinsim mock serve``: serve the mock on waitress until interrupted."""
    parser = add_arguments(argparse.ArgumentParser(prog="pinsim mock serve"))
    args = parser.parse_args(argv)
    try:
        # A real server really waits out injected latency (in process the caller simulates it).
        config: Mapping[str, object] = {
            "sleep_latency": True,
            **load_config(args.config, args.seed),
        }
    except (OSError, tomllib.TOMLDecodeError) as error:
        print(f"pinsim mock serve: cannot read --config: {error}", file=sys.stderr)
        return 2
    app = create_app(config, clock=time.time)
    credentials = mint_credentials(app)
    try:
        server = _bind(app, args.host, args.port, args.threads, socket_map={})
    except OSError as error:
        print(
            f"pinsim mock serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 1
    print(banner(_origin(server), credentials), flush=True)
    _serve_forever(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
