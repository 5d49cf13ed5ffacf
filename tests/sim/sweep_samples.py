"""Tiny scenarios for the sweep tests: each run takes a fraction of a wall second."""

from sim.scenario import Scenario, parse

BLAST = """
[scenario]
name = "tiny_blast"
seed = 3
duration = "20s"
[network]
propagation = {{ median = "1ms", p99 = "2ms" }}
service = "0s"
paths = "independent"
[pinterest]
[[step]]
id = "a"
audience = {{ new = "A" }}
match_fields = ["email"]
[[traffic]]
step = "a"
kind = "blast"
count = {count}
start = "0s"
missing = {{ email = 0.1, maid = 1.0 }}
malformed = 0.0
[expect]
errored = 0
{expect}
"""


def blast(count: int = 3000, expect: str = "") -> Scenario:
    """A blast of ``count`` users at 0 s into one audience; a tenth have no email."""
    return parse(BLAST.format(count=count, expect=expect), "tiny_blast.toml")
