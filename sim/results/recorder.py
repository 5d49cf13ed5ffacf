"""What one simulated run leaves behind: `RunData`, and the `Recorder` that samples counters.

Responsibility: hold the facts of a finished run in one frozen value that the checks, the
report and notebooks read. `RunData` is assembled by `sim.world.driver` at the end of a run; it is
never mutated afterwards and is cheap to pass around (the DataFrames are not copied).

Rules:
- Column names are the contract of docs/CONTRACTS.md §3.1; `RunData` refuses frames that lack
  one, so a driver bug fails at the boundary instead of as a KeyError deep inside a plot.
- The `Recorder` keeps samples in flat typed arrays while the simulation runs (one append per
  step per sample, no per-sample DataFrame) and builds the timeseries frame once at the end.
- Sample times never go backwards; the driver chooses the cadence and takes one last sample at
  the end of the run, so the final row per step is the run's final state.
- Derived series used by more than one consumer (the entry→synced lag) live here so that the
  checks and the report cannot disagree on them.
- Users reach Pinterest through their step's connection (`step_connections`); the journal's
  `user` names the same connection (the driver creates one mock user per connection, named by
  its id). Without the mapping every step is on the one connection the journal names, and a
  journal naming several is refused: which token served which users would be a guess.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from mock_pinterest.journal import JOURNAL_COLUMNS as MOCK_JOURNAL_COLUMNS

COUNTERS: Final = (
    "entered",
    "proceeded",
    "synced",
    "not_synced",
    "pending",
    "errored",
    "exited",
)
"""The seven step counters, in the order Braze's step analytics show them."""

TIMESERIES_COLUMNS: Final = ("t", "step", *COUNTERS, "oldest_pending_age_s")
USERS_COLUMNS: Final = (
    "user_id",
    "step",
    "entered_at",
    "deadline_at",
    "outcome",
    "outcome_at",
    "attempts",
    "last_status",
    "reason",
)
JOURNAL_COLUMNS: Final = MOCK_JOURNAL_COLUMNS  # the mock's journal, row for row
REQUESTS_COLUMNS: Final = (
    *JOURNAL_COLUMNS,
    "sent_at",
    "answered_at",
    "min_deadline_at",
    "max_entered_at",
    "raw_pii",
)


class RunDataError(ValueError):
    """A `RunData` was built from frames that do not follow the contract (a driver bug)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultWindow:
    """A scenario fault as it happened, with one meaning everywhere it is read.

    A windowed fault (rate-limit storm, server errors, latency) lasts `[start_s, end_s)`:
    `end_s` is its `until`, or the run's end when it has none — never None. An instant fault
    (revoke, reconnect, delete an audience) has no window: `end_s` is None. One function
    builds both, for a run and for its folder read back: `sim.world.translate.fault_window`.
    """

    kind: str
    start_s: float
    end_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The limits the run is judged against (the engine's configuration of them)."""

    requests_per_second: int
    max_records_per_request: int
    flush_interval_s: float
    retry_window_s: float
    requests_per_minute: int | None = None  # Pinterest's minute window, when it has one


# eq=False: DataFrames have no truth value, so generated __eq__ would raise.
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RunData:
    """Everything a run produced; see docs/CONTRACTS.md §3.1 for each column."""

    scenario: str
    seed: int
    sim_seconds: float
    wall_seconds: float
    timeseries: pd.DataFrame
    users: pd.DataFrame
    requests: pd.DataFrame
    members: Mapping[str, AbstractSet[str]]
    expected_members: Mapping[str, AbstractSet[str]]
    fault_windows: tuple[FaultWindow, ...]
    limits: Limits
    step_connections: Mapping[str, str] | None = None  # step id → connection id

    def __post_init__(self) -> None:
        for name, frame, columns in (
            ("timeseries", self.timeseries, TIMESERIES_COLUMNS),
            ("users", self.users, USERS_COLUMNS),
            ("requests", self.requests, REQUESTS_COLUMNS),
        ):
            missing = [column for column in columns if column not in frame.columns]
            if missing:
                raise RunDataError(f"RunData.{name} lacks columns {missing}")
        if self.step_connections is None and len(named := _journal_connections(self.requests)) > 1:
            raise RunDataError(f"RunData.step_connections is needed: the journal names {named}")

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in the order the recorder sampled them."""
        return tuple(str(step) for step in pd.unique(self.timeseries["step"]))

    @property
    def connection_of_step(self) -> Mapping[str, str]:
        """Step id → connection id: `step_connections`, else every step on the journal's one."""
        if self.step_connections is not None:
            return self.step_connections
        named = _journal_connections(self.requests)
        return dict.fromkeys(self.step_ids, named[0]) if named else {}


def _journal_connections(requests: pd.DataFrame) -> list[str]:
    """The connections (mock users) the journal's token-bearing requests name, sorted."""
    users = requests.loc[requests["token_id"].notna(), "user"].dropna()
    return sorted(str(user) for user in pd.unique(users))


def synced_lag_s(users: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Seconds from entry to synced for every synced user, sorted ascending."""
    synced = users["outcome"] == "synced"
    lag = users.loc[synced, "outcome_at"].to_numpy(float) - users.loc[
        synced, "entered_at"
    ].to_numpy(float)
    return np.sort(lag)


LAG_PERCENTILES: Final = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}


def lag_percentiles(users: pd.DataFrame) -> dict[str, float | None]:
    """Entry→synced lag percentiles (p50 p90 p99 max) in seconds; None when nobody synced."""
    lag = synced_lag_s(users)
    if lag.size == 0:
        return dict.fromkeys(LAG_PERCENTILES)
    return {name: float(np.percentile(lag, q)) for name, q in LAG_PERCENTILES.items()}


def final_counters(timeseries: pd.DataFrame) -> pd.DataFrame:
    """The last sample of each step (the run's final state), indexed by step id."""
    return timeseries.groupby("step", sort=False).tail(1).set_index("step")


class Recorder:
    """Collects counter samples during a run; `timeseries()` builds the frame once at the end."""

    __slots__ = ("_age", "_counters", "_last_t", "_step_codes", "_step_ids", "_t")

    def __init__(self, step_ids: Sequence[str]) -> None:
        if len(set(step_ids)) != len(step_ids):
            raise ValueError("Recorder step ids must be unique")
        self._step_ids: tuple[str, ...] = tuple(step_ids)
        self._t = array("d")
        self._step_codes = array("q")
        self._counters = {name: array("q") for name in COUNTERS}
        self._age = array("d")
        self._last_t = -np.inf

    def sample(
        self,
        now: float,
        counters: Mapping[str, Mapping[str, int]],
        oldest_pending_age_s: Mapping[str, float],
    ) -> None:
        """Record every step's counters at `now`; a step absent from the ages has none pending."""
        if now < self._last_t:
            raise ValueError(f"sample at {now} s is before the previous one at {self._last_t} s")
        missing = [step for step in self._step_ids if step not in counters]
        if missing:
            raise ValueError(f"sample at {now} s lacks counters for steps {missing}")
        self._last_t = now
        for code, step in enumerate(self._step_ids):
            self._t.append(now)
            self._step_codes.append(code)
            step_counters = counters[step]
            for name, column in self._counters.items():
                column.append(step_counters[name])
            self._age.append(oldest_pending_age_s.get(step, 0.0))

    def __len__(self) -> int:
        """Number of rows recorded so far (steps × samples)."""
        return len(self._t)

    def timeseries(self) -> pd.DataFrame:
        """The samples as the contract's `timeseries` frame, one row per step per sample."""
        steps = np.asarray(self._step_ids, dtype=object)[np.frombuffer(self._step_codes, np.int64)]
        columns: dict[str, object] = {"t": np.frombuffer(self._t, float).copy(), "step": steps}
        for name, column in self._counters.items():
            columns[name] = np.frombuffer(column, np.int64).copy()
        columns["oldest_pending_age_s"] = np.frombuffer(self._age, float).copy()
        frame = pd.DataFrame(columns)
        frame["step"] = frame["step"].astype(str)
        return frame
