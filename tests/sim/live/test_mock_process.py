"""``pinsim mock serve`` as a child process: started from its banner, configured, read, stopped."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sim.live.mock_process import MockProcess, MockProcessError

SPEED = 50.0
ACCOUNT = "549755885175"


def test_mock_process_serves_with_its_settings_and_reads_its_clock(tmp_path: Path) -> None:
    with MockProcess.start(
        tmp_path, speed=SPEED, seed=3, settings={"ads_write_per_second": 3}
    ) as mock:
        assert mock.origin.startswith("http://127.0.0.1:")
        first = mock.read_clock()
        mock.admin("POST", "/_mock/users", {"user": "acme", "ad_account_ids": [ACCOUNT]})
        token = mock.admin("POST", "/_mock/tokens", {"user": "acme"})["access_token"]
        answer = httpx.post(
            f"{mock.origin}/v5/ad_accounts/{ACCOUNT}/customer_lists",
            json={"name": "L", "records": "a" * 64, "list_type": "EMAIL"},
            headers={"Authorization": f"Bearer {token}"},
        )
        second = mock.read_clock()
        # the --config file reached the mock: its write limit is the one given
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit"] == "3"
        # the clock readings are the harness's: left out of the journal, the API call kept
        journal = mock.journal()
        assert [item["path"] for item in journal] == [f"/v5/ad_accounts/{ACCOUNT}/customer_lists"]
        assert len(mock.admin("GET", "/_mock/journal")["items"]) == 11
        # both readings place the mock's clock on the same line of slope SPEED (loopback
        # round trips of a few ms, with room for a busy machine)
        offset = (second.mock - SPEED * second.wall) - (first.mock - SPEED * first.wall)
        assert abs(offset) < SPEED * 0.05
        assert first.wall < second.wall and first.mock < journal[0]["t"] < second.mock


def test_mock_process_refused_settings_are_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(MockProcessError, match="exited with status 2"):
        MockProcess.start(tmp_path, speed=1.0, seed=0, settings={"no_such_setting": 1})


def test_mock_process_refused_admin_call_names_the_call(tmp_path: Path) -> None:
    refused = r"POST /_mock/audiences/404/delete: HTTP 404"
    with (
        MockProcess.start(tmp_path, speed=1.0, seed=0, settings={}) as mock,
        pytest.raises(MockProcessError, match=refused),
    ):
        mock.admin("POST", "/_mock/audiences/404/delete", {})
