"""What each account has read, in the Supabase store (mixed into ``SupabaseStore``): one SQL
function call a request (migrations 20261205040000_conversation_reads.sql,
20261206070000_seen_message.sql and 20261206090000_unanswered_questions.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence

from services.models import ReadMark, UnansweredPage, UnansweredQuestion
from services.store.base import check_many, unanswered_next
from services.store.supabase_pipeline import _ts


class SupabaseReads:
    """The read-mark part of ``ConversationStore``; needs ``_rpc``."""

    _rpc: Callable[[str, dict[str, Any]], Any]

    def mark_read(
        self, user_id: int, conversation_id: int, message_count: int, now: datetime
    ) -> ReadMark:
        return ReadMark.model_validate(self._rpc("mark_read", {
            "p_user_id": user_id, "p_conversation_id": conversation_id,
            "p_message_count": message_count, "p_now": _ts(now)}))

    def mark_unread(self, user_id: int, conversation_id: int, now: datetime) -> ReadMark:
        return ReadMark.model_validate(self._rpc("mark_unread", {
            "p_user_id": user_id, "p_conversation_id": conversation_id, "p_now": _ts(now)}))

    def mark_all_read(self, user_id: int, now: datetime) -> int:
        return int(self._rpc("mark_all_read", {"p_user_id": user_id, "p_now": _ts(now)}))

    def read_marks(self, user_id: int, conversation_ids: Sequence[int]) -> list[ReadMark]:
        check_many(conversation_ids, 1)
        if not conversation_ids:
            return []
        rows = self._rpc("read_marks", {"p_user_id": user_id,
                                        "p_conversation_ids": list(conversation_ids)})
        return [ReadMark.model_validate(r) for r in rows]

    def seen_message_id(self, conversation_id: int) -> int | None:
        found = self._rpc("seen_message_id", {"p_conversation_id": conversation_id})
        return None if found is None else int(found)

    def unanswered_questions(self, threshold: float, before: int | None, limit: int,
                             walk: int) -> UnansweredPage:
        if before is None:
            before = int(self._rpc("messages_end", {}))
        floor = max(1, before - walk)
        rows = self._rpc("unanswered_questions", {
            "p_threshold": threshold, "p_before": before, "p_floor": floor, "p_limit": limit})
        questions = [UnansweredQuestion.model_validate(r) for r in rows]
        return UnansweredPage(questions=questions, next_before=unanswered_next(
            questions, limit, floor))
