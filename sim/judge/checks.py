"""The invariants every run is judged by, computed from what the mock saw — never the engine's word.

Responsibility: turn a `RunData` into named `CheckResult`s (`run_checks`); a scenario's own
`[expect]` bounds are judged beside them by `sim.judge.expectations`.

Rules:
- Evidence comes from the mock's request journal (`data.requests`), the mock's list members and
  the recorder's samples; the engine's own claims are only ever the thing being checked.
- Every check is a pure function of `RunData` registered in one table, `CHECKS`; a detail string
  says what was measured even when the check passes, and names the worst offender when it fails.
- Details never quote a token, secret, email or MAID: requests are named by `token_id` and
  sim time, users by step and counts.

Definitions (the precise meaning of each check):
- `conservation`: at every sample, entered = synced + not_synced + pending + errored per step;
  and the users table agrees with each step's last sample (row count = entered, outcome counts
  = the four outcome counters).
- `rate_limit`: per `token_id`, the most requests sent (the driver's `sent_at` of every request
  the journal shows; network jitter may bunch arrivals, pacing is the sender's promise) in any
  half-open window [s, s + 1 s) is at most `limits.requests_per_second`. The maximum over all
  windows is attained by one starting at a request, so windows starting at each request are
  counted exactly with a sorted search (`sim.judge.pacing.busiest_second`, which the run's pacing
  figures use on arrivals). Requests without a token (OAuth exchanges) are not counted. A
  nanosecond of slack absorbs float rounding in sums of sim times. When Pinterest has a minute
  window (`limits.requests_per_minute`), also: per token, the most requests *arriving* (the
  journal's `t`, refused ones included) in any [s, s + 60 s) is at most it — then that window
  refused nothing, whatever its algorithm.
- `max_records`: no request carries more than `limits.max_records_per_request` records.
- `flush_cadence`, two halves. Early: no PATCH carries a user who entered at or after the
  latest flush tick k·T ≤ `sent_at` (`max_entered_at`, from the sim's ledger; ticks counted
  from sim time 0, when the Canvas launches) — users go out only in the flush after their
  entry. Late: a customer-list PATCH that opens a burst is sent on a flush tick, `sent_at` =
  k·T. A request opens a burst when its login (the journal's `user`: the engine paces a
  connection across refreshes and reconnects) sent nothing in the second before it, nor r
  requests (`limits.requests_per_second`) in the 2 s before it: a send the pacer held back
  follows the r-th send before it by 1 s plus the pacer's margin (tens of milliseconds, up to
  its cap of 1 s after refusals widened it; the slack allows the cap), nor — under a minute
  window of n — within a minute and that slack of the answer to the n-th request before it
  (the pacer's rule 6 waits for it), so an opener was decided by the flush timer alone. Exempt
  from the late half, because they legitimately run off the tick: the first PATCH to each
  list (it waits for the list to be provisioned), a PATCH whose previous PATCH to the same
  list was not answered 2xx or whose answer was lost (`answered_at` NaN: a retry on its
  backoff schedule), an opener within 5 s of a 429
  on its token (the token waits out Pinterest's reset and, while refusals go on, a growing
  backoff), an opener sent the instant an answer on its token arrived (`answered_at`: it
  waited for that answer — a remove queued behind an add to the same list, or the in-flight
  cap), and PATCHes sent inside a fault window (slow answers and storms hold sends back) or
  up to the engine's longest backoff (`SyncConfig.backoff_max_s`) after it: a batch that
  failed in the window is retried on its own schedule, which the journal cannot tell from a
  fresh batch when another write to its list succeeded in between or when the failure left no
  trace there (a fault on the link: `timeout`, `connection_reset`, `outage`).
- `deadline_respected`: no request is sent after the earliest deadline of the users it carries
  (`min_deadline_at` ≥ `sent_at`).
- `errored_at_deadline`: every errored user's `outcome_at` ≥ its `deadline_at`, except reason
  `rejected`: Pinterest refused the record itself (400), which no retry can fix, so the engine
  errors it at once by design.
- `audience_members`: per step, the mock's list members equal the hashed ids the sim expects
  (its synced users), except that each record of a list write Pinterest applied but whose
  answer was lost (`answered_at` NaN) may explain one difference: its users are still pending
  (or errored) to the engine, which cannot know the write happened.
- `no_raw_pii`: no request body held a raw email or MAID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from sim.judge import pacing
from sim.results.recorder import RunData, final_counters
from sync_core import SyncConfig
from sync_core.pacing import MARGIN_CAP_S

OUTCOME_COUNTERS: Final = ("synced", "not_synced", "pending", "errored")
"""The outcomes an entered user is in exactly one of."""

_RATE_WINDOW_S: Final = 1.0
_MINUTE_S: Final = 60.0  # Pinterest's per-minute window (``sync_core.minute_window``)
_TICK_TOLERANCE_S: Final = 1e-6
# beyond 1 s, how late a send the pacer held back may follow: its margin, at most this (a
# margin refusals widened — a partial 429 storm over busy traffic can — narrows over hundreds
# of accepted writes, so it may still hold sends minutes later)
_PACING_SLACK_S: Final = MARGIN_CAP_S
# A 429 holds a token for its reset (whole seconds) and, while refusals go on, a growing
# backoff: sends soon after one are Pinterest's timing, not the flush's.
_HELD_BY_429_S: Final = 5.0
_DEADLINE_EXEMPT_REASONS: Final = frozenset({"rejected"})
# A batch that failed in a fault window is retried on its backoff schedule, up to the engine's
# longest backoff after the window closes; the journal cannot tell it from a fresh batch when
# another write to the same list succeeded in between, or when the failure left no trace
# there (a timeout, a reset, an outage on the link).
_RETRY_TAIL_S: Final = SyncConfig().backoff_max_s


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Whether a check held, and what was measured (always filled, pass or fail)."""

    ok: bool
    detail: str


def run_checks(data: RunData) -> dict[str, CheckResult]:
    """Every invariant a run is held to (the module docstring defines each), in a stable order."""
    return {name: check(data) for name, check in CHECKS.items()}


# --- conservation -------------------------------------------------------------------------


def check_conservation(data: RunData) -> CheckResult:
    """Entered = synced + not_synced + pending + errored, per sample and in the users table."""
    problems = [*_sample_imbalances(data.timeseries), *_users_disagreements(data)]
    if problems:
        return CheckResult(False, "; ".join(problems))
    samples = len(data.timeseries)
    return CheckResult(True, f"balanced at all {samples} samples; users table agrees")


def _sample_imbalances(timeseries: pd.DataFrame) -> list[str]:
    outcomes = timeseries[list(OUTCOME_COUNTERS)].sum(axis=1)
    broken = timeseries[timeseries["entered"] != outcomes]
    if broken.empty:
        return []
    first = broken.iloc[0]
    return [
        f"{len(broken)} samples unbalanced, first at {first['t']:.3f} s on step "
        f"{first['step']}: entered {first['entered']} ≠ outcomes {outcomes[broken.index[0]]}"
    ]


def _users_disagreements(data: RunData) -> list[str]:
    final = final_counters(data.timeseries)
    users = data.users
    table = pd.crosstab(users["step"], users["outcome"]).reindex(
        index=final.index, columns=list(OUTCOME_COUNTERS), fill_value=0
    )
    table["entered"] = users["step"].value_counts().reindex(final.index, fill_value=0)
    counters = ["entered", *OUTCOME_COUNTERS]
    rows, counted = table[counters].to_numpy(np.int64), final[counters].to_numpy(np.int64)
    problems = [
        f"step {step}: users table {counter} {rows[i, j]} ≠ counter {counted[i, j]}"
        for i, step in enumerate(final.index)
        for j, counter in enumerate(counters)
        if rows[i, j] != counted[i, j]
    ]
    unknown = sorted(set(users["step"].astype(str).unique()) - set(final.index))
    if unknown:
        problems.append(f"users table names unsampled steps {unknown}")
    return problems


# --- pacing and size ------------------------------------------------------------------------


def check_rate_limit(data: RunData) -> CheckResult:
    """Per token, at most the limit of requests in any 1 s window of sending.

    Every request the mock's journal shows, timed at the instant the driver put it on the
    wire (``sent_at``): network jitter may bunch arrivals, but pacing is the sender's promise.
    Requests the harness made itself while setting up (no ``sent_at``) are not the engine's.
    """
    limit = data.limits.requests_per_second
    journal = data.requests
    requests = journal[journal["token_id"].notna() & journal["sent_at"].notna()]
    worst_count, worst_token, worst_start = 0, "", 0.0
    for token_id, group in requests.groupby("token_id", sort=True):
        count, start = pacing.busiest_second(group["sent_at"].to_numpy(float))
        if count > worst_count:
            worst_count, worst_token, worst_start = count, str(token_id), start
    if worst_count == 0:
        return CheckResult(True, f"no token-bearing requests (limit {limit}/s)")
    window = f"{worst_count} requests on {worst_token} in [{worst_start:.3f} s, +1 s)"
    second = CheckResult(worst_count <= limit, f"busiest second: {window}, limit {limit}")
    per_minute = data.limits.requests_per_minute
    if per_minute is None:
        return second
    minute = _busiest_arrival_minute(requests, per_minute)
    return CheckResult(second.ok and minute.ok, f"{second.detail}; {minute.detail}")


def _busiest_arrival_minute(requests: pd.DataFrame, limit: int) -> CheckResult:
    """Per token, the most requests *arriving* (``t``, refused ones included) in any 60 s:
    at most the minute's limit means its window refused none, whatever its algorithm (a
    refusal needs ``limit`` admitted arrivals in the 60 s before, and itself). Judged at
    arrival, not send: the engine plans the minute by the answers that bound arrivals."""
    worst_count, worst_token, worst_start = 0, "", 0.0
    for token_id, group in requests.groupby("token_id", sort=True):
        count, start = pacing.busiest_second(group["t"].to_numpy(float), _MINUTE_S)
        if count > worst_count:
            worst_count, worst_token, worst_start = count, str(token_id), start
    window = f"{worst_count} requests on {worst_token} in [{worst_start:.3f} s, +60 s)"
    return CheckResult(worst_count <= limit, f"busiest arrival minute: {window}, limit {limit}")


def check_max_records(data: RunData) -> CheckResult:
    """No request carries more records than Pinterest accepts."""
    limit = data.limits.max_records_per_request
    records = data.requests["records"]
    biggest = int(records.max()) if len(records) else 0
    over = data.requests[records > limit]
    if over.empty:
        return CheckResult(True, f"largest request {biggest} records, limit {limit}")
    first = over.iloc[0]
    return CheckResult(
        False,
        f"{len(over)} requests over {limit} records, largest {biggest}, "
        f"first at {first['t']:.3f} s on {first['token_id']}",
    )


def check_flush_cadence(data: RunData) -> CheckResult:
    """Users go out only in the flush after their entry, and idle tokens flush on the tick."""
    period = data.limits.flush_interval_s
    early = _early_patches(data, period)
    if not early.empty:
        first = early.iloc[0]
        return CheckResult(
            False,
            f"{len(early)} PATCHes carry users who entered after the last {period:g} s tick, "
            f"first sent at {first['sent_at']:.3f} s with an entry at "
            f"{first['max_entered_at']:.3f} s",
        )
    openers = _burst_openers(data)
    phase = np.mod(openers["sent_at"].to_numpy(float), period)
    off = openers[np.minimum(phase, period - phase) > _TICK_TOLERANCE_S]
    if off.empty:
        return CheckResult(
            True,
            f"no user sent before their flush; {len(openers)} burst-opening PATCHes, "
            f"all on the {period:g} s tick",
        )
    first = off.iloc[0]
    return CheckResult(
        False,
        f"{len(off)} of {len(openers)} burst-opening PATCHes off the {period:g} s tick, "
        f"first sent at {first['sent_at']:.3f} s on {first['token_id']}",
    )


def _early_patches(data: RunData, period: float) -> pd.DataFrame:
    patches = data.requests[data.requests["method"] == "PATCH"]
    last_tick = np.floor((patches["sent_at"].to_numpy(float) + _TICK_TOLERANCE_S) / period)
    early = patches["max_entered_at"].to_numpy(float) >= last_tick * period
    return patches[early]


def _burst_openers(data: RunData) -> pd.DataFrame:
    ordered = data.requests.sort_values("sent_at", kind="stable")
    # by login, not token: the engine paces a connection whatever token it holds, and a
    # refresh or a reconnect mid-burst is no new burst
    sender = ordered["user"].fillna(ordered["token_id"])
    per_token = ordered.groupby(sender, dropna=False)["sent_at"]
    gap = per_token.diff()
    since_rth = ordered["sent_at"] - per_token.shift(data.limits.requests_per_second)
    held_by_window = since_rth <= _RATE_WINDOW_S + _PACING_SLACK_S
    per_minute = data.limits.requests_per_minute
    if per_minute is not None:
        # a minute window: the pacer holds a send until the answer to the n-th before it and
        # a minute more (``sync_core.minute_window``)
        nth_answered = ordered.groupby(sender, dropna=False)["answered_at"].shift(per_minute)
        held_by_window |= ordered["sent_at"] <= nth_answered + _MINUTE_S + _PACING_SLACK_S
    opens_burst = (gap.isna() | (gap > _RATE_WINDOW_S)) & ~held_by_window
    # the PATCH before each to the same list, found by path: the journal names no list on a
    # refused one (401, 429), which still makes the next one a retry
    to_list = (ordered["method"] == "PATCH") & ordered["path"].str.contains(
        "/customer_lists/", regex=False
    )
    writes = ordered[to_list]
    by_path = writes.groupby("path")
    # a previous PATCH whose answer was lost (answered_at NaN: the engine never heard its
    # 2xx) was a failure to the engine: what follows is its retry
    heard = by_path["answered_at"].shift().notna()
    first_attempt = (by_path["status"].shift().between(200, 299) & heard)[
        writes["customer_list_id"].notna()
    ]
    patches = writes[writes["customer_list_id"].notna()]
    held = _held_by_pinterest(patches, ordered) | _sent_on_an_answer(patches, ordered)
    in_fault = _within_fault_windows(patches["sent_at"].to_numpy(float), data)
    keep = opens_burst.loc[patches.index].to_numpy(bool) & first_attempt.to_numpy(bool)
    openers: pd.DataFrame = patches.loc[keep & ~held & ~in_fault]
    return openers


def _sent_on_an_answer(patches: pd.DataFrame, ordered: pd.DataFrame) -> np.ndarray:
    """Whether the PATCH went out the instant an answer on its token arrived: the engine was
    waiting for that answer (a remove queued behind an add to the same list, the in-flight
    cap), not for the flush. Both instants are the same simulated ``now``, compared exactly."""
    answered = set(zip(ordered["token_id"], ordered["answered_at"], strict=True))
    pairs = zip(patches["token_id"], patches["sent_at"], strict=True)
    return np.array([pair in answered for pair in pairs], dtype=bool)


def _held_by_pinterest(patches: pd.DataFrame, ordered: pd.DataFrame) -> np.ndarray:
    """Whether Pinterest answered 429 on the PATCH's token shortly before it was sent."""
    held = np.zeros(len(patches), dtype=bool)
    refusals = ordered[ordered["status"] == 429]
    for token_id, answered in refusals.groupby("token_id")["t"]:
        mine = (patches["token_id"] == token_id).to_numpy()
        sent = patches.loc[mine, "sent_at"].to_numpy(float)
        times = np.sort(answered.to_numpy(float))
        last = np.searchsorted(times, sent, side="right") - 1
        recent = (last >= 0) & (sent - times[np.maximum(last, 0)] <= _HELD_BY_429_S)
        held[mine] = recent
    return held


def _within_fault_windows(instants: np.ndarray, data: RunData) -> np.ndarray:
    inside = np.zeros(len(instants), dtype=bool)
    # Instant faults (revoke, delete) have no window: their aftermath is a non-2xx answer,
    # which the retry exemption already covers.
    for window in data.fault_windows:
        if window.end_s is not None:
            inside |= (instants >= window.start_s) & (instants < window.end_s + _RETRY_TAIL_S)
    return inside


# --- deadlines ------------------------------------------------------------------------------


def check_deadline_respected(data: RunData) -> CheckResult:
    """No request is sent after the earliest deadline among the users it carries."""
    requests = data.requests
    late = requests[requests["min_deadline_at"] < requests["sent_at"]]
    carrying = int(requests["min_deadline_at"].notna().sum())
    if late.empty:
        return CheckResult(True, f"all {carrying} user-carrying requests sent before deadlines")
    overshoot = (late["sent_at"] - late["min_deadline_at"]).max()
    return CheckResult(
        False,
        f"{len(late)} of {carrying} requests sent past a carried user's deadline, "
        f"worst by {overshoot:.3f} s",
    )


def check_errored_at_deadline(data: RunData) -> CheckResult:
    """Errored users error at or after their deadline; `rejected` records are exempt."""
    users = data.users
    errored = users[
        (users["outcome"] == "errored") & ~users["reason"].isin(_DEADLINE_EXEMPT_REASONS)
    ]
    early = errored[errored["outcome_at"] < errored["deadline_at"]]
    if early.empty:
        return CheckResult(True, f"all {len(errored)} errored users (rejected exempt) at deadline")
    reasons = ", ".join(f"{reason} {n}" for reason, n in _sorted_counts(early["reason"]))
    earliest = (early["deadline_at"] - early["outcome_at"]).max()
    return CheckResult(
        False,
        f"{len(early)} users errored before their deadline (by up to {earliest:.3f} s): {reasons}",
    )


def _sorted_counts(values: pd.Series) -> list[tuple[str, int]]:
    counts = values.astype(str).value_counts()
    return sorted((str(value), int(n)) for value, n in counts.items())


# --- what reached Pinterest -----------------------------------------------------------------


def check_audience_members(data: RunData) -> CheckResult:
    """Each step's list in the mock holds exactly the users the sim counted synced there, but
    for users whose fate the engine cannot know: a request Pinterest applied whose answer was
    lost (a timeout, a reset, a worker crash) leaves its users pending, to be sent again, while
    the list already reflects them. Each such record may explain one difference, no more."""
    problems, total, differences = [], 0, 0
    counted: set[int] = set()
    for step in sorted(set(data.members) | set(data.expected_members)):
        members = data.members.get(step, frozenset())
        expected = data.expected_members.get(step, frozenset())
        total += len(expected)
        # one pass: what is in both is what was expected less what is missing
        missing = len(expected - members)
        extra = len(members) - (len(expected) - missing)
        if missing or extra:
            problems.append(f"step {step}: {missing} missing, {extra} extra")
            # steps writing one list share its expected set (one object: sim.results.assemble)
            # and see the same differences: a lost record explains them once, not per step
            if id(expected) not in counted:
                counted.add(id(expected))
                differences += missing + extra
    unknown = _records_with_lost_answers(data)
    if differences > unknown:
        lost = f" (answers lost for {unknown} applied records)" if unknown else ""
        return CheckResult(False, "; ".join(problems) + lost)
    lost = f"; {differences} differences within the {unknown} applied records whose answer was lost"
    return CheckResult(
        True,
        f"{total} expected members present in {len(data.members)} lists"
        + (lost if problems else ""),
    )


def _records_with_lost_answers(data: RunData) -> int:
    """Records of list writes Pinterest applied (2xx) whose answer the engine never heard."""
    requests = data.requests
    lost = (
        (requests["method"] == "PATCH")
        & requests["status"].between(200, 299)
        & requests["sent_at"].notna()
        & requests["answered_at"].isna()
    )
    return int(requests.loc[lost, "records"].fillna(0).sum())


def check_no_raw_pii(data: RunData) -> CheckResult:
    """No request body held a raw email or MAID."""
    raw = data.requests[data.requests["raw_pii"].astype(bool)]
    if raw.empty:
        return CheckResult(True, f"no raw email or MAID in {len(data.requests)} requests")
    first = raw.iloc[0]
    return CheckResult(
        False,
        f"{len(raw)} requests carried raw PII, first at {first['t']:.3f} s "
        f"{first['method']} {first['path']}",
    )


CHECKS: Final[Mapping[str, Callable[[RunData], CheckResult]]] = {
    "conservation": check_conservation,
    "rate_limit": check_rate_limit,
    "max_records": check_max_records,
    "flush_cadence": check_flush_cadence,
    "deadline_respected": check_deadline_respected,
    "errored_at_deadline": check_errored_at_deadline,
    "audience_members": check_audience_members,
    "no_raw_pii": check_no_raw_pii,
}
