"""``pinsim live run`` end to end, as an operator runs it: a subprocess with its intake and
metrics on loopback, entries posted over HTTP, judged by the mock's list members; a scrape that
equals what Pinterest holds; SIGTERM ends it with exit 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.sync_core.live.world import (
    ACCOUNT,
    USER,
    LiveMock,
    email_of,
    live_mock,
    sha,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[3]
KEY = "intake-key-for-tests"
CONFIG = """
[sync]
flush_interval_s = 0.2

[worker]
checkpoint_interval_s = 0.2
poll_interval_s = 0.02

[[connection]]
id = "workspace"
mock_user = "acme"

[[step]]
id = "vip"
connection_id = "workspace"
ad_account_id = "549755885175"
audience_new = "VIP buyers"
match_fields = ["email"]
"""


def _address(line: str) -> str:
    found = re.search(r"http://[0-9.]+:\d+", line)
    assert found, line
    return found.group(0)


def _doors(worker: subprocess.Popen[str]) -> tuple[str, str]:
    """The intake's and the metrics' origins, as the command prints them."""
    assert worker.stdout is not None
    origins: dict[str, str] = {}
    while len(origins) < 2:
        line = worker.stdout.readline()
        assert line, "the worker ended before serving"
        name = line.split(":", 1)[0]
        if name in ("intake", "metrics"):
            origins[name] = _address(line)
    return origins["intake"], origins["metrics"]


def _synced(metrics: str) -> float:
    families = text_string_to_metric_families(httpx.get(metrics + "/metrics").text)
    samples = [s for f in families for s in f.samples if s.name == "pinsim_step_synced_total"]
    return sum(s.value for s in samples if s.labels.get("step") == "vip")


def test_live_run_takes_entries_over_http_syncs_them_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "live.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with live_mock() as mock:
        mock.admin("/_mock/users", {"user": USER, "ad_account_ids": [ACCOUNT]})
        worker = _spawn(tmp_path / "live.db", config, mock)
        try:
            intake, metrics = _doors(worker)
            users = [f"user-{k}" for k in range(40)]
            body = {"entries": [{"user_id": u, "email": email_of(u)} for u in users]}
            bearer = {"Authorization": f"Bearer {KEY}"}
            answer = httpx.post(intake + "/v1/steps/vip/entries", json=body, headers=bearer)
            assert answer.status_code == 202, answer.text
            assert answer.json()["accepted"] == 40
            refused = httpx.post(intake + "/v1/steps/vip/entries", json=body)
            assert refused.status_code == 401
            unknown = httpx.post(intake + "/v1/steps/ghost/entries", json=body, headers=bearer)
            assert unknown.status_code == 404
            wait_for(lambda: mock.members() == {sha(email_of(u)) for u in users}, 20, "the members")
            wait_for(lambda: _synced(metrics) == 40, 5, "a scrape showing 40 synced")
        finally:
            worker.send_signal(signal.SIGTERM)
            status = worker.wait(timeout=20)
            assert worker.stdout is not None
            log = worker.stdout.read()
            worker.stdout.close()
            assert status == 0, log


def _spawn(store: Path, config: Path, mock: LiveMock) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "sync_core.live.command", "--store", str(store)]
    command += ["--api-base", mock.origin, "--config", str(config)]
    command += ["--intake", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PINSIM_INTAKE_KEY": KEY}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )


def test_live_run_refuses_an_intake_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PINSIM_INTAKE_KEY"}
    command = [sys.executable, "-m", "sync_core.live.command", "--store", str(tmp_path / "s.db")]
    command += ["--api-base", "http://127.0.0.1:9", "--intake", "127.0.0.1:0"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "PINSIM_INTAKE_KEY" in done.stderr and "Traceback" not in done.stderr
