"""Deleting conversations in the SQLite store (mixed into ``SqliteStore``): an admin's
erasure of a conversation or of everything a person wrote, and the retention sweep's
batches. The foreign keys cascade to messages, jobs, trail lines, read marks and tags;
the search-index and roll-up triggers follow each deleted row in the same transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Callable, ContextManager, Sequence

from services.models import Conversation
from services.store.base import check_delete, check_delete_limit
from services.store.sqlite_db import conversation_from, ts


class SqliteDeletion:
    """The deletion part of ``ConversationStore``; needs ``_tx``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]

    def delete_conversations(self, conversation_ids: Sequence[int]) -> list[Conversation]:
        ids = check_delete(conversation_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._tx() as db:
            rows = db.execute(f"DELETE FROM conversations WHERE id IN ({marks}) RETURNING *",
                              ids).fetchall()
        return sorted((conversation_from(r) for r in rows), key=lambda c: c.id)

    def delete_closed_before(self, before: datetime, limit: int) -> list[Conversation]:
        check_delete_limit(limit)
        # The oldest closed conversations through conversations_status_activity_idx; one
        # changed since (a rating or a tag moved updated_at) or given a trail line since (a
        # note, which changes no column of the conversation) waits.
        with self._tx() as db:
            rows = db.execute(
                "DELETE FROM conversations WHERE id IN (SELECT c.id FROM conversations c"
                " WHERE c.status = 'closed' AND c.last_message_at < :before"
                " AND c.updated_at < :before AND NOT EXISTS (SELECT 1 FROM activity a"
                " WHERE a.conversation_id = c.id AND a.created_at >= :before)"
                " ORDER BY c.last_message_at LIMIT :limit) RETURNING *",
                {"before": ts(before), "limit": limit}).fetchall()
        return sorted((conversation_from(r) for r in rows), key=lambda c: c.id)
