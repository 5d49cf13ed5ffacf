"""What the words of a run's report and printed summary mean, each in one line.

Responsibility: the definitions a reader needs beside the figures — the seven step counters in
the vendor's sense, what the Requests table counts, and each check's meaning — written once,
for ``report.html`` and the CLI's summary alike.

Rules:
- One line each, in plain words; the precise definitions live with the code that computes them
  (``sync_core.metrics``, ``sim.judge.checks``), these say what a reader takes from them.
- Every check in ``sim.judge.checks.CHECKS`` has a meaning here (a test holds them to it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["CHECK_MEANINGS", "COUNTER_MEANINGS", "EXPECT_MEANING", "REQUESTS_NOTE"]

COUNTER_MEANINGS: Final[Mapping[str, str]] = {
    "entered": "users who reached the step",
    "proceeded": "users who went on to the Canvas's next step (on entry: the sync does not "
    "hold them); 0 on a last step, whose users exit instead",
    "synced": "users whose records Pinterest accepted",
    "not_synced": "users never sent: no usable email or MAID to match on, or superseded by a "
    "later opposite entry for the same audience (reason in users.parquet)",
    "pending": "users not synced yet: waiting for their batch, the rate limit or a retry",
    "errored": "users not synced within the retry window (13 h by default), or whose record "
    "Pinterest refused",
    "exited": "users who left the Canvas after this step, its last (0 on other steps)",
}
"""The seven counters of a step, in the order the tables show them."""

REQUESTS_NOTE: Final = (
    "Every request that reached the mock, by status. Writes are the customer-list PATCHes that "
    "carry users' records (paced at the per-token limit); the rest is set-up: the OAuth "
    "consent redirect (302) and token exchanges, and provisioning the ad account's customer "
    "lists and audiences, which happen once per connection or audience, not per user."
)

CHECK_MEANINGS: Final[Mapping[str, str]] = {
    "conservation": "every entered user is in exactly one of synced, not synced, pending and "
    "errored, at every sample, and the users table agrees",
    "rate_limit": "no token sent more requests in any second (or minute, where Pinterest has "
    "that window) than its limit",
    "max_records": "no request carried more records than Pinterest accepts in one",
    "flush_cadence": "users go out in the first flush after they enter, and a burst of writes "
    "starts on the flush tick unless a retry, a wait for an answer or a fault explains it",
    "deadline_respected": "no request carried a user past their retry deadline",
    "errored_at_deadline": "no user errored before their deadline, except records Pinterest "
    "refused outright",
    "audience_members": "each audience's members at the mock are exactly the users the "
    "simulation's own book expects there",
    "no_raw_pii": "no request body held a raw email or MAID: only SHA-256 hashes left",
}
"""One sentence per invariant of ``sim.judge.checks``."""

EXPECT_MEANING: Final = (
    "Bounds this scenario sets in its [expect] table, beyond the checks every run is held to."
)
