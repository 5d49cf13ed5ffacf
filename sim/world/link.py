"""What goes wrong on the way to Pinterest and back: the scenario's ``timeout``,
``connection_reset`` and ``outage`` windows, decided per request.

Rules:
- A request meets a mishap if it is sent inside a window (``[at, until)``, until the run's end
  when open), on a connection the window covers, and its ``share`` draw hits. Windows are tried
  in file order (outages first: nothing gets through one) and the first hit decides.
- The draw comes from the run's own seeded stream, drawn only for requests inside a window with
  a share below 1, so runs without these faults draw nothing and stay as they were.
- A mishap is data (``Mishap``): whether the server applies the request before it goes wrong,
  whether the client hears a failure or only silence (then it gives up at its timeout), and
  what the engine is told. The driver acts on it; this module never touches SimPy.

| fault                             | reaches the server | client hears         | engine told  |
|-----------------------------------|--------------------|----------------------|--------------|
| ``outage``                        | no                 | refusal, one RTT     | connection   |
| ``connection_reset``              | no                 | reset, one RTT       | connection   |
| ``connection_reset`` applied      | yes                | reset after service  | connection   |
| ``timeout``                       | no                 | nothing              | timeout      |
| ``timeout`` applied               | yes                | nothing              | timeout      |
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from sim.scenario import FaultKind, FaultSpec

__all__ = ["LINK_FAULTS", "LinkFaults", "Mishap"]


@dataclass(frozen=True, slots=True)
class Mishap:
    failure: Literal["timeout", "connection"]  # the engine's ``TransportFailed.kind``
    reaches_server: bool  # the server applies the request first
    silent: bool  # no answer at all: the client gives up at its timeout


_MISHAPS: dict[tuple[FaultKind, bool], Mishap] = {
    (FaultKind.OUTAGE, False): Mishap("connection", reaches_server=False, silent=False),
    (FaultKind.CONNECTION_RESET, False): Mishap("connection", reaches_server=False, silent=False),
    (FaultKind.CONNECTION_RESET, True): Mishap("connection", reaches_server=True, silent=False),
    (FaultKind.TIMEOUT, False): Mishap("timeout", reaches_server=False, silent=True),
    (FaultKind.TIMEOUT, True): Mishap("timeout", reaches_server=True, silent=True),
}
LINK_FAULTS = frozenset(kind for kind, _ in _MISHAPS)
"""The fault kinds decided here, per request."""


@dataclass(frozen=True, slots=True)
class _Window:
    start_s: float
    end_s: float
    share: float
    connection: str | None
    mishap: Mishap


class LinkFaults:
    """The run's link windows and the stream their shares draw from."""

    def __init__(self, faults: Iterable[FaultSpec], end_s: float, rng: random.Random) -> None:
        chosen = [f for f in faults if f.kind in LINK_FAULTS]
        chosen.sort(key=lambda f: f.kind is not FaultKind.OUTAGE)  # stable: file order kept
        self._windows = [
            _Window(
                start_s=f.at_s,
                end_s=end_s if f.until_s is None else f.until_s,
                share=f.share,
                connection=f.connection,
                mishap=_MISHAPS[f.kind, f.applied],
            )
            for f in chosen
        ]
        self._rng = rng

    def draw(self, now: float, connection: Callable[[], str | None]) -> Mishap | None:
        """The mishap a request sent at ``now`` meets, if any; ``connection`` names the
        workspace login it is sent for (asked only when a window is scoped to one)."""
        for window in self._windows:
            if not window.start_s <= now < window.end_s:
                continue
            if window.connection is not None and window.connection != connection():
                continue
            if window.share >= 1.0 or self._rng.random() < window.share:
                return window.mishap
        return None
