"""``pinsim mock serve`` and the loopback helper: real sockets, clean starts and stops."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

from mock_pinterest.serve import Credentials, banner, load_config, main, serve_in_thread

REPO = Path(__file__).resolve().parents[2]
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


def test_serve_banner_gives_base_url_and_sdk_environment() -> None:
    text = banner("http://127.0.0.1:5000", CREDENTIALS)
    assert "http://127.0.0.1:5000/v5" in text
    assert "export PINTEREST_API_URI=http://127.0.0.1:5000/v5" in text
    assert "export PINTEREST_ACCESS_TOKEN=pina_TOKENVALUE" in text
    assert "export PINTEREST_APP_ID=1234" in text
    assert "export PINTEREST_REFRESH_ACCESS_TOKEN=pinr.REFRESHVALUE" in text


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


@pytest.fixture
def server_process() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_pinterest.serve", "--port", "0", "--seed", "1"],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        assert stream is not None
        stream.close()


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
