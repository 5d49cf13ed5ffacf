"""sim.plan.capacity: the closed forms on hand-worked figures (the simulator is held to them in
test_validation)."""

from __future__ import annotations

import math

import pytest

from sim.plan import capacity


def test_capacity_one_token_is_r_times_m_per_record_per_user() -> None:
    assert capacity.capacity_records_per_s(7, 1900) == 13_300
    assert capacity.capacity_users_per_s(7, 1900, 2.0) == 6_650
    assert capacity.capacity_users_per_s(2, 20, margin_s=0.001) == pytest.approx(40 / 1.001)


def test_capacity_records_per_user_counts_usable_fields() -> None:
    both = {"missing_email": 0.0, "missing_maid": 0.0, "malformed": 0.0}
    assert capacity.records_per_user(("email", "maid"), **both) == 2.0
    assert capacity.records_per_user(("email",), **both) == 1.0
    half = {"missing_email": 0.0, "missing_maid": 0.5, "malformed": 0.0}
    assert capacity.records_per_user(("email", "maid"), **half) == 1.5
    none = {"missing_email": 1.0, "missing_maid": 1.0, "malformed": 0.0}
    assert capacity.syncable_share(("email", "maid"), **none) == 0.0


def test_capacity_batching_knee_and_batch_aware_ceiling() -> None:
    assert capacity.requests_per_flush(35, 20) == 2
    assert capacity.requests_per_flush(40, 20) == 2
    assert capacity.requests_per_flush(0, 20) == 0
    assert capacity.batch_aware_ceiling(2, 7, 5, 20) == pytest.approx(2 * 35 / 2)
    assert capacity.knee_rate(2, 5, 20) == 40  # ⌊10⌋ requests a flush × 20 / 5 s
    assert capacity.knee_rate(7, 5, 1900, audiences=50) == 0  # 50 audiences > 35 slots


def test_capacity_lag_and_constant_arrival_wait() -> None:
    lag = capacity.low_load_lag(5.0, 0.2, 1.0)
    assert (lag.mean_s, lag.max_s) == (2.7, 6.0)
    assert capacity.constant_arrival_wait_s(2.0, 5.0) == 3.0  # phases 5, 3, 1, 4, 2
    assert capacity.constant_arrival_wait_s(0.5, 5.0) == 2.75
    assert capacity.lognormal_mean_s(1.0, 1.0) == 1.0


def test_capacity_blast_and_outage_drains() -> None:
    assert capacity.blast_drain_s(20_000, 7, 1900, flush_interval_s=5) == 5 + 11 / 7
    assert capacity.lost_flush_s(3600, 5) == 5  # a fault on a tick loses that tick's flush
    assert capacity.lost_flush_s(3601, 5) == 1
    backlog = capacity.outage_backlog(20, 1200, lost_s=5)
    assert backlog == 24_100
    assert capacity.drain_after_outage_s(backlog, 20, 40) == 1205
    assert capacity.drain_after_outage_s(backlog, 40, 40) == math.inf
    assert capacity.backlog_served_s(backlog, 2, 20) == 602  # 1,205 requests: 603 windows
    # 5 requests in one window of 7: sent 1/14 s apart, the last 4/14 s after the first
    assert capacity.backlog_served_s(5 * 1900, 7, 1900) == pytest.approx(4 / 14)


def test_capacity_expiry_and_littles_law() -> None:
    assert capacity.expired_users(2, 1800, 1200, lost_s=5, request_timeout_s=30) == 1270
    assert capacity.expired_users(2, 600, 1200) == 0
    assert capacity.little_l(20, 2.5) == 50
    # no outage: only the baseline
    assert capacity.outage_mean_backlog(20, 0, 40, 1000, 2.5) == 50
