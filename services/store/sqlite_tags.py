"""Conversation tags in the SQLite store (mixed into ``SqliteStore``).

A conversation's tags are kept twice, written in one ``BEGIN IMMEDIATE`` transaction:
``conversations.tags`` (a sorted JSON array: what the conversation shows) and
``conversation_tags`` (one row per tag: the tag filter and the count of tags in use).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Callable, ContextManager

from services.errors import Conflict, InvalidInput, NotFound
from services.models import MAX_TAGS, Conversation, TagCount
from services.store.base import check_rename, check_tag
from services.store.sqlite_db import conversation_from, one, ts


class SqliteTags:
    """The tag part of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def add_tag(self, conversation_id: int, tag: str, now: datetime
                ) -> tuple[Conversation, bool]:
        check_tag(tag)
        with self._tx() as db:
            row = _conversation(db, conversation_id)
            tags = json.loads(row["tags"])
            if tag in tags:
                return conversation_from(row), False
            if len(tags) >= MAX_TAGS:
                raise Conflict(f"a conversation has at most {MAX_TAGS} tags")
            db.execute("INSERT INTO conversation_tags (tag, conversation_id) VALUES (?, ?)",
                       (tag, conversation_id))
            return _set_tags(db, conversation_id, sorted([*tags, tag]), now), True

    def remove_tag(self, conversation_id: int, tag: str, now: datetime
                   ) -> tuple[Conversation, bool]:
        check_tag(tag)
        with self._tx() as db:
            row = _conversation(db, conversation_id)
            tags = json.loads(row["tags"])
            if tag not in tags:
                return conversation_from(row), False
            db.execute("DELETE FROM conversation_tags WHERE tag = ? AND conversation_id = ?",
                       (tag, conversation_id))
            return _set_tags(db, conversation_id, [t for t in tags if t != tag], now), True

    def rename_tag(self, old: str, new: str, now: datetime) -> list[Conversation]:
        check_rename(old, new)
        with self._tx() as db:
            rows = db.execute("SELECT c.id, c.tags FROM conversation_tags AS t JOIN"
                              " conversations AS c ON c.id = t.conversation_id"
                              " WHERE t.tag = ? ORDER BY c.id", (old,)).fetchall()
            changed = [_set_tags(db, row["id"], sorted({new if t == old else t
                                                         for t in json.loads(row["tags"])}),
                                 now) for row in rows]
            db.execute("INSERT OR IGNORE INTO conversation_tags (tag, conversation_id)"
                       " SELECT ?, conversation_id FROM conversation_tags WHERE tag = ?",
                       (new, old))
            db.execute("DELETE FROM conversation_tags WHERE tag = ?", (old,))
        return changed

    def delete_tag(self, tag: str, now: datetime) -> list[Conversation]:
        check_tag(tag)
        with self._tx() as db:
            rows = db.execute("DELETE FROM conversation_tags WHERE tag = ?"
                              " RETURNING conversation_id", (tag,)).fetchall()
            return [_set_tags(db, cid, [t for t in json.loads(_conversation(db, cid)["tags"])
                                        if t != tag], now)
                    for cid in sorted(r[0] for r in rows)]

    def list_tags(self, limit: int) -> list[TagCount]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        rows = self._read(
            "SELECT t.tag AS tag, count(*) AS conversations,"
            " sum(c.status <> 'closed') AS open"
            " FROM conversation_tags AS t JOIN conversations AS c ON c.id = t.conversation_id"
            " GROUP BY t.tag ORDER BY conversations DESC, t.tag LIMIT ?", (limit,))
        return [TagCount.model_validate(dict(r)) for r in rows]


def _conversation(db: sqlite3.Connection, conversation_id: int) -> sqlite3.Row:
    row = one(db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)))
    if row is None:
        raise NotFound(f"conversation {conversation_id}")
    return row


def _set_tags(db: sqlite3.Connection, conversation_id: int, tags: list[str],
              now: datetime) -> Conversation:
    return conversation_from(one(db.execute(
        "UPDATE conversations SET tags = ?, updated_at = ? WHERE id = ? RETURNING *",
        (json.dumps(tags, ensure_ascii=False), ts(now), conversation_id))))
