"""sync_core.user_ids: packed ids read back as the list of strings they were given."""

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.user_ids import UserIds

CALLS = st.lists(st.lists(st.text(max_size=12), max_size=20), max_size=8)


def packed(calls: list[list[str]]) -> UserIds:
    ids = UserIds()
    for call in calls:
        ids.extend(call)
    return ids


@given(CALLS)
def test_packed_ids_read_back_as_the_list_they_were_given(calls: list[list[str]]) -> None:
    expected = [user_id for call in calls for user_id in call]  # ASCII, unicode, empty alike
    ids = packed(calls)
    assert len(ids) == len(expected)
    assert list(ids) == expected
    assert [ids[i] for i in range(-len(expected), 0)] == expected
    assert list(pickle.loads(pickle.dumps(ids))) == expected


def test_the_buffers_are_the_utf8_text_and_each_ids_end() -> None:
    ids = packed([["a", "bc"], ["ü", ""], ["d"]])
    assert ids.text == "abcü".encode() + b"d"
    assert list(ids.ends) == [1, 3, 5, 5, 6]


def test_a_copy_is_frozen_while_the_original_grows() -> None:
    ids = packed([["a", "b"]])
    frozen = ids.copy()
    ids.extend(["c"])
    assert list(frozen) == ["a", "b"] and list(ids) == ["a", "b", "c"]


def test_an_index_out_of_range_is_an_index_error() -> None:
    ids = packed([["a", "b", "c"]])
    for index in (3, -4, -6):
        with pytest.raises(IndexError):
            ids[index]
