"""Files agents attach to replies, in the SQLite store (mixed into ``SqliteStore``): the
bytes in the ``files`` table, beside the conversation they belong to (deleted with it)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from typing import Callable, ContextManager

from services.errors import NotFound
from services.models import (
    InboundFile,
    InboundMessage,
    NewFile,
    StoredFile,
    TrackResult,
    canonical_file_id,
)
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
                f"INSERT INTO files ({_DESCRIBED}, data) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",  # a redelivery; any other failure is one
                (canonical_file_id(file.id), result.conversation.id, file.name,
                 file.content_type, len(file.data), ts(now), file.data))
        return result

    def get_file(self, file_id: str, data: bool = True) -> StoredFile:
        file_id = canonical_file_id(file_id)
        columns = f"{_DESCRIBED}, data" if data else _DESCRIBED
        rows = self._read(f"SELECT {columns} FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise NotFound(f"file {file_id} not found")
        return StoredFile.model_validate(dict(rows[0]))
