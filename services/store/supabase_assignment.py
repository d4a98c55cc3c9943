"""Auto-assignment in the Supabase store (mixed into ``SupabaseStore``): one SQL function
call each (migrations 20261206000000_auto_assign.sql, 20261206030000_last_seen.sql,
20261206040000_offline_announced.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence

from services.models import AdminUser, Conversation
from services.store.base import check_auto_assign, check_touch_users
from services.store.supabase_pipeline import _ts


class SupabaseAssignment:
    """The auto-assignment part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def set_user_available(self, user_id: int, available: bool) -> AdminUser:
        return AdminUser.model_validate(self._rpc("set_user_available", {
            "p_user_id": user_id, "p_available": bool(available)}))

    def touch_users(self, user_ids: Sequence[int], now: datetime) -> None:
        ids = check_touch_users(user_ids)
        if ids:
            self._rpc("touch_users", {"p_ids": ids, "p_now": _ts(now)})

    def claim_offline(self, seen_before: datetime, now: datetime) -> list[AdminUser]:
        rows = self._rpc("claim_offline", {"p_seen_before": _ts(seen_before),
                                           "p_now": _ts(now)})
        return [AdminUser.model_validate(r) for r in rows or []]

    def auto_assign(self, conversation_ids: Sequence[int] | None, limit: int, max_open: int,
                    now: datetime, online_since: datetime | None = None
                    ) -> list[tuple[Conversation, AdminUser]]:
        check_auto_assign(limit, max_open)
        ids = None if conversation_ids is None else sorted(set(conversation_ids))
        if ids == []:
            return []
        given = self._rpc("auto_assign", {"p_ids": ids, "p_limit": limit,
                                          "p_max_open": max_open, "p_now": _ts(now),
                                          "p_online_since": None if online_since is None
                                          else _ts(online_since)})
        return [(Conversation.model_validate(g["conversation"]),
                 AdminUser.model_validate(g["user"])) for g in given or []]
