"""sim.fuzz.campaign: the same seed gives the same trials, summary and failure files; results
come back in schedule order whatever order workers finish in.

The judge is made cheap and exact by a stand-in (``judge`` patched to "fails when the document
has a server_errors row"), so these tests are about the campaign's bookkeeping, not the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

import sim.fuzz.campaign as campaign_module
import sim.fuzz.trial as trial_module
from sim.fuzz import fuzz, summary
from sim.fuzz.schedules import fault_kinds, schedule
from sim.sweep.executors import Inline

T = TypeVar("T")
R = TypeVar("R")
RUNS = 12


def _stand_in(document: Any, source: str = "") -> dict[str, str]:
    kinds = fault_kinds(document)
    return (
        {"rate_limit": f"{kinds.count('server_errors')} rows"} if "server_errors" in kinds else {}
    )


class _Reversed:
    """Runs in this process but hands results back last first, as a pool may."""

    def run_all(
        self, fn: Callable[[T], R], items: Sequence[T]
    ) -> Iterator[tuple[int, R | BaseException]]:
        yield from reversed(list(Inline().run_all(fn, items)))


@pytest.fixture(autouse=True)
def stand_in_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trial_module, "judge", _stand_in)
    monkeypatch.setattr(campaign_module, "judge", _stand_in)


def _without_wall(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("wall seconds"))


def test_the_same_seed_gives_the_same_trials_summary_and_files(tmp_path: Path) -> None:
    first = fuzz(runs=RUNS, seed=2, out=tmp_path, executor=Inline())
    files = {p.name: p.read_bytes() for p in (tmp_path / "failures").iterdir()}
    second = fuzz(runs=RUNS, seed=2, out=tmp_path, executor=_Reversed())
    assert [t.number for t in second.trials] == list(range(RUNS))
    strip = [(t.number, t.kinds, dict(t.failures)) for t in first.trials]
    assert strip == [(t.number, t.kinds, dict(t.failures)) for t in second.trials]
    assert _without_wall(summary(first)) == _without_wall(summary(second))
    assert files == {p.name: p.read_bytes() for p in (tmp_path / "failures").iterdir()}
    expected = {
        f"{n}-rate_limit.toml"
        for n in range(RUNS)
        if "server_errors" in fault_kinds(schedule(2, n))
    }
    assert set(files) == expected and expected


def test_another_seed_gives_other_schedules(tmp_path: Path) -> None:
    one = fuzz(runs=RUNS, seed=2, out=tmp_path / "a", executor=Inline())
    two = fuzz(runs=RUNS, seed=3, out=tmp_path / "b", executor=Inline())
    assert [t.kinds for t in one.trials] != [t.kinds for t in two.trials]


def test_a_failure_file_is_the_shrunk_scenario_under_its_header(tmp_path: Path) -> None:
    result = fuzz(runs=RUNS, seed=2, out=tmp_path, executor=Inline())
    found = result.found[0]
    text = found.path.read_text(encoding="utf-8")
    assert text.startswith("# pinsim fuzz: ")
    assert f"# failing check: rate_limit\n# detail: {found.detail}\n" in text
    assert f"# reproduce: pinsim check {found.path}\n" in text
    assert fault_kinds(found.shrunk) == ["server_errors"]
    assert "rate_limit" in summary(result) and str(found.path) in summary(result)


def test_stale_failure_files_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "failures" / "99-conservation.toml"
    stale.parent.mkdir(parents=True)
    stale.write_text("", encoding="utf-8")
    fuzz(runs=1, seed=2, out=tmp_path, executor=Inline())
    assert not stale.exists()
