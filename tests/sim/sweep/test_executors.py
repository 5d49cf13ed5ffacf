"""sim.sweep.executors: every item's result (or exception) comes back once, under its position."""

import sys
from collections.abc import Iterable

import pytest

from sim.sweep.axes import SweepError
from sim.sweep.executors import DaskCluster, Inline, LocalProcesses, executor_for


def square_or_fail(value: int) -> int:
    """Top level, so worker processes can import it."""
    if value == 2:
        raise ValueError("two is refused")
    return value * value


def _results(pairs: Iterable[tuple[int, object]]) -> dict[int, object]:
    found: dict[int, object] = {}
    for position, outcome in pairs:
        assert position not in found
        found[position] = outcome
    return found


@pytest.mark.parametrize("executor", [Inline(), LocalProcesses(2)], ids=["inline", "processes"])
def test_executor_returns_failures_beside_results(executor: Inline | LocalProcesses) -> None:
    found = _results(executor.run_all(square_or_fail, [0, 1, 2, 3]))
    assert sorted(found) == [0, 1, 2, 3]
    assert [found[i] for i in (0, 1, 3)] == [0, 1, 9]
    assert isinstance(found[2], ValueError) and "two is refused" in str(found[2])


def test_local_processes_start_safely() -> None:
    assert LocalProcesses(3).start_method in ("forkserver", "spawn")
    assert LocalProcesses(None).workers >= 1


def test_executor_for_picks_by_flag() -> None:
    assert isinstance(executor_for(workers=2), LocalProcesses)
    dask = executor_for(workers=2, dask="local")
    assert isinstance(dask, DaskCluster) and dask.address == "local" and dask.workers == 2


def test_dask_cluster_without_dask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(SweepError) as caught:
        DaskCluster("local")
    assert caught.value.key == "--dask" and "pip install 'pinsim[dask]'" in caught.value.reason
