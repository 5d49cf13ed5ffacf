from __future__ import annotations

import httpx

from mock_pinterest import MockConfig, backend_of, create_app


def test_app_takes_config_object_or_mapping_and_clock() -> None:
    app = create_app(MockConfig(seed=2, epoch_s=100.0), clock=lambda: 5.0)
    backend = backend_of(app)
    assert backend.config.seed == 2 and backend.unix(backend.now()) == 105
    assert backend_of(create_app({"seed": 2})).config == MockConfig(seed=2)


def test_app_instances_do_not_share_state() -> None:
    first, second = create_app(clock=lambda: 0.0), create_app(clock=lambda: 0.0)
    with httpx.Client(transport=httpx.WSGITransport(app=first), base_url="http://m") as client:
        client.post("/_mock/users", json={"user": "solo"})
    assert "solo" in backend_of(first).users and "solo" not in backend_of(second).users
