"""sim.latency: a log-normal fitted to median and p99, and fault windows that replace it.

The fit is checked against its definition (empirical quantiles of many seeded draws) and the
closed form σ = ln(p99 / median) / z₀.₉₉ with z₀.₉₉ from ``statistics.NormalDist``.
"""

import math
import random
import statistics

import numpy as np
import pytest

from sim.latency import LatencyModel, LogNormal

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


@pytest.mark.parametrize(
    ("median_s", "p99_s"),
    [(0.0, 1.0), (-0.1, 1.0), (0.5, 0.4999), (1.0, 0.0), (math.nan, 1.0), (0.1, math.nan)],
)
def test_log_normal_rejects_nonpositive_median_or_p99_below_median(
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


def model_with_windows() -> LatencyModel:
    model = LatencyModel(BASELINE, random.Random(0))
    # added out of start order: the later-*started* window must win, not the later-added
    model.add_window(15.0, 30.0, SLOWER)
    model.add_window(10.0, 20.0, SLOW)
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
def test_latency_model_window_in_force(now: float, expected: LogNormal) -> None:
    assert model_with_windows().at(now) == expected


def test_latency_model_window_ending_restores_baseline_not_earlier_window() -> None:
    model = LatencyModel(BASELINE, random.Random(0))
    model.add_window(0.0, 100.0, SLOW)
    model.add_window(10.0, 20.0, SLOWER)
    assert [model.at(t) for t in (5.0, 15.0, 25.0, 100.0)] == [SLOW, SLOWER, SLOW, BASELINE]


def test_latency_model_draws_follow_the_window_in_force() -> None:
    model = model_with_windows()
    # the three distributions lie many σ apart, so any draw tells which one it came from
    baseline = [model.draw(5.0) for _ in range(500)]
    slow = [model.draw(12.0) for _ in range(500)]
    slower = [model.draw(25.0) for _ in range(500)]
    assert max(baseline) < 1.0 < min(slow)
    assert max(slow) < 20.0 < min(slower)
    assert statistics.median(slower) == pytest.approx(50.0, rel=0.05)


def test_latency_model_same_seed_same_draws() -> None:
    instants = [t * 0.37 for t in range(400)]

    def run(seed: int) -> list[float]:
        model = LatencyModel(BASELINE, random.Random(seed))
        model.add_window(50.0, 100.0, SLOW)
        return [model.draw(t) for t in instants]

    assert run(3) == run(3)
    assert run(3) != run(4)
