"""sim.world.pool: the keep-alive pool — lazy opening, lowest idle first, FIFO waiters, timeouts."""

import itertools
from collections.abc import Generator
from typing import Any

import simpy

from sim.world.pool import ConnectionPool


def pool(size: int) -> tuple[simpy.Environment, ConnectionPool]:
    env = simpy.Environment()
    paths = itertools.count(1)
    return env, ConnectionPool(env, size, lambda: next(paths) / 100)


def test_connection_pool_opens_lazily_each_with_its_own_path_delay() -> None:
    _env, connections = pool(4)
    first, second = connections.acquire(), connections.acquire()
    assert (first.value, second.value) == (0, 1)
    assert connections.path_s == [0.01, 0.02]  # two opened, each drew its delay once


def test_connection_pool_reuses_the_lowest_numbered_idle_connection() -> None:
    _env, connections = pool(4)
    taken = [connections.acquire().value for _ in range(3)]
    connections.release(2)
    connections.release(0)
    assert connections.acquire().value == 0 and connections.acquire().value == 2
    assert taken == [0, 1, 2] and len(connections.path_s) == 3  # nothing new was opened


def test_connection_pool_queues_requests_in_order_when_all_are_busy() -> None:
    env, connections = pool(1)
    order: list[tuple[str, float]] = []

    def use(name: str, hold_s: float) -> Generator[simpy.Event, Any, None]:
        connection = yield connections.acquire()
        order.append((name, env.now))
        yield env.timeout(hold_s)
        connections.release(connection)

    for name in "abc":
        env.process(use(name, 1.0))
    env.run()
    assert order == [("a", 0.0), ("b", 1.0), ("c", 2.0)]


def test_connection_pool_a_waiter_that_gives_up_leaves_the_queue() -> None:
    _env, connections = pool(1)
    held = connections.acquire()
    gave_up = connections.acquire()
    waiting = connections.acquire()
    connections.abandon(gave_up)
    connection = held.value
    assert isinstance(connection, int)  # simpy types an event's value as Any | None
    connections.release(connection)
    assert not gave_up.triggered and waiting.value == 0
