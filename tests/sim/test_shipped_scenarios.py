"""Every scenario shipped in scenarios/ (and the built-in default) loads and is documented."""

from pathlib import Path

import pytest

from sim.scenario import Scenario, default, load

SHIPPED = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))


def test_shipped_scenarios_exist() -> None:
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_shipped_scenario_is_valid_and_self_describing(path: Path) -> None:
    scenario = load(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert list(scenario.expect.totals.items()) or scenario.expect.steps
    assert scenario.traffic


def _expected_users(scenario: Scenario) -> float:
    from sim.world.traffic import expected_arrivals

    return sum(expected_arrivals(row, 0, scenario.duration_s) for row in scenario.traffic)


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_shipped_scenario_is_cheap_unless_marked_heavy(path: Path) -> None:
    scenario = load(path)
    assert scenario.heavy or _expected_users(scenario) <= 100_000


def test_default_scenario_is_small() -> None:
    assert _expected_users(default()) <= 10_000
