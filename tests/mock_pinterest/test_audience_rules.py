"""The audience ``rule`` checks: one test per kind of check, over HTTP, and the table against
the vendored spec (read here, in the tests, never by the mock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from mock_pinterest.audience_rules import EVENT_DATA, FIELDS, LINE_ITEM, FieldCheck, Kind
from tests.mock_pinterest.harness import Harness, hashed
from tests.mock_pinterest.spec import SPEC_PATH


class World:
    """A mock with one ad account, one customer list and an audience on it."""

    def __init__(self) -> None:
        self.mock = Harness({"seed": 3})
        self.headers = self.mock.auth()
        self.account = self.mock.account()
        self.list_id = self.mock.new_list(self.headers, self.account, hashed(2))
        self.url = f"/v5/ad_accounts/{self.account}/audiences"
        created = self.create({"customer_list_id": self.list_id})
        assert created.status_code == 200, created.text
        self.audience_id = str(created.json()["id"])

    def create(self, rule: object, audience_type: str = "CUSTOMER_LIST") -> Any:
        body = {"name": "a", "audience_type": audience_type, "rule": rule}
        return self.mock.http.post(self.url, headers=self.headers, json=body)

    def update(self, rule: object) -> Any:
        url = f"{self.url}/{self.audience_id}"
        return self.mock.http.patch(url, headers=self.headers, json={"rule": rule})

    def refused(self, answer: Any) -> str:
        """The answer is a 400 in the mock's InvalidParameters shape; its message."""
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["code"] == 1 and body["status"] == "failure", body
        return str(body["message"])


@pytest.fixture
def world() -> World:
    return World()


# (field, bad value, what the message says the field must be)
BAD = {
    "string": ("customer_list_id", 5, "must be a string"),
    "integer": ("engager_type", "1", "must be an integer"),
    "integer, not a boolean": ("percentage", True, "must be an integer"),
    "integer, not a float": ("retention_days", 30.5, "must be an integer"),
    "boolean": ("prefill", "true", "must be a boolean"),
    "list of strings": ("seed_id", "123", "must be a list of strings"),
    "list of strings, items": ("engagement_domain", ["a", 1], "must be a list of strings"),
    "object": ("event_source", ["web"], "must be a JSON object"),
    "null": ("url", None, "must be a list of strings"),
    "pattern": ("visitor_source_id", "12a", r"matching ^\d+$"),
    "pattern, empty": ("visitor_source_id", "", r"matching ^\d+$"),
    "pattern, trailing newline": ("ad_account_id", "12\n", r"matching ^\d+$"),
    "pattern, non-ASCII digits": ("customer_list_id", "\u0661\u0662", r"matching ^\d+$"),
    "pattern, list item": ("pin_id", ["1", "x"], r"matching ^\d+$"),
    "enum": ("engagement_type", "CLICK", "among click, save"),
    "enum, list item": ("objective_type", ["AWARENESS", "SALES"], "among AWARENESS"),
    "minimum": ("percentage", 0, "from 1 to 10"),
    "maximum": ("retention_days", 541, "from 1 to 540"),
    "maximum, engager": ("engager_type", 3, "from 1 to 2"),
}


@pytest.mark.parametrize(("field", "value", "says"), BAD.values(), ids=BAD.keys())
def test_audience_rules_refuse_each_kind_on_create_and_update(
    world: World, field: str, value: object, says: str
) -> None:
    rule = {"customer_list_id": world.list_id, field: value}
    for answer in (world.create(rule), world.update(rule)):
        message = world.refused(answer)
        assert message.startswith(f"rule.{field} must be ") and says in message, message
    stored = world.mock.backend.audiences[world.audience_id].rule
    assert stored == {"customer_list_id": world.list_id}
    assert len(world.mock.backend.audiences) == 1


# (rule field, bad nested value, the path and what it must be)
NESTED = {
    "event data, string": (
        "event_data", {"lead_type": {"": 1}}, "event_data.lead_type", "a string"
    ),
    "event data, number sent as the spec's string": (
        "event_data", {"value": 116}, "event_data.value", "a string"
    ),
    "event data, integer": (
        "event_data", {"order_quantity": "2"}, "event_data.order_quantity", "an integer"
    ),
    "event data, enum": ("event_data", {"currency": "usd"}, "event_data.currency", "among UNK"),
    "line item, object": ("event_data", {"line_items": []}, "event_data.line_items", "object"),
    "line item, field": (
        "event_data",
        {"line_items": {"product_id": "11"}},
        "event_data.line_items.product_id",
        "an integer",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "says"), NESTED.values(), ids=NESTED.keys())
def test_audience_rules_refuse_nested_fields_by_their_path(
    world: World, field: str, value: object, path: str, says: str
) -> None:
    rule = {"customer_list_id": world.list_id, field: value}
    for answer in (world.create(rule, "VISITOR"), world.update(rule)):
        message = world.refused(answer)
        assert message.startswith(f"rule.{path} must be ") and says in message, message
    assert world.mock.backend.audiences[world.audience_id].rule == {
        "customer_list_id": world.list_id
    }


def test_audience_rules_number_kind_refuses_booleans_and_text() -> None:
    # No AudienceRule field is a bare number today; the kind is there for the spec's type set.
    check = FieldCheck(kind=Kind.NUMBER, minimum=1, maximum=2)
    assert check.accepts(1) and check.accepts(1.5) and check.accepts(2)
    assert not any(check.accepts(value) for value in (True, "1", None, 0.5, 2.5, [1]))
    assert check.expected() == "a number from 1 to 2"


def test_audience_rules_message_never_echoes_the_value(world: World) -> None:
    secret = "pina_SECRETTOKEN123"
    message = world.refused(world.create({"customer_list_id": secret}))
    assert "SECRETTOKEN" not in message
    message = world.refused(world.create({"seed_id": [secret]}, audience_type="ACTALIKE"))
    assert "SECRETTOKEN" not in message and "rule.seed_id" in message


GOOD = {
    "customer list, as sim and sync_core send it": ("CUSTOMER_LIST", {}),
    "customer list, as the SDK sends it": ("CUSTOMER_LIST", {"ad_account_id": "ACCOUNT"}),
    "unknown fields kept": ("CUSTOMER_LIST", {"extra": [1, {"x": None}], "other": 2.5}),
    "actalike": ("ACTALIKE", {"seed_id": ["1", "2"], "country": "US", "percentage": 10}),
    "visitor": (
        "VISITOR",
        {
            "visitor_source_id": "549755885175",
            "retention_days": 540,
            "event_source": {"=": ["web", "mobile"]},
            "ingestion_source": {"=": ["tag"]},
            "event": "checkout",
            "event_data": {
                "value": "116",
                "currency": "USD",
                "order_quantity": 2,
                "line_items": {"product_id": 11, "product_price": "48", "extra": [1]},
                "custom_field": {"any": ["shape"]},
            },
            "prefill": False,
            "url": [],
        },
    ),
    "engagement": (
        "ENGAGEMENT",
        {
            "engagement_domain": ["www.example.com"],
            "engager_type": 1,
            "engagement_type": "click",
            "objective_type": ["AWARENESS", "VIDEO_COMPLETION"],
            "pin_id": ["34567"],
            "ad_id": ["687201361754"],
            "campaign_id": ["626744528398"],
            "retention_days": 1,
        },
    ),
}


@pytest.mark.parametrize(("audience_type", "extra"), GOOD.values(), ids=GOOD.keys())
def test_audience_rules_accept_valid_rules_and_echo_them(
    world: World, audience_type: str, extra: dict[str, object]
) -> None:
    rule: dict[str, object] = {"customer_list_id": world.list_id}
    rule.update(
        {key: world.account if value == "ACCOUNT" else value for key, value in extra.items()}
    )
    created = world.create(rule, audience_type)
    assert created.status_code == 200, created.text
    assert created.json()["rule"] == rule
    updated = world.update(rule)
    assert updated.status_code == 200, updated.text
    assert updated.json()["rule"] == rule


# -- the table against the spec ----------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> Iterator[dict[str, Any]]:
    with SPEC_PATH.open("rb") as file:
        yield yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


_KIND_OF_TYPE = {
    ("string", None): Kind.STRING,
    ("integer", None): Kind.INTEGER,
    ("number", None): Kind.NUMBER,
    ("boolean", None): Kind.BOOLEAN,
    ("array", "string"): Kind.STRINGS,
    ("object", None): Kind.OBJECT,
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """*schema* with its ``$ref`` (or a lone ``allOf`` of one) followed; sibling keys dropped."""
    if len(schema.get("allOf", ())) == 1:
        return _resolve(spec, schema["allOf"][0])
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return _resolve(spec, resolved)


def _schema_name(schema: dict[str, Any]) -> str:
    if len(schema.get("allOf", ())) == 1:
        return _schema_name(schema["allOf"][0])
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1]


# Each table of the mock beside the spec schema it is derived from.
TABLES = {"AudienceRule": FIELDS, "EventData": EVENT_DATA, "LineItem": LINE_ITEM}


@pytest.mark.parametrize("schema_name", TABLES)
def test_audience_rules_table_declares_every_spec_property_as_typed(
    spec: dict[str, Any], schema_name: str
) -> None:
    fields = TABLES[schema_name]
    properties = spec["components"]["schemas"][schema_name]["properties"]
    assert set(fields) == set(properties)
    for name, declared in properties.items():
        schema = _resolve(spec, declared)
        items = _resolve(spec, schema.get("items", {}))
        check = fields[name]
        assert check.kind is _KIND_OF_TYPE[(schema["type"], items.get("type"))], name
        spec_pattern = schema.get("pattern", items.get("pattern"))
        assert (check.pattern is not None) == (spec_pattern is not None), name
        if spec_pattern is not None:
            assert check.pattern_text == spec_pattern, name
        spec_enum = schema.get("enum", items.get("enum"))
        if spec_enum is not None:
            assert check.enum == tuple(spec_enum), name
        if "properties" in schema:
            assert check.fields is TABLES[_schema_name(declared)], name
        else:
            assert not check.fields, name


SAMPLES: tuple[object, ...] = (
    None, True, False, 0, 1, 2, 3, 10, 11, 540, 541, 1.5, 2.0, "", "1", "12\n", "x", "click",
    "CLICK", [], ["1"], ["x"], [1], ["AWARENESS"], ["SALES"], {}, {"=": ["web"]}, "USD", "usd",
    {"lead_type": "x"}, {"lead_type": 1}, {"product_id": 1}, {"product_id": "1"},
    {"line_items": {"product_id": 1}}, {"line_items": {"product_id": "1"}},
)  # fmt: skip


@pytest.mark.parametrize("schema_name", TABLES)
def test_audience_rules_accept_only_what_the_spec_schema_accepts(
    spec: dict[str, Any], schema_name: str
) -> None:
    """An independent validator (OpenAPI 3.0's, over the spec's schema) never refuses a value
    the mock accepts; the mock is stricter only by the ranges and value lists of the spec's
    descriptions and by reading ``^\\d+$`` as JavaScript does."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    validator = OAS30Validator(root)
    for name, check in TABLES[schema_name].items():
        refused = [value for value in SAMPLES if not check.accepts(value)]
        assert refused, f"{name} refuses none of the samples"
        for value in SAMPLES:
            if check.accepts(value):
                assert validator.is_valid({name: value}), (name, value)
