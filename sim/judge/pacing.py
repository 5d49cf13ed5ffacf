"""The pacing figures of a run, from the mock's journal and the users table.

Responsibility: say how well the engine used Pinterest's per-token limit of r requests a second
(``limits.requests_per_second``), which Pinterest counts when requests *arrive*: per token (the
journal's ``token_id``), per connection and over the whole run.

Definitions:
- A *write* is a customer-list PATCH (``/v5/ad_accounts/{id}/customer_lists/{id}``) the engine
  sent (a journal row with a ``sent_at``; the harness's set-up requests have none).
  ``share_429`` = writes answered 429 ÷ writes; None without writes.
- *Backlog time* of a connection: the union over its users of ``[release_at, resolved_at)``.
  ``release_at = (⌊entered_at / T⌋ + 1)·T`` is the first flush tick after entry (users go out
  only at the flush after they enter); ``resolved_at`` is ``outcome_at`` for synced and errored
  users and the end of the run for users still pending. Not-synced users never queue. The
  backlog counts against the token the connection is using: its first token from the start,
  each later one (a refresh, a reconnect) from its first request on.
- ``utilisation`` = accepted (2xx) writes *arriving* (journal ``t``, the mock's clock) during
  the connection's backlog time ÷ (r × backlog seconds); None without a backlog. 1.0 is the
  limit fully used by writes; arrival jitter can bunch a token's writes into its backlog, so a
  value a little over 1 is possible.
- Busiest arrival second: the most requests of a token (every token-bearing request the engine
  sent, refused ones included) whose ``t`` falls in any half-open window ``[s, s + 1 s)``, and
  ``s``. ``sim.judge.checks`` judges the same window on ``sent_at`` with ``busiest_second``.
- Several tokens combine by sums (writes, refusals, accepted writes in backlog, backlog
  seconds: so utilisation = Σ accepted ÷ (r × Σ backlog)) and the busiest second of any.

Rules:
- Pure functions of ``RunData``. Users reach tokens through their step's connection
  (``RunData.connection_of_step``; the journal's ``user`` names the connection).
- Vectorised: a sorted interval union over all users, sorted searches over arrivals; the only
  Python loops are over tokens and connections, never over users or requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.results.recorder import RunData

__all__ = [
    "BusiestSecond",
    "Pacing",
    "busiest_second",
    "by_connection",
    "by_token",
    "combine",
    "interval_union",
    "overall",
]

Floats = npt.NDArray[np.float64]

_WRITE_PATH: Final = r"/v5/ad_accounts/[^/]+/customer_lists/[^/]+"
_WINDOW_S: Final = 1.0
_FLOAT_SLACK_S: Final = 1e-9  # sums of sim times round; a window must not catch its end
_RESOLVED_AT_OUTCOME: Final = ("synced", "errored")  # pending: the end of the run


@dataclass(frozen=True, slots=True, kw_only=True)
class BusiestSecond:
    """The most requests in one 1 s window, where it starts and on which token (none: 0)."""

    count: int = 0
    start_s: float | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """One token's pacing figures, or several tokens' combined (see the module docstring)."""

    requests_per_second: int
    writes: int = 0
    refused_429: int = 0
    accepted_in_backlog: int = 0
    backlog_s: float = 0.0
    busiest: BusiestSecond = field(default_factory=BusiestSecond)

    @property
    def share_429(self) -> float | None:
        """Writes answered 429 ÷ writes; None without writes."""
        return self.refused_429 / self.writes if self.writes else None

    @property
    def utilisation(self) -> float | None:
        """Accepted writes arriving in backlog ÷ (r × backlog seconds); None without one."""
        if self.backlog_s <= 0:
            return None
        return self.accepted_in_backlog / (self.requests_per_second * self.backlog_s)


def overall(data: RunData) -> Pacing:
    """The run's figures over all tokens."""
    return combine(by_token(data).values(), data.limits.requests_per_second)


def by_connection(data: RunData) -> dict[str, Pacing]:
    """Figures per connection (its tokens combined), in order of first request."""
    tokens = by_token(data)
    owners = _token_owners(_engine_requests(data))
    grouped: dict[str, list[Pacing]] = {}
    for token, figures in tokens.items():
        grouped.setdefault(owners[token], []).append(figures)
    r = data.limits.requests_per_second
    return {connection: combine(group, r) for connection, group in grouped.items()}


def by_token(data: RunData) -> dict[str, Pacing]:
    """Figures per ``token_id``, in order of each token's first request."""
    requests = _engine_requests(data)
    owners = _token_owners(requests)
    spans = _token_spans(requests, owners)
    backlogs = _backlogs(data)
    none = (np.empty(0), np.empty(0))
    figures = {}
    for token_id, group in requests.groupby("token_id", sort=False):
        token = str(token_id)
        backlog = backlogs.get(owners[token], none)
        figures[token] = _token_pacing(data, token, group, backlog, spans[token])
    return figures


def combine(figures: Iterable[Pacing], requests_per_second: int) -> Pacing:
    """Several tokens' figures as one: sums, and the busiest second of any (first on ties)."""
    figures = list(figures)
    busiest = BusiestSecond()
    for one in figures:
        if one.busiest.count > busiest.count:
            busiest = one.busiest
    return Pacing(
        requests_per_second=requests_per_second,
        writes=sum(one.writes for one in figures),
        refused_429=sum(one.refused_429 for one in figures),
        accepted_in_backlog=sum(one.accepted_in_backlog for one in figures),
        backlog_s=sum(one.backlog_s for one in figures),
        busiest=busiest,
    )


# --- one token ----------------------------------------------------------------------------


def _token_pacing(
    data: RunData,
    token: str,
    requests: pd.DataFrame,
    backlog: tuple[Floats, Floats],
    span: tuple[float, float],
) -> Pacing:
    writes = requests[requests["path"].astype(str).str.fullmatch(_WRITE_PATH)]
    writes = writes[writes["method"] == "PATCH"]
    status = writes["status"].to_numpy(np.int64)
    accepted = writes["t"].to_numpy(float)[(status >= 200) & (status < 300)]
    starts, ends = backlog
    count, start = busiest_second(requests["t"].to_numpy(float))
    return Pacing(
        requests_per_second=data.limits.requests_per_second,
        writes=len(writes),
        refused_429=int((status == 429).sum()),
        accepted_in_backlog=int(_inside(accepted, starts, ends).sum()),
        backlog_s=_clipped_length(starts, ends, *span),
        busiest=BusiestSecond(count=count, start_s=start, token=token),
    )


def busiest_second(times: npt.ArrayLike, window_s: float = _WINDOW_S) -> tuple[int, float]:
    """Most instants in any half-open 1 s window (or ``window_s``: a minute's), and where that
    window starts (non-empty).

    The maximum over all windows is attained by one starting at an instant, so windows
    starting at each instant are counted exactly with a sorted search.
    """
    ordered = np.sort(np.asarray(times, dtype=float))
    ends = np.searchsorted(ordered, ordered + window_s - _FLOAT_SLACK_S, side="left")
    counts = ends - np.arange(len(ordered))
    worst = int(np.argmax(counts))
    return int(counts[worst]), float(ordered[worst])


def _engine_requests(data: RunData) -> pd.DataFrame:
    """Token-bearing requests the engine sent, in arrival order."""
    journal = data.requests
    sent = journal[journal["token_id"].notna() & journal["sent_at"].notna()]
    return sent.sort_values("t", kind="stable")


def _token_owners(requests: pd.DataFrame) -> dict[str, str]:
    """Token id → the connection (the journal's ``user``) it belongs to."""
    owners = requests.groupby("token_id", sort=False)["user"].first()
    return {str(token): str(user) for token, user in owners.items()}


def _token_spans(
    requests: pd.DataFrame, owners: Mapping[str, str]
) -> dict[str, tuple[float, float]]:
    """When each token carries its connection's backlog: from its first request (the first
    token from the start) to the next token's first request (the last one to the end)."""
    first = requests.groupby("token_id", sort=False)["t"].min()
    spans: dict[str, tuple[float, float]] = {}
    for connection in dict.fromkeys(owners.values()):
        mine = first[[owners[str(token)] == connection for token in first.index]].sort_values()
        starts = [-np.inf, *mine.to_numpy(float)[1:]]
        ends = [*starts[1:], np.inf]
        spans |= {str(token): (a, b) for token, a, b in zip(mine.index, starts, ends, strict=True)}
    return spans


# --- backlog ------------------------------------------------------------------------------


def _backlogs(data: RunData) -> dict[str, tuple[Floats, Floats]]:
    """Connection → its backlog time as disjoint sorted blocks ``[starts[i], ends[i])``."""
    users = data.users
    step_of = data.connection_of_step
    period = data.limits.flush_interval_s
    # one code per user (factorised steps, then their connections; -1: a step on none the
    # journal names): no Python string per row
    step_codes, steps = pd.factorize(users["step"])
    names = list(dict.fromkeys(step_of.values()))
    codes = [names.index(step_of[str(s)]) if str(s) in step_of else -1 for s in steps]
    connection = np.array(codes, dtype=np.int64)[step_codes]
    release = (np.floor(users["entered_at"].to_numpy(float) / period) + 1) * period
    resolved = np.where(
        users["outcome"].isin(_RESOLVED_AT_OUTCOME).to_numpy(bool),
        users["outcome_at"].to_numpy(float),
        data.sim_seconds,
    )
    queued = (users["outcome"] != "not_synced").to_numpy(bool)
    return {
        name: interval_union(release[mine], resolved[mine])
        for code, name in enumerate(names)
        if (mine := queued & (connection == code)).any()
    }


def interval_union(starts: npt.ArrayLike, ends: npt.ArrayLike) -> tuple[Floats, Floats]:
    """The union of half-open intervals ``[starts[i], ends[i])`` as disjoint sorted blocks
    (empty intervals dropped; touching ones merge)."""
    lo, hi = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    keep = hi > lo
    order = np.argsort(lo[keep], kind="stable")
    lo, hi = lo[keep][order], hi[keep][order]
    if lo.size == 0:
        return lo, hi
    reach = np.maximum.accumulate(hi)
    opens = np.concatenate(([True], lo[1:] > reach[:-1]))
    closes = np.append(np.flatnonzero(opens)[1:] - 1, lo.size - 1)
    return lo[opens], reach[closes]


def _inside(times: Floats, starts: Floats, ends: Floats) -> npt.NDArray[np.bool_]:
    """Whether each instant falls in one of the disjoint sorted blocks."""
    block = np.searchsorted(starts, times, side="right") - 1
    found = block >= 0
    found[found] = times[found] < ends[block[found]]
    return found


def _clipped_length(starts: Floats, ends: Floats, lo: float, hi: float) -> float:
    """Seconds of the blocks within ``[lo, hi)``."""
    return float(np.maximum(np.minimum(ends, hi) - np.maximum(starts, lo), 0.0).sum())
