"""Actions and outcomes."""

from sync_core import ResponseReceived, SendRequest, TransportFailed


def test_send_request_repr_hides_the_bearer_token() -> None:
    request = SendRequest(
        request_id=1,
        method="GET",
        path="/v5/x",
        headers={"authorization": "Bearer pina_x"},
        body=None,
        timeout_s=30.0,
    )
    assert "pina_x" not in repr(request)


def test_outcomes_take_positional_arguments_as_the_contract_shows() -> None:
    assert ResponseReceived(1, 200, {}, b"").status == 200
    assert TransportFailed(2, "timeout").kind == "timeout"
