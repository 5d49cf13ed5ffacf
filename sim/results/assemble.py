"""A finished run's facts, assembled into the one `RunData` the checks, the report and the run
folder read.

Rules:
- The driver hands over what it holds when the run ends (`RunFacts`): the engine, the
  recorder, the mock, the feed and its own note of every request sent. The engine's per-user
  columns are read once and dropped as soon as the users frame is built (a copy of them alive
  through the rest would cost tens of bytes a user at the run's peak).
  Everything here only reads them; nothing is simulated.
- The book's findings are asked for first and read last, so a feed helper process works on them
  while this process builds the other frames.
- Frames follow docs/CONTRACTS.md §3.1 and are built column by column from the engine's typed
  arrays: no Python object per user.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from sim.book.digests import DigestSet
from sim.book.feed import Feed, RunEnd
from sim.book.ledger import Audits
from sim.results.recorder import JOURNAL_COLUMNS, USERS_COLUMNS, Recorder, RunData
from sim.scenario import Scenario, StepAction
from sim.world.translate import audience_key, fault_window, limits
from sync_core import OutcomeColumns, SyncEngine
from sync_core.user_ids import UserIds

if TYPE_CHECKING:  # the mock on the simulated clock, only read here
    from sim.world.pinterest import SimulatedPinterest

__all__ = ["RunFacts", "SentNote", "assemble", "users_frame", "with_oldest_pending"]


@dataclass(slots=True)
class SentNote:
    """The driver's own note of one request that reached the mock."""

    sent_at: float
    body: int  # the book's number for the request's body, audited after the run
    answered_at: float = math.nan  # when the engine heard the answer; NaN: it was lost


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFacts:
    """What the driver holds when a run ends."""

    scenario: Scenario
    seed: int
    engine: SyncEngine  # read for its per-user outcome columns, built only while needed
    recorder: Recorder
    sent: Mapping[str, SentNote]  # by the mock's request id
    initial_members: Mapping[str, frozenset[str]]  # by audience key, before the run
    pinterest: SimulatedPinterest
    feed: Feed


def assemble(facts: RunFacts, *, wall_seconds: float) -> RunData:
    """The run's `RunData`."""
    scenario = facts.scenario
    users = _users(facts.engine, scenario.sync.retry_window_s)
    audiences = {s.id: audience_key(s.ad_account, s.audience.name) for s in scenario.steps}
    removes = [s.id for s in scenario.steps if s.action is StepAction.REMOVE]
    pending = facts.feed.findings(RunEnd.of(users, audiences, removes, facts.initial_members))
    timeseries = with_oldest_pending(facts.recorder.timeseries(), users)
    members = {
        s.id: _compact(facts.pinterest.audience_members(s.ad_account, s.audience.name))
        for s in scenario.steps
    }
    journal = _journal(facts.pinterest)
    findings = pending.result()
    expected = findings.expected_members
    return RunData(
        scenario=scenario.name,
        seed=facts.seed,
        sim_seconds=scenario.duration_s,
        wall_seconds=wall_seconds,
        timeseries=timeseries,
        users=users,
        requests=_with_audits(journal, findings.audits, facts.sent),
        members=members,
        expected_members={step: expected[key] for step, key in audiences.items()},
        fault_windows=tuple(fault_window(f, scenario.duration_s) for f in scenario.faults),
        limits=limits(scenario),
        step_connections={s.id: s.connection for s in scenario.steps},
    )


def _users(engine: SyncEngine, retry_window_s: float) -> pd.DataFrame:
    frame = users_frame(engine.outcome_columns())  # the columns die here, before the copy below
    frame["deadline_at"] = frame["entered_at"] + retry_window_s
    return frame[list(USERS_COLUMNS)]


def _journal(pinterest: SimulatedPinterest) -> pd.DataFrame:
    journal = pd.DataFrame([record.to_json() for record in pinterest.journal()])
    if journal.empty:
        journal = pd.DataFrame(columns=list(JOURNAL_COLUMNS))
    return journal


_AUDIT_COLUMNS: dict[str, float | bool] = {  # and their value for requests without a note
    "min_deadline_at": math.nan,
    "max_entered_at": math.nan,
    "raw_pii": False,
}


def _with_audits(
    journal: pd.DataFrame, audits: Audits, sent: Mapping[str, SentNote]
) -> pd.DataFrame:
    """The journal with the driver's send and answer instants and the book's body audit."""
    notes = [sent.get(rid) for rid in journal["request_id"]]
    # requests the harness made itself while setting up carry no driver note
    journal["sent_at"] = [math.nan if n is None else n.sent_at for n in notes]
    journal["answered_at"] = [math.nan if n is None else n.answered_at for n in notes]
    for column, absent in _AUDIT_COLUMNS.items():
        values = getattr(audits, column).tolist()
        journal[column] = [absent if n is None else values[n.body] for n in notes]
    return journal


def users_frame(columns: OutcomeColumns) -> pd.DataFrame:
    """The engine's outcome columns as the contract's ``users`` frame (no object per user)."""
    state = np.frombuffer(columns.state, np.uint8)
    pending = state == columns.state_labels.index("pending")
    outcome_at = np.frombuffer(columns.outcome_at, np.float64).copy()
    outcome_at[pending] = math.nan
    status = np.frombuffer(columns.last_status, np.int16).astype(float)
    status[status == 0] = math.nan  # no answer yet
    # a reason is told for errored users, and for not-synced ones (``superseded``, or none)
    told = np.isin(state, [columns.state_labels.index(o) for o in ("errored", "not_synced")])
    return pd.DataFrame(
        {
            "user_id": _ids(columns.user_ids),
            "step": _text(columns.step_ids, np.frombuffer(columns.step, np.uint16)),
            "entered_at": np.frombuffer(columns.entered_at, np.float64).copy(),
            "outcome": _text(columns.state_labels, state),
            "outcome_at": outcome_at,
            "attempts": np.frombuffer(columns.attempts, np.uint16).astype(np.int64),
            "last_status": status,
            "reason": _text(columns.reason_labels, np.frombuffer(columns.reason, np.uint8), told),
        }
    )


_TEXT = pd.Series(np.array(["text"], dtype=object)).dtype  # what pandas makes of strings


def _ids(ids: UserIds) -> pd.Series | list[str]:
    """The engine's packed ids as the column pandas makes of strings: read by Arrow straight
    from the two buffers when pandas keeps text in Arrow, instead of one Python string each."""
    if not (isinstance(_TEXT, pd.StringDtype) and _TEXT.storage == "pyarrow"):
        return [ids[i] for i in range(len(ids))]
    offsets = pa.py_buffer(np.concatenate([[0], np.frombuffer(ids.ends, np.int64)]))
    text = pa.LargeStringArray.from_buffers(len(ids), offsets, pa.py_buffer(ids.text))
    series: pd.Series = text.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)
    return series


def _text(
    labels: tuple[str | None, ...],
    codes: npt.NDArray[np.integer],
    keep: npt.NDArray[np.bool_] | None = None,
) -> pd.Series | npt.NDArray[np.object_]:
    """The column pandas makes of ``labels[codes]`` (None where not ``keep``), decoded by
    Arrow when pandas keeps text in Arrow, instead of one Python string per row."""
    named = np.array([label is not None for label in labels], dtype=bool)[codes]
    shown = named if keep is None else named & keep
    arrow = isinstance(_TEXT, pd.StringDtype) and _TEXT.storage == "pyarrow"
    if not arrow or not shown.any():  # no text at all: pandas keeps objects
        values: npt.NDArray[np.object_] = np.array(labels, dtype=object)[codes]
        if keep is not None:
            values[~keep] = None
        return values
    indices = pa.array(codes.astype(np.int32), mask=~shown)
    dictionary = pa.array([label or "" for label in labels], type=pa.large_string())
    text = pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
    series: pd.Series = text.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)
    return series


def with_oldest_pending(timeseries: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Fill ``oldest_pending_age_s``: at each sample, the age of the earliest-entered user who
    had entered and was not yet resolved (synced, errored or not synced) by then. Reads three
    columns of ``users``, never copies the frame (millions of rows)."""
    out = timeseries.copy()
    step_of = users["step"].to_numpy()
    entered_at = users["entered_at"].to_numpy(float)
    resolved_at = users["outcome_at"].to_numpy(float).copy()
    resolved_at[(users["outcome"] == "pending").to_numpy()] = math.inf
    for step, rows in out.groupby("step", sort=False):
        mine = np.flatnonzero(step_of == step)
        mine = mine[np.argsort(entered_at[mine], kind="stable")]
        entered, resolved = entered_at[mine], resolved_at[mine]
        # first user (in entry order) still unresolved at t: first i with prefix-max > t
        running = np.maximum.accumulate(resolved) if len(resolved) else resolved
        t = rows["t"].to_numpy(float)
        first = np.searchsorted(running, t, side="right")
        ages = np.zeros(len(t))
        has = first < len(entered)
        idx = first[has]
        ages[has] = np.where(entered[idx] <= t[has], t[has] - entered[idx], 0.0)
        out.loc[rows.index, "oldest_pending_age_s"] = ages
    return out


def _compact(ids: AbstractSet[str]) -> AbstractSet[str]:
    """A list's members as a ``DigestSet`` when all are SHA-256 hex (the audience check then
    compares two sorted columns); as they are when the list holds anything else. One that
    already is a ``DigestSet`` (made from the mock's raw digests) is not converted again."""
    if isinstance(ids, DigestSet):
        return ids
    compact = DigestSet.of(ids)
    return ids if compact is None else compact
