"""One SQLite file shared by threads, greenlets and processes: connections, transactions, schema.

Each thread gets its own connection (``threading.local``; under gevent that is one per
greenlet, which is what we want). Writes use ``BEGIN IMMEDIATE``, which takes the file's write
lock before reading anything, so concurrent writers (threads or processes) queue on
``busy_timeout`` instead of failing or deadlocking. In WAL mode readers never block writers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from services.errors import StoreUnavailable
from services.models import Conversation, Job, Message, utc
from services.store.sqlite_rollup import BACKFILL_STATEMENTS, ROLLUP_STATEMENTS

SCHEMA_VERSION = 4  # PRAGMA user_version; bump it and add an upgrade step when the schema changes
BUSY_TIMEOUT_MS = 10_000
_SCHEMA_FILE = Path(__file__).with_name("sqlite_schema.sql")


def ts(value: datetime) -> str:
    """The one stored form of a time, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``: UTC, fixed width,
    so comparing or sorting the text compares or sorts the times."""
    return utc(value).isoformat(timespec="microseconds")


def one(cursor: sqlite3.Cursor) -> sqlite3.Row | None:
    """The first row, or None; runs the statement to completion (fetchall), so a COMMIT
    never meets a still-pending ``RETURNING`` statement."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def conversation_from(row: sqlite3.Row) -> Conversation:
    """A ``conversations`` row as the model (JSON columns decoded)."""
    return Conversation.model_validate({**row, "profile": json.loads(row["profile"])})


def message_from(row: sqlite3.Row) -> Message:
    """A ``messages`` row as the model (JSON columns decoded)."""
    return Message.model_validate({**row, "attachments": json.loads(row["attachments"]),
                                   "metadata": json.loads(row["metadata"])})


def job_from(row: sqlite3.Row) -> Job:
    """A ``jobs`` row as the model."""
    return Job.model_validate(dict(row))


def _split_script(script: str) -> list[str]:
    """The statements of a SQL script (executescript() would commit our transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements


_SCHEMA_STATEMENTS = (_split_script(_SCHEMA_FILE.read_text(encoding="utf-8"))
                      + ROLLUP_STATEMENTS)  # the roll-up tables and triggers (version 4)

# What a database of version N needs before the (idempotent) schema file can run on it: the
# file creates missing tables and indexes, but CREATE TABLE IF NOT EXISTS never adds a column
# to an existing table, and an index on a missing column would fail.
_UPGRADES: dict[int, list[str]] = {
    1: ["ALTER TABLE conversations ADD COLUMN handoff_timeout_notified_at TEXT"],
    2: ["ALTER TABLE conversations ADD COLUMN priority_raised_at TEXT"],
}
# What a database of version N needs after the schema file ran: filling tables it created
# from the rows already there (same transaction, so no write falls in between).
_BACKFILLS: dict[int, list[str]] = {
    3: BACKFILL_STATEMENTS,
}


def _ufold(value: str | None) -> str | None:
    """Unicode case folding for SQL search; SQLite's own lower() and LIKE fold ASCII only.

    casefold(), not lower(): it maps each character on its own, so text that contains the
    search text still contains it once both are folded (lower() turns a final sigma into
    "ς", and "ΑΣ" then missed "ΑΣΑ")."""
    return None if value is None else value.casefold()


class _Connection(sqlite3.Connection):
    """A connection that can be held in a WeakSet (the C type cannot)."""


class SqliteDatabase:
    """Per-thread connections to one database file, created with the current schema."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak, so a finished thread's or greenlet's connection is freed with its locals.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._generation = 0
        self._create_schema()

    def _connect(self) -> _Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # close() may run on another thread
            factory=_Connection,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an acknowledged message survives power loss
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_function("ufold", 1, _ufold, deterministic=True)
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after ``close()``)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.generation != self._generation:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
            local.conn, local.generation = conn, self._generation
            with self._lock:
                self._connections.add(conn)
        return conn

    @contextmanager
    def transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any exception.
        ``IMMEDIATE`` for anything that writes, ``DEFERRED`` for a consistent multi-read."""
        conn = self.connection()
        try:
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, I/O
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def read(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """All rows of one read statement (atomic on its own, no transaction needed)."""
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def _create_schema(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path} has schema version {version}; this code knows {SCHEMA_VERSION}"
                )
            if version:  # 0: a new file, which the schema file creates whole
                for step in range(version, SCHEMA_VERSION):
                    for statement in _UPGRADES.get(step, ()):
                        db.execute(statement)
            for statement in _SCHEMA_STATEMENTS:
                db.execute(statement)
            if version:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _BACKFILLS.get(step, ()):
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers ``SELECT 1``."""
        try:
            self.connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def close(self) -> None:
        """Close every connection opened so far, on any thread; later calls open new ones."""
        with self._lock:
            self._generation += 1
            connections = list(self._connections)
            self._connections = weakref.WeakSet()
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
