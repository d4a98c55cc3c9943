"""Files agents attach to replies, in the SQLite store (mixed into ``SqliteStore``): the
bytes in the ``files`` table, beside the conversation they belong to (deleted with it)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from typing import Callable, ContextManager, Sequence

from services.errors import NotFound
from services.models import (
    InboundFile,
    InboundMessage,
    NewFile,
    StoredFile,
    TrackResult,
    canonical_file_id,
)
from services.store.base import unique_file_ids
from services.store.sqlite_db import one, ts

_DESCRIBED = "id, conversation_id, name, content_type, size, created_by, created_at"


class SqliteFiles:
    """The file part of ``ConversationStore``; needs ``_tx``, ``_read`` and
    ``_track_inbound``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]
    _track_inbound: Callable[[sqlite3.Connection, InboundMessage, datetime], TrackResult]

    def add_file(self, file: NewFile, now: datetime) -> StoredFile:
        file_id = str(uuid.uuid4())
        try:
            with self._tx() as db:
                row = one(db.execute(
                    f"INSERT INTO files ({_DESCRIBED}, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_DESCRIBED}",
                    (file_id, file.conversation_id, file.name, file.content_type,
                     len(file.data), file.created_by, ts(now), file.data)))
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" not in str(exc):
                raise
            raise NotFound(f"conversation {file.conversation_id} (or account "
                           f"{file.created_by}) not found") from exc
        return StoredFile.model_validate(dict(row))

    def track_inbound_with_file(self, message: InboundMessage, file: InboundFile,
                                now: datetime) -> TrackResult:
        with self._tx(commit_aside=True) as db:
            result = self._track_inbound(db, message, now)
            db.execute(
                f"INSERT INTO files ({_DESCRIBED}, data, sent_at)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",  # a redelivery; any other failure is one
                (canonical_file_id(file.id), result.conversation.id, file.name,
                 file.content_type, len(file.data), ts(now), file.data, ts(now)))
        return result

    def get_file(self, file_id: str, data: bool = True) -> StoredFile:
        file_id = canonical_file_id(file_id)
        columns = f"{_DESCRIBED}, data" if data else _DESCRIBED
        rows = self._read(f"SELECT {columns} FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise NotFound(f"file {file_id} not found")
        return StoredFile.model_validate(dict(rows[0]))

    def send_files(self, conversation_id: int, file_ids: Sequence[str],
                   now: datetime) -> list[StoredFile]:
        ids = unique_file_ids(file_ids)
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        with self._tx() as db:
            rows = db.execute(
                "UPDATE files SET sent_at = coalesce(sent_at, ?)"
                f" WHERE conversation_id = ? AND id IN ({marks}) RETURNING {_DESCRIBED}",
                (ts(now), conversation_id, *ids)).fetchall()
        return [StoredFile.model_validate(dict(r)) for r in rows]

    def delete_unsent_files(self, uploaded_before: datetime, limit: int) -> int:
        with self._tx() as db:
            return db.execute(
                "DELETE FROM files WHERE id IN (SELECT id FROM files"
                " WHERE sent_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?)",
                (ts(uploaded_before), limit)).rowcount
