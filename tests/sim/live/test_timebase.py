"""The three clocks of a twin and the engine's settings at speed K."""

from __future__ import annotations

import dataclasses

import pytest

from sim.live.timebase import ClockReading, Timebase, first_tick_after, scale_sync
from sync_core import SyncConfig
from sync_core.model import Pacing


def test_timebase_places_the_mock_clock_by_one_reading_and_the_speed() -> None:
    # the mock read 5_000.0 at wall 100.0; at speed 10 it reads 5_000 + 10·(110 − 100) at 110
    base = Timebase.at(10.0, 110.0, ClockReading(wall=100.0, mock=5_000.0))
    assert base.mock_zero == 5_100.0
    assert base.wall(0.0) == 110.0
    assert base.wall(50.0) == 115.0
    assert base.scenario(115.0) == 50.0
    assert base.mock(50.0) == 5_150.0
    assert base.from_mock(5_150.0) == 50.0


def test_first_tick_after_is_the_next_multiple_of_the_interval() -> None:
    assert first_tick_after(1_000.1, 0.5) == 1_000.5
    assert first_tick_after(1_000.5, 0.5) == 1_000.5
    assert first_tick_after(7.0, 0.25) == 7.0


def test_scale_sync_divides_durations_and_the_server_second() -> None:
    config = SyncConfig(
        flush_interval_s=5.0,
        requests_per_second=7,
        retry_window_s=3_600.0,
        request_timeout_s=30.0,
        backoff_base_s=1.0,
        backoff_max_s=300.0,
        slow_retry_s=600.0,
        default_reset_s=1.0,
        pacing_margin_s=0.02,
        max_in_flight=12,
        max_records_per_request=1_900,
        page_size=100,
        pacing=Pacing.FIXED,
    )
    scaled = scale_sync(config, 10.0)
    assert scaled == SyncConfig(
        flush_interval_s=0.5,
        requests_per_second=7,  # per server second, now a tenth of a wall second
        server_second_s=0.1,
        retry_window_s=360.0,
        request_timeout_s=3.0,
        backoff_base_s=0.1,
        backoff_max_s=30.0,
        slow_retry_s=60.0,
        default_reset_s=0.1,
        pacing_margin_s=0.002,
        max_in_flight=12,
        max_records_per_request=1_900,
        page_size=100,
        pacing=Pacing.FIXED,
        refresh_lead_s=30.0,  # the default 300 s of scenario time
    )


def test_scale_sync_has_a_rule_for_every_field() -> None:
    # a field added to SyncConfig without a speed rule must be refused, not run unscaled
    fields = {field.name for field in dataclasses.fields(SyncConfig)}
    scaled = scale_sync(SyncConfig(), 4.0)
    changed = {name for name in fields if getattr(scaled, name) != getattr(SyncConfig(), name)}
    unscaled = {"max_records_per_request", "max_in_flight", "page_size", "pacing"}
    assert changed == fields - unscaled - {"requests_per_second", "requests_per_minute"}


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_scale_sync_refuses_a_speed_that_is_not_positive_and_finite(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        scale_sync(SyncConfig(), speed)
