"""Files agents attach to replies, in the Supabase store (mixed into ``SupabaseStore``):
one SQL function call each (migrations 20261206060000_files.sql and
20261206080000_unsent_files.sql), the bytes carried as base64 text since PostgREST speaks
JSON."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Callable, Sequence

from services.models import (
    InboundFile,
    InboundMessage,
    NewFile,
    StoredFile,
    TrackResult,
    canonical_file_id,
)
from services.store.base import unique_file_ids
from services.store.supabase_pipeline import _payload, _ts


class SupabaseFiles:
    """The file part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def add_file(self, file: NewFile, now: datetime) -> StoredFile:
        row = self._rpc("add_file", {
            "p_id": str(uuid.uuid4()), "p_conversation_id": file.conversation_id,
            "p_name": file.name, "p_content_type": file.content_type,
            "p_data": base64.b64encode(file.data).decode("ascii"),
            "p_created_by": file.created_by, "p_now": _ts(now)})
        return StoredFile.model_validate(row)

    def track_inbound_with_file(self, message: InboundMessage, file: InboundFile,
                                now: datetime) -> TrackResult:
        data = self._rpc("track_inbound_with_file", {
            "p": _payload(message), "p_now": _ts(now),
            "p_file": {"id": canonical_file_id(file.id), "name": file.name,
                       "content_type": file.content_type,
                       "data": base64.b64encode(file.data).decode("ascii")}})
        return TrackResult.model_validate(data)

    def get_file(self, file_id: str, data: bool = True) -> StoredFile:
        row = self._rpc("get_file", {"p_id": canonical_file_id(file_id), "p_data": data})
        if data:
            row["data"] = base64.b64decode(row["data"])
        return StoredFile.model_validate(row)

    def send_files(self, conversation_id: int, file_ids: Sequence[str],
                   now: datetime) -> list[StoredFile]:
        ids = unique_file_ids(file_ids)
        if not ids:
            return []
        rows = self._rpc("send_files", {"p_conversation_id": conversation_id, "p_ids": ids,
                                        "p_now": _ts(now)})
        return [StoredFile.model_validate(r) for r in rows]

    def delete_unsent_files(self, uploaded_before: datetime, limit: int) -> int:
        return int(self._rpc("delete_unsent_files", {"p_uploaded_before": _ts(uploaded_before),
                                                     "p_limit": limit}))
