"""The simulated client's keep-alive connection pool, in SimPy time.

Rules:
- At most ``size`` connections, opened lazily when a request finds none idle (warm: no
  handshake is modelled), and never closed; a connection carries one request at a time.
- A request takes the idle connection with the lowest number — the scan of an ordered idle
  list that HTTP clients such as httpcore make — so a steady load keeps reusing the same few.
- When every connection is busy, requests wait in arrival order; a waiter that gives up (its
  request timed out) leaves the queue.
- Each connection has a one-way path delay drawn once when it opens (``sim.world.network``: a warm
  TCP connection keeps its route), unless the network model says every leg draws anew. A
  connection that broke (reset, or given up on after a timeout) is opened again under its
  number: it draws a new path delay.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import cast

import simpy

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """Connections numbered from 0, each with the path delay it was opened with."""

    def __init__(self, env: simpy.Environment, size: int, open_delay: Callable[[], float]) -> None:
        self._env = env
        self._size = size
        self._open_delay = open_delay
        self.path_s: list[float] = []  # one-way path delay of each connection opened so far
        self._idle: list[int] = []  # a heap: the lowest-numbered idle connection first
        self._waiters: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event:
        """An event whose value is a connection number once one is this request's."""
        event = self._env.event()
        if self._idle:
            event.succeed(heapq.heappop(self._idle))
        elif len(self.path_s) < self._size:
            self.path_s.append(self._open_delay())
            event.succeed(len(self.path_s) - 1)
        else:
            self._waiters.append(event)
        return event

    def abandon(self, event: simpy.Event) -> None:
        """A waiter gives up; a connection it was already given goes back."""
        if event.triggered:
            self.release(cast(int, event.value))
        else:
            self._waiters.remove(event)

    def reopen(self, connection: int) -> None:
        """A broken connection is replaced by a new one (a new path) when it is next used."""
        self.path_s[connection] = self._open_delay()

    def release(self, connection: int) -> None:
        if self._waiters:
            self._waiters.popleft().succeed(connection)
        else:
            heapq.heappush(self._idle, connection)
