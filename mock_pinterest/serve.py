"""The mock as a standalone server: ``pinsim mock serve`` and a loopback helper for tests.

Responsibility: put the mock app behind waitress (a production, threaded WSGI server), once
as a foreground command for people and other programs, once as a background thread for tests
and fixtures.

Rules:
- The standalone app runs on the wall clock, scaled: ``--speed K`` (``MockConfig.speed``,
  default 1) makes its clock ``start_at + K × (monotonic() − t0)``, where ``start_at`` is the
  Unix time and ``t0`` the monotonic time when the clock is built (just before the server
  binds). So mock instants stay Unix seconds (token lifetimes, the journal's ``t``, fault
  windows ``[from, until)`` are read against them), an hour of mock time passes in 6 wall
  minutes at K = 10, rate-limit windows and injected latency shrink K-fold, and a wall-clock
  step (NTP) never moves the mock's clock. Only this module, never the backend, builds it.
- A user mistake (bad flag, unreadable or invalid ``--config``) is one line on stderr and
  exit status 2, never a traceback: a config error names the file and the key
  (``--config mock.toml: match_rate: expected a number, got a string``), and a ``--port``
  outside 0-65535 is refused rather than left to the OS to pick another.
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
import difflib
import math
import signal
import sys
import threading
import time
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from mock_pinterest import MockConfig, create_app

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "Credentials",
    "add_arguments",
    "banner",
    "load_config",
    "main",
    "mint_credentials",
    "positive_speed",
    "scaled_clock",
    "serve_in_thread",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_THREADS = 4
MAX_PORT = 65535
MAX_THREADS = 1024
API_PREFIX = "/v5"
# How long `stop()` waits for the server thread; waitress's loop wakes at least once a second.
_STOP_TIMEOUT_S = 10.0

Stop = Callable[[], None]
Clock = Callable[[], float]


class _UsageError(Exception):
    """A mistake on the command line; ``main`` shows it as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


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
        "--port",
        type=_whole_number("port", 0, MAX_PORT),
        default=DEFAULT_PORT,
        help="TCP port, 0 picks a free one (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the mock's rng")
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML file of MockConfig fields (top level keys)"
    )
    parser.add_argument(
        "--threads",
        type=_whole_number("number of threads", 1, MAX_THREADS),
        default=DEFAULT_THREADS,
        help="waitress worker threads (%(default)s)",
    )
    parser.add_argument(
        "--speed",
        type=positive_speed,
        default=None,
        metavar="K",
        help="the mock's clock runs K times the wall clock (default 1, or the config's speed)",
    )
    return parser


def _whole_number(what: str, low: int, high: int) -> Callable[[str], int]:
    """A flag's converter to a whole number in ``[low, high]``."""

    def convert(text: str) -> int:
        number = int(text) if text.strip().lstrip("-").isdigit() else None
        if number is None or not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"expected a {what} from {low} to {high}, got {text!r}"
            )
        return number

    return convert


def positive_speed(text: str) -> float:
    """``--speed``'s value: a positive finite number (``10``, ``0.5``, ``1e3``)."""
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return speed


def scaled_clock(
    speed: float, *, wall: Clock = time.time, monotonic: Clock = time.monotonic
) -> Clock:
    """A clock that starts at the Unix time ``wall()`` and runs ``speed`` times ``monotonic``.

    ``wall`` and ``monotonic`` are read once now (``monotonic`` again at every call); tests
    inject both to move time without waiting for it.
    """
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive finite number; got {speed!r}")
    start_at = wall()
    t0 = monotonic()

    def clock() -> float:
        return start_at + (monotonic() - t0) * speed

    return clock


def load_config(
    path: Path | None, seed: int | None, speed: float | None = None
) -> dict[str, object]:
    """MockConfig fields from an optional TOML file, with ``--seed`` and ``--speed`` taking
    precedence."""
    config: dict[str, object] = {}
    if path is not None:
        with path.open("rb") as file:
            config.update(tomllib.load(file))
    flags = {"seed": seed, "speed": speed}
    config.update({key: value for key, value in flags.items() if value is not None})
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


def banner(origin: str, credentials: Credentials, *, speed: float = 1.0) -> str:
    """The text printed once the server listens: where it is and how to talk to it."""
    base_url = origin + API_PREFIX
    accounts = ", ".join(credentials.ad_account_ids) or "(none)"
    clock = "the wall clock" if speed == 1 else f"{speed:g}× the wall clock"
    return "\n".join(
        (
            f"Pinterest mock listening on {base_url}",
            f"  clock:          {clock} (Unix seconds)",
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

        def close_all() -> None:
            wasyncore.close_all(socket_map, ignore_all=True)

        # Run inside the server's loop thread, closing every socket empties the map, which
        # ends the loop; then the worker threads are told to finish.
        try:
            server.trigger.pull_trigger(close_all)
        except OSError:
            # The loop closed its trigger already (it does on an error reading it), so it
            # cannot be woken: its sockets are closed from here and it ends at its next poll.
            # Seen once in CI (EBADF), cause not found; a stop must stop all the same.
            close_all()
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
    parser = add_arguments(_Parser(prog="pinsim mock serve"))
    try:
        args = parser.parse_args(argv)
        settings = _settings(args)
    except _UsageError as error:
        print(f"pinsim mock serve: error: {error}", file=sys.stderr)
        return 2
    app = create_app(settings, clock=scaled_clock(settings.speed))
    credentials = mint_credentials(app)
    try:
        server = _bind(app, args.host, args.port, args.threads, socket_map={})
    except OSError as error:
        print(
            f"pinsim mock serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 1
    print(banner(_origin(server), credentials, speed=settings.speed), flush=True)
    _serve_forever(server)
    return 0


def _settings(args: argparse.Namespace) -> MockConfig:
    where = f"--config: {args.config}" if args.config is not None else "--config"
    try:
        # A real server really waits out injected latency (in process the caller simulates it).
        config: Mapping[str, object] = {
            "sleep_latency": True,
            **load_config(args.config, args.seed, args.speed),
        }
    except OSError as error:
        raise _UsageError(f"{where}: cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise _UsageError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise _UsageError(f"{where}: TOML syntax error: {error}") from None
    _check_keys(config, where)
    try:
        return MockConfig.from_mapping(config)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"{where}: {error}") from None


def _check_keys(config: Mapping[str, object], where: str) -> None:
    """Every key a ``MockConfig`` field, every value of its field's TOML type."""
    hints = typing.get_type_hints(MockConfig)
    known = [field.name for field in fields(MockConfig)]
    for key, value in config.items():
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _UsageError(f"{where}: {key}: unknown MockConfig setting{hint}")
        expected = _toml_types(hints[key])
        if not any(accepts(value) for accepts, _ in expected):
            wanted = " or ".join(name for _, name in expected)
            raise _UsageError(f"{where}: {key}: expected {wanted}, got {_toml_type(value)}")


# a field's Python type → does a TOML value fit it, and how to name it in an error
_TOML_TYPES: dict[object, tuple[Callable[[object], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
    tuple: (lambda v: isinstance(v, list), "an array"),
}


def _toml_types(hint: object) -> list[tuple[Callable[[object], bool], str]]:
    """What TOML values a field typed ``hint`` takes (TOML has no null: ``None`` takes none)."""
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        return [(lambda v: v in choices, " or ".join(repr(c) for c in choices))]
    members = typing.get_args(hint) if typing.get_origin(hint) is not tuple else (hint,)
    members = members or (hint,)
    return [_TOML_TYPES[typing.get_origin(m) or m] for m in members if m is not type(None)]


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return names.get(type(value), "an array" if isinstance(value, list) else "a table")


if __name__ == "__main__":
    sys.exit(main())
