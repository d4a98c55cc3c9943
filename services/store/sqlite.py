"""The embedded store: stdlib ``sqlite3`` in WAL mode, the default when Supabase is not set.

Same schema and behaviour as the Supabase store (see ``base.py``). Every write is one
``BEGIN IMMEDIATE`` transaction (see ``sqlite_db``), so it is serialised against other threads
*and* other processes using the same file. Timestamps are stored as ISO-8601 text in one fixed
UTC format, so comparing or sorting the text compares or sorts the times. Search folds case
with SQLite's LIKE (ASCII) for ASCII search text and with Python's ``str.casefold`` on both
sides otherwise, and reads the trigram indexes of ``sqlite_search`` to know which rows to
check; e-mail addresses compare case-insensitively in ASCII only.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

from services.errors import Conflict, InvalidInput, NotFound
from services.models import (
    Conversation, ConversationCursor, ConversationFilter, ConversationPage, ConversationStatus,
    DeliveryStatus, InboundMessage, Job, Message, OutboundMessage, TrackResult, preview,
)
from services.store.base import check_messages_in
from services.store.sqlite_assignment import SqliteAssignment
from services.store.sqlite_changes import SqliteChanges
from services.store.sqlite_db import (
    SqliteDatabase, conversation_from, job_from, message_from, one, ts,
)
from services.store.sqlite_deletion import SqliteDeletion
from services.store.sqlite_hours import SqliteHours
from services.store.sqlite_jobs import SqliteJobs, enqueue
from services.store.sqlite_ratings import SqliteRatings
from services.store.sqlite_reads import SqliteReads
from services.store.sqlite_files import SqliteFiles
from services.store.sqlite_replies import SqliteSavedReplies
from services.store.sqlite_search import COUNT_SQL, MAX_CANDIDATES, candidates_sql, index_query
from services.store.sqlite_stats import SqliteStats
from services.store.sqlite_tags import SqliteTags
from services.store.sqlite_users import SqliteUsers

def _like(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching ``text`` literally as a substring."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# The ORDER BY of each sort (see base.py). "waiting_since IS NULL, waiting_since" is
# "waiting_since ASC NULLS LAST" in the form conversations_waiting_idx is built on.
_ORDER = {
    "last_activity": "last_message_at DESC, id DESC",
    "priority": "priority ASC, last_message_at DESC, id DESC",
    "waiting": "needs_human DESC, waiting_since IS NULL, waiting_since,"
               " last_message_at DESC, id DESC",
}


# An outbound message's progress: 0 until it went out (pending, failed), then sent,
# delivered, read. set_delivery_status never moves a message to a lower one.
_OUT_RANK = "(CASE {} WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)"
# Filters that are one "column = value" term. With platform, external_user_id walks
# conversations_user_idx (platform, external_user_id).
_EQUALS = ("status", "platform", "external_user_id", "handled_by", "assigned_to")
# Every ConversationFilter field list_conversations implements; any other set field is refused.
_FILTERS = frozenset(_EQUALS + ("needs_human", "unassigned", "unread_by", "tag", "search",
                                 "sort"))


# A tag on at most this many conversations is listed by sorting them (a few milliseconds);
# on more, the page's order index is walked, each conversation's tag looked up, which finds
# a page among the first rows. (On 100,000 conversations, a tag on a third of them took
# 22 ms sorted and a tag on a thousandth 3.4 ms.)
MAX_TAGGED_SORTED = 5000
_TAGGED_SQL = ("SELECT count(*) FROM (SELECT 1 FROM conversation_tags WHERE tag = :tag"
               " LIMIT :tag_sort + 1)")


def _after_cursor(cursor: ConversationCursor, params: dict[str, Any]) -> str:
    """The WHERE term "strictly after ``cursor`` in its sort order"; adds its parameters."""
    params.update(c_at=ts(cursor.last_message_at), c_id=cursor.id, c_pri=cursor.priority)
    after = "(last_message_at, id) < (:c_at, :c_id)"
    if cursor.sort == "priority":
        return f"(priority > :c_pri OR (priority = :c_pri AND {after}))"
    if cursor.sort != "waiting":
        return after
    params["c_needs"] = int(bool(cursor.needs_human))
    if cursor.waiting_since is None:  # unset ones come last: only they can follow
        same_group = f"waiting_since IS NULL AND {after}"
    else:
        params["c_wait"] = ts(cursor.waiting_since)
        same_group = (f"waiting_since IS NULL OR waiting_since > :c_wait"
                      f" OR (waiting_since = :c_wait AND {after})")
    return f"(needs_human < :c_needs OR (needs_human = :c_needs AND ({same_group})))"


class SqliteStore(SqliteAssignment, SqliteChanges, SqliteDeletion, SqliteFiles, SqliteHours,
                  SqliteJobs, SqliteRatings, SqliteReads, SqliteSavedReplies, SqliteStats,
                  SqliteTags, SqliteUsers):
    """``ConversationStore`` on one SQLite file, through a small pool of connections."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path)
        self.path = self.db.path
        self._tx = self.db.transaction
        self._read = self.db.read

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers."""
        self.db.ping()

    def close(self) -> None:
        """Close every connection this store opened; later calls open new ones."""
        self.db.close()

    # -- tracking -----------------------------------------------------------------------
    @staticmethod
    def _stored_message(db: sqlite3.Connection, platform: str, external_id: str | None):
        if external_id is None:
            return None
        return one(db.execute(
            "SELECT * FROM messages WHERE platform = ? AND external_id = ?", (platform, external_id)
        ))

    @staticmethod
    def _insert_message(db: sqlite3.Connection, conversation_id: int, platform: str,
                        msg: InboundMessage | OutboundMessage, delivery: str, now: str):
        return one(db.execute(
            "INSERT INTO messages (conversation_id, platform, sender_type, sender_id, content,"
            " attachments, external_id, created_at, confidence_score, delivery_status, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (conversation_id, platform, msg.sender_type, msg.sender_id, msg.content,
             json.dumps(msg.attachments), msg.external_id, now,
             getattr(msg, "confidence_score", None), delivery, json.dumps(msg.metadata)),
        ))

    @staticmethod
    def _bump(db: sqlite3.Connection, conversation_id: int, msg: Any, now: str,
              extra_sql: str = "", extra: dict[str, Any] | None = None) -> sqlite3.Row:
        """Apply one new message to its conversation's counters; return the updated row.
        An agent's message answers whatever waited for a human (see base.py)."""
        agent = msg.sender_type == "agent"
        if agent:
            db.execute(
                "UPDATE messages SET human_replied = 1, replied_by = ?, replied_at = ?"
                " WHERE conversation_id = ? AND requires_human = 1 AND human_replied = 0",
                (msg.sender_id, now, conversation_id))
        params = {"now": now, "preview": preview(msg.content, msg.attachments), "id": conversation_id,
                  "agent": agent, **(extra or {})}
        return one(db.execute(
            "UPDATE conversations SET message_count = message_count + 1,"
            " last_message_at = :now, updated_at = :now, last_message_preview = :preview,"
            " first_human_reply_at = CASE WHEN :agent THEN coalesce(first_human_reply_at, :now)"
            " ELSE first_human_reply_at END,"
            " needs_human = CASE WHEN :agent THEN 0 ELSE needs_human END,"
            " human_reason = CASE WHEN :agent THEN NULL ELSE human_reason END,"
            " waiting_since = CASE WHEN :agent THEN NULL ELSE waiting_since END,"
            " handoff_timeout_notified_at = CASE WHEN :agent THEN NULL"
            " ELSE handoff_timeout_notified_at END,"
            " priority_raised_at = CASE WHEN :agent THEN NULL ELSE priority_raised_at END"
            + extra_sql + " WHERE id = :id RETURNING *",
            params,
        ))

    def track_inbound(self, message: InboundMessage, now: datetime) -> TrackResult:
        """Store an inbound message in its open conversation, opening one if needed."""
        with self._tx(commit_aside=True) as db:
            return self._track_inbound(db, message, now)

    def track_inbound_many(
        self, items: Sequence[tuple[InboundMessage, datetime]]
    ) -> list[TrackResult]:
        """``track_inbound`` for each item in one transaction (see base.py for the order)."""
        order = sorted(range(len(items)), key=lambda i: (items[i][0].platform,
                                                         items[i][0].external_user_id, i))
        results: list[TrackResult | None] = [None] * len(items)
        with self._tx(commit_aside=True) as db:
            for i in order:
                results[i] = self._track_inbound(db, *items[i])
        return results  # type: ignore[return-value]

    def _track_inbound(self, db: sqlite3.Connection, message: InboundMessage,
                       now: datetime) -> TrackResult:
        now_s = ts(now)
        stored = self._stored_message(db, message.platform, message.external_id)
        if stored is not None:  # redelivery: change nothing
            conv = one(db.execute("SELECT * FROM conversations WHERE id = ?",
                                  (stored["conversation_id"],)))
            return TrackResult(conversation=conversation_from(conv),
                               message=message_from(stored), created=False,
                               conversation_created=False)
        row = one(db.execute(
            "SELECT id FROM conversations WHERE platform = ? AND external_user_id = ?"
            " AND status <> 'closed'", (message.platform, message.external_user_id)))
        conversation_created = row is None
        if conversation_created:
            row = one(db.execute(
                "INSERT INTO conversations (platform, external_user_id, created_at,"
                " updated_at, last_message_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (message.platform, message.external_user_id, now_s, now_s, now_s)))
        stored = self._insert_message(db, row["id"], message.platform, message,
                                      "received", now_s)
        conv = self._bump(
            db, row["id"], message, now_s,
            ", status = CASE status WHEN 'idle' THEN 'active' ELSE status END"
            ", last_user_message_at = CASE WHEN :user THEN :now ELSE last_user_message_at END"
            ", display_name = coalesce(:display_name, display_name)"
            ", profile = coalesce(:profile, profile)",
            {"user": message.sender_type == "user", "display_name": message.display_name,
             "profile": None if message.profile is None else json.dumps(message.profile)},
        )
        if message.sender_type == "user" and message.respond:
            enqueue(db, "respond", stored["id"], row["id"], now_s, now_s)
        return TrackResult(conversation=conversation_from(conv), message=message_from(stored),
                           created=True, conversation_created=conversation_created)

    def track_outbound(self, message: OutboundMessage, now: datetime) -> Message:
        """Store a bot, agent or system message; ``NotFound`` for an unknown conversation."""
        with self._tx() as db:
            return message_from(self._track_outbound(db, message, now))

    def track_outbound_with_conversation(
        self, message: OutboundMessage, now: datetime, finish_job: int | None = None,
        claim_send: float | None = None, attempt_mark: dict | None = None,
    ) -> tuple[Message, Conversation, Job | None]:
        """``track_outbound``, and the conversation as that write left it; ``finish_job``
        done, and with ``claim_send`` the message's send job claimed (``attempt_mark``
        merged into its metadata then), in the same transaction (see the base class)."""
        if claim_send is not None and claim_send <= 0:
            raise InvalidInput("claim_send must be positive")
        with self._tx() as db:
            stored = self._track_outbound(db, message, now)
            if finish_job is not None:
                self._finish_job_in(db, finish_job, now)
            job_row = None
            if claim_send is not None and stored["delivery_status"] == "pending":
                job_row = one(db.execute(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
                    " locked_until = ?, updated_at = ? WHERE kind = 'send' AND message_id = ?"
                    " AND status = 'queued' AND run_after <= ? RETURNING *",
                    (ts(now + timedelta(seconds=claim_send)), ts(now), stored["id"], ts(now))))
                if job_row is not None and attempt_mark:
                    metadata = {**json.loads(stored["metadata"]), **attempt_mark}
                    stored = one(db.execute(
                        "UPDATE messages SET metadata = ? WHERE id = ? RETURNING *",
                        (json.dumps(metadata), stored["id"])))
            conv = one(db.execute("SELECT * FROM conversations WHERE id = ?",
                                  (stored["conversation_id"],)))
        stored_message, conversation = message_from(stored), conversation_from(conv)
        job = None
        if job_row is not None:
            job = job_from(job_row).model_copy(
                update={"message": stored_message, "conversation": conversation})
        return stored_message, conversation, job

    def _track_outbound(self, db: sqlite3.Connection, message: OutboundMessage,
                        now: datetime) -> sqlite3.Row:
        now_s = ts(now)
        conv = one(db.execute("SELECT id, platform FROM conversations WHERE id = ?",
                              (message.conversation_id,)))
        if conv is None:
            raise NotFound(f"conversation {message.conversation_id}")
        stored = self._stored_message(db, conv["platform"], message.external_id)
        if stored is None:
            stored = self._insert_message(db, conv["id"], conv["platform"], message,
                                          message.delivery_status, now_s)
            self._bump(db, conv["id"], message, now_s)
            if message.delivery_status == "pending":
                enqueue(db, "send", stored["id"], conv["id"], now_s, now_s)
        return stored

    # -- reads ----------------------------------------------------------------------------
    def get_conversation(self, conversation_id: int) -> Conversation | None:
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return conversation_from(rows[0]) if rows else None

    def get_message(self, message_id: int) -> Message | None:
        rows = self._read("SELECT * FROM messages WHERE id = ?", (message_id,))
        return message_from(rows[0]) if rows else None

    def list_conversations(
        self, filters: ConversationFilter, limit: int, cursor: ConversationCursor | None = None
    ) -> ConversationPage:
        """One page in the filter's sort order; ``next_cursor`` is None on the last page."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        unsupported = sorted(name for name in type(filters).model_fields
                             if name not in _FILTERS and getattr(filters, name) is not None)
        if unsupported:  # never ignore a filter: that would list everyone's conversations
            raise InvalidInput(f"unsupported conversation filter: {', '.join(unsupported)}")
        where, params = ["1"], {"limit": limit + 1}
        for field in _EQUALS:
            if getattr(filters, field) is not None:
                where.append(f"{field} = :{field}")
                params[field] = getattr(filters, field)
        if filters.needs_human is not None:  # a literal, so the partial index applies
            where.append(f"needs_human = {int(filters.needs_human)}")
        if filters.unassigned is not None:
            where.append("assigned_to IS NULL" if filters.unassigned else "assigned_to IS NOT NULL")
        if filters.unread_by is not None:  # the mark's primary key, per row walked
            where.append("NOT EXISTS (SELECT 1 FROM conversation_reads r WHERE"
                         " r.user_id = :unread_by AND r.conversation_id = conversations.id"
                         " AND r.message_count >= conversations.message_count)")
            params["unread_by"] = filters.unread_by
        if filters.tag is not None:
            params["tag"], params["tag_sort"] = filters.tag, MAX_TAGGED_SORTED
            if self._read(_TAGGED_SQL, params)[0][0] <= MAX_TAGGED_SORTED:
                # A rare tag: its conversations (the primary key of conversation_tags), sorted.
                where.append("id IN (SELECT conversation_id FROM conversation_tags"
                             " WHERE tag = :tag)")
            else:  # a common one: the page's order, each conversation's tag looked up
                where.append("EXISTS (SELECT 1 FROM conversation_tags AS t WHERE t.tag = :tag"
                             " AND t.conversation_id = conversations.id)")
        if filters.search:
            # LIKE folds ASCII case only; for other text both sides go through casefold().
            fold = "{}" if filters.search.isascii() else "ufold({})"
            params["pattern"] = _like(filters.search if filters.search.isascii()
                                      else filters.search.casefold())
            query = index_query(filters.search)
            if (query is not None  # the trigram indexes say which rows to check (sqlite_search)
                    and self._read(COUNT_SQL, {"fts": query})[0][0] <= MAX_CANDIDATES):
                params["fts"] = query
                where.append(candidates_sql(fold))
            else:  # too short or too common: check the conversations in the page's order
                where.append(
                    f"({fold.format('display_name')} LIKE :pattern ESCAPE '\\' OR EXISTS ("
                    f"SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id"
                    f" AND {fold.format('m.content')} LIKE :pattern ESCAPE '\\'))"
                )
        if cursor is not None:
            if cursor.sort != filters.sort:
                raise InvalidInput("the cursor belongs to another sort order")
            where.append(_after_cursor(cursor, params))
        rows = self._read(
            f"SELECT * FROM conversations WHERE {' AND '.join(where)}"
            f" ORDER BY {_ORDER[filters.sort]} LIMIT :limit", params,
            # A search may read every message, and the Unread filter of an account that has
            # read nearly everything walks every conversation: off gevent's loop.
            long=bool(filters.search) or filters.unread_by is not None)
        return ConversationPage.from_rows(
            [conversation_from(r) for r in rows], limit, filters.sort
        )

    def list_messages(
        self, conversation_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Messages in id order: the oldest after ``after``, else the newest (before ``before``)."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        where, params = ["conversation_id = ?"], [conversation_id]
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        newest = after is None or before is not None
        rows = self._read(
            f"SELECT * FROM messages WHERE {' AND '.join(where)}"
            f" ORDER BY id {'DESC' if newest else 'ASC'} LIMIT ?", (*params, limit))
        messages = [message_from(r) for r in rows]
        return messages[::-1] if newest else messages

    def list_messages_in(
        self, conversation_ids: Sequence[int], start: datetime, end: datetime, limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Message]:
        """Messages of ``conversation_ids`` created in [start, end), conversation by
        conversation in that order, by id within each (see base.py). One indexed read per
        conversation, in one read transaction: each costs microseconds in-process."""
        position = check_messages_in(conversation_ids, limit, after)
        after_id = after[1] if after is not None else 0
        bounds = (ts(start), ts(end))
        rows: list[sqlite3.Row] = []
        with self._tx("DEFERRED") as db:
            for conversation_id in conversation_ids[position:]:
                rows += db.execute(
                    "SELECT * FROM messages WHERE conversation_id = ? AND id > ?"
                    " AND created_at >= ? AND created_at < ? ORDER BY id LIMIT ?",
                    (conversation_id, after_id, *bounds, limit - len(rows))).fetchall()
                if len(rows) >= limit:
                    break
                after_id = 0
        return [message_from(r) for r in rows]

    # -- changes --------------------------------------------------------------------------
    def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation:
        """Set ``status`` (closing clears the human flags; reopening may ``Conflict``)."""
        now_s = ts(now)
        with self._tx() as db:
            current = one(db.execute("SELECT * FROM conversations WHERE id = ?",
                                     (conversation_id,)))
            if current is None:
                raise NotFound(f"conversation {conversation_id}")
            if status == "closed":
                row = one(db.execute(
                    "UPDATE conversations SET status = 'closed', updated_at = :now,"
                    " closed_at = CASE WHEN status = 'closed' THEN closed_at ELSE :now END,"
                    " needs_human = 0, human_reason = NULL, waiting_since = NULL,"
                    " handoff_timeout_notified_at = NULL, priority_raised_at = NULL"
                    " WHERE id = :id RETURNING *", {"now": now_s, "id": conversation_id}))
                return conversation_from(row)
            if current["status"] == "closed" and one(db.execute(
                "SELECT id FROM conversations WHERE platform = ? AND external_user_id = ?"
                " AND status <> 'closed'", (current["platform"], current["external_user_id"]),
            )):
                raise Conflict("this user already has another open conversation")
            row = one(db.execute(
                "UPDATE conversations SET status = ?, closed_at = NULL, updated_at = ?"
                " WHERE id = ? RETURNING *", (status, now_s, conversation_id)))
        return conversation_from(row)

    def mark_needs_human(
        self, message_id: int, reason: str, priority: int, now: datetime
    ) -> tuple[Message, Conversation]:
        """Flag the message and its conversation as needing a human (see base.py)."""
        if not 1 <= priority <= 5:
            raise InvalidInput("priority must be between 1 and 5")
        now_s = ts(now)
        with self._tx() as db:
            msg = one(db.execute(
                "UPDATE messages SET requires_human = 1, human_reason = ?, human_replied = 0"
                " WHERE id = ? RETURNING *", (reason, message_id)))
            if msg is None:
                raise NotFound(f"message {message_id}")
            conv = one(db.execute(
                "UPDATE conversations SET needs_human = 1, human_reason = :reason,"
                " waiting_since = coalesce(waiting_since, :now),"
                # A new wait starts with no timeout notice sent and no priority raise (SET
                # sees the old row).
                " handoff_timeout_notified_at = CASE WHEN waiting_since IS NULL THEN NULL"
                " ELSE handoff_timeout_notified_at END,"
                " priority_raised_at = CASE WHEN waiting_since IS NULL THEN NULL"
                " ELSE priority_raised_at END,"
                " escalated_at = coalesce(escalated_at, :now),"
                " priority = min(priority, :priority), updated_at = :now"
                " WHERE id = :id RETURNING *",
                {"reason": reason, "now": now_s, "priority": priority,
                 "id": msg["conversation_id"]}))
        return message_from(msg), conversation_from(conv)

    def mark_human_replied(
        self, message_id: int, replied_by: str, now: datetime
    ) -> tuple[Message, Conversation]:
        """Mark the message replied; clear the conversation's flags once nothing waits."""
        now_s = ts(now)
        with self._tx() as db:
            msg = one(db.execute(
                "UPDATE messages SET human_replied = 1, replied_by = ?, replied_at = ?"
                " WHERE id = ? RETURNING *", (replied_by, now_s, message_id)))
            if msg is None:
                raise NotFound(f"message {message_id}")
            waiting = one(db.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND requires_human = 1"
                " AND human_replied = 0 LIMIT 1", (msg["conversation_id"],))) is not None
            conv = one(db.execute(
                "UPDATE conversations SET updated_at = :now,"
                " needs_human = CASE WHEN :waiting THEN needs_human ELSE 0 END,"
                " human_reason = CASE WHEN :waiting THEN human_reason END,"
                " waiting_since = CASE WHEN :waiting THEN waiting_since END,"
                " handoff_timeout_notified_at = CASE WHEN :waiting"
                " THEN handoff_timeout_notified_at END,"
                " priority_raised_at = CASE WHEN :waiting THEN priority_raised_at END"
                " WHERE id = :id RETURNING *",
                {"now": now_s, "id": msg["conversation_id"], "waiting": waiting}))
        return message_from(msg), conversation_from(conv)

    def set_delivery_status(
        self,
        message_id: int,
        status: DeliveryStatus,
        now: datetime,
        error: str | None = None,
        external_id: str | None = None,
        finish_job: int | None = None,
    ) -> Message:
        """Record the delivery state; ``error`` replaces the last one, ``external_id`` is kept
        unless given; ``finish_job`` done in the same transaction. Forward only (see
        ``_OUT_RANK``). (``now`` dates only the job: messages carry no delivery timestamp.)"""
        with self._tx() as db:
            try:
                # Forward only (as the Supabase function): 0 for not gone out, then sent,
                # delivered, read; a call that would move back changes nothing.
                msg = one(db.execute(
                    "UPDATE messages SET delivery_status = ?1, delivery_error = ?2,"
                    " external_id = coalesce(?3, external_id) WHERE id = ?4"
                    f" AND {_OUT_RANK.format('?1')} >= {_OUT_RANK.format('delivery_status')}"
                    " RETURNING *",
                    (status, error, external_id, message_id)))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"external id {external_id!r} belongs to another message") from exc
            if msg is None:
                msg = one(db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)))
            if msg is None:
                raise NotFound(f"message {message_id}")
            if finish_job is not None:
                self._finish_job_in(db, finish_job, now)
        return message_from(msg)
