"""Auto-assignment in the SQLite store (mixed into ``SqliteStore``): which accounts take
new conversations and which have a page open, and handing the waiting ones out, the least
loaded account first. One transaction (``BEGIN IMMEDIATE``: SQLite's single writer
serialises any other), so the loads counted are the loads assigned."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Callable, ContextManager, Sequence

from services.errors import NotFound
from services.models import AdminUser, Conversation
from services.store.base import check_auto_assign, check_touch_users
from services.store.sqlite_db import conversation_from, one, ts

_WAITING = "needs_human = 1 AND assigned_to IS NULL AND status <> 'closed'"
# The account to give the next conversation: available, enabled, seen since :online_since
# (NULL: seen or not), under the limit of open conversations (0: none), the fewest open
# ones, then the longest without a new one.
# (conversations_open_assigned_idx: the count reads the index alone.)
_OPEN = ("(SELECT count(*) FROM conversations c"
         " WHERE c.assigned_to = u.id AND c.assigned_to IS NOT NULL AND c.status <> 'closed')")
_PICK = (f"SELECT u.*, {_OPEN} AS open_count FROM admin_users u"
         " WHERE u.available = 1 AND u.disabled = 0"
         " AND (:online_since IS NULL OR u.last_seen_at >= :online_since)"
         f" AND (:max_open = 0 OR {_OPEN} < :max_open)"
         " ORDER BY open_count, u.last_assigned_at IS NOT NULL, u.last_assigned_at, u.id"
         " LIMIT 1")


class SqliteAssignment:
    """The auto-assignment part of ``ConversationStore``; needs ``_tx``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]

    def set_user_available(self, user_id: int, available: bool) -> AdminUser:
        with self._tx() as db:
            row = one(db.execute("UPDATE admin_users SET available = ? WHERE id = ? RETURNING *",
                                 (int(bool(available)), user_id)))
        if row is None:
            raise NotFound(f"user {user_id}")
        return AdminUser.model_validate(dict(row))

    def touch_users(self, user_ids: Sequence[int], now: datetime) -> None:
        ids = check_touch_users(user_ids)
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self._tx() as db:
            db.execute(f"UPDATE admin_users SET last_seen_at = ? WHERE id IN ({marks})"
                       " AND (last_seen_at IS NULL OR last_seen_at < ?)",
                       (ts(now), *ids, ts(now)))

    def claim_offline(self, seen_before: datetime, now: datetime) -> list[AdminUser]:
        with self._tx() as db:
            rows = db.execute(
                "UPDATE admin_users SET offline_announced_at = ?"
                " WHERE last_seen_at < ?"
                " AND (offline_announced_at IS NULL OR offline_announced_at <= last_seen_at)"
                " RETURNING *", (ts(now), ts(seen_before))).fetchall()
        return sorted((AdminUser.model_validate(dict(r)) for r in rows), key=lambda u: u.id)

    def auto_assign(self, conversation_ids: Sequence[int] | None, limit: int, max_open: int,
                    now: datetime, online_since: datetime | None = None
                    ) -> list[tuple[Conversation, AdminUser]]:
        check_auto_assign(limit, max_open)
        pick = {"max_open": max_open,
                "online_since": None if online_since is None else ts(online_since)}
        given: list[tuple[Conversation, AdminUser]] = []
        with self._tx() as db:
            if conversation_ids is None:
                waiting = db.execute(
                    "SELECT id FROM conversations INDEXED BY conversations_unassigned_wait_idx"
                    f" WHERE {_WAITING} ORDER BY waiting_since, id LIMIT ?", (limit,)).fetchall()
            else:
                ids = sorted(set(conversation_ids))
                if not ids:
                    return []
                marks = ",".join("?" * len(ids))
                waiting = db.execute(
                    f"SELECT id FROM conversations WHERE id IN ({marks}) AND {_WAITING}"
                    " ORDER BY waiting_since, id LIMIT ?", (*ids, limit)).fetchall()
            for (conversation_id,) in waiting:
                agent = one(db.execute(_PICK, pick))
                if agent is None:
                    break  # nobody can take more: the rest wait for the next call
                row = one(db.execute(
                    "UPDATE conversations SET assigned_to = ?, updated_at = ?"
                    f" WHERE id = ? AND {_WAITING} RETURNING *",
                    (agent["id"], ts(now), conversation_id)))
                user = one(db.execute(
                    "UPDATE admin_users SET last_assigned_at = ? WHERE id = ? RETURNING *",
                    (ts(now), agent["id"])))
                given.append((conversation_from(row), AdminUser.model_validate(dict(user))))
        return given
