"""The request journal: one record per non-admin request, in arrival order.

Rules (CONTRACTS.md §1):
- Columns are exactly ``JOURNAL_COLUMNS``; JSON and CSV carry the same ones, in that order.
- A record names a token by its stable opaque id (``tok-3``), never by the token itself, and
  never holds request bodies or identifiers: the journal is safe to write to disk or print.
- Records are frozen; the simulation reads ``Journal.records`` in process without copying.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass

JOURNAL_COLUMNS = (
    "t",
    "token_id",
    "user",
    "method",
    "path",
    "category",
    "status",
    "code",
    "records",
    "operation_type",
    "customer_list_id",
    "request_id",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    t: float
    token_id: str | None
    user: str | None
    method: str
    path: str
    category: str | None
    status: int
    code: int | None
    records: int
    operation_type: str | None
    customer_list_id: str | None
    request_id: str

    def to_json(self) -> dict[str, object]:
        return dict(zip(JOURNAL_COLUMNS, astuple(self), strict=True))


class Journal:
    """Append-only list of ``JournalRecord``; cleared only by a mock reset."""

    def __init__(self) -> None:
        self.records: list[JournalRecord] = []

    def append(self, record: JournalRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def to_json(self) -> list[dict[str, object]]:
        return [record.to_json() for record in self.records]

    def to_csv(self) -> str:
        """CSV with a header row; absent values are empty cells."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(JOURNAL_COLUMNS)
        for record in self.records:
            writer.writerow("" if value is None else value for value in astuple(record))
        return out.getvalue()
