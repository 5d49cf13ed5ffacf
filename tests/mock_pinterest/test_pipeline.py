from __future__ import annotations

from tests.mock_pinterest.harness import Harness, hashed


def _patch(mock: Harness, headers: dict[str, str], account: str, list_id: str) -> int:
    return mock.http.patch(
        f"/v5/ad_accounts/{account}/customer_lists/{list_id}",
        headers=headers,
        json={"operation_type": "ADD", "records": hashed(1)[0]},
    ).status_code


def test_pipeline_rate_limit_is_per_token_and_resets_on_the_clock() -> None:
    mock = Harness({"retry_after": True})
    one, other, account = mock.auth(), mock.auth(), mock.account()
    list_id = mock.new_list(one, account, hashed(1))  # the first ads_write of `one`
    assert [_patch(mock, one, account, list_id) for _ in range(6)] == [200] * 6
    refused = mock.http.patch(
        f"/v5/ad_accounts/{account}/customer_lists/{list_id}",
        headers=one,
        json={"operation_type": "ADD", "records": hashed(1)[0]},
    )
    assert refused.status_code == 429 and refused.json()["code"] == 8
    assert refused.headers["x-ratelimit-limit"] == "7"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == "1" and refused.headers["retry-after"] == "1"
    assert _patch(mock, other, account, list_id) == 200
    mock.clock.advance(1.0)
    assert _patch(mock, one, account, list_id) == 200
    assert mock.backend.customer_lists[list_id].num_batches == 1 + 6 + 1 + 1


def test_pipeline_auth_comes_before_scope_and_rate_limit() -> None:
    mock = Harness()
    answer = mock.http.get("/v5/ad_accounts", headers={"Authorization": "Bearer nope"})
    assert (answer.status_code, answer.json()["code"]) == (401, 2)
    assert "x-ratelimit-limit" not in answer.headers


def test_pipeline_latency_fault_sets_header_without_sleeping() -> None:
    mock = Harness()
    mock.http.post("/_mock/faults", json={"match": {"path": "/v5/user_account"}, "latency_s": 2.5})
    answer = mock.http.get("/v5/user_account", headers=mock.auth())
    assert answer.status_code == 200 and answer.headers["x-mock-latency-s"] == "2.5"


def test_pipeline_every_answer_has_request_id_and_error_shape() -> None:
    mock = Harness()
    for answer in (mock.http.get("/nowhere"), mock.http.delete("/v5/user_account")):
        assert answer.headers["x-pinterest-rid"]
        assert set(answer.json()) == {"code", "message", "status"}
    assert mock.http.delete("/v5/user_account").status_code == 405


def test_pipeline_admin_calls_are_not_journaled() -> None:
    mock = Harness()
    mock.http.get("/_mock/state")
    assert mock.backend.journal.records == []
