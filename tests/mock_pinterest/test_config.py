from __future__ import annotations

import pytest

from mock_pinterest.config import MockConfig, coerce_config


def test_config_defaults_follow_fidelity() -> None:
    config = MockConfig()
    assert (config.ads_write_per_second, config.ads_write_per_minute) == (7, None)
    assert (config.max_records_per_request, config.match_rate) == (1900, 0.6)
    assert (config.retry_after, config.auto_approve, config.epoch_s) == (False, False, 0.0)
    assert config.size_refresh_delay_s == 86_400 and config.sleep_latency is False


def test_config_from_mapping_rejects_unknown_keys() -> None:
    assert coerce_config({"seed": 3}).seed == 3
    with pytest.raises(ValueError, match="match_rat"):
        coerce_config({"match_rat": 0.5})


def test_config_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError):
        MockConfig(match_rate=1.5)
