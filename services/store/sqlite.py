"""The embedded store: stdlib ``sqlite3`` in WAL mode, the default when Supabase is not set.

Same schema and behaviour as the Supabase store (see ``base.py``). Every write is one
``BEGIN IMMEDIATE`` transaction (see ``sqlite_db``), so it is serialised against other threads
*and* other processes using the same file. Timestamps are stored as ISO-8601 text in one fixed
UTC format, so comparing or sorting the text compares or sorts the times. Search folds case
with SQLite's LIKE (ASCII) for ASCII search text and with Python's ``str.lower`` on both sides
otherwise; e-mail addresses compare case-insensitively in ASCII only.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.errors import Conflict, InvalidInput, NotFound
from services.models import (
    PLATFORMS, Conversation, ConversationCursor, ConversationFilter, ConversationPage,
    ConversationStatus, DeliveryStatus, HourBucket, InboundMessage, Message, OutboundMessage,
    PlatformStats, Stats, TrackResult, preview, utc,
)
from services.store.sqlite_db import SqliteDatabase, one, ts
from services.store.sqlite_users import SqliteUsers

# Exact seconds between two stored timestamps (julianday keeps only milliseconds).
_SECONDS_BETWEEN = (
    "((CAST(strftime('%s', substr({a}, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr({b}, 1, 19)) AS INTEGER))"
    " + (CAST(substr({a}, 21, 6) AS INTEGER) - CAST(substr({b}, 21, 6) AS INTEGER)) / 1e6)"
)
_RESPONSE_SECONDS = _SECONDS_BETWEEN.format(a="first_human_reply_at", b="escalated_at")
_REPLIED_AFTER = "first_human_reply_at >= escalated_at"  # NULL (not counted) when either is unset


def _like(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching ``text`` literally as a substring."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation.model_validate({**row, "profile": json.loads(row["profile"])})


def _message(row: sqlite3.Row) -> Message:
    return Message.model_validate({**row, "attachments": json.loads(row["attachments"]),
                                   "metadata": json.loads(row["metadata"])})


class SqliteStore(SqliteUsers):
    """``ConversationStore`` on one SQLite file, one connection per thread (or greenlet)."""

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
        """Apply one new message to its conversation's counters; return the updated row."""
        params = {"now": now, "preview": preview(msg.content), "id": conversation_id,
                  "agent": msg.sender_type == "agent", **(extra or {})}
        return one(db.execute(
            "UPDATE conversations SET message_count = message_count + 1,"
            " last_message_at = :now, updated_at = :now, last_message_preview = :preview,"
            " first_human_reply_at = CASE WHEN :agent THEN coalesce(first_human_reply_at, :now)"
            " ELSE first_human_reply_at END" + extra_sql + " WHERE id = :id RETURNING *",
            params,
        ))

    def track_inbound(self, message: InboundMessage, now: datetime) -> TrackResult:
        """Store an inbound message in its open conversation, opening one if needed."""
        now_s = ts(now)
        with self._tx() as db:
            stored = self._stored_message(db, message.platform, message.external_id)
            if stored is not None:  # redelivery: change nothing
                conv = one(db.execute("SELECT * FROM conversations WHERE id = ?",
                                      (stored["conversation_id"],)))
                return TrackResult(conversation=_conversation(conv), message=_message(stored),
                                   created=False, conversation_created=False)
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
        return TrackResult(conversation=_conversation(conv), message=_message(stored),
                           created=True, conversation_created=conversation_created)

    def track_outbound(self, message: OutboundMessage, now: datetime) -> Message:
        """Store a bot, agent or system message; ``NotFound`` for an unknown conversation."""
        now_s = ts(now)
        with self._tx() as db:
            conv = one(db.execute("SELECT id, platform FROM conversations WHERE id = ?",
                                  (message.conversation_id,)))
            if conv is None:
                raise NotFound(f"conversation {message.conversation_id}")
            stored = self._stored_message(db, conv["platform"], message.external_id)
            if stored is None:
                stored = self._insert_message(db, conv["id"], conv["platform"], message,
                                              message.delivery_status, now_s)
                self._bump(db, conv["id"], message, now_s)
        return _message(stored)

    # -- reads ----------------------------------------------------------------------------
    def get_conversation(self, conversation_id: int) -> Conversation | None:
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return _conversation(rows[0]) if rows else None

    def get_message(self, message_id: int) -> Message | None:
        rows = self._read("SELECT * FROM messages WHERE id = ?", (message_id,))
        return _message(rows[0]) if rows else None

    def list_conversations(
        self, filters: ConversationFilter, limit: int, cursor: ConversationCursor | None = None
    ) -> ConversationPage:
        """One page in the filter's sort order; ``next_cursor`` is None on the last page."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        where, params = ["1"], {"limit": limit + 1}
        for field in ("status", "platform", "handled_by", "assigned_to"):
            if getattr(filters, field) is not None:
                where.append(f"{field} = :{field}")
                params[field] = getattr(filters, field)
        if filters.needs_human is not None:  # a literal, so the partial index applies
            where.append(f"needs_human = {int(filters.needs_human)}")
        if filters.unassigned is not None:
            where.append("assigned_to IS NULL" if filters.unassigned else "assigned_to IS NOT NULL")
        if filters.search:
            # LIKE folds ASCII case only; for other text both sides go through Python's lower().
            fold = "{}" if filters.search.isascii() else "ulower({})"
            params["pattern"] = _like(filters.search if filters.search.isascii()
                                      else filters.search.lower())
            where.append(
                f"({fold.format('display_name')} LIKE :pattern ESCAPE '\\' OR EXISTS ("
                f"SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id"
                f" AND {fold.format('m.content')} LIKE :pattern ESCAPE '\\'))"
            )
        if cursor is not None:
            if cursor.sort != filters.sort:
                raise InvalidInput("the cursor belongs to another sort order")
            params.update(c_at=ts(cursor.last_message_at), c_id=cursor.id, c_pri=cursor.priority)
            after = "(last_message_at, id) < (:c_at, :c_id)"
            if filters.sort == "priority":
                after = f"(priority > :c_pri OR (priority = :c_pri AND {after}))"
            where.append(after)
        order = "last_message_at DESC, id DESC"
        if filters.sort == "priority":
            order = "priority ASC, " + order
        rows = self._read(
            f"SELECT * FROM conversations WHERE {' AND '.join(where)} ORDER BY {order}"
            " LIMIT :limit", params)
        conversations = [_conversation(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = ConversationCursor.after(conversations[-1], filters.sort).encode()
        return ConversationPage(conversations=conversations, next_cursor=next_cursor)

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
        messages = [_message(r) for r in rows]
        return messages[::-1] if newest else messages

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
                    " needs_human = 0, human_reason = NULL, waiting_since = NULL"
                    " WHERE id = :id RETURNING *", {"now": now_s, "id": conversation_id}))
                return _conversation(row)
            if current["status"] == "closed" and one(db.execute(
                "SELECT id FROM conversations WHERE platform = ? AND external_user_id = ?"
                " AND status <> 'closed'", (current["platform"], current["external_user_id"]),
            )):
                raise Conflict("this user already has another open conversation")
            row = one(db.execute(
                "UPDATE conversations SET status = ?, closed_at = NULL, updated_at = ?"
                " WHERE id = ? RETURNING *", (status, now_s, conversation_id)))
        return _conversation(row)

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
                " escalated_at = coalesce(escalated_at, :now),"
                " priority = min(priority, :priority), updated_at = :now"
                " WHERE id = :id RETURNING *",
                {"reason": reason, "now": now_s, "priority": priority,
                 "id": msg["conversation_id"]}))
        return _message(msg), _conversation(conv)

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
                " waiting_since = CASE WHEN :waiting THEN waiting_since END"
                " WHERE id = :id RETURNING *",
                {"now": now_s, "id": msg["conversation_id"], "waiting": waiting}))
        return _message(msg), _conversation(conv)

    def set_delivery_status(
        self,
        message_id: int,
        status: DeliveryStatus,
        now: datetime,
        error: str | None = None,
        external_id: str | None = None,
    ) -> Message:
        """Record the delivery state; ``error`` replaces the last one, ``external_id`` is kept
        unless given. (``now`` is unused: messages carry no delivery timestamp.)"""
        with self._tx() as db:
            try:
                msg = one(db.execute(
                    "UPDATE messages SET delivery_status = ?, delivery_error = ?,"
                    " external_id = coalesce(?, external_id) WHERE id = ? RETURNING *",
                    (status, error, external_id, message_id)))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"external id {external_id!r} belongs to another message") from exc
            if msg is None:
                raise NotFound(f"message {message_id}")
        return _message(msg)

    # -- stats ----------------------------------------------------------------------------
    def stats(self, now: datetime) -> Stats:
        """Aggregates over all conversations: three aggregate queries in one read snapshot."""
        now = utc(now)
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        hours = [first + timedelta(hours=i) for i in range(24)]
        with self._tx("DEFERRED") as db:
            # Message totals are sums of message_count, which every insert bumps in the same
            # transaction: cheaper than counting the (much larger) messages table.
            groups = db.execute(
                "SELECT platform, count(*) AS conversations,"
                " coalesce(sum(status = 'active'), 0) AS active,"
                " coalesce(sum(message_count), 0) AS messages,"
                " coalesce(sum(needs_human), 0) AS needing, count(escalated_at) AS escalated,"
                f" sum(CASE WHEN {_REPLIED_AFTER} THEN {_RESPONSE_SECONDS} END) AS response_sum,"
                f" count(CASE WHEN {_REPLIED_AFTER} THEN 1 END) AS responses"
                " FROM conversations GROUP BY platform").fetchall()
            unreplied = db.execute(
                "SELECT count(*) FROM messages WHERE requires_human = 1 AND human_replied = 0"
            ).fetchone()[0]
            per_hour = {row[0]: row for row in db.execute(
                "SELECT substr(created_at, 1, 13) AS hour, count(*),"
                " coalesce(sum(requires_human), 0) FROM messages"
                " WHERE created_at >= ? AND created_at < ? GROUP BY hour",
                (ts(hours[0]), ts(hours[-1] + timedelta(hours=1)))).fetchall()}
        total = sum(g["conversations"] for g in groups)
        messages = sum(g["messages"] for g in groups)
        escalated = sum(g["escalated"] for g in groups)
        responses = sum(g["responses"] for g in groups)
        by_platform = {p: PlatformStats() for p in PLATFORMS}
        for g in groups:
            by_platform[g["platform"]] = PlatformStats(
                conversations=g["conversations"], active_conversations=g["active"],
                messages=g["messages"])
        buckets = []
        for hour in hours:
            row = per_hour.get(ts(hour)[:13])
            buckets.append(HourBucket(hour=hour, messages=row[1] if row else 0,
                                      escalations=row[2] if row else 0))
        return Stats(
            total_conversations=total,
            active_conversations=sum(g["active"] for g in groups),
            total_messages=messages,
            messages_requiring_human=unreplied,
            conversations_needing_human=sum(g["needing"] for g in groups),
            escalated_conversations=escalated,
            escalation_rate=escalated / total if total else 0.0,
            avg_messages_per_conversation=messages / total if total else 0.0,
            avg_first_human_response_seconds=(
                sum(g["response_sum"] or 0 for g in groups) / responses if responses else None),
            by_platform=by_platform,
            messages_per_hour=buckets,
            timestamp=now,
        )
