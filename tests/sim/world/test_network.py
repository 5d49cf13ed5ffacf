"""sim.world.network: a log-normal fitted to median and p99; the network model's parts, paths and
the fault windows that replace a part's distribution.

The fit is checked against its definition (empirical quantiles of many seeded draws) and the
closed form σ = ln(p99 / median) / z₀.₉₉ with z₀.₉₉ from ``statistics.NormalDist``.
"""

import math
import random
import statistics

import numpy as np
import pytest

from sim.world.network import LogNormal, NetworkModel, Part, Paths

DRAWS = 200_000
BASELINE = LogNormal(0.1, 0.2)
SLOW = LogNormal(5.0, 6.0)
SLOWER = LogNormal(50.0, 60.0)


@pytest.mark.parametrize(
    ("median_s", "p99_s"), [(0.12, 0.6), (0.02, 0.025), (1.5, 40.0), (0.25, 0.25)]
)
def test_log_normal_empirical_quantiles_match_requested(median_s: float, p99_s: float) -> None:
    latency = LogNormal(median_s, p99_s)
    rng = random.Random(1234)
    draws = np.array([latency.draw(rng) for _ in range(DRAWS)])
    median, p99 = np.quantile(draws, [0.5, 0.99])
    assert median == pytest.approx(median_s, rel=0.02)
    assert p99 == pytest.approx(p99_s, rel=0.02)
    assert draws.min() > 0


def test_log_normal_sigma_closed_form() -> None:
    z99 = statistics.NormalDist().inv_cdf(0.99)
    assert LogNormal(0.12, 0.6).sigma == pytest.approx(math.log(5.0) / z99, rel=1e-12)
    assert LogNormal(0.3, 0.3).sigma == 0.0


def test_log_normal_with_median_equal_to_p99_is_a_constant_drawing_nothing() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    assert [LogNormal(0.04, 0.04).draw(rng) for _ in range(3)] == [0.04] * 3
    assert LogNormal(0.0, 0.0).draw(rng) == 0.0 and LogNormal(0.0, 0.0).mean_s == 0.0
    assert rng.getstate() == state  # no other stream shifts when a part is constant


def test_log_normal_mean_closed_form() -> None:
    sigma = LogNormal(0.12, 0.6).sigma
    assert LogNormal(0.12, 0.6).mean_s == pytest.approx(0.12 * math.exp(sigma**2 / 2))
    draws = [LogNormal(0.12, 0.6).draw(rng) for rng in [random.Random(2)] for _ in range(DRAWS)]
    assert statistics.fmean(draws) == pytest.approx(LogNormal(0.12, 0.6).mean_s, rel=0.02)


@pytest.mark.parametrize(
    ("median_s", "p99_s"),
    [(0.0, 1.0), (-0.1, 1.0), (0.5, 0.4999), (1.0, 0.0), (math.nan, 1.0), (0.1, math.nan)],
)
def test_log_normal_rejects_negative_median_or_p99_below_median(
    median_s: float, p99_s: float
) -> None:
    with pytest.raises(ValueError, match="median"):
        LogNormal(median_s, p99_s)


def test_log_normal_same_seed_same_draws() -> None:
    first = [BASELINE.draw(rng) for rng in [random.Random(9)] for _ in range(100)]
    again = [BASELINE.draw(rng) for rng in [random.Random(9)] for _ in range(100)]
    other = [BASELINE.draw(rng) for rng in [random.Random(10)] for _ in range(100)]
    assert first == again
    assert first != other
    assert len(set(first)) == 100  # draws really vary


def network(seed: int = 0, paths: Paths = Paths.PER_CONNECTION) -> NetworkModel:
    return NetworkModel(
        propagation=BASELINE, service=BASELINE, rng=random.Random(seed), paths=paths
    )


def model_with_windows(part: Part = Part.SERVICE) -> NetworkModel:
    model = network()
    # added out of start order: the later-*started* window must win, not the later-added
    model.add_window(part, 15.0, 30.0, SLOWER)
    model.add_window(part, 10.0, 20.0, SLOW)
    return model


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, BASELINE),
        (9.999, BASELINE),
        (10.0, SLOW),  # start is inclusive
        (14.999, SLOW),
        (15.0, SLOWER),  # both windows active: the later-started one wins
        (19.999, SLOWER),
        (20.0, SLOWER),
        (29.999, SLOWER),
        (30.0, BASELINE),  # end is exclusive
        (1e6, BASELINE),
    ],
)
def test_network_model_window_in_force(now: float, expected: LogNormal) -> None:
    model = model_with_windows(Part.SERVICE)
    assert model.at(Part.SERVICE, now) == expected
    assert model.at(Part.PROPAGATION, now) == BASELINE  # a server fault leaves the path alone


def test_network_model_window_ending_restores_baseline_not_earlier_window() -> None:
    model = network()
    model.add_window(Part.SERVICE, 0.0, 100.0, SLOW)
    model.add_window(Part.SERVICE, 10.0, 20.0, SLOWER)
    at = [model.at(Part.SERVICE, t) for t in (5.0, 15.0, 25.0, 100.0)]
    assert at == [SLOW, SLOWER, SLOW, BASELINE]


def test_network_model_draws_follow_the_window_in_force() -> None:
    model = model_with_windows()
    # the three distributions lie many σ apart, so any draw tells which one it came from
    baseline = [model.draw(Part.SERVICE, 5.0) for _ in range(500)]
    slow = [model.draw(Part.SERVICE, 12.0) for _ in range(500)]
    slower = [model.draw(Part.SERVICE, 25.0) for _ in range(500)]
    assert max(baseline) < 1.0 < min(slow)
    assert max(slow) < 20.0 < min(slower)
    assert statistics.median(slower) == pytest.approx(50.0, rel=0.05)


def test_network_model_a_connection_keeps_its_path_delay() -> None:
    model = network()
    path_s = model.open_path()
    assert [model.leg(path_s, t) for t in (0.0, 5.0, 1e5)] == [path_s] * 3


def test_network_model_independent_paths_draw_every_leg() -> None:
    model = network(paths=Paths.INDEPENDENT)
    legs = [model.leg(0.123, float(t)) for t in range(200)]
    assert 0.123 not in legs and len(set(legs)) == 200
    assert statistics.median(legs) == pytest.approx(BASELINE.median_s, rel=0.15)


def test_network_model_a_path_fault_slows_every_connection_for_its_window() -> None:
    model = model_with_windows(Part.PROPAGATION)
    path_s = model.open_path()
    assert model.leg(path_s, 5.0) == path_s and model.leg(path_s, 30.0) == path_s
    assert 4.0 < model.leg(path_s, 12.0) < 20.0 < model.leg(path_s, 25.0)


def test_network_model_same_seed_same_draws() -> None:
    instants = [t * 0.37 for t in range(400)]

    def run(seed: int) -> list[float]:
        model = network(seed, Paths.INDEPENDENT)
        model.add_window(Part.SERVICE, 50.0, 100.0, SLOW)
        return [model.draw(Part.SERVICE, t) + model.leg(0.0, t) for t in instants]

    assert run(3) == run(3)
    assert run(3) != run(4)
