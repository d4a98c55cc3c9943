"""Handling, activity and team stats, receipts, jobs and sweeps of the Supabase store (mixed
into ``SupabaseStore``).

Each method is one HTTP request: a SQL function from ``supabase/migrations`` (the pipeline,
followups, activity and team stats migrations) through ``.rpc()``, or one plain table
read or update where a single statement does. Lists come back as one JSON array (PostgREST
would cap a row set at db-max-rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from services.errors import InvalidInput, NotFound
from services.models import (
    AccountStats,
    Activity,
    Conversation,
    DeliveryStatus,
    HandledBy,
    InboundMessage,
    Job,
    JobKind,
    Message,
    NewActivity,
    OutboundMessage,
    preview,
    utc,
)
from services.store.base import check_activity_write, check_many, check_period


def _ts(value: datetime) -> str:
    return utc(value).isoformat(timespec="microseconds")


def _payload(message: InboundMessage | OutboundMessage) -> dict[str, Any]:
    """A message as the tracking SQL functions take it: its JSON, plus the inbox preview."""
    payload = message.model_dump(mode="json")
    payload["preview"] = preview(message.content, message.attachments)
    return payload


def _conversations(rows: list[dict[str, Any]]) -> list[Conversation]:
    return [Conversation.model_validate(r) for r in rows]


class SupabasePipeline:
    """The newer half of ``ConversationStore``; needs ``_rpc``, ``_rows`` and ``_update``."""

    _rpc: Callable[[str, dict[str, Any]], Any]
    _rows: Callable[..., list[dict[str, Any]]]
    _update: Callable[[str, int, dict[str, Any]], list[dict[str, Any]]]
    _call: Callable[[Callable[[], Any]], Any]
    _db: Any  # the client's PostgREST query builder

    # -- handling, assignment, profile -------------------------------------------------------
    def set_handling(
        self, conversation_id: int, handled_by: HandledBy, assigned_to: int | None, now: datetime
    ) -> tuple[Conversation, bool]:
        """Hand to a human or back to the bot; also whether ``handled_by`` changed."""
        data = self._rpc("set_handling", {"p_conversation_id": conversation_id,
                                          "p_handled_by": handled_by,
                                          "p_assigned_to": assigned_to, "p_now": _ts(now)})
        return Conversation.model_validate(data["conversation"]), bool(data["changed"])

    def assign(self, conversation_id: int, user_id: int | None, now: datetime) -> Conversation:
        """Assign to an admin user, or unassign with None; ``NotFound`` for either id."""
        return Conversation.model_validate(self._rpc("assign_conversation", {
            "p_conversation_id": conversation_id, "p_user_id": user_id, "p_now": _ts(now)}))

    # -- activity trail ------------------------------------------------------------------------
    def add_activity(self, lines: Sequence[NewActivity], now: datetime) -> list[Activity]:
        """Store lines of activity trails: one insert of them all (one statement, so an
        unknown conversation or account stores none and is ``NotFound``)."""
        check_activity_write(lines)
        if not lines:
            return []
        rows = [{"conversation_id": line.conversation_id, "kind": line.kind,
                 "actor_id": line.actor_id, "actor": line.actor, "detail": line.detail,
                 "created_at": _ts(now)} for line in lines]
        stored = self._call(lambda: self._db.table("activity").insert(rows).execute())
        # PostgREST returns a bulk insert's rows in the order given; sorted by id to be sure.
        return sorted((Activity.model_validate(r) for r in stored), key=lambda a: a.id)

    def list_activity(
        self, conversation_id: int, limit: int, before: int | None = None
    ) -> list[Activity]:
        """A conversation's newest ``limit`` lines (before the line id ``before``), id order:
        one select on the (conversation_id, id) index."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")

        def request():
            query = self._db.table("activity").select("*").eq("conversation_id", conversation_id)
            if before is not None:
                query = query.lt("id", before)
            return query.order("id", desc=True).limit(limit).execute()

        return [Activity.model_validate(r) for r in reversed(self._call(request))]

    def get_activity(self, line_id: int) -> Activity | None:
        rows = self._call(lambda: self._db.table("activity").select("*").eq("id", line_id)
                          .execute())
        return Activity.model_validate(rows[0]) if rows else None

    def rewrite_note(self, note_id: int, detail: dict[str, Any]) -> Activity:
        return Activity.model_validate(
            self._rpc("rewrite_note", {"p_note_id": note_id, "p_detail": detail}))

    def list_activity_in(
        self, conversation_ids: Sequence[int], start: datetime, end: datetime, limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Activity]:
        """Lines of ``conversation_ids`` created in [start, end), (conversation id, id)
        order, at most ``limit``, after ``after``: one call of ``list_activity_in``."""
        check_many(conversation_ids, limit)
        if not conversation_ids:
            return []
        rows = self._rpc("list_activity_in", {
            "p_conversation_ids": list(conversation_ids), "p_from": _ts(start),
            "p_to": _ts(end), "p_limit": limit,
            "p_after_conversation": after[0] if after else None,
            "p_after_id": after[1] if after else None})
        return [Activity.model_validate(r) for r in rows]

    def team_stats(self, start: datetime, end: datetime) -> list[AccountStats]:
        """What each account did in [start, end) (see base.py): one call of
        ``team_stats``."""
        start, end = check_period(start, end)
        rows = self._rpc("team_stats", {"p_from": _ts(start), "p_to": _ts(end)})
        return [AccountStats.model_validate(r) for r in rows]

    def set_profile(
        self, conversation_id: int, display_name: str | None, profile: dict, now: datetime
    ) -> Conversation:
        """Replace the profile; a None ``display_name`` keeps the current one. ``NotFound``."""
        return Conversation.model_validate(self._rpc("set_profile", {
            "p_conversation_id": conversation_id, "p_display_name": display_name,
            "p_profile": profile, "p_now": _ts(now)}))

    def move_person(
        self, platform: str, from_user_id: str, to_user_id: str, display_name: str | None,
        profile: dict, now: datetime,
    ) -> list[Conversation]:
        """See base.py: one call of ``move_person``."""
        if from_user_id == to_user_id:
            raise InvalidInput("a person is moved to another person")
        rows = self._rpc("move_person", {
            "p_platform": platform, "p_from": from_user_id, "p_to": to_user_id,
            "p_display_name": display_name, "p_profile": profile, "p_now": _ts(now)})
        return sorted((Conversation.model_validate(r) for r in rows), key=lambda c: -c.id)

    # -- receipts and metadata -----------------------------------------------------------------
    def mark_delivered_until(
        self,
        platform: str,
        external_user_id: str,
        until: datetime,
        status: DeliveryStatus,
        now: datetime,
    ) -> list[Message]:
        """Move that person's outbound messages up to ``until`` forward to ``status``."""
        rows = self._rpc("mark_delivered_until", {
            "p_platform": platform, "p_external_user_id": external_user_id,
            "p_until": _ts(until), "p_status": status, "p_now": _ts(now)})
        return [Message.model_validate(r) for r in rows]

    def find_message_by_external_id(self, platform: str, external_id: str) -> Message | None:
        """The message with that platform id (one table read)."""
        rows = self._rows("messages", platform=platform, external_id=external_id)
        return Message.model_validate(rows[0]) if rows else None

    def update_message_metadata(
        self, message_id: int, patch: dict, now: datetime, expect: dict | None = None
    ) -> Message:
        """Merge top-level keys into the metadata (None deletes a key); ``NotFound``; with
        ``expect``, ``Conflict`` unless each of its keys holds that value (None: absent)."""
        args = {"p_message_id": message_id, "p_patch": patch, "p_now": _ts(now)}
        if expect:
            args["p_expect"] = expect
        return Message.model_validate(self._rpc("update_message_metadata", args))

    # -- jobs -----------------------------------------------------------------------------------
    def enqueue_job(
        self, kind: JobKind, message_id: int, now: datetime, run_after: datetime | None = None
    ) -> Job:
        """Queue a job for a message unless one of that kind exists (then return it).
        ``NotFound`` for an unknown message."""
        return Job.model_validate(self._rpc("enqueue_job", {
            "p_kind": kind, "p_message_id": message_id, "p_now": _ts(now),
            "p_run_after": None if run_after is None else _ts(run_after)}))

    def claim_jobs(
        self, now: datetime, limit: int, lease_seconds: float, kinds: list[JobKind] | None = None
    ) -> list[Job]:
        """Take up to ``limit`` due jobs (``FOR UPDATE SKIP LOCKED`` in ``claim_jobs``)."""
        if lease_seconds <= 0:
            raise InvalidInput("lease_seconds must be positive")
        # The lease's end is computed here, as the SQLite store does, so both agree to the
        # microsecond.
        rows = self._rpc("claim_jobs", {
            "p_now": _ts(now), "p_limit": limit,
            "p_locked_until": _ts(now + timedelta(seconds=lease_seconds)),
            "p_kinds": None if kinds is None else list(kinds)})
        return [Job.model_validate(r) for r in rows]

    def requeue_send(self, message_id: int, now: datetime) -> Message:
        """A failed outbound message back to pending, and its send job (made if missing)
        back to queued from scratch (``requeue_send``, one request); ``Conflict`` unless
        it failed, ``NotFound`` for an unknown id."""
        return Message.model_validate(self._rpc("requeue_send", {
            "p_message_id": message_id, "p_now": _ts(now)}))

    def _set_job(self, job_id: int, values: dict[str, Any]) -> None:
        if not self._update("jobs", job_id, values):
            raise NotFound(f"job {job_id}")

    def finish_job(self, job_id: int, now: datetime) -> None:
        """Mark done; ``NotFound`` for an unknown id."""
        self._set_job(job_id, {"status": "done", "locked_until": None, "updated_at": _ts(now)})

    def retry_job(self, job_id: int, run_after: datetime, error: str, now: datetime) -> None:
        """Back to queued for a later attempt, recording the error; ``NotFound``."""
        self._set_job(job_id, {"status": "queued", "run_after": _ts(run_after),
                               "last_error": error, "locked_until": None,
                               "updated_at": _ts(now)})

    def fail_job(self, job_id: int, error: str, now: datetime) -> None:
        """Give up for good, recording the error; ``NotFound``."""
        self._set_job(job_id, {"status": "failed", "last_error": error, "locked_until": None,
                               "updated_at": _ts(now)})

    def count_jobs(self, status: str | None = None) -> int:
        """How many jobs (of that status); ``InvalidInput`` for an unknown status."""
        return int(self._rpc("count_jobs", {"p_status": status}))

    # -- lifecycle sweeps -----------------------------------------------------------------------
    def sweep_idle(self, idle_before: datetime, now: datetime) -> list[Conversation]:
        """Active conversations quiet since before ``idle_before`` become idle (id order)."""
        return _conversations(self._rpc("sweep_idle", {"p_idle_before": _ts(idle_before),
                                                       "p_now": _ts(now)}))

    def sweep_closed(self, close_before: datetime, now: datetime) -> list[Conversation]:
        """Open conversations quiet since before ``close_before`` are closed (id order)."""
        return _conversations(self._rpc("sweep_closed", {"p_close_before": _ts(close_before),
                                                         "p_now": _ts(now)}))

    def claim_handoff_timeouts(self, waiting_before: datetime, now: datetime) -> list[Conversation]:
        """Conversations waiting for a human since before ``waiting_before`` and not yet
        notified: mark them notified now and return them (id order), each once."""
        return _conversations(self._rpc("claim_handoff_timeouts", {
            "p_waiting_before": _ts(waiting_before), "p_now": _ts(now)}))

    def raise_waiting_priority(
        self, waiting_before: datetime, now: datetime
    ) -> list[Conversation]:
        """Conversations waiting for a human since before ``waiting_before`` and not yet
        raised during this wait go up one priority level (id order), each once per wait."""
        return _conversations(self._rpc("raise_waiting_priority", {
            "p_waiting_before": _ts(waiting_before), "p_now": _ts(now)}))
