"""Conversation tags in the Supabase store (mixed into ``SupabaseStore``): one SQL function
call a request (migration 20261205090000_conversation_tags.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.errors import InvalidInput
from services.models import Conversation, TagCount
from services.store.base import check_rename, check_tag
from services.store.supabase_pipeline import _ts


class SupabaseTags:
    """The tag part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def add_tag(self, conversation_id: int, tag: str, now: datetime
                ) -> tuple[Conversation, bool]:
        return self._change("add_tag", conversation_id, tag, now)

    def remove_tag(self, conversation_id: int, tag: str, now: datetime
                   ) -> tuple[Conversation, bool]:
        return self._change("remove_tag", conversation_id, tag, now)

    def _change(self, function: str, conversation_id: int, tag: str, now: datetime
                ) -> tuple[Conversation, bool]:
        data = self._rpc(function, {"p_conversation_id": conversation_id,
                                    "p_tag": check_tag(tag), "p_now": _ts(now)})
        return Conversation.model_validate(data["conversation"]), bool(data["changed"])

    def rename_tag(self, old: str, new: str, now: datetime) -> list[Conversation]:
        check_rename(old, new)
        rows = self._rpc("rename_tag", {"p_from": old, "p_to": new, "p_now": _ts(now)})
        return [Conversation.model_validate(r) for r in rows]

    def delete_tag(self, tag: str, now: datetime) -> list[Conversation]:
        rows = self._rpc("delete_tag", {"p_tag": check_tag(tag), "p_now": _ts(now)})
        return [Conversation.model_validate(r) for r in rows]

    def list_tags(self, limit: int) -> list[TagCount]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        return [TagCount.model_validate(r) for r in self._rpc("list_tags", {"p_limit": limit})]
