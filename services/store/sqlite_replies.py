"""The team's saved replies in the SQLite store (mixed into ``SqliteStore``)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, ContextManager, Iterator

from services.errors import Conflict, InvalidInput, NotFound
from services.models import MAX_SAVED_REPLIES, NewSavedReply, SavedReply, saved_reply_key
from services.store.sqlite_db import one, ts


class SqliteSavedReplies:
    """The saved-reply part of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def list_saved_replies(self) -> list[SavedReply]:
        rows = self._read("SELECT * FROM saved_replies ORDER BY title_key, id LIMIT ?",
                          (MAX_SAVED_REPLIES,))
        return [SavedReply.model_validate(dict(r)) for r in rows]

    def create_saved_reply(
        self, reply: NewSavedReply, created_by: int | None, now: datetime
    ) -> SavedReply:
        """``Conflict``, ``InvalidInput`` (the list is full) or ``NotFound`` (the account)."""
        with self._written(reply) as db:
            if one(db.execute("SELECT count(*) FROM saved_replies"))[0] >= MAX_SAVED_REPLIES:
                raise InvalidInput(f"at most {MAX_SAVED_REPLIES} saved replies")
            if created_by is not None and one(db.execute(
                    "SELECT 1 FROM admin_users WHERE id = ?", (created_by,))) is None:
                raise NotFound(f"user {created_by}")
            row = one(db.execute(
                "INSERT INTO saved_replies (title, title_key, body, created_by, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (reply.title, saved_reply_key(reply.title), reply.body, created_by, ts(now),
                 ts(now))))
        return SavedReply.model_validate(dict(row))

    def update_saved_reply(self, reply_id: int, reply: NewSavedReply, now: datetime) -> SavedReply:
        with self._written(reply) as db:
            row = one(db.execute(
                "UPDATE saved_replies SET title = ?, title_key = ?, body = ?, updated_at = ?"
                " WHERE id = ? RETURNING *",
                (reply.title, saved_reply_key(reply.title), reply.body, ts(now), reply_id)))
        if row is None:
            raise NotFound(f"saved reply {reply_id} not found")
        return SavedReply.model_validate(dict(row))

    def delete_saved_reply(self, reply_id: int) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM saved_replies WHERE id = ?", (reply_id,)).rowcount == 0:
                raise NotFound(f"saved reply {reply_id} not found")

    @contextmanager
    def _written(self, reply: NewSavedReply) -> Iterator[sqlite3.Connection]:
        """A transaction in which a title another reply has is a ``Conflict``."""
        try:
            with self._tx() as db:
                yield db
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):  # the models keep the CHECKs: a bug if one fails
                raise
            raise Conflict(f"a saved reply is titled {reply.title!r}") from exc
