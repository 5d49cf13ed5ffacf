"""sim.sweep.axes: reading --vary, the cartesian plan validated up front, and steps=N."""

import pytest

from sim.scenario import Scenario, from_raw
from sim.scenario.units import parse_rate
from sim.sweep.axes import (
    Axis,
    SweepError,
    parse_axis,
    parse_value,
    plan_runs,
    replicate_first_step,
)
from tests.sim.builders import build_scenario, fault, step, traffic
from tests.sim.sweep_samples import blast


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("-2", -2),
        ("0.25", 0.25),
        ("true", True),
        ("false", False),
        ("1000/s", "1000/s"),
        ("300ms", "300ms"),
        ('"7"', "7"),
        (" 7 ", 7),
    ],
)
def test_parse_value_reads_toml_like_scalars(text: str, value: object) -> None:
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_axis_splits_key_and_values() -> None:
    axis = parse_axis("traffic.0.rate=1000/s, 5000/s")
    assert axis == Axis("traffic.0.rate", ("1000/s", "5000/s"))


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("steps", "--vary", "expected KEY=V1,V2"),
        ("=1,2", "--vary", "expected KEY=V1,V2"),
        ("seed=1,,2", "--vary seed", "empty value"),
        ("seed=1,1", "--vary seed", "given twice"),
        ("seed=-1", "--vary seed", "non-negative integer"),
        ("seed=x", "--vary seed", "non-negative integer"),
        ("steps=0", "--vary steps", "integer ≥ 1"),
        ("steps=2.5", "--vary steps", "integer ≥ 1"),
    ],
)
def test_parse_axis_errors_name_the_flag(text: str, key: str, reason: str) -> None:
    with pytest.raises(SweepError) as caught:
        parse_axis(text, "x.toml")
    assert caught.value.file == "x.toml" and caught.value.key == key
    assert reason in caught.value.reason


def test_plan_runs_is_cartesian_first_axis_slowest() -> None:
    axes = [parse_axis("traffic.0.count=10,20"), parse_axis("seed=1,2,3")]
    runs = plan_runs(blast(), axes)
    assert [run.index for run in runs] == list(range(6))
    assert [run.params for run in runs] == [
        (("traffic.0.count", count), ("seed", seed)) for count in (10, 20) for seed in (1, 2, 3)
    ]
    assert [run.seed for run in runs] == [1, 2, 3] * 2
    assert [run.raw["traffic"][0]["count"] for run in runs] == [10] * 3 + [20] * 3
    assert from_raw(runs[4].raw, runs[4].source).traffic[0].count == 20


def test_plan_runs_defaults_to_the_scenarios_seed() -> None:
    runs = plan_runs(blast(), [parse_axis("sync.requests_per_second=5,7")])
    assert [run.seed for run in runs] == [3, 3]
    assert [run.raw["sync"]["requests_per_second"] for run in runs] == [5, 7]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("traffic.9.rate=1/s", "traffic.9: no element 9 (has 1)"),
        ("sync.requests_per_secnd=5", "did you mean 'requests_per_second'"),
        ("sync.requests_per_second=5,many", "expected an integer"),
        # the second value only fails against the default p99 of 600 ms
        ("network.propagation.median=1ms,1s", "p99 must not be below the median"),
    ],
)
def test_plan_runs_validates_every_combination(text: str, reason: str) -> None:
    with pytest.raises(SweepError) as caught:
        plan_runs(blast(), [parse_axis("seed=1,2"), parse_axis(text)])
    assert str(caught.value).startswith(f"tiny_blast.toml: --vary {text.partition('=')[0]}: ")
    assert reason in caught.value.reason


def test_plan_runs_refuses_an_axis_given_twice() -> None:
    with pytest.raises(SweepError, match="--vary seed: given twice"):
        plan_runs(blast(), [parse_axis("seed=1"), parse_axis("seed=2")])


def _split(*extra: dict[str, object], blast_count: int = 10) -> Scenario:
    """Four kinds of rows and a fault on step "vip" (into "VIP"), a row on step "other", and
    bounds on the totals and on "vip": what splitting the first step must carry over."""
    return build_scenario(
        "split.toml",
        duration="1h",
        steps=[step("vip", audience={"new": "VIP"}), step("other")],
        traffic=[
            traffic("vip", "poisson", rate="1000/s"),
            traffic("vip", "blast", count=blast_count),
            traffic("vip", "ramp", rate="3/s", rate_end="30/min"),
            traffic("other", "constant", rate="1/s"),
            *extra,
        ],
        faults=[fault("delete_audience", "10m", step="vip")],
        expect={"errored": 0, "steps": {"vip": {"synced_min": 5}}},
    )


def test_replicate_first_step_keeps_the_total_rate() -> None:
    scenario = _split()
    split = from_raw(replicate_first_step(dict(scenario.raw), 4), "split.toml")
    ids = ["vip-1", "vip-2", "vip-3", "vip-4"]
    assert [step.id for step in split.steps] == [*ids, "other"]
    assert [step.audience.new for step in split.steps[:4]] == [f"VIP-{i}" for i in range(1, 5)]
    assert {step.connection for step in split.steps} == {"workspace"}  # one token
    rows = {kind: [row for row in split.traffic if row.kind == kind] for kind in ("poisson",)}
    assert [row.step for row in rows["poisson"]] == ids
    assert sum(row.rate_per_s for row in rows["poisson"]) == pytest.approx(1000.0)
    blasts = [row.count for row in split.traffic if row.kind == "blast"]
    assert blasts == [3, 3, 2, 2]
    ramps = [row for row in split.traffic if row.kind == "ramp"]
    assert sum(row.rate_per_s for row in ramps) == pytest.approx(3.0)
    assert sum(row.rate_end_per_s for row in ramps) == pytest.approx(parse_rate("30/min"))
    assert split.traffic[-1].step == "other" and split.traffic[-1].rate_per_s == 1.0
    assert [fault.step for fault in split.faults] == ids
    assert dict(split.expect.steps) == {}  # per-step bounds do not divide
    assert split.expect.totals.errored == 0


def test_replicate_first_step_once_changes_nothing() -> None:
    raw = dict(_split().raw)
    assert replicate_first_step(raw, 1) is raw


def test_plan_runs_steps_axis_splits_the_first_step() -> None:
    runs = plan_runs(blast(count=100), [parse_axis("steps=1,3")])
    assert [step["id"] for step in runs[0].raw["step"]] == ["a"]
    assert [step["id"] for step in runs[1].raw["step"]] == ["a-1", "a-2", "a-3"]
    assert [row["count"] for row in runs[1].raw["traffic"]] == [34, 33, 33]


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (_split(blast_count=3), "traffic.1.count: 3 users cannot fill 4"),
        (build_scenario("split.toml", duration="1h"), "no [[step]] to split"),
        (
            _split(traffic("other", "constant", rate="1/s", replay="vip")),
            "replays step 'vip'",
        ),
    ],
)
def test_plan_runs_steps_axis_refuses_what_cannot_split(scenario: Scenario, reason: str) -> None:
    with pytest.raises(SweepError) as caught:
        plan_runs(scenario, [parse_axis("steps=4")])
    assert caught.value.key == "--vary steps" and reason in caught.value.reason
