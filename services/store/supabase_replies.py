"""The team's saved replies in the Supabase store (mixed into ``SupabaseStore``): a table
read and written with one PostgREST request a call, a create through the SQL function that
keeps the list to ``MAX_SAVED_REPLIES`` (migration 20261205030000_saved_replies.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.errors import Conflict, NotFound
from services.models import MAX_SAVED_REPLIES, NewSavedReply, SavedReply, saved_reply_key
from services.store.supabase_pipeline import _ts


class SupabaseSavedReplies:
    """The saved-reply part of ``ConversationStore``; needs ``_call``, ``_rpc``, ``_update``
    and ``_db``."""

    _call: Callable[[Callable[[], Any]], Any]
    _rpc: Callable[[str, dict[str, Any]], Any]
    _update: Callable[[str, int, dict[str, Any]], list[dict[str, Any]]]
    _db: Any

    def list_saved_replies(self) -> list[SavedReply]:
        rows = self._call(lambda: self._db.table("saved_replies").select("*")
                          .order("title_key").order("id").limit(MAX_SAVED_REPLIES).execute())
        return [SavedReply.model_validate(r) for r in rows]

    def create_saved_reply(
        self, reply: NewSavedReply, created_by: int | None, now: datetime
    ) -> SavedReply:
        """``Conflict``, ``InvalidInput`` (the list is full) or ``NotFound`` (the account)."""
        args = {"p_title": reply.title, "p_title_key": saved_reply_key(reply.title),
                "p_body": reply.body, "p_created_by": created_by, "p_max": MAX_SAVED_REPLIES,
                "p_now": _ts(now)}
        return SavedReply.model_validate(
            self._titled(reply, lambda: self._rpc("create_saved_reply", args)))

    def update_saved_reply(self, reply_id: int, reply: NewSavedReply, now: datetime) -> SavedReply:
        values = {"title": reply.title, "title_key": saved_reply_key(reply.title),
                  "body": reply.body, "updated_at": _ts(now)}
        rows = self._titled(reply, lambda: self._update("saved_replies", reply_id, values))
        if not rows:
            raise NotFound(f"saved reply {reply_id} not found")
        return SavedReply.model_validate(rows[0])

    def delete_saved_reply(self, reply_id: int) -> None:
        rows = self._call(
            lambda: self._db.table("saved_replies").delete().eq("id", reply_id).execute())
        if not rows:
            raise NotFound(f"saved reply {reply_id} not found")

    @staticmethod
    def _titled(reply: NewSavedReply, write: Callable[[], Any]) -> Any:
        """Run the write; a title another reply has is the same ``Conflict`` as on SQLite."""
        try:
            return write()
        except Conflict as exc:
            raise Conflict(f"a saved reply is titled {reply.title!r}") from exc
