"""sim.world.traffic: bulk arrivals per tick, per kind, seeded; the per-scenario traffic source."""

import itertools

import numpy as np
import pytest

from sim.scenario import Scenario, TrafficSpec, parse
from sim.world.traffic import TrafficSource, arrival_instants, arrivals, expected_arrivals, row_rng

HEAD = '[scenario]\nduration = "2d"\nseed = 9\n[[step]]\nid = "a"\n[[step]]\nid = "b"\n'


def _spec(row: str) -> TrafficSpec:
    return parse(HEAD + '[[traffic]]\nstep = "a"\n' + row).traffic[0]


def _total(spec: TrafficSpec, tick: float, end: float, seed: int = 1) -> int:
    rng = row_rng(seed, 0)
    edges = np.arange(0.0, end + tick, tick)
    return sum(arrivals(spec, rng, t0, t1) for t0, t1 in itertools.pairwise(edges))


def test_arrivals_constant_is_exact_whatever_the_tick() -> None:
    spec = _spec('kind = "constant"\nrate = "10/s"\nstart = "10s"\nend = "110s"')
    assert _total(spec, 0.1, 200) == 1000
    assert _total(spec, 7.0, 203) == 1000


def test_arrivals_blast_lands_in_the_tick_holding_start() -> None:
    spec = _spec('kind = "blast"\ncount = 5000\nstart = "1m"')
    rng = row_rng(1, 0)
    assert arrivals(spec, rng, 55, 60) == 0
    assert arrivals(spec, rng, 60, 65) == 5000
    assert arrivals(spec, rng, 65, 70) == 0
    assert np.all(arrival_instants(spec, rng, 60, 65) == 60.0)


@pytest.mark.parametrize(
    ("row", "mean"),
    [
        ('kind = "poisson"\nrate = "100/s"\nend = "1h"', 360_000),
        ('kind = "ramp"\nrate = "0/s"\nrate_end = "200/s"\nend = "1h"', 360_000),
        ('kind = "diurnal"\nrate = "0/s"\npeak = "100/s"\nperiod = "1h"\nend = "1h"', 180_000),
    ],
)
def test_arrivals_random_kinds_follow_their_intensity(row: str, mean: float) -> None:
    spec = _spec(row)
    assert expected_arrivals(spec, 0, 3600) == pytest.approx(mean)
    assert _total(spec, 5.0, 3600) == pytest.approx(mean, rel=0.01)


def test_arrivals_diurnal_peaks_mid_period() -> None:
    spec = _spec('kind = "diurnal"\nrate = "1/h"\npeak = "100/h"\nperiod = "24h"')
    night = expected_arrivals(spec, 0, 3600)
    noon = expected_arrivals(spec, 11.5 * 3600, 12.5 * 3600)
    assert noon > 50 * night


def test_arrivals_nothing_outside_the_window() -> None:
    spec = _spec('kind = "poisson"\nrate = "100/s"\nstart = "1h"\nend = "2h"')
    rng = row_rng(1, 0)
    assert arrivals(spec, rng, 0, 3600) == 0
    assert arrivals(spec, rng, 7200, 9000) == 0


def test_arrival_instants_sorted_inside_tick() -> None:
    spec = _spec('kind = "poisson"\nrate = "50/s"')
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
    scenario = parse(HEAD + '[[traffic]]\nstep = "a"\nkind = "poisson"\nrate = "5/s"\n')
    assert _source_run(scenario, 5.0, 600) == _source_run(scenario, 5.0, 600)


def test_traffic_source_replay_resends_earlier_users_in_order() -> None:
    scenario = parse(
        HEAD
        + '[[traffic]]\nstep = "a"\nkind = "constant"\nrate = "2/s"\nend = "100s"\n'
        + '[[traffic]]\nstep = "b"\nkind = "constant"\nrate = "5/s"\nreplay = "a"\n'
    )
    seen = _source_run(scenario, 5.0, 300)
    assert len(seen["a"]) == 200
    assert seen["b"] == seen["a"]  # every user once, oldest first, never ahead of the adds
