"""``pinsim live run --config``: parsing, refusals naming the key, and applying to a store."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from sync_core import Action, AudienceRef, Pacing, Step
from sync_core.live import config as live_config
from sync_core.live.command import main
from sync_core.live.config import ConfigError, parse
from sync_core.live.logs import JsonLinesFormatter
from sync_core.live.store import SqliteStore
from sync_core.preflight import Blast, EntryProfile, Flow
from tests.sync_core.live.world import ACCOUNT, live_mock


def documented_example() -> str:
    doc = live_config.__doc__ or ""
    return doc.split("```toml\n", 1)[1].split("```", 1)[0]


def test_config_documented_example_parses_as_documented() -> None:
    parsed = parse(tomllib.loads(documented_example()))
    assert parsed.sync.flush_interval_s == 5.0
    assert parsed.worker.checkpoint_interval_s == 1.0
    assert parsed.mock_users == {"workspace": "acme"}
    assert parsed.steps == (
        Step(
            id="vip-add",
            connection_id="workspace",
            ad_account_id="549755885175",
            audience=AudienceRef(new="VIP buyers"),
            action=Action.ADD,
            match_fields=("email", "maid"),
            last_step=False,
        ),
    )


def test_config_reads_pacing_and_remove() -> None:
    parsed = parse(
        {
            "sync": {"pacing": "fixed"},
            "step": [
                {
                    "id": "s",
                    "connection_id": "c",
                    "ad_account_id": "1",
                    "audience_existing": "Lapsed",
                    "action": "remove",
                }
            ],
        }
    )
    assert parsed.sync.pacing is Pacing.FIXED
    assert parsed.steps[0].action is Action.REMOVE
    assert parsed.steps[0].audience == AudienceRef(existing="Lapsed")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"sink": {}}, "(top level).sink"),
        ({"sync": {"flush_interval": 5}}, "sync.flush_interval"),
        ({"sync": {"flush_interval_s": 0}}, "sync"),
        ({"sync": {"pacing": "eager"}}, "sync.pacing"),
        ({"worker": {"checkpoint_every": 1}}, "worker.checkpoint_every"),
        ({"step": [{"connection_id": "c", "ad_account_id": "1"}]}, "step[0].id"),
        (
            {"step": [{"id": "s", "connection_id": "c", "ad_account_id": "1", "action": "x"}]},
            "step[0].action",
        ),
        ({"connection": [{"id": "c", "access_token": "t"}]}, "connection[0].access_token"),
    ],
)
def test_config_refusal_names_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert caught.value.key == key


def test_config_apply_saves_steps_and_mints_mock_tokens_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "live.db")
    parsed = parse(tomllib.loads(documented_example()))
    with live_mock() as mock:
        mock.admin("/_mock/users", {"user": "acme", "ad_account_ids": [ACCOUNT]})
        live_config.apply(parsed, store, mock.origin)
        (first,) = store.connections()
        live_config.apply(parsed, store, mock.origin)
        (again,) = store.connections()
    assert first.id == "workspace" and first.ad_account_ids == {ACCOUNT}
    assert again.access_token == first.access_token  # not minted twice
    assert store.steps() == list(parsed.steps)
    store.close()


def test_config_bad_file_makes_live_run_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.toml"
    path.write_text("[sync]\nflush_every = 1\n")
    code = main(
        [
            "--store",
            str(tmp_path / "x.db"),
            "--api-base",
            "http://127.0.0.1:9",
            "--config",
            str(path),
        ]
    )
    assert code == 2
    assert "sync.flush_every" in capsys.readouterr().err
    for name in ("pinsim", "sync_core"):  # no handler left writing to this test's stderr
        handlers = logging.getLogger(name).handlers
        assert not [h for h in handlers if isinstance(h.formatter, JsonLinesFormatter)]


def test_config_expected_traffic_is_the_preflight_profile() -> None:
    parsed = parse(tomllib.loads(documented_example()))
    assert parsed.expected == EntryProfile(
        flows=(Flow(step="vip-add", rate_per_s=50.0, end_s=86400.0),),
        blasts=(Blast(step="vip-add", users=200_000.0),),
        round_trip_s=0.2,
    )
    step = {"id": "s", "connection_id": "c", "ad_account_id": "1"}
    assert parse({"step": [step]}).expected is None
    for raw, key in (
        ({"step": [{**step, "expected_rate": -1}]}, "step[0].expected_rate"),
        ({"step": [{**step, "expected_blast": "many"}]}, "step[0].expected_blast"),
        ({"preflight": {"horizon_s": 0}}, "preflight.horizon_s"),
        ({"preflight": {"window": 1}}, "preflight.window"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse(raw)
        assert caught.value.key == key
