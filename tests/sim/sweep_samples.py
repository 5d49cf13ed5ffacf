"""Tiny scenarios for the sweep tests: each run takes a fraction of a wall second."""

from collections.abc import Mapping

from sim.scenario import Scenario
from tests.sim.builders import AUDIENCE_A, FAST_NETWORK, build_scenario, traffic


def blast(count: int = 3000, expect: Mapping[str, int] | None = None) -> Scenario:
    """A blast of ``count`` users at 0 s into one audience; a tenth have no email. Expected to
    error no one, and whatever ``expect`` adds."""
    return build_scenario(
        "tiny_blast.toml",
        name="tiny_blast",
        seed=3,
        duration="20s",
        network=FAST_NETWORK,
        steps=[AUDIENCE_A],
        traffic=[
            traffic(
                "a",
                "blast",
                count=count,
                start="0s",
                missing={"email": 0.1, "maid": 1.0},
                malformed=0.0,
            )
        ],
        expect={"errored": 0, **(expect or {})},
    )
