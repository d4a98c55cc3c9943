"""Deleting conversations in the Supabase store (mixed into ``SupabaseStore``): one SQL
function call each (migration 20261205140000_deletion.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence

from services.models import Conversation
from services.store.base import check_delete, check_delete_limit
from services.store.supabase_pipeline import _ts


class SupabaseDeletion:
    """The deletion part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def delete_conversations(self, conversation_ids: Sequence[int]) -> list[Conversation]:
        ids = check_delete(conversation_ids)
        if not ids:
            return []
        rows = self._rpc("delete_conversations", {"p_ids": ids})
        return [Conversation.model_validate(r) for r in rows or []]

    def delete_closed_before(self, before: datetime, limit: int) -> list[Conversation]:
        check_delete_limit(limit)
        rows = self._rpc("delete_closed_before", {"p_before": _ts(before), "p_limit": limit})
        return [Conversation.model_validate(r) for r in rows or []]
