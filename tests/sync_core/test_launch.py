"""Launch validation, through the engine's launch()."""

import random
from dataclasses import replace
from typing import TypedDict, Unpack

import pytest

from sync_core import (
    AdAccountNotGranted,
    AudienceRef,
    Connection,
    ConnectionNotUsable,
    LaunchError,
    NoAdAccount,
    NoAudienceName,
    NoMatchField,
    Step,
    SyncEngine,
    UsageError,
)


def engine(scopes: frozenset[str] = frozenset({"ads:read", "ads:write"})) -> SyncEngine:
    e = SyncEngine(rng=random.Random(0))
    e.connect(
        Connection(id="ws", access_token="t", scopes=scopes, ad_account_ids=frozenset({"1"})), 0.0
    )
    return e


VALID = Step(
    id="s",
    connection_id="ws",
    ad_account_id="1",
    audience=AudienceRef(new="VIP"),
    match_fields=("email",),
)


class StepChanges(TypedDict, total=False):
    """The fields these tests change in the valid step."""

    id: str
    connection_id: str
    ad_account_id: str
    audience: AudienceRef
    match_fields: tuple[str, ...]


def step(**changes: Unpack[StepChanges]) -> Step:
    return replace(VALID, **changes)


MISSING: list[tuple[StepChanges, type[LaunchError], str]] = [
    ({"connection_id": "gone"}, ConnectionNotUsable, "connection"),
    ({"ad_account_id": " "}, NoAdAccount, "ad account"),
    ({"audience": AudienceRef()}, NoAudienceName, "audience"),
    ({"audience": AudienceRef(existing="  ")}, NoAudienceName, "audience"),
    ({"match_fields": ()}, NoMatchField, "match field"),
    ({"match_fields": ("phone",)}, NoMatchField, "match field"),
    ({"ad_account_id": "2"}, AdAccountNotGranted, "not granted"),
]


@pytest.mark.parametrize(("changes", "error", "words"), MISSING)
def test_launch_names_what_is_missing(
    changes: StepChanges, error: type[LaunchError], words: str
) -> None:
    e = engine()
    with pytest.raises(error, match=words) as raised:
        e.launch([step(**changes)], 0.0)
    assert "'s'" in str(raised.value)
    assert isinstance(raised.value, UsageError)


def test_launch_rejects_a_connection_without_ads_scopes() -> None:
    with pytest.raises(ConnectionNotUsable, match="scope"):
        engine(frozenset({"ads:read"})).launch([step()], 0.0)


def test_launch_is_all_or_nothing() -> None:
    e = engine()
    with pytest.raises(NoAdAccount):
        e.launch([step(id="good"), step(id="bad", ad_account_id="")], 0.0)
    with pytest.raises(UsageError, match="unknown step"):
        e.counters("good")
    e.launch([step(id="good")], 0.0)
    assert e.counters("good").entered == 0


def test_launch_rejects_duplicate_step_ids() -> None:
    e = engine()
    with pytest.raises(UsageError, match="twice"):
        e.launch([step(), step()], 0.0)
