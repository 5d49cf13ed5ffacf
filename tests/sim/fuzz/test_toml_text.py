"""sim.fuzz.toml_text: ``tomllib`` reads back exactly what ``dumps`` wrote.

Generated documents (hypothesis) are the independent truth: any table, array of tables, scalar
or list the writer accepts must come back equal, floats to the bit.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fuzz.schedules import schedule
from sim.fuzz.toml_text import dumps

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_KEYS = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), _TEXT)
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    _TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=8,
)
_ROWS = st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), min_size=1, max_size=3)
_TABLES = st.recursive(
    st.dictionaries(_KEYS, _VALUES, max_size=4),
    lambda inner: st.dictionaries(_KEYS, st.one_of(inner, _ROWS, _VALUES), max_size=4),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(_TABLES)
def test_generated_documents_read_back_equal(document: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(document)) == document


def test_every_fuzz_schedule_reads_back_equal() -> None:
    for number in range(50):
        document = schedule(9, number)
        assert tomllib.loads(dumps(document)) == document


def test_special_floats_and_awkward_strings() -> None:
    document = {"f": [math.inf, -math.inf, 1e-300, 5e22, -0.0], "s": 'a"\\\n\t\x00\x7fé', "e": {}}
    back = tomllib.loads(dumps(document))
    assert back == document
    assert math.copysign(1, back["f"][4]) == -1
    assert math.isnan(tomllib.loads(dumps({"n": math.nan}))["n"])


def test_a_row_table_is_inline_and_a_table_is_a_section() -> None:
    text = dumps({"scenario": {"name": "x"}, "step": [{"id": "a", "audience": {"new": "V"}}]})
    assert text == '[scenario]\nname = "x"\n\n[[step]]\nid = "a"\naudience = { new = "V" }\n'


@pytest.mark.parametrize("value", [None, b"bytes", object(), {1: "int key"}])
def test_a_type_toml_cannot_hold_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        dumps({"key": value})
