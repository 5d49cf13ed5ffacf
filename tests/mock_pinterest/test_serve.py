"""``pinsim mock serve`` and the loopback helper: real sockets, clean starts and stops, and
the clock scaled by ``--speed``."""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

from mock_pinterest import create_app
from mock_pinterest.serve import (
    Credentials,
    banner,
    load_config,
    main,
    scaled_clock,
    serve_in_thread,
)
from tests.mock_pinterest.harness import FakeClock, hashed

REPO = Path(__file__).resolve().parents[2]
START_AT = 1_767_225_600.0  # the Unix time a scaled clock is built at, in the in-process tests
CREDENTIALS = Credentials(
    user="default",
    client_id="1234",
    client_secret="s3cret-value",
    access_token="pina_TOKENVALUE",
    refresh_token="pinr.REFRESHVALUE",
    ad_account_ids=("549755885175",),
)


@pytest.fixture
def hello_app() -> Flask:
    app = Flask("hello")
    app.add_url_rule("/hello", "hello", lambda: "hi")
    return app


def test_serve_in_thread_serves_over_loopback_until_stopped(hello_app: Flask) -> None:
    origin, stop = serve_in_thread(hello_app, port=0)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", origin)
        with httpx.Client(base_url=origin) as client:
            assert client.get("/hello").text == "hi"
            assert client.get("/hello").text == "hi"  # same keep-alive connection
    finally:
        stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(origin + "/hello", timeout=2.0)
    stop()  # idempotent


def test_serve_in_thread_stops_even_when_its_trigger_is_gone(
    hello_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin, stop = serve_in_thread(hello_app, port=0)
    assert httpx.get(origin + "/hello", timeout=5.0).text == "hi"

    def closed(self: object) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr("waitress.trigger.trigger._physical_pull", closed)
    stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(origin + "/hello", timeout=2.0)


def test_serve_in_thread_port_zero_gives_each_server_its_own_port(hello_app: Flask) -> None:
    first, stop_first = serve_in_thread(hello_app, port=0)
    second, stop_second = serve_in_thread(hello_app, port=0)
    try:
        assert first != second
    finally:
        stop_first()
        stop_second()


def test_serve_load_config_reads_toml_and_seed_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text("seed = 3\nmatch_rate = 0.5\n")
    assert load_config(path, None) == {"seed": 3, "match_rate": 0.5}
    assert load_config(path, 9) == {"seed": 9, "match_rate": 0.5}
    assert load_config(None, None) == {}
    assert load_config(path, None, 10.0) == {"seed": 3, "match_rate": 0.5, "speed": 10.0}


def test_serve_banner_gives_base_url_and_sdk_environment() -> None:
    text = banner("http://127.0.0.1:5000", CREDENTIALS)
    assert "http://127.0.0.1:5000/v5" in text
    assert "export PINTEREST_API_URI=http://127.0.0.1:5000/v5" in text
    assert "export PINTEREST_ACCESS_TOKEN=pina_TOKENVALUE" in text
    assert "export PINTEREST_APP_ID=1234" in text
    assert "export PINTEREST_REFRESH_ACCESS_TOKEN=pinr.REFRESHVALUE" in text
    assert "clock:          the wall clock" in text
    assert "clock:          10× the wall clock" in banner("http://h:1", CREDENTIALS, speed=10.0)


def test_serve_credentials_repr_hides_secrets() -> None:
    shown = repr(CREDENTIALS)
    for secret in ("pina_TOKENVALUE", "pinr.REFRESHVALUE", "s3cret-value"):
        assert secret not in shown


def test_serve_main_rejects_unreadable_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", "0", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "--config" in capsys.readouterr().err


def test_serve_main_reports_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    captured = capsys.readouterr()
    assert f"127.0.0.1:{port}" in captured.err
    assert "pina_" not in captured.err


# --- the scaled clock ----------------------------------------------------------------------


def test_serve_scaled_clock_starts_at_wall_time_and_runs_speed_times_monotonic() -> None:
    monotonic = FakeClock(500.0)
    clock = scaled_clock(100.0, wall=lambda: START_AT, monotonic=monotonic)
    assert clock() == START_AT
    monotonic.advance(0.25)
    assert clock() == START_AT + 25.0
    monotonic.advance(36.0)  # 6 wall minutes at K = 10 are an hour; here 36 s at K = 100
    assert clock() == pytest.approx(START_AT + 3_625.0)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_serve_scaled_clock_refuses_a_speed_that_is_not_positive_and_finite(speed: float) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        scaled_clock(speed)


class ScaledMock:
    """The standalone app (its config, its scaled clock) on a fake monotonic source, in process."""

    def __init__(self, speed: float, **config: object) -> None:
        self.monotonic = FakeClock(1_000.0)
        clock = scaled_clock(speed, wall=lambda: START_AT, monotonic=self.monotonic)
        self.app = create_app({"seed": 1, "speed": speed, **config}, clock=clock)
        self.http = httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url="http://m")
        token = self.http.post("/_mock/tokens", json={}).json()
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        self.account = str(token["ad_account_ids"][0])

    def new_list(self) -> str:
        answer = self.http.post(
            f"/v5/ad_accounts/{self.account}/customer_lists",
            headers=self.headers,
            json={"name": "list", "records": ",".join(hashed(2))},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"])

    def add(self, list_id: str, salt: str) -> int:
        answer = self.http.patch(
            f"/v5/ad_accounts/{self.account}/customer_lists/{list_id}",
            headers=self.headers,
            json={"operation_type": "ADD", "records": ",".join(hashed(3, salt))},
        )
        return answer.status_code

    def journal_t(self) -> list[float]:
        items = self.http.get("/_mock/journal").json()["items"]
        return [float(item["t"]) for item in items]


@pytest.mark.parametrize(
    ("speed", "wall_step_s", "statuses"),
    [
        # 8 writes 1 ms apart: 0.7 s of mock time at K = 100, one window of 7 → the 8th is refused
        (100.0, 0.001, [200] * 7 + [429]),
        # 2 ms apart: 1.4 s of mock time, so a new window opens at the 6th and all are admitted
        (100.0, 0.002, [200] * 8),
        # the same wall pattern at K = 1 is 14 ms: one window, the 8th refused
        (1.0, 0.002, [200] * 7 + [429]),
    ],
)
def test_serve_speed_scales_the_rate_limit_windows(
    speed: float, wall_step_s: float, statuses: list[int]
) -> None:
    mock = ScaledMock(speed)  # ads_write_per_second = 7, fixed windows
    list_id = mock.new_list()
    mock.monotonic.advance(2.0)  # past the create's window at any speed ≥ 1
    answers = []
    for i in range(8):
        answers.append(mock.add(list_id, salt=str(i)))
        mock.monotonic.advance(wall_step_s)
    assert answers == statuses


def test_serve_speed_scales_the_journal_times() -> None:
    mock = ScaledMock(100.0)
    mock.new_list()  # at wall offset 0
    mock.monotonic.advance(0.5)
    mock.new_list()  # 0.5 wall seconds later: 50 mock seconds later
    assert mock.journal_t() == [START_AT, START_AT + 50.0]


def test_serve_speed_shortens_the_slept_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("mock_pinterest.pipeline.time.sleep", slept.append)
    mock = ScaledMock(10.0, sleep_latency=True)
    assert mock.http.post("/_mock/faults", json={"latency_s": 0.8}).status_code == 201
    answer = mock.http.get("/v5/user_account", headers=mock.headers)
    assert answer.headers["x-mock-latency-s"] == "0.8"  # mock seconds, as the rule says
    assert slept == [pytest.approx(0.08)]  # wall seconds


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "fast", ""])
def test_serve_main_rejects_a_bad_speed_in_one_line(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", "0", "--speed", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pinsim mock serve: error: argument --speed: expected a positive")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("toml", "shown"),
    [("speed = 0\n", "speed must be a positive finite"), ("sped = 2\n", "unknown MockConfig")],
)
def test_serve_main_rejects_an_invalid_config_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, shown: str
) -> None:
    path = tmp_path / "mock.toml"
    path.write_text(toml)
    assert main(["--port", "0", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pinsim mock serve: error: --config: ") and shown in err
    assert err.count("\n") == 1


ServerStarter = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_server() -> Iterator[ServerStarter]:
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_pinterest.serve", "--port", "0", "--seed", "1", *flags],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


@pytest.fixture
def server_process(start_server: ServerStarter) -> subprocess.Popen[str]:
    return start_server()


def _read_banner(process: subprocess.Popen[str], timeout_s: float = 30.0) -> str:
    # Raw reads on the pipe: a buffered readline() would hide ready bytes from select().
    assert process.stdout is not None
    fd = process.stdout.fileno()
    received = b""
    deadline = time.monotonic() + timeout_s
    while b"Ctrl-C" not in received:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0.0))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise AssertionError(f"no banner; got {received!r}")
        received += chunk
    return received.decode()


def _export(text: str, name: str) -> str:
    match = re.search(rf"export {name}=(\S+)", text)
    assert match, text
    return match.group(1)


def test_serve_main_serves_printed_credentials_and_exits_0_on_ctrl_c(
    server_process: subprocess.Popen[str],
) -> None:
    text = _read_banner(server_process)
    base_url = _export(text, "PINTEREST_API_URI")
    token = _export(text, "PINTEREST_ACCESS_TOKEN")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v5", base_url)
    answer = httpx.get(
        base_url + "/user_account", headers={"Authorization": f"Bearer {token}"}, timeout=10.0
    )
    assert answer.status_code == 200, answer.text
    server_process.send_signal(signal.SIGINT)
    assert server_process.wait(timeout=30) == 0
    assert server_process.stderr is not None
    assert token not in server_process.stderr.read()


def test_serve_main_speed_runs_the_journal_clock_k_times_the_wall_clock(
    start_server: ServerStarter,
) -> None:
    speed = 1_000.0
    text = _read_banner(start_server("--speed", f"{speed:g}"))
    assert "clock:          1000× the wall clock" in text
    base_url = _export(text, "PINTEREST_API_URI")
    origin = base_url.removesuffix("/v5")
    headers = {"Authorization": f"Bearer {_export(text, 'PINTEREST_ACCESS_TOKEN')}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        # The server stamps each request at an instant inside [sent, answered] of the client's
        # monotonic clock (system-wide on Linux), which bounds the stamps' gap both ways.
        first_sent = time.monotonic()
        assert client.get("/user_account").status_code == 200
        first_answered = time.monotonic()
        time.sleep(0.05)  # widens the lower bound; the assertion is a bound, not a duration
        second_sent = time.monotonic()
        assert client.get("/user_account").status_code == 200
        second_answered = time.monotonic()
    items = httpx.get(origin + "/_mock/journal", timeout=10.0).json()["items"]
    first, second = (float(item["t"]) for item in items)
    assert first > time.time() - 60  # Unix seconds, ahead of the wall clock, never behind it
    lowest = speed * (second_sent - first_answered)
    highest = speed * (second_answered - first_sent)
    assert lowest * 0.999 <= second - first <= highest * 1.001
