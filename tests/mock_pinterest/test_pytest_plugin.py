"""The ``pinterest_mock`` fixture, as a downstream test suite sees it (through ``pytester``)."""

from __future__ import annotations

import pytest

from mock_pinterest.pytest_plugin import FakeClock

pytest_plugins = ["pytester"]


def _run(pytester: pytest.Pytester, source: str, passed: int) -> None:
    pytester.makepyfile(test_downstream=source)
    # In a subprocess: the fixture starts threads and sockets, keep them out of this process.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=passed)


def test_pytest_plugin_fixture_serves_api_in_process(pytester: pytest.Pytester) -> None:
    _run(
        pytester,
        """
        def test_user_account(pinterest_mock):
            token = pinterest_mock.tokens()["access_token"]
            answer = pinterest_mock.client.get(
                "/v5/user_account", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200
            assert pinterest_mock.backend is not None
            assert str(pinterest_mock.client.base_url) == "http://mock"
        """,
        passed=1,
    )


def test_pytest_plugin_fixture_clock_drives_rate_limit_window(pytester: pytest.Pytester) -> None:
    _run(
        pytester,
        """
        AD = "549755885175"

        def test_window(pinterest_mock):
            pinterest_mock.create_user("acme", [AD])
            token = pinterest_mock.tokens("acme")["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            body = {"name": "l", "records": "a" * 64}
            def create():
                path = f"/v5/ad_accounts/{AD}/customer_lists"
                return pinterest_mock.client.post(path, json=body, headers=auth).status_code
            assert [create() for _ in range(8)] == [200] * 7 + [429]
            pinterest_mock.clock.advance(1.0)
            assert create() == 200
        """,
        passed=1,
    )


def test_pytest_plugin_fixture_state_is_fresh_per_test(pytester: pytest.Pytester) -> None:
    _run(
        pytester,
        """
        def test_first(pinterest_mock):
            pinterest_mock.create_user("only-here", ["111"])
            assert "only-here" in str(pinterest_mock.client.get("/_mock/state").json())

        def test_second(pinterest_mock):
            assert "only-here" not in str(pinterest_mock.client.get("/_mock/state").json())
            assert pinterest_mock.clock() == 0.0
        """,
        passed=2,
    )


def test_pytest_plugin_config_fixture_configures_the_mock(pytester: pytest.Pytester) -> None:
    _run(
        pytester,
        """
        import pytest

        AD = "549755885175"

        @pytest.fixture
        def pinterest_mock_config():
            return {"max_records_per_request": 2}

        def test_limit(pinterest_mock):
            pinterest_mock.create_user("acme", [AD])
            token = pinterest_mock.tokens("acme")["access_token"]
            body = {"name": "l", "records": ",".join(["a" * 64, "b" * 64, "c" * 64])}
            answer = pinterest_mock.client.post(
                f"/v5/ad_accounts/{AD}/customer_lists",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 400
        """,
        passed=1,
    )


def test_pytest_plugin_live_url_serves_same_app_until_test_ends(pytester: pytest.Pytester) -> None:
    _run(
        pytester,
        """
        import httpx

        ORIGINS = []

        def test_live(pinterest_mock):
            origin = pinterest_mock.live_url()
            assert pinterest_mock.live_url() == origin  # started once
            token = pinterest_mock.tokens()["access_token"]
            answer = httpx.get(
                origin + "/v5/user_account", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200
            ORIGINS.append(origin)

        def test_stopped_after_test():
            import pytest
            with pytest.raises(httpx.ConnectError):
                httpx.get(ORIGINS[0] + "/v5/user_account", timeout=2.0)
        """,
        passed=2,
    )


def test_pytest_plugin_fake_clock_never_goes_backwards() -> None:
    clock = FakeClock()
    assert clock.advance(2.5) == 2.5
    clock.set(4.0)
    assert clock() == 4.0
    with pytest.raises(ValueError):
        clock.advance(-1.0)
    with pytest.raises(ValueError):
        clock.set(3.0)
