from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_pinterest.customer_lists import OPERATION_TYPES
from mock_pinterest.errors import InvalidParameters
from mock_pinterest.records import LIST_TYPES, HexText, parse_body, parse_records
from mock_pinterest.wire import enum_field, text_field
from sync_core.wire import update_customer_list

SHA256 = hashlib.sha256(b"a").hexdigest()
MD5 = hashlib.md5(b"a").hexdigest()
SHA1 = hashlib.sha1(b"a").hexdigest()
HEX = "0123456789abcdef" * 4

# The oracle: FIDELITY.md "Customer lists" spelled out once more, one regex per list type,
# applied item by item with none of parse_records' shortcuts.
_REFERENCE_HASH = r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}"
REFERENCE_ITEM = {
    "EMAIL": re.compile(rf"{_REFERENCE_HASH}|[^,@\sA-Z]+@[^,@\sA-Z]+"),
    "IDFA": re.compile(_REFERENCE_HASH),
    "MAID": re.compile(_REFERENCE_HASH),
    "LR_ID": re.compile(r"[^,\s]+"),
    "DLX_ID": re.compile(r"[^,\s]+"),
    "HASHED_PINNER_ID": re.compile(r"[^,\s]+"),
}
PROPERTY = settings(max_examples=200, deadline=None)


def _reference_records(records: str, list_type: str) -> tuple[frozenset[str], int, int]:
    items = [item for item in records.split(",") if item]
    valid = frozenset(item for item in items if REFERENCE_ITEM[list_type].fullmatch(item))
    return valid, len(items), sum(item not in valid for item in items)


def _fast_records(records: str, list_type: str) -> tuple[frozenset[str], int, int]:
    parsed = parse_records(records, list_type)
    return frozenset(parsed.valid), parsed.sent, parsed.invalid


def _parse_outcome(read: Callable[[], object]) -> tuple[object, ...]:
    """What a parse gave, comparable: the value with its key order, or the exact error."""
    try:
        return ("parsed", repr(read()))
    except ValueError as error:
        return ("error", type(error), str(error))


# --- the records string -----------------------------------------------------------------


def test_records_counts_duplicates_and_skips_empty_items() -> None:
    parsed = parse_records(f"{SHA256},{SHA256},,{MD5},", "MAID")
    assert (parsed.sent, parsed.invalid) == (3, 0)
    assert parsed.valid == {SHA256, MD5}


def test_records_maid_lists_take_hashes_only() -> None:
    parsed = parse_records(f"a@b.co,{SHA256.upper()},{SHA256}", "MAID")
    assert parsed.valid == {SHA256} and parsed.invalid == 2


def test_records_email_lists_take_lowercase_emails_and_hashes() -> None:
    parsed = parse_records(f"ok@b.co,Bad@B.co,{SHA256},{SHA256[:-1]}", "EMAIL")
    assert parsed.valid == {"ok@b.co", SHA256} and parsed.invalid == 2


def test_records_partner_ids_take_any_item_without_spaces() -> None:
    assert parse_records("abc,x y", "LR_ID").valid == {"abc"}


@pytest.mark.parametrize("digest", [SHA256, SHA1, MD5])
def test_records_uniform_digests_keep_every_item(digest: str) -> None:
    records = f"{digest},{digest[::-1]},{digest}"
    for given_records in (records, HexText(records)):
        parsed = parse_records(given_records, "EMAIL")
        assert (parsed.valid, parsed.sent, parsed.invalid) == ({digest, digest[::-1]}, 3, 0)


@pytest.mark.parametrize(
    "records",
    [
        f"{SHA256},{SHA256[:-1]},{SHA256}0",  # the right total, but a comma off its stride
        f"{SHA256},{SHA256[:-2]}",
        f"{SHA256},{SHA256},",
        f"{MD5},{SHA256}",
        SHA256[:31],
        "",
    ],
)
def test_records_non_uniform_hex_takes_the_general_path(records: str) -> None:
    items = [item for item in records.split(",") if item]
    valid = {item for item in items if len(item) in (32, 40, 64)}
    parsed = parse_records(HexText(records), "MAID")
    assert parsed.valid == valid
    assert (parsed.sent, parsed.invalid) == (len(items), sum(item not in valid for item in items))


# --- generated records strings and bodies -----------------------------------------------

LOWER_HEX = "0123456789abcdef"
DIGEST_LENGTHS = (32, 40, 64)


def _hex(lengths: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    return lengths.flatmap(lambda length: st.text(LOWER_HEX, min_size=length, max_size=length))


DIGESTS = _hex(st.sampled_from(DIGEST_LENGTHS))
HEX_ITEMS = st.one_of(
    DIGESTS,
    DIGESTS,
    st.just(""),
    _hex(st.sampled_from([length + step for length in DIGEST_LENGTHS for step in (-1, 1)])),
    st.text(LOWER_HEX, max_size=70),
)
ITEMS = st.one_of(
    HEX_ITEMS,
    DIGESTS.map(str.upper),  # a digest's length, not its alphabet
    st.text(LOWER_HEX + "ABCDEF", max_size=70),
    st.from_regex(r"[a-zA-Z0-9._]{1,8}@[a-zA-Z0-9.]{1,8}", fullmatch=True),
    st.text(max_size=12),
)


@st.composite
def near_uniform(draw: st.DrawFn) -> str:
    """Digests of one length with one comma perhaps moved a few places: the right total
    length, the comma off its stride."""
    items = draw(st.lists(_hex(st.just(draw(st.sampled_from(DIGEST_LENGTHS)))), min_size=2))
    records = ",".join(items)
    commas = [at for at, char in enumerate(records) if char == ","]
    at, shift = draw(st.sampled_from(commas)), draw(st.sampled_from([-2, -1, 0, 1, 2]))
    moved = records[:at] + records[at + 1 :]
    return moved[: at + shift] + "," + moved[at + shift :]


RECORDS_TEXT = st.one_of(
    st.lists(HEX_ITEMS, max_size=12).map(",".join),
    near_uniform(),
    st.lists(ITEMS, max_size=12).map(",".join),
    # very long strings: the engine's 1,900 digests, and one long item without a comma
    st.tuples(DIGESTS, st.integers(0, 2500), st.booleans()).map(
        lambda drawn: ",".join([drawn[0]] * drawn[1]) + ("," if drawn[2] else "")
    ),
    st.tuples(st.text(min_size=1, max_size=3), st.integers(0, 40_000)).map(
        lambda drawn: drawn[0] * drawn[1]
    ),
)


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: its members in order, duplicate keys allowed."""

    members: tuple[tuple[str, object], ...]


# Text made of the pieces the splice looks for: a key inside another string, a stray quote or
# backslash before it.
AWKWARD_TEXT = st.one_of(
    st.lists(st.sampled_from(['"records"', "records", '"', "\\", ":", ",", "{", "0a"])).map(
        "".join
    ),
    st.text(max_size=12),
)
# "records" a third of the time: duplicates, nested and escaped twins of the key.
KEYS = st.one_of(st.just("records"), st.sampled_from(["operation_type", "name"]), AWKWARD_TEXT)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    AWKWARD_TEXT,
    RECORDS_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(st.tuples(KEYS, inner), max_size=3).map(lambda members: Obj(tuple(members))),
    ),
    max_leaves=6,
)
# Hypothesis leans to the first choice and to zeros: the common case comes first.
ONE_IN_FIVE = st.sampled_from([False, False, False, False, True])
RECORDS_VALUES = st.one_of(RECORDS_TEXT, RECORDS_TEXT, RECORDS_TEXT, VALUES)
OPERATION_VALUES = st.one_of(st.sampled_from(OPERATION_TYPES), VALUES)


@st.composite
def patch_objects(draw: st.DrawFn) -> Obj:
    """A PATCH body's members: maybe ``operation_type`` and ``records``, other keys (duplicates
    of those two among them), in any order."""
    members = [("operation_type", draw(OPERATION_VALUES)), ("records", draw(RECORDS_VALUES))]
    members = [member for member in members if draw(ONE_IN_FIVE) is False]
    members += draw(st.lists(st.tuples(KEYS, st.one_of(st.just(""), VALUES)), max_size=3))
    return Obj(tuple(draw(st.permutations(members))))


class Raw(str):
    """A key already written as JSON text (an escaped twin of ``records``)."""

    __slots__ = ()


HEX_RECORDS = st.one_of(st.lists(HEX_ITEMS, max_size=12).map(",".join), near_uniform())
TWIN_KEYS = st.sampled_from(
    ["records", "records", Raw('"\\u0072ecords"'), Raw('"record\\u0073"'), 'x"records']
)
TWIN_VALUES = st.one_of(HEX_RECORDS, st.just(""), VALUES)
TWINS = st.lists(st.tuples(TWIN_KEYS, TWIN_VALUES), max_size=3)


@st.composite
def around_the_splice(draw: st.DrawFn) -> object:
    """``records`` members, most plain hex, among the splice's traps: twins of the key
    (escaped, inside another key, empty-valued), before or after each other, at the top or
    nested."""
    members = [("records", draw(HEX_RECORDS)), *draw(TWINS)]
    members += [("operation_type", draw(OPERATION_VALUES))] * draw(st.booleans())
    value: object = Obj(tuple(draw(st.permutations(members))))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        outer = draw(TWINS)
        at = draw(st.integers(0, len(outer)))
        key = draw(st.sampled_from(["audience", "records"]))
        value = draw(st.sampled_from([Obj((*outer[:at], (key, value), *outer[at:])), [value]]))
    return value


_WHITESPACE = ("", "", "", " ", "\n", "\t", "\r\n  ")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_SHORT_ESCAPES |= {"\r": "\\r", "\t": "\\t"}


def _escaped(char: str, rnd: random.Random) -> str:
    """``char`` as a JSON escape: a short one if it has one, else ``\\uXXXX`` (a surrogate pair
    beyond the BMP), hex digits in either case."""
    if char in _SHORT_ESCAPES and rnd.random() < 0.5:
        return _SHORT_ESCAPES[char]
    units = char.encode("utf-16-be")
    escape = "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    return escape.upper().replace("\\U", "\\u") if rnd.random() < 0.5 else escape


@dataclass(frozen=True)
class Writer:
    """Writes values as JSON text with random whitespace between tokens and, when ``escapes``,
    characters escaped at random in short strings (else only the escapes JSON requires)."""

    rnd: random.Random
    escapes: bool

    def string(self, text: str) -> str:
        rnd = self.rnd
        if isinstance(text, Raw):
            return text
        if not self.escapes or len(text) > 200 or rnd.random() < 0.3:
            return json.dumps(text, ensure_ascii=self.escapes and rnd.random() < 0.3)
        rate = rnd.random()
        chars = (
            _escaped(char, rnd) if char in '"\\' or char < " " or rnd.random() < rate else char
            for char in text
        )
        return '"' + "".join(chars) + '"'

    def dump(self, value: object) -> str:
        if isinstance(value, Obj):
            members = [
                f"{self.ws()}{self.string(key)}{self.ws()}:{self.ws()}{self.dump(item)}{self.ws()}"
                for key, item in value.members
            ]
            return "{" + (",".join(members) or self.ws()) + "}"
        if isinstance(value, list):
            items = [self.ws() + self.dump(item) + self.ws() for item in value]
            return "[" + (",".join(items) or self.ws()) + "]"
        if isinstance(value, str):
            return self.string(value)
        return json.dumps(value)

    def ws(self) -> str:
        return self.rnd.choice(_WHITESPACE)


# Every encoding json.loads detects; the engine sends UTF-8.
ENCODINGS = st.sampled_from(
    ["utf-8"] * 24 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
)
JSON_BYTES = b'"\\,:{}[] \t\n\x00\x1f\xff0aAr'


@st.composite
def malformed(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut short, or with one byte dropped, inserted or replaced."""
    at = draw(st.integers(0, len(data)))
    byte = bytes([draw(st.sampled_from(JSON_BYTES))])
    cut, dropped = data[:at], data[:at] + data[at + 1 :]
    inserted, replaced = data[:at] + byte + data[at:], data[:at] + byte + data[at + 1 :]
    return draw(st.sampled_from([cut, dropped, inserted, replaced]))


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Request bodies, well-formed or not, with a ``records`` member or near one."""
    value = draw(st.one_of(around_the_splice(), patch_objects(), VALUES))
    text = Writer(draw(st.randoms()), escapes=draw(st.booleans())).dump(value)
    text = draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", "\r\n"]))
    data = text.encode(draw(ENCODINGS))
    return draw(malformed(data)) if draw(ONE_IN_FIVE) else data


RAW_BODIES = st.tuples(st.binary(max_size=24), st.text(LOWER_HEX + ",", max_size=80)).map(
    lambda drawn: drawn[0][:12] + b'"records":"' + drawn[1].encode() + b'"' + drawn[0][12:]
)
ALL_BODIES = st.one_of(*[bodies()] * 8, RAW_BODIES, st.binary(max_size=40))

# Bodies around the splice: each must parse exactly as json.loads does.
TRICKY_BODIES = [
    b'{"records":"' + f"{HEX},{HEX}".encode() + b'","operation_type":"ADD"}',
    b'{ "operation_type" : "ADD" ,\n "records"\t:\r "' + HEX.encode() + b',"}',
    b'{"records":""}',
    b'{"records":"' + HEX.upper().encode() + b'"}',
    b'{"records":"a@b.co,' + HEX.encode() + b'"}',
    b'{"records":"' + HEX.encode() + b'","records":"ab"}',
    b'{"records":"' + HEX.encode() + b'","records":""}',
    b'{"records":"' + HEX.encode() + b'","\\u0072ecords":""}',
    b'{"\\u0072ecords":"","x\\"records":"' + HEX.encode() + b'"}',
    b'{"records":"' + HEX.encode() + b'","\\u0072ecords":"ab"}',
    b'{"\\"records":"' + HEX.encode() + b'"}',
    b'{"a":"\\"","records":"' + HEX.encode() + b'"}',
    b'{"a":{"records":"' + HEX.encode() + b'"}}',
    b'{"a":["records","' + HEX.encode() + b'"]}',
    b'["records":"' + HEX.encode() + b'"]',
    b'{"records":"' + HEX.encode() + b'",}',
    b'{"records":"' + HEX.encode() + b'"',
    b'{"records":"' + HEX.encode(),
    b'\xef\xbb\xbf{"records":"' + HEX.encode() + b'"}',
    b'{"records":"' + HEX.encode() + b'","name":"\xff"}',
    b'{"records":5}',
    # UTF-16: bytes that spell "records":"ab" inside another string (CJK characters) are not
    # a key; only a UTF-8 body may be cut as bytes.
    ('{"records":"","x":"' + b'"records":"ab"'.decode("utf-16-le") + '"}').encode("utf-16-le"),
]


def _assert_parses_as_json_loads(body: bytes) -> None:
    fast = _parse_outcome(lambda: parse_body(body, json.loads))
    assert fast == _parse_outcome(lambda: json.loads(body))
    parsed = parse_body(body, json.loads) if fast[0] == "parsed" else None
    records = parsed.get("records") if isinstance(parsed, dict) else None
    # parse_records trusts the marker: it must never stand on other characters.
    assert type(records) is not HexText or not records.strip(LOWER_HEX + ",")


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_records_parse_body_is_json_loads_on_tricky_bodies(body: bytes) -> None:
    _assert_parses_as_json_loads(body)


@PROPERTY
@given(body=ALL_BODIES)
def test_records_parse_body_is_json_loads(body: bytes) -> None:
    _assert_parses_as_json_loads(body)


@PROPERTY
@given(records=RECORDS_TEXT, list_type=st.sampled_from(LIST_TYPES))
def test_records_parse_records_follows_the_item_rules(records: str, list_type: str) -> None:
    expected = _reference_records(records, list_type)
    assert _fast_records(records, list_type) == expected
    if not records.strip(LOWER_HEX + ","):
        assert _fast_records(HexText(records), list_type) == expected


def _read_patch(
    body: bytes,
    list_type: str,
    loads: Callable[[bytes], Any],
    records_of: Callable[[str, str], tuple[frozenset[str], int, int]],
) -> tuple[object, ...]:
    """A customer-list PATCH body as ``customer_lists_update`` reads it: the records, or why
    the body is a 400."""
    try:
        parsed = loads(body)
    except ValueError as error:
        return ("malformed", type(error), str(error))
    if not isinstance(parsed, dict):
        return ("not an object",)
    try:
        operation_type = enum_field(parsed, "operation_type", OPERATION_TYPES)
        records = text_field(parsed, "records")
    except InvalidParameters as error:
        return ("invalid", str(error))
    assert records is not None
    return ("read", operation_type, records_of(records, list_type))


@PROPERTY
@given(body=ALL_BODIES, list_type=st.sampled_from(LIST_TYPES))
def test_records_fast_path_reads_a_patch_as_json_loads_does(body: bytes, list_type: str) -> None:
    fast = _read_patch(body, list_type, partial(parse_body, loads=json.loads), _fast_records)
    assert fast == _read_patch(body, list_type, json.loads, _reference_records)


@PROPERTY
@given(
    digests=st.lists(DIGESTS, min_size=1, max_size=50), operation=st.sampled_from(OPERATION_TYPES)
)
def test_records_parse_body_splices_the_engines_bodies(digests: list[str], operation: str) -> None:
    # The shortcut must apply to what the sync engine sends, or the mock's hot path is lost.
    _, _, _, body = update_customer_list("token", "1", "2", ",".join(digests), operation)
    assert body is not None
    parsed = parse_body(body, json.loads)
    assert type(parsed["records"]) is HexText
    assert repr(parsed) == repr(json.loads(body))
