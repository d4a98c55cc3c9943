"""The inbound spool: keeps channels acknowledging while the store is down.

Design (issue 8, "store outage"):

* ``InboundSpool`` is a durable journal in a SQLite file of its own (stdlib ``sqlite3``,
  WAL, ``synchronous=FULL``): an entry is on disk before the channel acknowledges. One file
  per host (``SPOOL_PATH``), shared by every process of the host through SQLite's locking;
  with several hosts, each host replays its own spool.
* ``ConversationTracker.track_inbound`` appends a message here instead of calling the store
  when the store raised ``StoreUnavailable`` or the spool is not empty (so order holds: a
  message never overtakes one spooled before it). A redelivered message (same platform and
  external id) is spooled once.
* While a message is spooled it has no conversation, so the bot answers it in a *degraded
  turn* (``services.bot_turn.DegradedTurn``): from the message alone, sent straight through
  the channel, the reply written back on the entry (``turn = answered``). Until that turn
  ends the entry is ``pending`` and replay waits for it (at most ``turn_timeout``).
* ``SpoolReplayer`` (run by the ``BackgroundWorker`` of every process; a lease in the spool
  file lets one process at a time replay, oldest first) tracks each entry through the
  tracker as if it had just arrived -- with ``respond=False`` when the degraded turn
  answered, and then the reply as an already ``sent`` bot message -- and deletes the entry
  only after the store accepted it. A crash in between replays it again: the external ids
  make both calls no-ops the second time.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from services.errors import Conflict, InvalidInput, StoreUnavailable
from services.models import InboundMessage, OutboundMessage, utc
from services.store.sqlite_db import enable_wal

if TYPE_CHECKING:
    from services.tracking import ConversationTracker

log = logging.getLogger(__name__)

# What happened to an entry's degraded bot turn.
TURN_NONE = "none"            # no degraded turn: replay with the message's own ``respond``
TURN_PENDING = "pending"      # a degraded turn is running: replay waits for it
TURN_ANSWERED = "answered"    # the bot answered; replay with respond=False and the reply
TURN_UNANSWERED = "unanswered"  # it could not answer: the normal job answers after replay

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key TEXT UNIQUE,
    message TEXT NOT NULL,
    received_at TEXT NOT NULL,
    turn TEXT NOT NULL DEFAULT 'none',
    turn_started REAL,
    reply TEXT
);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SpoolEntry:
    """One spooled inbound message and what its degraded bot turn did."""

    seq: int
    message: InboundMessage
    received_at: datetime
    turn: str
    turn_started: float | None
    reply: dict[str, Any] | None


class InboundSpool:
    """A durable FIFO of inbound messages in its own SQLite file.

    Each call opens its own short connection (``sqlite3`` connections are not shared between
    threads or greenlets here); writers take SQLite's write lock, so threads and the
    processes of one host can use the same file.
    """

    def __init__(self, path: Path | str, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
        # is_empty() runs before every tracked message: it reuses one connection (and its
        # parsed schema) instead of opening a file and setting pragmas each time.
        self._reader: sqlite3.Connection | None = None
        self._reader_pid = 0
        self._reader_lock = threading.Lock()

    def _connect(self) -> "_Closing":
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        enable_wal(db, self.busy_timeout)
        # FULL: a committed append survives a power cut, not only a crash of the process.
        db.execute("PRAGMA synchronous=FULL")
        return _Closing(db)

    # -- writing -----------------------------------------------------------------------
    def append(self, message: InboundMessage, received_at: datetime, turn: str = TURN_NONE
               ) -> tuple[int, bool]:
        """Journal a message; returns ``(seq, created)``. The same platform + external id
        again returns the entry already there (``created`` False)."""
        key = f"{message.platform}:{message.external_id}" if message.external_id else None
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if key is not None:
                    row = db.execute("SELECT seq FROM inbound WHERE dedupe_key = ?",
                                     (key,)).fetchone()
                    if row is not None:
                        db.execute("COMMIT")
                        return int(row[0]), False
                cursor = db.execute(
                    "INSERT INTO inbound (dedupe_key, message, received_at, turn, turn_started)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, message.model_dump_json(), utc(received_at).isoformat(), turn,
                     time.time() if turn == TURN_PENDING else None),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(cursor.lastrowid), True

    def finish_turn(self, seq: int, reply: dict[str, Any] | None) -> None:
        """Record the degraded turn's outcome: the reply sent, or None (not answered)."""
        with self._connect() as db:
            db.execute(
                "UPDATE inbound SET turn = ?, reply = ? WHERE seq = ?",
                (TURN_ANSWERED if reply else TURN_UNANSWERED,
                 json.dumps(reply) if reply else None, seq),
            )

    def delete(self, seq: int) -> None:
        """Forget an entry the store has accepted."""
        with self._connect() as db:
            db.execute("DELETE FROM inbound WHERE seq = ?", (seq,))

    # -- reading -----------------------------------------------------------------------
    def peek(self, limit: int = 50) -> list[SpoolEntry]:
        """The oldest entries, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT seq, message, received_at, turn, turn_started, reply FROM inbound"
                " ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            SpoolEntry(
                seq=int(seq), message=InboundMessage.model_validate_json(message),
                received_at=datetime.fromisoformat(received_at), turn=turn,
                turn_started=started, reply=json.loads(reply) if reply else None,
            )
            for seq, message, received_at, turn, started, reply in rows
        ]

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM inbound").fetchone()[0])

    def is_empty(self) -> bool:
        """Whether nothing is spooled, by this or any other process of the host.

        Each SELECT on the kept autocommit connection is a read transaction of its own, so
        it sees every append committed before it (WAL readers never wait for writers)."""
        with self._reader_lock:
            if self._reader is None or self._reader_pid != os.getpid():  # not across a fork
                self._reader = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                               isolation_level=None, check_same_thread=False)
                self._reader_pid = os.getpid()
            try:
                return self._reader.execute("SELECT 1 FROM inbound LIMIT 1").fetchone() is None
            except sqlite3.Error:
                self._reader.close()
                self._reader = None
                raise

    # -- one replayer at a time ----------------------------------------------------------
    def take_lease(self, owner: str, seconds: float) -> bool:
        """Hold (or renew) the replay lease; False while another live owner holds it."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT owner, until FROM lease WHERE name = 'replay'").fetchone()
                if row is not None and row[0] != owner and row[1] > now:
                    db.execute("COMMIT")
                    return False
                db.execute(
                    "INSERT INTO lease (name, owner, until) VALUES ('replay', ?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET owner = excluded.owner,"
                    " until = excluded.until", (owner, now + seconds))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def release_lease(self, owner: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM lease WHERE name = 'replay' AND owner = ?", (owner,))


class _Closing:
    """A connection that closes at the end of a ``with`` block (sqlite3's own only commits)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, *args):
        return self.db.execute(*args)

    def executescript(self, script: str):
        return self.db.executescript(script)

    def __enter__(self) -> "_Closing":
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()


class SpoolReplayer:
    """Drains the spool into the store, oldest first, once the store answers again.

    ``run_once`` is called by the ``BackgroundWorker``'s loop; it backs off (doubling up to
    ``max_backoff``) while the store is down, and publishes ``store.status`` when the store
    is found down and when the spool is empty again.
    """

    def __init__(
        self,
        spool: InboundSpool,
        tracker: "ConversationTracker",
        batch_size: int = 50,
        turn_timeout: float = 30.0,
        lease_seconds: float = 30.0,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool = spool
        self.tracker = tracker
        self.batch_size = batch_size
        self.turn_timeout = turn_timeout
        self.lease_seconds = lease_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.monotonic = monotonic
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._backoff = 0.0
        self._next_try = 0.0
        self._lock = threading.Lock()

    def run_once(self) -> int:
        """Replay one batch; returns how many entries reached the store (0: idle or down)."""
        if self.monotonic() < self._next_try or not self._lock.acquire(blocking=False):
            return 0
        try:
            return self._run()
        finally:
            self._lock.release()

    def _run(self) -> int:
        if self.spool.is_empty():
            if not self.tracker.store_available:
                self._check_store()
            return 0
        if not self.spool.take_lease(self.owner, self.lease_seconds):
            return 0  # another process of this host is replaying
        done = 0
        try:
            for entry in self.spool.peek(self.batch_size):
                if entry.turn == TURN_PENDING and entry.turn_started is not None \
                        and time.time() - entry.turn_started < self.turn_timeout:
                    break  # its bot turn is still running: order holds, so wait for it
                self.replay(entry)
                self.spool.delete(entry.seq)
                done += 1
        except StoreUnavailable as exc:
            self._down(exc)
            return done
        self._backoff = 0.0
        if self.spool.is_empty():
            self.spool.release_lease(self.owner)
            self.tracker.announce_store(available=True, spooled=0)
        return done

    def replay(self, entry: SpoolEntry) -> None:
        """Track one entry as if it had just arrived (a no-op if the store has it already)."""
        reply = entry.reply if entry.turn == TURN_ANSWERED else None
        message = entry.message
        if reply is not None:
            message = message.model_copy(update={"respond": False})
        result = self.tracker.replay_inbound(message, entry.received_at)
        if reply is None:
            return
        self.tracker.track_outbound(OutboundMessage(
            conversation_id=result.conversation.id,
            sender_type="bot",
            content=reply["text"],
            confidence_score=reply.get("confidence"),
            # The same key as the normal bot turn's: a reply is stored once per message.
            external_id=f"bot:{result.message.id}",
            metadata={"in_reply_to": result.message.id, "intent": reply.get("intent"),
                      "degraded": True, "platform_message_id": reply.get("platform_id")},
            delivery_status="sent",
        ))
        # The bot's tags, as its normal turn puts them on; a store that went away again
        # keeps the entry for the next replay (every step above is a no-op then).
        for tag in reply.get("tags") or ():
            try:
                self.tracker.add_tag(result.conversation.id, tag)
            except (Conflict, InvalidInput) as exc:
                log.warning("could not tag conversation %s %r: %s", result.conversation.id,
                            tag, exc)

    def _check_store(self) -> None:
        """Nothing to replay but the store was down: announce it back once it answers."""
        try:
            self.tracker.store.ping()
        except StoreUnavailable as exc:
            self._down(exc)
            return
        self._backoff = 0.0
        self.tracker.announce_store(available=True, spooled=0)

    def _down(self, exc: Exception) -> None:
        self._backoff = min(self.max_backoff, max(self.min_backoff, self._backoff * 2))
        self._next_try = self.monotonic() + self._backoff
        log.warning("store still unavailable (%s); replay again in %.1fs", exc, self._backoff)
        self.tracker.announce_store(available=False, spooled=self.spool.count())

