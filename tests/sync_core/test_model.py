"""Configuration and Canvas model."""

import pytest

from sync_core import AudienceRef, Connection, SyncConfig, UsageError


def test_sync_config_defaults_are_the_vendor_figures() -> None:
    config = SyncConfig()
    assert (config.flush_interval_s, config.requests_per_second) == (5.0, 7)
    assert (config.max_records_per_request, config.retry_window_s) == (1900, 13 * 3600.0)


def test_sync_config_rejects_non_positive_settings() -> None:
    with pytest.raises(UsageError, match="flush_interval_s"):
        SyncConfig(flush_interval_s=0)


def test_connection_repr_never_shows_tokens() -> None:
    text = repr(Connection(id="c", access_token="pina_SECRET", client_secret="shh"))
    assert "SECRET" not in text and "shh" not in text


def test_audience_ref_names_new_or_existing() -> None:
    assert (AudienceRef(new=" VIP ").name, AudienceRef(new=" VIP ").is_new) == ("VIP", True)
    assert (AudienceRef(existing="Old").name, AudienceRef(existing="Old").is_new) == ("Old", False)
