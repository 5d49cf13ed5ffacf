"""Generated scenario files (hypothesis): valid, boundary and broken values for the main keys.

Whatever the file, loading it either gives a scenario whose short run completes, or one
``ScenarioError`` whose message is one line naming the file and the key; never another
exception, never a hang (each example has a deadline). Valid values are kept small (a run of
at most three simulated minutes at a few users a second) so fifty examples take seconds;
broken ones reach far past every bound, since those must be refused before anything runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.scenario import ScenarioError, parse
from sim.world.driver import simulate
from tests.sim.builders import scenario_toml

SOURCE = "fuzz.toml"

# what TOML can hold that is no duration, rate or count at all
_JUNK = st.sampled_from([-1, 0, 5, 1.5, float("inf"), float("nan"), True, "", "soon", [], {}])
_HUGE = st.sampled_from(["9" * 400 + "s", "99999999999999999999d", "31d", "-5s", "1e9s"])


def _durations(low_s: int, high_s: int) -> st.SearchStrategy[str]:
    return st.integers(low_s, high_s).map(lambda seconds: f"{seconds}s")


def _valid_or_broken(valid: st.SearchStrategy[Any], *broken: Any) -> st.SearchStrategy[Any]:
    """Mostly (about 8 in 10) a valid value; else one of the key's own ``broken`` values (a
    boundary just outside, a value far out) or junk any key must refuse. (``one_of`` alone
    would weigh every listed value alike, drowning the valid ones.)"""
    own = st.sampled_from(broken) if broken else _HUGE
    picks = {8: own, 9: st.one_of(_JUNK, _HUGE)}
    return st.integers(0, 9).flatmap(lambda pick: picks.get(pick, valid))


_DURATION = _valid_or_broken(_durations(60, 180), "1s", "0s", "0", "2h")
_INSTANT = _valid_or_broken(_durations(0, 59), "59s", "3m1s")
_RATE = _valid_or_broken(
    st.sampled_from(["0/s", "1/s", "5/s", "120/min", "3000/h"]),
    "1000001/s",
    "1000000000000000/s",
    "5 per s",
    "-1/s",
)
_COUNT = _valid_or_broken(st.integers(1, 300), 0, 10_000_001, 10**15, -4)
_DELAY = _valid_or_broken(
    st.sampled_from(
        [
            "0s",
            "1ms",
            "2s",
            {"median": "10ms", "p99": "10ms"},  # a constant, written as a curve
            {"median": "0s", "p99": "0s"},
            {"median": "1s", "p99": "5s"},
        ]
    ),
    {"median": "0s", "p99": "1s"},
    {"median": "2s", "p99": "1s"},
    {"median": "1ms"},
    "2h",
)
_LIMIT = _valid_or_broken(st.integers(1, 50), 0, 10_001, 10**12)
_STEP = _valid_or_broken(st.sampled_from(["a", "b"]), "nope")


def _optional(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A table holding any subset of ``keys``."""
    return st.fixed_dictionaries({}, optional=keys)


_TRAFFIC_KEYS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "poisson": {"rate": _RATE},
    "constant": {"rate": _RATE},
    "blast": {"count": _COUNT},
    "ramp": {"rate": _RATE, "rate_end": _RATE},
    "diurnal": {"rate": _RATE, "peak": _RATE, "period": _DURATION},
    "meteor": {},
}


@st.composite
def _traffic_row(draw: st.DrawFn) -> dict[str, Any]:
    kinds = sorted(set(_TRAFFIC_KEYS) - {"meteor"})
    kind = draw(_valid_or_broken(st.sampled_from(kinds), "meteor"))
    # junk of another type (a number, a table) takes no key, as the unknown kind does
    keys = _TRAFFIC_KEYS.get(kind, {}) if isinstance(kind, str) else {}
    row: dict[str, Any] = {"step": draw(_STEP), "kind": kind}
    row |= draw(st.fixed_dictionaries(keys))
    row |= draw(_optional(start=_INSTANT, end=_INSTANT, replay=_STEP))
    return row


_FAULT_ROW = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.just("latency"), "at": _INSTANT},
        optional={"until": _INSTANT, "median": _DELAY, "p99": _DELAY, "extra": _DELAY},
    ),
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["server_errors", "rate_limit_storm"]), "at": _INSTANT},
        optional={"until": _INSTANT, "share": st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.1])},
    ),
)

_NAME = _valid_or_broken(st.sampled_from(["fuzz", "fuzz_2.v1"]), "../up", "/abs", "a/b", "..")

_DOCUMENT = st.fixed_dictionaries(
    {
        "name": _NAME,
        "duration": _DURATION,
        "steps": st.just([{"id": "a"}, {"id": "b", "action": "remove"}]),
        "traffic": st.lists(_traffic_row(), min_size=1, max_size=2),
        "faults": st.lists(_FAULT_ROW, max_size=1),
        "sync": _optional(
            flush_interval=_valid_or_broken(
                st.sampled_from(["100ms", "1s", "5s"]), "99ms", "1ns", "2h"
            ),
            requests_per_second=_LIMIT,
            max_in_flight=_LIMIT,
            request_timeout=_valid_or_broken(st.sampled_from(["1s", "30s"]), "0s", "2h"),
        ),
        "network": _optional(service=_DELAY, propagation=_DELAY, connections=_LIMIT),
        "seed": _valid_or_broken(st.integers(0, 2**63 - 1), 2**63),
    }
)


@settings(
    max_examples=50,
    deadline=timedelta(seconds=20),
    derandomize=True,  # the same fifty files on every machine: CI stays reproducible
    suppress_health_check=[HealthCheck.too_slow],
)
@given(document=_DOCUMENT)
def test_a_generated_scenario_runs_or_is_refused_in_one_line(document: dict[str, Any]) -> None:
    text = scenario_toml(**document)
    try:
        scenario = parse(text, SOURCE)
    except ScenarioError as error:
        message = str(error)
        assert "\n" not in message, message
        assert error.key, message  # the generated TOML is always valid: a key is to blame
        assert message == f"{SOURCE}: {error.key}: {error.reason}"
        event("refused")
        return
    data = simulate(scenario, scenario.seed)
    event(f"ran {len(scenario.traffic)} traffic rows, {len(scenario.faults)} faults")
    assert data.users["step"].isin([step.id for step in scenario.steps]).all()
