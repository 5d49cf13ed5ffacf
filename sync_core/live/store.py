"""The live worker's durable store: connections and tokens, steps, every accepted entry, every
settled outcome and engine checkpoints — behind a small interface, ``Store``.

Rules:
- Recovery is *checkpoint + replay*: a checkpoint is an engine snapshot together with
  ``entered_through``, the sequence number of the last entry the snapshot has entered, written
  in ONE transaction with the outcomes it settles. After a crash the worker restores the last
  checkpoint and re-enters every entry after ``entered_through``: an accepted entry is never
  lost (it is in ``entries`` before ``append_entries`` returns) and never counted twice (the
  snapshot and its watermark cannot disagree). Requests in flight at the crash are re-sent;
  Pinterest's adds and removes are idempotent.
- ``append_entries`` is all or none, and returns only after the commit is durable: the intake
  acknowledges an entry after that, so acknowledged means on disk.
- Outcomes are keyed by the user's position in the engine (its ``i``-th entered user); a
  checkpoint writes the settled users from ``outcomes_through`` up to the first still pending,
  so each row is written once per snapshot that could be restored, and a replayed row just
  replaces itself.
- The database file holds tokens, client secrets and raw identifiers: it is created with mode
  0600 and no token ever reaches a repr, a log line or an error message.
- SQLite in WAL mode (readers never block the writer, so an intake process can append while
  the worker reads) with ``synchronous=FULL``: in WAL mode NORMAL survives a process crash but
  may roll back the last commits after a power loss or OS crash, and an acknowledged entry must
  survive those too. The price, one fsync per commit, is paid per *batch* of entries.
- One ``SqliteStore`` per thread (sqlite3 connections are not shared across threads here);
  several processes may open the same file. A server database can replace SQLite behind
  ``Store`` when many workers share one queue (sharded by connection: Pinterest's limit is per
  token).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from sync_core.live.entries import Entry
from sync_core.metrics import StepCounters, UserOutcome
from sync_core.model import Action, AudienceRef, Connection, Step

__all__ = ["Checkpoint", "EntryColumns", "SqliteStore", "Store", "StoredEntry"]

_FILE_MODE = 0o600
_BUSY_TIMEOUT_MS = 10_000  # another process (the intake) may hold the write lock briefly

_SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes TEXT NOT NULL,
    ad_account_ids TEXT NOT NULL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS steps (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    ad_account_id TEXT NOT NULL,
    audience_new TEXT,
    audience_existing TEXT,
    action TEXT NOT NULL,
    match_fields TEXT NOT NULL,
    last_step INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    step_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT,
    maid TEXT,
    entered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    position INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    entered_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    outcome_at REAL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    snapshot BLOB NOT NULL,
    entered_through INTEGER NOT NULL,
    outcomes_through INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    counters TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An accepted entry and its sequence number (increasing in acceptance order)."""

    seq: int
    entry: Entry


@dataclass(frozen=True, slots=True)
class EntryColumns:
    """Accepted entries in sequence order, one column a field: the worker enters them by the
    thousand, and an object per entry cost it a fifth of its time (``benchmarks.live_load``)."""

    seqs: Sequence[int]
    step_ids: Sequence[str]
    user_ids: Sequence[str]
    emails: Sequence[str | None]
    maids: Sequence[str | None]
    entered_at: Sequence[float]

    def __len__(self) -> int:
        return len(self.seqs)

    def by_step(self) -> Iterator[tuple[str, EntryColumns]]:
        """The entries of each step, in order of the step's first entry."""
        steps = dict.fromkeys(self.step_ids)
        if len(steps) == 1:  # the usual case: nothing to split
            yield self.step_ids[0], self
            return
        for step_id in steps:
            rows = [i for i, s in enumerate(self.step_ids) if s == step_id]
            yield (
                step_id,
                EntryColumns(
                    _pick(self.seqs, rows),
                    _pick(self.step_ids, rows),
                    _pick(self.user_ids, rows),
                    _pick(self.emails, rows),
                    _pick(self.maids, rows),
                    _pick(self.entered_at, rows),
                ),
            )

    def stored(self) -> list[StoredEntry]:
        """One object an entry, for readers that want them."""
        fields = (self.step_ids, self.user_ids, self.emails, self.maids, self.entered_at)
        rows = zip(*fields, strict=True)
        return [StoredEntry(seq, Entry(*row)) for seq, row in zip(self.seqs, rows, strict=True)]


_T = TypeVar("_T")


def _pick(column: Sequence[_T], rows: Sequence[int]) -> list[_T]:
    return [column[i] for i in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The last engine snapshot and what it covers (``snapshot`` is a pickle: our own only)."""

    snapshot: bytes
    entered_through: int  # entries with seq <= this are in the snapshot
    outcomes_through: int  # outcome rows of positions < this are written
    taken_at: float  # the engine's ``now`` at the snapshot
    counters: Mapping[str, StepCounters]

    def __repr__(self) -> str:  # the snapshot holds tokens
        return (
            f"Checkpoint(entered_through={self.entered_through}, "
            f"outcomes_through={self.outcomes_through}, taken_at={self.taken_at})"
        )


class Store(Protocol):
    """What the live runtime needs from durable storage."""

    def save_connection(self, connection: Connection) -> None: ...
    def save_tokens(
        self,
        connection_id: str,
        access_token: str,
        refresh_token: str | None,
        expires_at: float | None = None,
    ) -> None: ...
    def connections(self) -> list[Connection]: ...
    def save_steps(self, steps: Sequence[Step]) -> None: ...
    def steps(self) -> list[Step]: ...
    def append_entries(self, entries: Sequence[Entry]) -> int: ...
    def entries_after(self, seq: int, limit: int) -> EntryColumns: ...
    def last_seq(self) -> int: ...
    def checkpoint(
        self,
        snapshot: bytes,
        entered_through: int,
        *,
        taken_at: float,
        counters: Mapping[str, StepCounters],
        outcomes: Sequence[tuple[int, UserOutcome]] = (),
        outcomes_through: int = 0,
    ) -> None: ...
    def last_checkpoint(self) -> Checkpoint | None: ...
    def outcomes(self) -> Iterator[tuple[int, UserOutcome]]: ...
    def close(self) -> None: ...


def _add_expiry_column(db: sqlite3.Connection) -> None:
    """A store written before tokens' expiry was kept gets the column (NULL: unknown)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(connections)")}
    if "expires_at" not in columns:
        db.execute("ALTER TABLE connections ADD COLUMN expires_at REAL")


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """WAL mode, waiting for another connection that is switching the same new file: the
    switch takes an exclusive lock and SQLite answers "locked" at once instead of waiting."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1e3
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class SqliteStore:
    """``Store`` on one SQLite file (created 0600, WAL, synchronous=FULL)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        _create_private(self.path)
        # Transactions are explicit (``_transaction``): autocommit otherwise.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1e3)
        _switch_to_wal(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        _add_expiry_column(self._db)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: no deadlock between two upgrading readers.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- connections and steps ---------------------------------------------------------------

    def save_connection(self, connection: Connection) -> None:
        """Insert or replace a connection, its tokens and secrets."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO connections (id, access_token, refresh_token, client_id,"
                " client_secret, scopes, ad_account_ids, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    connection.id,
                    connection.access_token,
                    connection.refresh_token,
                    connection.client_id,
                    connection.client_secret,
                    json.dumps(sorted(connection.scopes)),
                    json.dumps(sorted(connection.ad_account_ids)),
                    connection.expires_at,
                ),
            )

    def save_tokens(
        self,
        connection_id: str,
        access_token: str,
        refresh_token: str | None,
        expires_at: float | None = None,
    ) -> None:
        """New tokens for a saved connection (a refresh rotated them, or a reconnect), and when
        the access token expires (None: unknown)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE connections SET access_token = ?, refresh_token = ?, expires_at = ?"
                " WHERE id = ?",
                (access_token, refresh_token, expires_at, connection_id),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no connection {connection_id!r} in the store")

    def connections(self) -> list[Connection]:
        rows = self._db.execute(
            "SELECT id, access_token, refresh_token, client_id, client_secret, scopes,"
            " ad_account_ids, expires_at FROM connections ORDER BY id"
        ).fetchall()
        return [
            Connection(
                id=cid,
                access_token=access,
                refresh_token=refresh,
                client_id=client_id,
                client_secret=secret,
                scopes=frozenset(json.loads(scopes)),
                ad_account_ids=frozenset(json.loads(accounts)),
                expires_at=expires_at,
            )
            for cid, access, refresh, client_id, secret, scopes, accounts, expires_at in rows
        ]

    def save_steps(self, steps: Sequence[Step]) -> None:
        """Insert or replace steps, all or none."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        step.id,
                        step.connection_id,
                        step.ad_account_id,
                        step.audience.new,
                        step.audience.existing,
                        step.action.value,
                        json.dumps(list(step.match_fields)),
                        int(step.last_step),
                    )
                    for step in steps
                ],
            )

    def steps(self) -> list[Step]:
        rows = self._db.execute("SELECT * FROM steps ORDER BY id").fetchall()
        return [
            Step(
                id=sid,
                connection_id=cid,
                ad_account_id=account,
                audience=AudienceRef(new=new, existing=existing),
                action=Action(action),
                match_fields=tuple(json.loads(fields)),
                last_step=bool(last_step),
            )
            for sid, cid, account, new, existing, action, fields, last_step in rows
        ]

    # -- entries -----------------------------------------------------------------------------

    def append_entries(self, entries: Sequence[Entry]) -> int:
        """Accept entries atomically (all or none); the last sequence number once durable.
        With no entries, the current last sequence number."""
        rows = [(e.step_id, e.user_id, e.email, e.maid, e.entered_at) for e in entries]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO entries (step_id, user_id, email, maid, entered_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            return _last_seq(db)

    def entries_after(self, seq: int, limit: int) -> EntryColumns:
        """Up to ``limit`` accepted entries with a sequence number above ``seq``, in order."""
        rows = self._db.execute(
            "SELECT seq, step_id, user_id, email, maid, entered_at FROM entries "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        if not rows:
            return EntryColumns((), (), (), (), (), ())
        return EntryColumns(*zip(*rows, strict=True))

    def last_seq(self) -> int:
        """The sequence number of the last accepted entry (0: none yet)."""
        return _last_seq(self._db)

    # -- checkpoints and outcomes ------------------------------------------------------------

    def checkpoint(
        self,
        snapshot: bytes,
        entered_through: int,
        *,
        taken_at: float,
        counters: Mapping[str, StepCounters],
        outcomes: Sequence[tuple[int, UserOutcome]] = (),
        outcomes_through: int = 0,
    ) -> None:
        """Replace the checkpoint and write ``outcomes`` (position, outcome), in one
        transaction: after a crash both or neither are there."""
        counters_json = json.dumps({step: asdict(c) for step, c in counters.items()})
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        position,
                        o.user_id,
                        o.step_id,
                        o.entered_at,
                        o.outcome,
                        o.outcome_at,
                        o.attempts,
                        o.last_status,
                        o.reason,
                    )
                    for position, o in outcomes
                ],
            )
            db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (1, ?, ?, ?, ?, ?)",
                (snapshot, entered_through, outcomes_through, taken_at, counters_json),
            )

    def last_checkpoint(self) -> Checkpoint | None:
        row = self._db.execute(
            "SELECT snapshot, entered_through, outcomes_through, taken_at, counters "
            "FROM checkpoints WHERE id = 1"
        ).fetchone()
        if row is None:
            return None
        snapshot, entered_through, outcomes_through, taken_at, counters_json = row
        counters = {s: StepCounters(**c) for s, c in json.loads(counters_json).items()}
        return Checkpoint(
            snapshot=bytes(snapshot),
            entered_through=entered_through,
            outcomes_through=outcomes_through,
            taken_at=taken_at,
            counters=counters,
        )

    def outcomes(self) -> Iterator[tuple[int, UserOutcome]]:
        """Every written outcome (settled users), by position."""
        cursor = self._db.execute("SELECT * FROM outcomes ORDER BY position")
        for position, *fields in cursor:
            user_id, step_id, entered_at, outcome, outcome_at, attempts, status, reason = fields
            yield (
                position,
                UserOutcome(
                    user_id=user_id,
                    step_id=step_id,
                    entered_at=entered_at,
                    outcome=outcome,
                    outcome_at=outcome_at,
                    attempts=attempts,
                    last_status=status,
                    reason=reason,
                ),
            )

    def close(self) -> None:
        self._db.close()


def _last_seq(db: sqlite3.Connection) -> int:
    # sqlite_sequence keeps AUTOINCREMENT's high-water mark, even past deleted rows.
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
    return 0 if row is None else int(row[0])


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite would use the umask).
    SQLite gives its -wal and -shm files the main file's permissions."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, _FILE_MODE)


def open_store(path: str | os.PathLike[str], command: str) -> SqliteStore | None:
    """``SqliteStore(path)`` for a command: None, with one line on stderr naming the file and
    why, when it cannot be opened (a missing folder, no permission, not a database)."""
    try:
        return SqliteStore(path)
    except (OSError, sqlite3.Error) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"{command}: error: {path}: cannot open the store: {reason}", file=sys.stderr)
        return None
