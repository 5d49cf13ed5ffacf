"""Where a sweep's runs execute: in this process, in local worker processes, or on Dask.

Responsibility: one small interface, ``Executor.run_all(fn, items)``, that calls a top-level
(importable, picklable) function on every item somewhere and yields ``(position, result)`` as
each finishes — the result being the exception instead when the call failed, so one failure
never loses the others.

Rules:
- Executors only carry calls; they never reorder or interpret results (the caller puts rows
  back in order by position) and never read the results' contents.
- Nothing starts before ``run_all``: constructing an executor is cheap and checks only what can
  be checked at once (a missing Dask install), so a sweep can fail fast before any run.
- Local processes start with ``forkserver`` (``spawn`` where there is none): forking a parent
  that holds threads, locks or an open Dask client is unsafe.
- Dask is optional (``pinsim[dask]``) and imported lazily, only by ``DaskCluster``. Every call
  is submitted with ``pure=False``: two identical run specs are still two runs.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Final, Protocol, TypeVar

from sim.sweep.axes import SweepError

__all__ = ["DaskCluster", "Executor", "Inline", "LocalProcesses", "executor_for"]

T = TypeVar("T")
R = TypeVar("R")
LOCAL_DASK: Final = "local"
_CONNECT_TIMEOUT: Final = "10s"
_INSTALL_HINT: Final = "needs the dask extra: pip install 'pinsim[dask]'"


class Executor(Protocol):
    """Calls ``fn`` on every item; yields ``(position in items, result or exception)``."""

    def run_all(
        self, fn: Callable[[T], R], items: Sequence[T]
    ) -> Iterator[tuple[int, R | BaseException]]: ...


class Inline:
    """In this process, one after the other: for tests and debugging (no isolation)."""

    def run_all(
        self, fn: Callable[[T], R], items: Sequence[T]
    ) -> Iterator[tuple[int, R | BaseException]]:
        for position, item in enumerate(items):
            try:
                yield position, fn(item)
            except Exception as exc:  # a result like any other; the caller records it
                yield position, exc


class LocalProcesses:
    """A ``ProcessPoolExecutor`` of ``workers`` processes (default: one per CPU)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        methods = multiprocessing.get_all_start_methods()
        self.start_method = "forkserver" if "forkserver" in methods else "spawn"

    def run_all(
        self, fn: Callable[[T], R], items: Sequence[T]
    ) -> Iterator[tuple[int, R | BaseException]]:
        if not items:
            return
        context = multiprocessing.get_context(self.start_method)
        workers = min(self.workers, len(items))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(fn, item): position for position, item in enumerate(items)}
            for future in as_completed(futures):
                outcome = _outcome(future)
                yield futures[future], outcome


def _outcome(future: Future[R] | Any) -> R | BaseException:
    """The call's result, or what stopped it (a call that raised, a worker that died or was
    lost: ``BrokenProcessPool``, Dask's ``KilledWorker``)."""
    try:
        result: R = future.result()
    except Exception as exc:
        return exc
    return result


class DaskCluster:
    """A Dask distributed cluster: ``address`` of a running scheduler, or ``"local"``.

    ``"local"`` starts a ``LocalCluster`` of ``workers`` single-threaded processes for the
    sweep and stops it after. With a remote cluster, workers must have pinsim installed, and
    ``--keep-runs`` folders are written on the workers' file systems.
    """

    def __init__(self, address: str, workers: int | None = None) -> None:
        try:
            # partly untyped, so used through Any at this one boundary
            self._dask: Any = importlib.import_module("distributed")
        except ImportError:
            raise SweepError("", "--dask", _INSTALL_HINT) from None
        self.address = address
        self.workers = workers or os.cpu_count() or 1

    def run_all(
        self, fn: Callable[[T], R], items: Sequence[T]
    ) -> Iterator[tuple[int, R | BaseException]]:
        if not items:
            return
        with self._client() as client:
            futures = [client.submit(fn, item, pure=False) for item in items]
            positions = {future.key: position for position, future in enumerate(futures)}
            for future in self._dask.as_completed(futures):
                outcome: R | BaseException = _outcome(future)
                yield positions[future.key], outcome

    @contextmanager
    def _client(self) -> Iterator[Any]:
        if self.address == LOCAL_DASK:
            cluster = self._dask.LocalCluster(
                n_workers=self.workers,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
            )
            with cluster, self._dask.Client(cluster) as client:
                yield client
            return
        try:
            client = self._dask.Client(self.address, timeout=_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise SweepError("", f"--dask {self.address}", f"cannot connect: {exc}") from None
        with client:
            yield client


def executor_for(*, workers: int | None = None, dask: str | None = None) -> Executor:
    """The executor the command line asks for: local processes, or Dask when ``dask`` is set."""
    if dask is None:
        return LocalProcesses(workers)
    return DaskCluster(dask, workers)
