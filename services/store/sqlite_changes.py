"""Handling, assignment, profile, receipts, metadata and lifecycle sweeps in the SQLite store
(mixed into ``SqliteStore``).

Each method is one ``BEGIN IMMEDIATE`` transaction; the sweeps are single conditional
``UPDATE ... RETURNING`` statements, so when several processes sweep at once each row is
changed, and returned, by exactly one of them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Callable, ContextManager, Sequence

from services.errors import Conflict, InvalidInput, NotFound
from services.models import (
    MAX_DELETE,
    Activity,
    Conversation,
    DeliveryStatus,
    HandledBy,
    Message,
    NewActivity,
)
from services.store.base import check_activity_write, check_many
from services.store.sqlite_db import conversation_from, message_from, one, ts

# What a receipt may move a message forward from: sent -> delivered -> read, never backwards,
# never from pending or failed.
_RECEIPT_SOURCES = {"delivered": "('sent')", "read": "('sent', 'delivered')"}
# Ending a wait for a human also forgets what was done during it (see base.py).
_CLEAR_WAIT = ("needs_human = 0, human_reason = NULL, waiting_since = NULL,"
               " handoff_timeout_notified_at = NULL, priority_raised_at = NULL")


def _activity_from(row: sqlite3.Row) -> Activity:
    return Activity.model_validate({**row, "detail": json.loads(row["detail"])})


def _user_exists(db: sqlite3.Connection, user_id: int) -> bool:
    return one(db.execute("SELECT 1 FROM admin_users WHERE id = ?", (user_id,))) is not None


class SqliteChanges:
    """Conversation and message changes of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    # -- handling, assignment, profile -------------------------------------------------------
    def set_handling(
        self, conversation_id: int, handled_by: HandledBy, assigned_to: int | None, now: datetime
    ) -> tuple[Conversation, bool]:
        """Hand to a human or back to the bot; also whether ``handled_by`` changed."""
        if handled_by not in ("bot", "human"):
            raise InvalidInput(f"unknown handler {handled_by!r}")
        params = {"id": conversation_id, "now": ts(now), "assigned_to": assigned_to}
        with self._tx() as db:
            current = one(db.execute("SELECT handled_by FROM conversations WHERE id = ?",
                                     (conversation_id,)))
            if current is None:
                raise NotFound(f"conversation {conversation_id}")
            if handled_by == "human":
                if assigned_to is not None and not _user_exists(db, assigned_to):
                    raise NotFound(f"user {assigned_to}")
                row = one(db.execute(
                    "UPDATE conversations SET handled_by = 'human', updated_at = :now,"
                    " assigned_to = coalesce(:assigned_to, assigned_to)"
                    " WHERE id = :id RETURNING *", params))
            else:
                row = one(db.execute(
                    "UPDATE conversations SET handled_by = 'bot', assigned_to = NULL,"
                    f" {_CLEAR_WAIT}, updated_at = :now WHERE id = :id RETURNING *", params))
        return conversation_from(row), current["handled_by"] != handled_by

    def assign(self, conversation_id: int, user_id: int | None, now: datetime) -> Conversation:
        """Assign to an admin user, or unassign with None; ``NotFound`` for either id."""
        with self._tx() as db:
            if user_id is not None and not _user_exists(db, user_id):
                raise NotFound(f"user {user_id}")
            row = one(db.execute(
                "UPDATE conversations SET assigned_to = ?, updated_at = ? WHERE id = ? RETURNING *",
                (user_id, ts(now), conversation_id)))
            if row is None:
                raise NotFound(f"conversation {conversation_id}")
        return conversation_from(row)

    # -- activity trail ------------------------------------------------------------------------
    def add_activity(self, lines: Sequence[NewActivity], now: datetime) -> list[Activity]:
        """Store lines of activity trails in one statement; ``NotFound`` for an unknown
        conversation or account, and then none is stored."""
        check_activity_write(lines)
        if not lines:
            return []
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(lines))
        params = [p for line in lines
                  for p in (line.conversation_id, line.kind, line.actor_id, line.actor,
                            json.dumps(line.detail), ts(now))]
        try:
            with self._tx() as db:
                rows = db.execute(
                    "INSERT INTO activity (conversation_id, kind, actor_id, actor, detail,"
                    f" created_at) VALUES {values} RETURNING *", params).fetchall()
        except sqlite3.IntegrityError as exc:  # a foreign key: no such conversation or account
            raise NotFound(f"activity: {exc}") from exc
        # RETURNING's order is unspecified; AUTOINCREMENT ids follow the order given.
        return sorted((_activity_from(r) for r in rows), key=lambda a: a.id)

    def list_activity(
        self, conversation_id: int, limit: int, before: int | None = None
    ) -> list[Activity]:
        """A conversation's newest ``limit`` lines (before the line id ``before``), id order."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        rows = self._read(
            "SELECT * FROM activity WHERE conversation_id = ? AND id < ?"
            " ORDER BY id DESC LIMIT ?",
            (conversation_id, 2**63 - 1 if before is None else before, limit))
        return [_activity_from(r) for r in reversed(rows)]

    def get_activity(self, line_id: int) -> Activity | None:
        rows = self._read("SELECT * FROM activity WHERE id = ?", (line_id,))
        return _activity_from(rows[0]) if rows else None

    def rewrite_note(self, note_id: int, detail: dict[str, Any]) -> Activity:
        with self._tx() as db:
            row = one(db.execute(
                "UPDATE activity SET detail = ? WHERE id = ? AND kind = 'note'"
                " AND json_extract(detail, '$.deleted_at') IS NULL RETURNING *",
                (json.dumps(detail), note_id)))
            if row is None:
                if one(db.execute("SELECT 1 FROM activity WHERE id = ? AND kind = 'note'",
                                  (note_id,))) is not None:
                    raise Conflict(f"note {note_id} was deleted")
                raise NotFound(f"note {note_id} not found")
        return _activity_from(row)

    def list_activity_in(
        self, conversation_ids: Sequence[int], start: datetime, end: datetime, limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Activity]:
        """Lines of ``conversation_ids`` created in [start, end), (conversation id, id)
        order, at most ``limit``, after ``after``: one read on the (conversation_id, id) index."""
        check_many(conversation_ids, limit)
        if not conversation_ids:
            return []
        marks = ", ".join("?" * len(conversation_ids))
        after_key = after if after is not None else (-1, -1)
        rows = self._read(
            f"SELECT * FROM activity WHERE conversation_id IN ({marks})"
            " AND created_at >= ? AND created_at < ? AND (conversation_id, id) > (?, ?)"
            " ORDER BY conversation_id, id LIMIT ?",
            (*conversation_ids, ts(start), ts(end), *after_key, limit))
        return [_activity_from(r) for r in rows]

    def set_profile(
        self, conversation_id: int, display_name: str | None, profile: dict, now: datetime
    ) -> Conversation:
        """Replace the profile; a None ``display_name`` keeps the current one. ``NotFound``."""
        with self._tx() as db:
            row = one(db.execute(
                "UPDATE conversations SET display_name = coalesce(?, display_name), profile = ?,"
                " updated_at = ? WHERE id = ? RETURNING *",
                (display_name, json.dumps(profile or {}), ts(now), conversation_id)))
            if row is None:
                raise NotFound(f"conversation {conversation_id}")
        return conversation_from(row)

    def move_person(
        self, platform: str, from_user_id: str, to_user_id: str, display_name: str | None,
        profile: dict, now: datetime,
    ) -> list[Conversation]:
        """See base.py: one conditional UPDATE over the person's index."""
        if from_user_id == to_user_id:
            raise InvalidInput("a person is moved to another person")
        with self._tx() as db:
            rows = db.execute(
                "UPDATE conversations SET external_user_id = :to,"
                " display_name = coalesce(:name, display_name), profile = :profile,"
                " updated_at = :now"
                " WHERE id IN (SELECT id FROM conversations"
                " WHERE platform = :platform AND external_user_id = :from"
                " ORDER BY id DESC LIMIT :limit)"
                " AND (status = 'closed' OR NOT EXISTS (SELECT 1 FROM conversations"
                " WHERE platform = :platform AND external_user_id = :to"
                " AND status <> 'closed'))"
                " RETURNING *",
                {"to": to_user_id, "from": from_user_id, "platform": platform,
                 "name": display_name, "profile": json.dumps(profile or {}), "now": ts(now),
                 "limit": MAX_DELETE}).fetchall()
        return sorted((conversation_from(r) for r in rows), key=lambda c: -c.id)

    # -- receipts and metadata -----------------------------------------------------------------
    def mark_delivered_until(
        self,
        platform: str,
        external_user_id: str,
        until: datetime,
        status: DeliveryStatus,
        now: datetime,
    ) -> list[Message]:
        """Move that person's outbound messages up to ``until`` forward to ``status``."""
        if status not in _RECEIPT_SOURCES:
            raise InvalidInput("a watermark moves messages to 'delivered' or 'read'")
        with self._tx() as db:
            # The first two delivery/sender terms repeat the partial index's predicate word for
            # word, which is how SQLite recognises that the index applies.
            rows = db.execute(
                "UPDATE messages SET delivery_status = :status"
                " WHERE conversation_id IN (SELECT id FROM conversations"
                " WHERE platform = :platform AND external_user_id = :user)"
                " AND delivery_status IN ('sent', 'delivered') AND sender_type <> 'user'"
                f" AND delivery_status IN {_RECEIPT_SOURCES[status]} AND created_at <= :until"
                " RETURNING *",
                {"status": status, "platform": platform, "user": external_user_id,
                 "until": ts(until)}).fetchall()
        return sorted((message_from(r) for r in rows), key=lambda m: m.id)

    def find_message_by_external_id(self, platform: str, external_id: str) -> Message | None:
        """The message with that platform id (inbound mid, or an outbound one once sent)."""
        rows = self._read("SELECT * FROM messages WHERE platform = ? AND external_id = ?",
                          (platform, external_id))
        return message_from(rows[0]) if rows else None

    def update_message_metadata(
        self, message_id: int, patch: dict, now: datetime, expect: dict | None = None
    ) -> Message:
        """Merge top-level keys into the metadata (None deletes a key); ``NotFound``; with
        ``expect``, ``Conflict`` unless each of its keys holds that value (None: absent).
        (``now`` is unused: messages carry no change timestamp.)"""
        with self._tx() as db:
            row = one(db.execute("SELECT metadata FROM messages WHERE id = ?", (message_id,)))
            if row is None:
                raise NotFound(f"message {message_id}")
            metadata: dict[str, Any] = json.loads(row["metadata"])
            if expect and any(metadata.get(k) != v for k, v in expect.items()):
                raise Conflict(f"message {message_id}: its metadata changed meanwhile")
            for key, value in patch.items():
                if value is None:
                    metadata.pop(key, None)
                else:
                    metadata[key] = value
            row = one(db.execute("UPDATE messages SET metadata = ? WHERE id = ? RETURNING *",
                                 (json.dumps(metadata), message_id)))
        return message_from(row)

    # -- lifecycle sweeps ----------------------------------------------------------------------
    def _sweep(self, sql: str, params: dict[str, Any]) -> list[Conversation]:
        with self._tx() as db:
            rows = db.execute(sql, params).fetchall()
        return sorted((conversation_from(r) for r in rows), key=lambda c: c.id)

    def sweep_idle(self, idle_before: datetime, now: datetime) -> list[Conversation]:
        """Active conversations quiet since before ``idle_before`` become idle (id order)."""
        return self._sweep(
            "UPDATE conversations SET status = 'idle', updated_at = :now"
            " WHERE status = 'active' AND last_message_at < :before RETURNING *",
            {"now": ts(now), "before": ts(idle_before)})

    def sweep_closed(self, close_before: datetime, now: datetime) -> list[Conversation]:
        """Open conversations quiet since before ``close_before`` are closed (id order)."""
        return self._sweep(
            "UPDATE conversations SET status = 'closed', closed_at = :now, updated_at = :now,"
            f" {_CLEAR_WAIT} WHERE status IN ('active', 'idle') AND last_message_at < :before"
            " RETURNING *", {"now": ts(now), "before": ts(close_before)})

    def claim_handoff_timeouts(self, waiting_before: datetime, now: datetime) -> list[Conversation]:
        """Conversations waiting for a human since before ``waiting_before`` and not yet
        notified: mark them notified now and return them (id order), each once."""
        return self._sweep(
            "UPDATE conversations SET handoff_timeout_notified_at = :now, updated_at = :now"
            " WHERE needs_human = 1 AND waiting_since < :before"
            " AND handoff_timeout_notified_at IS NULL RETURNING *",
            {"now": ts(now), "before": ts(waiting_before)})

    def raise_waiting_priority(
        self, waiting_before: datetime, now: datetime
    ) -> list[Conversation]:
        """Conversations waiting for a human since before ``waiting_before`` and not yet
        raised during this wait go up one priority level (id order), each once per wait."""
        # The first three terms repeat conversations_priority_raise_idx's predicate.
        return self._sweep(
            "UPDATE conversations SET priority = priority - 1, priority_raised_at = :now,"
            " updated_at = :now WHERE needs_human = 1 AND priority_raised_at IS NULL"
            " AND priority > 1 AND waiting_since < :before RETURNING *",
            {"now": ts(now), "before": ts(waiting_before)})
