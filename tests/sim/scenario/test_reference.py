"""docs/SCENARIOS.md: its annotated example is a valid scenario, and the defaults it states are
the ones the code applies."""

from __future__ import annotations

import re
from pathlib import Path

from sim.scenario import NetworkSpec, PinterestSettings, SyncSettings, parse

DOC = Path(__file__).parents[3] / "docs" / "SCENARIOS.md"


def _example() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "docs/SCENARIOS.md has one annotated example"
    return str(blocks[0])


def test_the_documented_example_is_a_valid_scenario() -> None:
    scenario = parse(_example(), "SCENARIOS.md")
    assert [s.id for s in scenario.steps] == ["vip-add"]
    assert scenario.traffic[0].rate_per_s == 50.0
    assert scenario.expect.steps["vip-add"].synced_min == 1000


def test_the_documented_defaults_are_the_code_defaults() -> None:
    scenario = parse(_example(), "SCENARIOS.md")
    assert scenario.pinterest == PinterestSettings()
    assert scenario.network == NetworkSpec()
    assert scenario.sync == SyncSettings()
    minimal = parse(
        "[[step]]\nid = 'vip-add'\naudience = { new = 'VIP buyers' }\n"
        "[[traffic]]\nstep = 'vip-add'\nkind = 'poisson'\nrate = '50/s'",
        "m.toml",
    )
    assert scenario.duration_s == minimal.duration_s
    assert scenario.seed == minimal.seed
    assert scenario.steps == minimal.steps
    assert scenario.connections == minimal.connections
    assert scenario.traffic == minimal.traffic
