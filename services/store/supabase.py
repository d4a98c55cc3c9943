"""The production store: Supabase (PostgREST over HTTP), through its Python client and,
for SQL function calls, urllib3.

Same behaviour as the SQLite store (see ``base.py``). Every method is exactly one HTTP
request: anything needing more than one statement is a SQL function from
``supabase/migrations`` called with ``.rpc()``, and runs in PostgREST's one transaction.
The service-role key is used, so row-level security (on, with no policies) does not apply.

Transport choices, and why:

* One ``httpx.Client`` per store, HTTP/1.1 only: supabase-py's default HTTP/2 connections go
  stale behind proxies and fail with ``RemoteProtocolError``/GOAWAY long after they were
  opened. Idle keep-alive connections are dropped well before common server idle timeouts.
* Under gevent, the pool checks its idle connections with the system's ``poll`` instead of
  gevent's (``supabase_http``): gevent's cost about 1 ms of CPU per request with a pool of
  20 connections.
* postgrest-py's retries are off. They only ever repeat GET/HEAD (never an RPC POST, so they
  could not double-apply a write), but they sleep 1 s, 2 s, 4 s between attempts, far past
  the store's timeout, and turn one call into up to four requests. Failing fast with
  ``StoreUnavailable`` leaves retrying to the caller (tracker, outbox), which knows whether
  the operation is safe to repeat.
* ``apikey`` and ``Authorization: Bearer <key>`` are set by ``supabase.Client`` on the
  PostgREST client, which sends them with every request; the httpx client is handed over
  bare, so nothing depends on its default headers.
* SQL function calls -- every write and most reads, one or more per message -- go straight
  to PostgREST through urllib3's pool (``supabase_rpc``): the same request as
  ``.rpc(...).execute()``, for under half the client's CPU.
* Both honour the environment's proxy (``HTTPS_PROXY``… and ``NO_PROXY``; httpx by its own
  rules, urllib3 by requests') and trust the same certificates (``services/http_pool``):
  ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else
  certifi's bundle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

import httpx
from postgrest.exceptions import APIError
from supabase import Client
from supabase.lib.client_options import SyncClientOptions

from services import http_pool
from services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    SwitchboardError,
)
from services.models import (
    AdminUser,
    ApiToken,
    Conversation,
    ConversationCursor,
    ConversationFilter,
    ConversationPage,
    ConversationStatus,
    DeliveryStatus,
    InboundMessage,
    Job,
    Message,
    OutboundMessage,
    Stats,
    TrackResult,
    UserRole,
    utc,
)
from services.store import supabase_http
from services.store.base import check_account_name, check_messages_in
from services.store.supabase_rpc import RpcClient, TransportError
from services.store.supabase_pipeline import SupabasePipeline, _payload
from services.store.supabase_reads import SupabaseReads
from services.store.supabase_assignment import SupabaseAssignment
from services.store.supabase_deletion import SupabaseDeletion
from services.store.supabase_files import SupabaseFiles
from services.store.supabase_hours import SupabaseHours
from services.store.supabase_ratings import SupabaseRatings
from services.store.supabase_tags import SupabaseTags
from services.store.supabase_replies import SupabaseSavedReplies

# Error codes in PostgREST's JSON body: our functions raise PTnnn (HTTP nnn); the rest are
# PostgreSQL SQLSTATEs or PostgREST's own PGRSTnnn codes.
_NOT_FOUND = {"PT404", "PGRST116", "23503"}  # 23503: a referenced row (user) is missing
_CONFLICT = {"PT409", "23505"}
_INVALID = {"PT400", "23502", "23514"}


def _ts(value: datetime) -> str:
    """A time as PostgREST takes it: ISO-8601, UTC, microseconds."""
    return utc(value).isoformat(timespec="microseconds")


def _translate(exc: APIError) -> SwitchboardError:
    """The domain error for a PostgREST error response."""
    code = str(exc.code or "")
    text = f"supabase: {exc.message or exc}" + (f" ({code})" if code else "")
    if code in _NOT_FOUND:
        return NotFound(text)
    if code in _CONFLICT:
        return Conflict(text)
    # 22xxx: data exceptions (bad value for a type); PGRST1xx: malformed requests.
    if code in _INVALID or code.startswith("22") or code.startswith("PGRST1"):
        return InvalidInput(text)
    # Connection and schema-cache errors (PGRST0xx/2xx), JWT problems (PGRST3xx), gateway
    # errors without a PostgREST body (bare HTTP status), server-side failures (5xx/XX/53/57).
    return StoreUnavailable(text)


# Filters that are one column's value, checked again on the rows list_conversations returns.
_EXACT_FILTERS = ("status", "platform", "external_user_id", "needs_human", "handled_by",
                  "assigned_to")


def _check_filtered(filters: ConversationFilter, conversations: list[Conversation]) -> None:
    """Refuse rows that fail an exact-match filter: a database whose ``list_conversations``
    predates a filter (code deployed before its migration) ignores it, and would otherwise
    hand out everyone's conversations."""
    for conversation in conversations:
        wrong = [name for name in _EXACT_FILTERS if getattr(filters, name) is not None
                 and getattr(conversation, name) != getattr(filters, name)]
        unassigned = conversation.assigned_to is None
        if filters.unassigned is not None and unassigned != filters.unassigned:
            wrong.append("unassigned")
        if filters.tag is not None and filters.tag not in conversation.tags:
            wrong.append("tag")
        if wrong:
            raise StoreUnavailable(
                f"supabase: list_conversations ignored the filter {', '.join(wrong)}"
                " (is the latest migration applied?)")


class SupabaseStore(SupabaseAssignment, SupabaseDeletion, SupabaseFiles, SupabaseHours,
                    SupabasePipeline, SupabaseRatings, SupabaseReads, SupabaseSavedReplies,
                    SupabaseTags):
    """``ConversationStore`` on Supabase; one long-lived client, thread-safe."""

    kind = "supabase"

    def __init__(self, url: str, service_role_key: str, timeout: float = 10.0) -> None:
        # First: it refuses a proxy it cannot use (SOCKS) with a clear error.
        self.rpc_client = RpcClient(url, service_role_key, timeout)
        limits = httpx.Limits(
            max_connections=50, max_keepalive_connections=20, keepalive_expiry=20.0
        )
        tls = http_pool.ssl_context(url)
        self.http = httpx.Client(
            http2=False,
            timeout=httpx.Timeout(timeout),
            limits=limits,
            verify=tls,
            transport=supabase_http.transport(url, limits, tls),  # None: httpx's own
        )
        options = SyncClientOptions(
            httpx_client=self.http,
            postgrest_client_retry=False,
            auto_refresh_token=False,
            persist_session=False,
        )
        # Client() rather than create_client(): the latter may ask the auth API for a session.
        self.client = Client(url, service_role_key, options)
        self._db = self.client.postgrest  # built once, not lazily by concurrent threads
        self._closed = False

    # -- plumbing -----------------------------------------------------------------------
    def _call(self, request: Callable[[], Any]) -> Any:
        """Run one PostgREST request; return its JSON data or raise a domain error."""
        return self._guarded(lambda: request().data)

    def _guarded(self, request: Callable[[], Any]) -> Any:
        if self._closed:
            raise StoreUnavailable("the Supabase store is closed")
        try:
            return request()
        except APIError as exc:
            raise _translate(exc) from exc
        except (httpx.HTTPError, TransportError) as exc:
            raise StoreUnavailable(f"supabase: {type(exc).__name__}: {exc}") from exc

    def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return self._guarded(lambda: self.rpc_client.call(function, params))

    def _rows(self, table: str, **equals: Any) -> list[dict[str, Any]]:
        def request():
            query = self._db.table(table).select("*")
            for column, value in equals.items():
                query = query.eq(column, value)
            return query.execute()

        return self._call(request)

    def _update(self, table: str, row_id: int, values: dict[str, Any]) -> list[dict[str, Any]]:
        return self._call(lambda: self._db.table(table).update(values).eq("id", row_id).execute())

    def _insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        return self._call(lambda: self._db.table(table).insert(values).execute())[0]

    @staticmethod
    def _check_limit(limit: int) -> None:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")

    # -- lifecycle ----------------------------------------------------------------------
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless PostgREST and the database answer."""
        self._rpc("noop", {})

    def close(self) -> None:
        """Close the HTTP connections; the store cannot be used afterwards."""
        self._closed = True
        self.http.close()
        self.rpc_client.close()

    # -- tracking -----------------------------------------------------------------------
    def track_inbound(self, message: InboundMessage, now: datetime) -> TrackResult:
        """Store an inbound message (``track_inbound`` SQL function, one request)."""
        data = self._rpc("track_inbound", {"p": _payload(message), "p_now": _ts(now)})
        return TrackResult.model_validate(data)

    def track_inbound_many(
        self, items: Sequence[tuple[InboundMessage, datetime]]
    ) -> list[TrackResult]:
        """``track_inbound`` for each item: the ``track_inbound_many`` SQL function, one
        request and one transaction for all of them (see base.py for the order)."""
        batch = [{"p": _payload(message), "now": _ts(now)} for message, now in items]
        data = self._rpc("track_inbound_many", {"p_items": batch})
        if not isinstance(data, list) or len(data) != len(items):
            raise StoreUnavailable("supabase: track_inbound_many answered the wrong number of"
                                   " results (is the latest migration applied?)")
        return [TrackResult.model_validate(result) for result in data]

    def track_outbound(self, message: OutboundMessage, now: datetime) -> Message:
        """Store a bot, agent or system message; ``NotFound`` for an unknown conversation."""
        return Message.model_validate(
            self._rpc("track_outbound", {"p": _payload(message), "p_now": _ts(now)}))

    def track_outbound_with_conversation(
        self, message: OutboundMessage, now: datetime, finish_job: int | None = None,
        claim_send: float | None = None, attempt_mark: dict | None = None,
    ) -> tuple[Message, Conversation, Job | None]:
        """``track_outbound`` and the conversation it left, ``finish_job`` done, and with
        ``claim_send`` the send job claimed: one request (``track_outbound_with_conversation``
        in SQL)."""
        if claim_send is not None and claim_send <= 0:
            raise InvalidInput("claim_send must be positive")
        args = {"p": _payload(message), "p_now": _ts(now)}
        if finish_job is not None:  # absent, the call also works before its migration
            args["p_finish_job"] = finish_job
        if claim_send is not None:
            args["p_claim_send_until"] = _ts(now + timedelta(seconds=claim_send))
            if attempt_mark:
                args["p_attempt_mark"] = attempt_mark
        data = self._rpc("track_outbound_with_conversation", args)
        job = data.get("job")
        return (Message.model_validate(data["message"]),
                Conversation.model_validate(data["conversation"]),
                Job.model_validate(job) if job else None)

    # -- reads --------------------------------------------------------------------------
    def get_conversation(self, conversation_id: int) -> Conversation | None:
        rows = self._rows("conversations", id=conversation_id)
        return Conversation.model_validate(rows[0]) if rows else None

    def get_message(self, message_id: int) -> Message | None:
        rows = self._rows("messages", id=message_id)
        return Message.model_validate(rows[0]) if rows else None

    def list_conversations(
        self,
        filters: ConversationFilter,
        limit: int,
        cursor: ConversationCursor | None = None,
    ) -> ConversationPage:
        """One page in the filter's sort order; ``next_cursor`` is None on the last page."""
        self._check_limit(limit)
        if cursor is not None and cursor.sort != filters.sort:
            raise InvalidInput("the cursor belongs to another sort order")
        rows = self._rpc("list_conversations", {
            "p_filters": filters.model_dump(mode="json"),
            "p_limit": limit + 1,  # one more than shown: is there a next page?
            "p_cursor": None if cursor is None else cursor.model_dump(mode="json"),
        })
        page = ConversationPage.from_rows(
            [Conversation.model_validate(r) for r in rows], limit, filters.sort
        )
        _check_filtered(filters, page.conversations)
        return page

    def list_messages(
        self, conversation_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Messages in id order: the oldest after ``after``, else the newest (before ``before``)."""
        self._check_limit(limit)
        rows = self._rpc("list_messages", {"p_conversation_id": conversation_id,
                                           "p_limit": limit, "p_before": before,
                                           "p_after": after})
        return [Message.model_validate(r) for r in rows]

    def list_messages_in(
        self, conversation_ids: Sequence[int], start: datetime, end: datetime, limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Message]:
        """Messages of ``conversation_ids`` created in [start, end), conversation by
        conversation in that order, by id within each (see base.py): one request."""
        check_messages_in(conversation_ids, limit, after)
        if not conversation_ids:
            return []
        rows = self._rpc("list_messages_in", {
            "p_conversation_ids": list(conversation_ids), "p_from": _ts(start),
            "p_to": _ts(end), "p_limit": limit,
            "p_after_conversation": after[0] if after else None,
            "p_after_id": after[1] if after else None})
        return [Message.model_validate(r) for r in rows]

    # -- changes ------------------------------------------------------------------------
    def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation:
        """Set ``status`` (closing clears the human flags; reopening may ``Conflict``)."""
        return Conversation.model_validate(self._rpc("set_status", {
            "p_conversation_id": conversation_id, "p_status": status, "p_now": _ts(now)}))

    def mark_needs_human(
        self, message_id: int, reason: str, priority: int, now: datetime
    ) -> tuple[Message, Conversation]:
        """Flag the message and its conversation as needing a human (see base.py)."""
        data = self._rpc("mark_needs_human", {"p_message_id": message_id, "p_reason": reason,
                                              "p_priority": priority, "p_now": _ts(now)})
        return Message.model_validate(data["message"]), Conversation.model_validate(
            data["conversation"])

    def mark_human_replied(
        self, message_id: int, replied_by: str, now: datetime
    ) -> tuple[Message, Conversation]:
        """Mark the message replied; clear the conversation's flags once nothing waits."""
        data = self._rpc("mark_human_replied", {"p_message_id": message_id,
                                                "p_replied_by": replied_by, "p_now": _ts(now)})
        return Message.model_validate(data["message"]), Conversation.model_validate(
            data["conversation"])

    def set_delivery_status(
        self,
        message_id: int,
        status: DeliveryStatus,
        now: datetime,
        error: str | None = None,
        external_id: str | None = None,
        finish_job: int | None = None,
    ) -> Message:
        """Record the delivery state; ``error`` replaces the last one, ``external_id`` is kept
        unless given; ``finish_job`` done in the same transaction."""
        args = {"p_message_id": message_id, "p_status": status, "p_now": _ts(now),
                "p_error": error, "p_external_id": external_id}
        if finish_job is not None:
            args["p_finish_job"] = finish_job
        return Message.model_validate(self._rpc("set_delivery_status", args))

    # -- stats --------------------------------------------------------------------------
    def stats(self, now: datetime) -> Stats:
        """Aggregates computed by the ``stats`` SQL function in one request."""
        return Stats.model_validate(self._rpc("stats", {"p_now": _ts(now)}))

    def stats_from_rows(self, now: datetime) -> Stats:
        """The same aggregates computed by scanning every row (``stats_from_rows`` in SQL):
        the reference the roll-up counters behind ``stats()`` are checked against; slow."""
        return Stats.model_validate(self._rpc("stats_from_rows", {"p_now": _ts(now)}))

    # -- admin users and API tokens -----------------------------------------------------
    def create_user(
        self, email: str, role: UserRole, password_hash: str, now: datetime
    ) -> AdminUser:
        """``Conflict`` if the email exists (compared case-insensitively)."""
        return AdminUser.model_validate(self._insert("admin_users", {
            "email": email, "role": role, "password_hash": password_hash,
            "created_at": _ts(now)}))

    def get_user(self, user_id: int) -> AdminUser | None:
        rows = self._rows("admin_users", id=user_id)
        return AdminUser.model_validate(rows[0]) if rows else None

    def get_user_by_email(self, email: str) -> AdminUser | None:
        rows = self._rpc("get_user_by_email", {"p_email": email})
        return AdminUser.model_validate(rows[0]) if rows else None

    def list_users(self) -> list[AdminUser]:
        return [AdminUser.model_validate(r) for r in self._rpc("list_users", {})]

    def set_user_password(self, user_id: int, password_hash: str) -> None:
        """Replace the password hash; ``NotFound`` for an unknown id."""
        if not self._update("admin_users", user_id, {"password_hash": password_hash}):
            raise NotFound(f"user {user_id}")

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable or re-enable a user; ``NotFound`` for an unknown id."""
        if not self._update("admin_users", user_id, {"disabled": disabled}):
            raise NotFound(f"user {user_id}")

    def set_user_name(self, user_id: int, display_name: str | None) -> AdminUser:
        """See base.py: one update of the account's row."""
        check_account_name(display_name)
        rows = self._update("admin_users", user_id, {"display_name": display_name})
        if not rows:
            raise NotFound(f"user {user_id}")
        return AdminUser.model_validate(rows[0])

    def create_api_token(
        self, user_id: int, name: str, token_hash: str, now: datetime
    ) -> ApiToken:
        """``NotFound`` for an unknown user, ``Conflict`` for a hash already stored."""
        return ApiToken.model_validate(self._insert("api_tokens", {
            "user_id": user_id, "name": name, "token_hash": token_hash,
            "created_at": _ts(now)}))

    def authenticate_token(self, token_hash: str, now: datetime) -> AdminUser | None:
        """The enabled owner of an unrevoked token with that hash, recording its use."""
        rows = self._rpc("authenticate_token", {"p_token_hash": token_hash, "p_now": _ts(now)})
        return AdminUser.model_validate(rows[0]) if rows else None

    def list_api_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        return [ApiToken.model_validate(r)
                for r in self._rpc("list_api_tokens", {"p_user_id": user_id})]

    def revoke_api_token(self, token_id: int, now: datetime) -> None:
        """``NotFound`` for an unknown id; revoking twice keeps the first time."""
        self._rpc("revoke_api_token", {"p_token_id": token_id, "p_now": _ts(now)})
