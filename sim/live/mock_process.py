"""``pinsim mock serve`` as a child process on loopback, and the calls a replay makes to it.

Rules:
- The mock runs as its own process (``python -m sim mock serve --port 0 …``), as an operator
  would run it: the replay learns its origin from the banner's first line. Its stdout (the
  banner holds a throwaway token) and stderr go to files in the replay's private temporary
  folder; an error message quotes neither, only the exit status and the file to read.
- Settings reach it as a ``--config`` TOML of ``MockConfig`` fields (``mock_pinterest.serve``'s
  ``load_config``); seed and speed as flags.
- The admin API (``/_mock/…``, mock_pinterest/ADMIN.md) is the only way in; a refused call is
  ``MockProcessError`` naming the call and the status, never a body or a token.
- The admin API does not tell the mock's time. ``read_clock`` asks the mock for a path it does
  not serve (a 404 it journals with its clock's ``t``) between two wall readings, a few times,
  and keeps the tightest pair (as NTP keeps its shortest round trip); the error is half that
  round trip, times the speed. Those requests' ids are kept so that the journal read later
  can leave them out: they are the harness's, not Pinterest traffic.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from sim.live.timebase import ClockReading

__all__ = ["MockProcess", "MockProcessError"]

_BANNER: Final = "Pinterest mock listening on "
_START_TIMEOUT_S: Final = 60.0  # importing the CLI and binding, on a loaded CI machine
_STOP_TIMEOUT_S: Final = 10.0
_POLL_S: Final = 0.02
_ADMIN_TIMEOUT_S: Final = 30.0
_CLOCK_PATH: Final = "/v5/_pinsim/clock"  # served by nothing: a journaled 404
_CLOCK_READINGS: Final = 5


class MockProcessError(RuntimeError):
    """The mock process did not start, or refused a call the replay relies on."""


class MockProcess:
    """A running ``pinsim mock serve``; ``start`` it, use it, ``close`` it (or ``with``)."""

    def __init__(self, process: subprocess.Popen[bytes], origin: str, speed: float) -> None:
        self._process = process
        self.origin = origin
        self.speed = speed
        self._client = httpx.Client(base_url=origin, timeout=_ADMIN_TIMEOUT_S)
        self.clock_request_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"MockProcess(origin={self.origin!r}, speed={self.speed:g})"

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        speed: float,
        seed: int,
        settings: Mapping[str, object],
        threads: int = 16,
    ) -> MockProcess:
        """Start the mock with ``settings`` (``MockConfig`` fields) and wait for its banner."""
        config = workdir / "mock.toml"
        config.write_text(_toml(settings), encoding="utf-8")
        out, err = workdir / "mock.out", workdir / "mock.err"
        command = [
            sys.executable,
            "-m",
            "sim",
            "mock",
            "serve",
            "--port=0",
            f"--speed={speed!r}",
            f"--seed={seed}",
            f"--config={config}",
            f"--threads={threads}",
        ]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        try:
            origin = _await_banner(process, out)
        except BaseException:
            _stop(process)
            raise
        return cls(process, origin, speed)

    def close(self) -> None:
        self._client.close()
        _stop(self._process)

    def __enter__(self) -> MockProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- the admin API ------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Mapping[str, object] | None = None) -> Any:
        """One admin call (``/_mock/…``); its JSON answer."""
        answer = self._client.request(method, path, json=None if body is None else dict(body))
        if not answer.is_success:
            raise MockProcessError(f"the mock refused {method} {path}: HTTP {answer.status_code}")
        return answer.json()

    def api(
        self, method: str, path: str, access_token: str, body: Mapping[str, object]
    ) -> dict[str, Any]:
        """One call of Pinterest's API as a marketer would make it; its JSON answer and
        ``x-pinterest-rid`` (as ``"request_id"``)."""
        answer = self._client.request(
            method, path, json=dict(body), headers={"Authorization": f"Bearer {access_token}"}
        )
        if not answer.is_success:
            raise MockProcessError(f"the mock refused {method} {path}: HTTP {answer.status_code}")
        data: dict[str, Any] = answer.json()
        return data | {"request_id": answer.headers.get("x-pinterest-rid")}

    def journal(self) -> list[dict[str, Any]]:
        """Every journaled request but the clock readings, in arrival order."""
        items: list[dict[str, Any]] = self.admin("GET", "/_mock/journal")["items"]
        return [item for item in items if item["request_id"] not in self.clock_request_ids]

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.admin("GET", "/_mock/state")
        return state

    def read_clock(self) -> ClockReading:
        """The mock's clock against the wall clock (see the module docstring)."""
        pairs: list[tuple[float, float, str]] = []
        for _ in range(_CLOCK_READINGS):
            before = time.time()
            answer = self._client.get(_CLOCK_PATH)
            after = time.time()
            request_id = answer.headers.get("x-pinterest-rid")
            if request_id is None:
                raise MockProcessError("the mock's answer carries no x-pinterest-rid")
            self.clock_request_ids.add(request_id)
            pairs.append((after - before, (before + after) / 2, request_id))
        stamps = {
            item["request_id"]: float(item["t"])
            for item in self.admin("GET", "/_mock/journal")["items"]
            if item["request_id"] in self.clock_request_ids
        }
        _, wall, request_id = min(pairs)
        if request_id not in stamps:
            raise MockProcessError("the mock did not journal the clock reading")
        return ClockReading(wall=wall, mock=stamps[request_id])


def _await_banner(process: subprocess.Popen[bytes], out: Path) -> str:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        first, newline, _ = out.read_bytes().partition(b"\n")
        line = first.decode("utf-8", "replace")
        if newline and line.startswith(_BANNER):
            return line.removeprefix(_BANNER).strip().removesuffix("/v5")
        if process.poll() is not None:
            raise MockProcessError(
                f"pinsim mock serve exited with status {process.returncode} before listening "
                f"(its stderr: {out.with_suffix('.err')})"
            )
        time.sleep(_POLL_S)
    raise MockProcessError(f"pinsim mock serve did not listen within {_START_TIMEOUT_S:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: the server stops and exits 0
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _toml(settings: Mapping[str, object]) -> str:
    """Top-level scalar keys as TOML (JSON's strings, numbers and booleans are TOML's too)."""
    lines = []
    for key, value in settings.items():
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"mock setting {key!r}: no TOML form for {type(value).__name__}")
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
