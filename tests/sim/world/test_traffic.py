"""sim.world.traffic: bulk arrivals per tick, per kind, seeded; the per-scenario traffic source."""

import itertools

import numpy as np
import pytest

from sim.scenario import Scenario, TrafficSpec
from sim.world.traffic import TrafficSource, arrival_instants, arrivals, expected_arrivals, row_rng
from tests.sim.builders import build_scenario, step, traffic


def _scenario(*rows: dict[str, object]) -> Scenario:
    """Two days, seed 9, steps "a" and "b", and these traffic rows."""
    return build_scenario(duration="2d", seed=9, steps=[step("a"), step("b")], traffic=rows)


def _spec(kind: str, **keys: object) -> TrafficSpec:
    return _scenario(traffic("a", kind, **keys)).traffic[0]


def _total(spec: TrafficSpec, tick: float, end: float, seed: int = 1) -> int:
    rng = row_rng(seed, 0)
    edges = np.arange(0.0, end + tick, tick)
    return sum(arrivals(spec, rng, t0, t1) for t0, t1 in itertools.pairwise(edges))


def test_arrivals_constant_is_exact_whatever_the_tick() -> None:
    spec = _spec("constant", rate="10/s", start="10s", end="110s")
    assert _total(spec, 0.1, 200) == 1000
    assert _total(spec, 7.0, 203) == 1000


def test_arrivals_blast_lands_in_the_tick_holding_start() -> None:
    spec = _spec("blast", count=5000, start="1m")
    rng = row_rng(1, 0)
    assert arrivals(spec, rng, 55, 60) == 0
    assert arrivals(spec, rng, 60, 65) == 5000
    assert arrivals(spec, rng, 65, 70) == 0
    assert np.all(arrival_instants(spec, rng, 60, 65) == 60.0)


@pytest.mark.parametrize(
    ("kind", "keys", "mean"),
    [
        ("poisson", {"rate": "100/s", "end": "1h"}, 360_000),
        ("ramp", {"rate": "0/s", "rate_end": "200/s", "end": "1h"}, 360_000),
        ("diurnal", {"rate": "0/s", "peak": "100/s", "period": "1h", "end": "1h"}, 180_000),
    ],
)
def test_arrivals_random_kinds_follow_their_intensity(
    kind: str, keys: dict[str, str], mean: float
) -> None:
    spec = _spec(kind, **keys)
    assert expected_arrivals(spec, 0, 3600) == pytest.approx(mean)
    assert _total(spec, 5.0, 3600) == pytest.approx(mean, rel=0.01)


def test_arrivals_diurnal_peaks_mid_period() -> None:
    spec = _spec("diurnal", rate="1/h", peak="100/h", period="24h")
    night = expected_arrivals(spec, 0, 3600)
    noon = expected_arrivals(spec, 11.5 * 3600, 12.5 * 3600)
    assert noon > 50 * night


def test_arrivals_nothing_outside_the_window() -> None:
    spec = _spec("poisson", rate="100/s", start="1h", end="2h")
    rng = row_rng(1, 0)
    assert arrivals(spec, rng, 0, 3600) == 0
    assert arrivals(spec, rng, 7200, 9000) == 0


def test_arrival_instants_sorted_inside_tick() -> None:
    spec = _spec("poisson", rate="50/s")
    instants = arrival_instants(spec, row_rng(1, 0), 100.0, 105.0)
    assert len(instants) > 100
    assert np.all(np.diff(instants) >= 0)
    assert instants.min() >= 100.0 and instants.max() < 105.0


def _source_run(scenario: Scenario, tick: float, end: float) -> dict[str, list[str]]:
    source = TrafficSource(scenario, pool_size=64)
    seen: dict[str, list[str]] = {"a": [], "b": []}
    for t0 in np.arange(0.0, end, tick):
        for batch in source.tick(float(t0), float(t0) + tick):
            assert len(batch.entered_at) == len(batch.profiles)
            seen[batch.step] += batch.profiles.user_ids
    return seen


def test_traffic_source_is_deterministic_per_seed() -> None:
    scenario = _scenario(traffic("a", "poisson", rate="5/s"))
    assert _source_run(scenario, 5.0, 600) == _source_run(scenario, 5.0, 600)


def test_traffic_source_replay_resends_earlier_users_in_order() -> None:
    scenario = _scenario(
        traffic("a", "constant", rate="2/s", end="100s"),
        traffic("b", "constant", rate="5/s", replay="a"),
    )
    seen = _source_run(scenario, 5.0, 300)
    assert len(seen["a"]) == 200
    assert seen["b"] == seen["a"]  # every user once, oldest first, never ahead of the adds
