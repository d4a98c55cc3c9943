"""What each account has read, in the SQLite store (mixed into ``SqliteStore``)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Callable, ContextManager, Sequence

from services.errors import NotFound
from services.models import ReadMark, UnansweredPage, UnansweredQuestion
from services.store.base import check_many, unanswered_next
from services.store.sqlite_db import one, ts


class SqliteReads:
    """The read-mark part of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def mark_read(
        self, user_id: int, conversation_id: int, message_count: int, now: datetime
    ) -> ReadMark:
        with self._tx() as db:
            count = _message_count(db, user_id, conversation_id)
            db.execute(
                "INSERT INTO conversation_reads (user_id, conversation_id, message_count, read_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE SET"
                " message_count = excluded.message_count, read_at = excluded.read_at"
                " WHERE excluded.message_count > conversation_reads.message_count",
                (user_id, conversation_id, max(0, min(message_count, count)), ts(now)))
            row = one(db.execute(
                "SELECT * FROM conversation_reads WHERE user_id = ? AND conversation_id = ?",
                (user_id, conversation_id)))
        return ReadMark.model_validate(dict(row))

    def mark_unread(self, user_id: int, conversation_id: int, now: datetime) -> ReadMark:
        with self._tx() as db:
            count = _message_count(db, user_id, conversation_id)
            row = one(db.execute(
                "INSERT INTO conversation_reads (user_id, conversation_id, message_count, read_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE SET"
                " message_count = excluded.message_count, read_at = excluded.read_at"
                " RETURNING *",
                (user_id, conversation_id, max(0, count - 1), ts(now))))
        return ReadMark.model_validate(dict(row))

    def mark_all_read(self, user_id: int, now: datetime) -> int:
        with self._tx() as db:
            if one(db.execute("SELECT 1 FROM admin_users WHERE id = ?", (user_id,))) is None:
                raise NotFound(f"user {user_id} not found")
            return db.execute(  # "WHERE true": SQLite's upsert after a SELECT needs a WHERE
                "INSERT INTO conversation_reads (user_id, conversation_id, message_count, read_at)"
                " SELECT ?, id, message_count, ? FROM conversations WHERE true"
                " ON CONFLICT (user_id, conversation_id) DO UPDATE SET"
                " message_count = excluded.message_count, read_at = excluded.read_at"
                " WHERE excluded.message_count > conversation_reads.message_count",
                (user_id, ts(now))).rowcount

    def read_marks(self, user_id: int, conversation_ids: Sequence[int]) -> list[ReadMark]:
        check_many(conversation_ids, 1)
        if not conversation_ids:
            return []
        marks = ", ".join("?" * len(conversation_ids))
        rows = self._read(
            "SELECT * FROM conversation_reads WHERE user_id = ?"
            f" AND conversation_id IN ({marks})", (user_id, *conversation_ids))
        return [ReadMark.model_validate(dict(r)) for r in rows]

    def seen_message_id(self, conversation_id: int) -> int | None:
        # The mark's count-th message, counted back from the newest (a mark is usually at or
        # near the end): one walk of messages_conversation_idx that short.
        rows = self._read(
            "WITH seen AS (SELECT max(r.message_count) AS n, c.message_count AS total"
            " FROM conversation_reads r JOIN conversations c ON c.id = r.conversation_id"
            " WHERE r.conversation_id = :id)"
            " SELECT m.id FROM messages m WHERE m.conversation_id = :id"
            " AND (SELECT n FROM seen) > 0"
            " ORDER BY m.id DESC LIMIT 1"
            " OFFSET (SELECT coalesce(max(total - n, 0), 0) FROM seen)", {"id": conversation_id})
        return rows[0][0] if rows else None

    def unanswered_questions(self, threshold: float, before: int | None, limit: int,
                             walk: int) -> UnansweredPage:
        if before is None:
            before = (self._read("SELECT coalesce(max(id), 0) FROM messages")[0][0]) + 1
        floor = max(1, before - walk)
        rows = self._read(
            "SELECT b.id AS answer_id, b.conversation_id, b.created_at,"
            " b.confidence_score AS confidence, json_extract(b.metadata, '$.intent') AS intent,"
            " u.id AS question_id, u.content AS question"
            " FROM messages b LEFT JOIN messages u"
            " ON u.id = json_extract(b.metadata, '$.in_reply_to')"
            " AND u.conversation_id = b.conversation_id"
            " WHERE b.id < :before AND b.id >= :floor AND b.sender_type = 'bot'"
            " AND b.confidence_score < :threshold"
            " ORDER BY b.id DESC LIMIT :limit",
            {"before": before, "floor": floor, "threshold": threshold, "limit": limit})
        questions = [UnansweredQuestion.model_validate(dict(r)) for r in rows]
        return UnansweredPage(questions=questions, next_before=unanswered_next(
            questions, limit, floor))


def _message_count(db: sqlite3.Connection, user_id: int, conversation_id: int) -> int:
    """The conversation's message count; ``NotFound`` for it or the account missing."""
    conversation = one(db.execute(
        "SELECT message_count FROM conversations WHERE id = ?", (conversation_id,)))
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    if one(db.execute("SELECT 1 FROM admin_users WHERE id = ?", (user_id,))) is None:
        raise NotFound(f"user {user_id} not found")
    return conversation[0]
