from __future__ import annotations

import random

import pytest

from mock_pinterest.errors import InvalidParameters
from mock_pinterest.faults import FaultBook, RequestFacts

PATCH = RequestFacts(
    method="PATCH",
    path="/v5/ad_accounts/1/customer_lists/2",
    category="ads_write",
    token_id="tok-1",
)
GET = RequestFacts(method="GET", path="/v5/ad_accounts", category="ads_read", token_id="tok-2")


def test_faults_window_is_half_open_on_the_mock_clock() -> None:
    book = FaultBook(random.Random(0))
    book.add(
        {
            "match": {"path": "/v5/ad_accounts/*/customer_lists/*"},
            "status": 500,
            "from": 10,
            "until": 20,
        }
    )
    assert [book.apply(PATCH, t).status for t in (9.9, 10, 19.9, 20)] == [None, 500, 500, None]
    assert book.apply(GET, 15).status is None


def test_faults_count_limits_firings() -> None:
    book = FaultBook(random.Random(0))
    book.add({"match": {"token_id": "tok-1"}, "status": 429, "count": 2})
    assert [book.apply(PATCH, 0).status for _ in range(3)] == [429, 429, None]


def test_faults_probability_is_seeded_and_roughly_right() -> None:
    def draws(seed: int) -> list[int | None]:
        book = FaultBook(random.Random(seed))
        book.add({"match": {"category": "ads_write"}, "status": 503, "probability": 0.3})
        return [book.apply(PATCH, 0).status for _ in range(1000)]

    assert draws(1) == draws(1)
    assert 250 <= draws(1).count(503) <= 350


def test_faults_latencies_add_and_first_status_wins() -> None:
    book = FaultBook(random.Random(0))
    book.add({"match": {"method": "patch"}, "latency_s": 1.0})
    book.add({"status": 500, "latency_s": 0.5})
    book.add({"status": 503})
    effect = book.apply(PATCH, 0)
    assert (effect.status, effect.latency_s) == (500, 1.5)


@pytest.mark.parametrize(
    "rule",
    [
        {},
        {"status": 200},
        {"status": "500"},
        {"latency_s": -1},
        {"status": 500, "count": 0},
        {"status": 500, "probability": 2},
        {"status": 500, "match": {"verb": "GET"}},
        [],
    ],
)
def test_faults_reject_invalid_rules(rule: object) -> None:
    with pytest.raises(InvalidParameters):
        FaultBook(random.Random(0)).add(rule)


def test_faults_remove_and_list_round_trip() -> None:
    book = FaultBook(random.Random(0))
    rule = book.add({"match": {"method": "GET"}, "status": 500, "until": 5})
    assert book.rules()[0].to_json()["match"] == {"method": "GET"}
    assert book.remove(rule.id) and not book.remove(rule.id)
    assert book.apply(GET, 0).status is None


def test_faults_active_only_while_a_rule_is_set() -> None:
    book = FaultBook(random.Random(0))
    assert not book.active
    rule = book.add({"status": 500})
    assert book.active
    book.remove(rule.id)
    assert not book.active
