"""The simulation's own truth about who entered, independent of the engine's word — and the
one door the driver reaches it through (``open_feed``).

- ``feed``: the ``Feed`` the driver sees — traffic cut into flush windows, handed over when
  due, each request body booked as it is sent, and the book's ``Findings`` at the end.
- ``helper``: the same feed in a helper process on another core, for big runs.
- ``ledger``: the book itself — who entered which step, each body's audit, and what each
  audience should hold; ``hashing``: its own hashing of ids; ``digests``: hashed ids read off
  the wire, and the compact set of them it answers with.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

from sim.book.feed import Feed, InlineFeed
from sim.book.helper import HelperFeed, can_fork
from sim.scenario import Scenario
from sim.world.traffic import expected_arrivals

__all__ = ["HELPER_MIN_USERS", "open_feed"]

HELPER_MIN_USERS = 200_000
"""Expected users from which ``open_feed`` runs the feed in a helper process: below it, the
helper's start-up and the pickling of every window cost more than the second core gives."""


def open_feed(scenario: Scenario, seed: int, tick_s: float, *, helper: bool | None = None) -> Feed:
    """The feed for a run: ``helper`` forces one or the other; ``None`` decides by size."""
    if helper is None:
        helper = helper_pays(scenario)
    return (HelperFeed if helper else InlineFeed)(scenario, seed, tick_s)


def helper_pays(scenario: Scenario) -> bool:
    """A helper process pays on big runs, with two or more cores, outside a worker that
    already parallelises (sweeps)."""
    users = sum(expected_arrivals(spec, 0.0, scenario.duration_s) for spec in scenario.traffic)
    in_worker = multiprocessing.current_process().name != "MainProcess"
    shippable = can_fork() or bool(scenario.raw)
    linux = sys.platform == "linux"  # where it was measured; elsewhere only when asked for
    cores = len(os.sched_getaffinity(0)) if linux else 1
    return users >= HELPER_MIN_USERS and linux and cores >= 2 and not in_worker and shippable
