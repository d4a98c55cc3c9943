"""Ratings of closed conversations, and the satisfaction stats, in the Supabase store
(mixed into ``SupabaseStore``): one SQL function call each (migration
20261205130000_ratings.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.models import RECENT_RATING_COMMENTS, Conversation, Satisfaction
from services.store.base import check_rating
from services.store.supabase_pipeline import _ts


class SupabaseRatings:
    """The rating part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def rate_conversation(self, conversation_id: int, score: int, comment: str | None,
                          now: datetime) -> Conversation:
        score, comment = check_rating(score, comment)
        return Conversation.model_validate(self._rpc("rate_conversation", {
            "p_conversation_id": conversation_id, "p_score": score, "p_comment": comment,
            "p_now": _ts(now)}))

    def satisfaction(self, since: datetime | None, until: datetime) -> Satisfaction:
        return Satisfaction.model_validate(self._rpc("satisfaction", {
            "p_since": _ts(since) if since else None, "p_until": _ts(until),
            "p_comments": RECENT_RATING_COMMENTS}))
