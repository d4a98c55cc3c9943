"""One SQLite file shared by threads, greenlets and processes: connections, transactions, schema.

Connections come from a small pool: a thread or greenlet takes one for one transaction or
one read and gives it back. One connection per greenlet would cost each its own parsed
schema and page cache (about 0.3-0.5 MB), and a gevent worker holding 2,000 web-chat
sockets runs that many handler greenlets at once. A connection is never used by two at the
same time. Writes use ``BEGIN IMMEDIATE``, which takes the file's write lock before reading
anything, so concurrent writers (threads or processes) queue on ``busy_timeout`` instead of
failing or deadlocking; within one process they take turns on a lock first, which under
gevent waits without stopping the loop. In WAL mode readers never block writers.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from services.errors import StoreUnavailable
from services.models import Conversation, Job, Message, utc
from services.store import sqlite_rollup, sqlite_search

SCHEMA_VERSION = 18  # PRAGMA user_version; bump it and add an upgrade step when the schema changes
BUSY_TIMEOUT_MS = 10_000
# Connections open at once per process. Under gevent a store call yields only while a long
# read or a commit runs in a thread, so a few are in use at a time; threads (the dev server,
# tests) may read side by side with more.
POOL_SIZE = 8
_SCHEMA_FILE = Path(__file__).with_name("sqlite_schema.sql")


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode (the mode is kept in the file; on a file already in WAL this
    changes nothing).

    Turning a new file to WAL needs it to itself, and SQLite answers "database is locked" at
    once, without waiting on ``busy_timeout``, while another connection holds it: several
    processes starting together on one new file (a deployment's units, a test cluster) failed
    to boot that way. So this retries, a few milliseconds apart, for up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.002 + random.random() * 0.008)


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
    return Conversation.model_validate({**row, "profile": json.loads(row["profile"]),
                                        "tags": json.loads(row["tags"])})


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
                      + sqlite_rollup.ROLLUP_STATEMENTS  # roll-up tables, triggers (version 4)
                      + sqlite_search.SEARCH_STATEMENTS)  # search indexes, triggers (version 5)

_ACTIVITY_INDEXES = ("activity_conversation_idx", "activity_actor_idx", "activity_created_idx")


def _activity_aside(version: int) -> Callable[[sqlite3.Connection], None]:
    """Versions 10 and 18 let the activity trail take new kinds of line (tags; a visitor
    signing in): SQLite cannot change a table's CHECK in place, so the table of a file that
    has one (version 6 on) is renamed, for the schema file to create it anew, and its
    indexes dropped, for the file to build them on the new table (``_activity_back`` copies
    the lines)."""
    def aside(db: sqlite3.Connection) -> None:
        if one(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'activity'")):
            for index in _ACTIVITY_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {index}")
            db.execute(f"ALTER TABLE activity RENAME TO activity_before_v{version}")
    return aside


def _activity_back(version: int) -> Callable[[sqlite3.Connection], None]:
    """The lines of the renamed trail into the new table, ids and their sequence kept (ids
    of lines deleted with their conversation are not given out again)."""
    def back(db: sqlite3.Connection) -> None:
        before = f"activity_before_v{version}"
        if one(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (before,))):
            columns = "id, conversation_id, kind, actor_id, actor, detail, created_at"
            db.execute(f"INSERT INTO activity ({columns}) SELECT {columns} FROM {before}")
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'activity'")
            db.execute("UPDATE sqlite_sequence SET name = 'activity' WHERE name = ?",
                       (before,))
            db.execute(f"DROP TABLE {before}")
    return back


def _files_sent_at(db: sqlite3.Connection) -> None:
    """Version 15's files gain ``sent_at``; those already there count as sent (none of them
    is deleted as never sent). A version-14 file has no files table yet: the schema file
    creates it whole."""
    if one(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'")):
        db.execute("ALTER TABLE files ADD COLUMN sent_at TEXT")
        db.execute("UPDATE files SET sent_at = created_at")


# What a database of version N needs before the (idempotent) schema file can run on it: the
# file creates missing tables and indexes, but CREATE TABLE IF NOT EXISTS never adds a column
# to an existing table, and an index on a missing column would fail. A step is a statement
# or a function of the connection.
_UPGRADES: dict[int, list[str | Callable[[sqlite3.Connection], None]]] = {
    1: ["ALTER TABLE conversations ADD COLUMN handoff_timeout_notified_at TEXT"],
    2: ["ALTER TABLE conversations ADD COLUMN priority_raised_at TEXT"],
    9: ["ALTER TABLE conversations ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
        _activity_aside(10)],
    10: ["ALTER TABLE conversations ADD COLUMN rating INTEGER"
         " CHECK (rating BETWEEN 1 AND 5)",
         "ALTER TABLE conversations ADD COLUMN rating_comment TEXT",
         "ALTER TABLE conversations ADD COLUMN rated_at TEXT"],
    11: ["ALTER TABLE admin_users ADD COLUMN available INTEGER NOT NULL DEFAULT 0"
         " CHECK (available IN (0, 1))",
         "ALTER TABLE admin_users ADD COLUMN last_assigned_at TEXT"],
    12: ["ALTER TABLE admin_users ADD COLUMN last_seen_at TEXT"],
    # (The first sweep after it announces the accounts offline then: once each.)
    13: ["ALTER TABLE admin_users ADD COLUMN offline_announced_at TEXT"],
    15: [_files_sent_at],
    16: ["ALTER TABLE admin_users ADD COLUMN display_name TEXT"
         " CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 60)"],
    17: [_activity_aside(18)],
}
# What a database of version N needs after the schema file ran: filling tables it created
# from the rows already there (same transaction, so no write falls in between).
_BACKFILLS: dict[int, list[str | Callable[[sqlite3.Connection], None]]] = {
    3: sqlite_rollup.BACKFILL_STATEMENTS,
    4: sqlite_search.BACKFILL_STATEMENTS,
    9: [_activity_back(10)],
    17: [_activity_back(18)],
}


def _run(db: sqlite3.Connection, step: str | Callable[[sqlite3.Connection], None]) -> None:
    if callable(step):
        step(db)
    else:
        db.execute(step)


def _ufold(value: str | None) -> str | None:
    """Unicode case folding for SQL search; SQLite's own lower() and LIKE fold ASCII only.

    casefold(), not lower(): it maps each character on its own, so text that contains the
    search text still contains it once both are folded (lower() turns a final sigma into
    "ς", and "ΑΣ" then missed "ΑΣΑ")."""
    return None if value is None else value.casefold()


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions of the store's queries and triggers (the search indexes' triggers
    call ``ufold``): any other connection that writes to the file needs them too."""
    conn.create_function("ufold", 1, _ufold, deterministic=True)


def _fetch_all(conn: sqlite3.Connection, sql: str, params: Any) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def _patched_hub():
    """gevent's hub when gevent has patched this process; None otherwise (threads already
    run side by side)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return None
    if not monkey.is_module_patched("threading"):
        return None
    import gevent

    return gevent.get_hub()


def off_the_loop(func, *args):
    """``func(*args)`` in a native thread of gevent's pool when gevent has patched this
    process (the calling greenlet waits, the others run); a plain call otherwise."""
    hub = _patched_hub()
    if hub is None:
        return func(*args)
    return hub.threadpool.apply(func, args)


def _commit(conn: sqlite3.Connection) -> None:
    """``COMMIT`` on ``conn``; under gevent in one of the hub's native threads.

    With ``synchronous = FULL`` a commit waits for the disk (an fsync of the WAL, and now
    and then a checkpoint): most of what a write costs. On the loop it would stop every
    greenlet of the process for that time; in a thread the process goes on serving
    requests, and the messages that arrive meanwhile wait in the group commit
    (``services.inbound_batch``) for the next, shared, transaction. Handing a commit to a
    thread and back takes about 0.1 ms, so only the tracking of inbound messages,
    which the group commit shares, commits this way (``bench/RESULTS.md``, 6 Dec 2026).
    A greenlet interrupted while it waits (killed) waits on until the thread is done with
    the connection, which nothing else may touch before."""
    hub = _patched_hub()
    if hub is None:
        conn.execute("COMMIT")
        return
    pending = hub.threadpool.spawn(conn.execute, "COMMIT")
    try:
        pending.get()
    except BaseException:
        while not pending.ready():
            try:
                pending.wait()
            except BaseException:  # pragma: no cover - a second interruption
                continue
        raise


class _Connection(sqlite3.Connection):
    """A connection that remembers which ``close()`` generation of the pool opened it."""

    generation = 0


class SqliteDatabase:
    """A pool of at most ``pool_size`` connections to one database file, created with the
    current schema."""

    def __init__(self, path: str | Path, pool_size: int = POOL_SIZE) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.pool_size = pool_size
        self._slots = threading.BoundedSemaphore(pool_size)  # gevent's, once patched
        self._lock = threading.Lock()
        self._writer = threading.RLock()  # one write transaction of this process at a time
        self._idle: list[_Connection] = []  # open and free, the most recently used last
        self._open: set[_Connection] = set()  # every connection not closed yet, in use or not
        self._generation = 0
        # The connection this thread (or greenlet) has taken, so that a read inside its own
        # transaction uses it again (it sees the transaction's writes, and a holder never
        # waits on the pool for a second connection).
        self._held = threading.local()
        self._create_schema()

    def _connect(self) -> _Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # taken by whichever thread; close() on any
            factory=_Connection,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        enable_wal(conn, BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA synchronous = FULL")  # an acknowledged message survives power loss
        conn.execute("PRAGMA foreign_keys = ON")
        register_functions(conn)
        return conn

    def _take(self) -> _Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            generation = self._generation
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        conn.generation = generation
        with self._lock:
            self._open.add(conn)
        return conn

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            # A connection left inside a transaction (its ROLLBACK failed) would keep its
            # locks; one from before close() must not come back.
            if conn.generation == self._generation and not conn.in_transaction:
                self._idle.append(conn)
                return
            self._open.discard(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread's (or greenlet's) sole use until the block ends; the
        one it already holds, if the block is inside another. Waits while all are in use
        (``StoreUnavailable`` after ``busy_timeout``)."""
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        if not self._slots.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            raise StoreUnavailable(f"sqlite: all {self.pool_size} connections stayed busy")
        try:
            conn = self._take()
            self._held.conn = conn
            try:
                yield conn
            finally:
                self._held.conn = None
                self._give_back(conn)
        finally:
            self._slots.release()

    @contextmanager
    def transaction(self, mode: str = "IMMEDIATE",
                    commit_aside: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any exception.
        ``IMMEDIATE`` for anything that writes, ``DEFERRED`` for a consistent multi-read.

        ``commit_aside``: under gevent, a write's commit runs in a native thread while the
        loop goes on (``_commit``)."""
        writes = mode.upper() != "DEFERRED"
        with self.connection() as conn:
            # This process's writers take turns here, where a greenlet waiting yields, rather
            # than in SQLite's busy handler, which sleeps and would stop the whole loop while
            # another greenlet's commit runs in a thread. Other processes still queue on
            # busy_timeout. Reentrant: a transaction begun inside another fails in BEGIN, as
            # it always has, instead of waiting on itself.
            if writes and not self._writer.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
                raise StoreUnavailable("sqlite: this process's other writes held the file "
                                       f"past {BUSY_TIMEOUT_MS} ms")
            try:
                conn.execute(f"BEGIN {mode}")
                try:
                    yield conn
                    if writes and commit_aside:
                        _commit(conn)
                    else:
                        conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, I/O
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            finally:
                if writes:
                    self._writer.release()

    def read(self, sql: str, params: Any = (), *, long: bool = False) -> list[sqlite3.Row]:
        """All rows of one read statement (atomic on its own, no transaction needed).

        ``long``: a read that may take a while (a substring search reads every message).
        Under gevent a store call runs on the loop and stops everything else in the process
        until it returns -- fine for the indexed reads and writes that take a millisecond,
        not for a search of a second -- so a long read runs in one of gevent's native
        threads (its hub's pool): SQLite works without the GIL, and the webhooks and
        sockets of the process go on meanwhile. The connection is taken and given back on
        the loop as for any read; the thread only runs the statement on it."""
        with self.connection() as conn:
            try:
                if long:
                    return off_the_loop(_fetch_all, conn, sql, params)
                return _fetch_all(conn, sql, params)
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
                        _run(db, statement)
            for statement in _SCHEMA_STATEMENTS:
                db.execute(statement)
            if version:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _BACKFILLS.get(step, ()):
                        _run(db, statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers ``SELECT 1``."""
        with self.connection() as conn:
            try:
                conn.execute("SELECT 1").fetchone()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc

    def close(self) -> None:
        """Close every connection opened so far, idle or in use, from any thread; later calls
        open new ones (one in use when this ran is closed, not pooled, when it comes back)."""
        with self._lock:
            self._generation += 1
            connections = list(self._open)
            self._open.clear()
            self._idle.clear()
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
