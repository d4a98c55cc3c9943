"""The storage interface every store implements with identical behaviour.

Rules both implementations follow (the contract tests in ``tests/contract`` check them):

* The store never reads the clock: every time comes in as an argument (``now``), UTC.
* ``track_inbound`` is one round trip / one transaction: find the open (not ``closed``)
  conversation for (platform, external_user_id) or open a new one, insert the message,
  bump ``message_count``, ``last_message_at``, ``last_message_preview``, ``updated_at``
  and, for ``sender_type == "user"``, ``last_user_message_at``; an ``idle`` conversation
  becomes ``active`` again. A message whose (platform, external_id) is already stored is a
  no-op that returns the stored message and its conversation with ``created=False``.
  ``display_name``/``profile`` of the inbound message fill the conversation's when given.
* At most one open conversation per (platform, external_user_id), even under concurrency.
* ``track_outbound`` inserts a bot/agent/system message (same counters, never
  ``last_user_message_at``); an ``agent`` message sets ``first_human_reply_at`` if unset.
  A repeated (platform, external_id) returns the stored message.
* Conversation lists are keyset-paginated: ``last_activity`` orders by
  (last_message_at desc, id desc); ``priority`` by (priority asc, last_message_at desc, id desc);
  ``waiting`` (who needs a human first, longest-waiting first) by (needs_human desc,
  waiting_since asc nulls last, last_message_at desc, id desc). A cursor carries the sort
  keys of the last row (``ConversationCursor.after``) and belongs to one sort order. Paging
  an unchanging set lists every row once; a row whose sort keys change meanwhile may be
  missed, and in ``waiting`` order one whose wait ends (it moves down, to the rows not
  waiting) may be listed again.
  ``search`` matches display_name or any message content, case-insensitively, as a plain
  substring: ``%``, ``_``, ``*``, quotes, commas and parentheses have no special meaning.
  ``external_user_id`` (always with ``platform``) matches exactly: one person's conversations,
  closed ones too, through the (platform, external_user_id) index. A filter a store does not
  implement raises ``InvalidInput``; it is never ignored (that would list everyone's rows).
* Message history is ordered by id ascending. ``before``/``after`` are message ids
  (exclusive); with ``before`` (or neither) the newest ``limit`` messages are returned.
* ``list_messages_in`` reads the messages of many conversations created in [start, end),
  conversation by conversation in the order given and by id within each, at most ``limit``
  per call; ``after`` (conversation id, message id: the last one returned) continues. One
  call per page of conversations, not one per conversation (an export over Supabase).
* Aggregates are computed by the database, never by fetching rows.
* A conversation's activity trail (``add_activity``, ``list_activity``) is a log of who
  answered it, who had it and its state changes: lines are only ever added, in one
  statement per call, and deleted with their conversation. ``actor`` keeps the account's
  e-mail as it was (accounts are disabled, not deleted; were one deleted, its lines would
  stay with ``actor_id`` None).
  ``list_activity`` pages like message history (ids, newest ``limit`` before ``before``,
  in id order).
* ``team_stats`` reads what each account did in a period [start, end) in one query (one
  request): its agent replies (messages of sender_type ``agent`` whose ``sender_id`` is the
  account's e-mail now: a reply is counted by the address it was sent as), the trail lines
  it wrote (``actor_id``) or that assigned it a conversation (``detail.to_id``), and the
  conversations whose first human reply (``first_human_reply_at`` in the period: the
  conversation's first agent message, by id) was its. Accounts that did nothing in the
  period and have no open conversation assigned are left out; disabled ones are not.
* Jobs: ``track_inbound`` enqueues a ``respond`` job for a newly stored ``user`` message
  with ``respond=True``, and ``track_outbound`` one ``send`` job for a newly stored message
  with ``delivery_status == "pending"`` -- in the same transaction, so an acknowledged
  message always has its job. At most one job per (kind, message_id). ``claim_jobs`` is
  atomic across threads and processes (``FOR UPDATE SKIP LOCKED`` / ``BEGIN IMMEDIATE``):
  a job is handed to one claimer until its lease runs out.
* An ``agent`` message stored by ``track_outbound`` (or inbound with sender_type agent)
  also marks every flagged, unreplied message of its conversation replied
  (``replied_by`` = sender_id, ``replied_at`` = now) and clears the conversation's
  needs_human, human_reason, waiting_since and handoff_timeout_notified_at.
* A conversation's ``tags`` are labels the team puts on it, normalised (``normalize_tag``),
  unique and sorted in code-point order. ``add_tag`` / ``remove_tag`` change one tag in one
  transaction (two agents tagging at once both keep theirs); at most ``MAX_TAGS`` a
  conversation. ``list_tags`` counts the tags in use in one query.
* Deleting a conversation (``delete_conversations``, ``delete_closed_before``) deletes,
  in one transaction, everything the store keeps of it: its messages, jobs, trail lines,
  read marks and tags (rating and profile are on its row) and their search-index entries;
  the roll-up counters drop what it contributed, so stats count what is kept. Nothing
  else names it afterwards; a later message from the same person opens a new conversation.
* Auto-assignment (``auto_assign``) hands waiting conversations (``needs_human``, nobody
  assigned, not closed), longest-waiting first, each to the available, enabled account
  with the fewest open (not closed) conversations assigned, below ``max_open`` of them when
  it is above 0, and seen (``touch_users``) since ``online_since`` when that is given;
  among equals the one given a conversation longest ago (never first), then
  the lowest id. One transaction, serialised with any other auto-assignment, so two
  processes never count the same load; a conversation someone took meanwhile is skipped.
* A wait for a human runs from the flag that sets ``waiting_since`` to whatever clears it.
  ``handoff_timeout_notified_at`` and ``priority_raised_at`` belong to the current wait: every
  change that starts a wait (``mark_needs_human`` when not already waiting) or ends one
  (agent message, ``mark_human_replied`` of the last flag, ``set_handling(bot)``, closing)
  clears them with it, so each wait is notified at most once and raised at most once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

from services.errors import InvalidInput, NotFound
from services.models import (
    ACCOUNT_NAME_MAX,
    MAX_AUTO_ASSIGN,
    MAX_TOUCH_USERS,
    MAX_DELETE,
    RATING_COMMENT_MAX_LENGTH,
    AccountStats,
    Activity,
    AdminUser,
    ApiToken,
    Conversation,
    ConversationCursor,
    ConversationFilter,
    ConversationPage,
    ConversationStatus,
    DeliveryStatus,
    InboundFile,
    InboundMessage,
    HandledBy,
    HoursSetting,
    Job,
    JobKind,
    Message,
    NewActivity,
    NewFile,
    NewHoursSetting,
    NewSavedReply,
    OutboundMessage,
    ReadMark,
    SavedReply,
    Satisfaction,
    Stats,
    StoredFile,
    TagCount,
    TrackResult,
    UnansweredPage,
    UserRole,
    canonical_file_id,
    normalize_tag,
    utc,
)


MAX_CONVERSATIONS_PER_READ = 1000  # conversation ids one ``list_messages_in`` call takes
# Lines one ``add_activity`` call takes (6 values each: SQLite allows 32,766 in a statement);
# a sweep that closes more conversations at once writes their lines in several calls.
MAX_ACTIVITY_PER_WRITE = 500


# The longest period ``team_stats`` reads: a year, leap day included (the page offers up to
# 30 days; a year's review is the longest an admin asks for, and one call stays bounded).
MAX_PERIOD_DAYS = 366


def check_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Refuse a period [start, end) that is empty, reversed or longer than
    ``MAX_PERIOD_DAYS`` (``InvalidInput``); return its ends in UTC."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise InvalidInput("start must be before end")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(f"the period is at most {MAX_PERIOD_DAYS} days")
    return start, end


def check_activity_write(lines: Sequence[NewActivity]) -> None:
    """Refuse a batch of trail lines larger than one write takes (``InvalidInput``)."""
    if len(lines) > MAX_ACTIVITY_PER_WRITE:
        raise InvalidInput(f"at most {MAX_ACTIVITY_PER_WRITE} activity lines per write")


def check_tag(tag: str) -> str:
    """Refuse a tag that is not as stored (``normalize_tag``: ``InvalidInput``)."""
    try:
        normal = normalize_tag(tag)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if normal != tag:
        raise InvalidInput(f"tag {tag!r} is not normalised (as {normal!r})")
    return tag


def check_rating(score: object, comment: object) -> tuple[int, str | None]:
    """Refuse a rating a store must not take (``InvalidInput``): the score an integer from
    1 to 5; the comment None, or text without NUL characters, trimmed, not empty, at most
    ``RATING_COMMENT_MAX_LENGTH`` characters."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput("score must be a whole number from 1 to 5")
    if comment is None:
        return score, None
    if not isinstance(comment, str) or "\x00" in comment or comment != comment.strip() \
            or not comment:
        raise InvalidInput("a rating's comment must be trimmed text, or none")
    if len(comment) > RATING_COMMENT_MAX_LENGTH:
        raise InvalidInput(f"a rating's comment is at most {RATING_COMMENT_MAX_LENGTH} "
                           "characters")
    return score, comment


def check_rename(old: str, new: str) -> None:
    """Refuse a rename that is no rename, or of tags not normalised (``InvalidInput``)."""
    check_tag(old)
    check_tag(new)
    if old == new:
        raise InvalidInput(f"the tag is named {new!r} already")


def check_many(conversation_ids: Sequence[int], limit: int) -> None:
    """Refuse a read of many conversations' rows that no store answers (``InvalidInput``)."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    if len(conversation_ids) > MAX_CONVERSATIONS_PER_READ:
        raise InvalidInput(f"at most {MAX_CONVERSATIONS_PER_READ} conversations per read")


def check_account_name(display_name: str | None) -> None:
    """``InvalidInput`` unless the name is None or 1 to ``ACCOUNT_NAME_MAX`` characters."""
    if display_name is not None and not 1 <= len(display_name) <= ACCOUNT_NAME_MAX:
        raise InvalidInput(f"a name has 1 to {ACCOUNT_NAME_MAX} characters")


def unique_file_ids(file_ids: Sequence[str]) -> list[str]:
    """File ids as the stores keep them, each once, in order; text that is no id is left
    out (no file has it). ``InvalidInput`` beyond ``MAX_CONVERSATIONS_PER_READ``."""
    if len(file_ids) > MAX_CONVERSATIONS_PER_READ:
        raise InvalidInput(f"at most {MAX_CONVERSATIONS_PER_READ} files per call")
    ids: dict[str, None] = {}
    for value in file_ids:
        try:
            ids[canonical_file_id(value)] = None
        except NotFound:
            continue
    return list(ids)


def unanswered_next(questions: Sequence[Any], limit: int, floor: int) -> int | None:
    """Where the next walk of ``unanswered_questions`` starts (see there)."""
    if len(questions) >= limit:
        return questions[-1].answer_id
    return floor if floor > 1 else None


def check_delete(conversation_ids: Sequence[int]) -> list[int]:
    """The ids of a deletion, each once (``InvalidInput`` beyond ``MAX_DELETE``)."""
    ids = sorted(set(conversation_ids))
    if len(ids) > MAX_DELETE:
        raise InvalidInput(f"at most {MAX_DELETE} conversations per deletion")
    return ids


def check_auto_assign(limit: int, max_open: int) -> None:
    if not 1 <= limit <= MAX_AUTO_ASSIGN:
        raise InvalidInput(f"limit must be between 1 and {MAX_AUTO_ASSIGN}")
    if max_open < 0:
        raise InvalidInput("max_open must be 0 (no limit) or more")


def check_touch_users(user_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(user_ids))
    if len(ids) > MAX_TOUCH_USERS:
        raise InvalidInput(f"at most {MAX_TOUCH_USERS} accounts at once")
    return ids


def check_delete_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_DELETE:
        raise InvalidInput(f"limit must be between 1 and {MAX_DELETE}")


def check_messages_in(conversation_ids: Sequence[int], limit: int,
                      after: tuple[int, int] | None) -> int:
    """Refuse what ``list_messages_in`` cannot answer (``InvalidInput``); return the place in
    ``conversation_ids`` to start from (that of ``after``'s conversation, else 0)."""
    check_many(conversation_ids, limit)
    if len(set(conversation_ids)) != len(conversation_ids):
        raise InvalidInput("conversation ids must be distinct")
    if after is None:
        return 0
    try:
        return list(conversation_ids).index(after[0])
    except ValueError:
        raise InvalidInput("after names a conversation that is not in the list") from None


class ConversationStore(Protocol):
    """Persistence for conversations, messages, admin users and API tokens."""

    kind: str  # "sqlite" or "supabase"

    # -- lifecycle -----------------------------------------------------------------
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers a trivial query."""

    def close(self) -> None:
        """Release connections."""

    # -- tracking ------------------------------------------------------------------
    def track_inbound(self, message: InboundMessage, now: datetime) -> TrackResult:
        """Store an inbound message in its open conversation (see module rules)."""

    def track_inbound_many(
        self, items: Sequence[tuple[InboundMessage, datetime]]
    ) -> list[TrackResult]:
        """``track_inbound`` for each item, in one transaction and one store call: all are
        stored or none (the error of the first that fails is raised). Results come in the
        items' order. Items are applied in (platform, external_user_id) order, keeping the
        items' order within one person: one person's messages keep their order, and two
        batches lock conversations in the same order, so they never wait on each other in
        a cycle (ids of different people's rows may not follow the items' order)."""

    def track_outbound(self, message: OutboundMessage, now: datetime) -> Message:
        """Store a bot, agent or system message; ``NotFound`` for an unknown conversation."""

    def track_outbound_with_conversation(
        self, message: OutboundMessage, now: datetime, finish_job: int | None = None,
        claim_send: float | None = None, attempt_mark: dict | None = None,
    ) -> tuple[Message, Conversation, Job | None]:
        """``track_outbound``, and the conversation as that write left it, in one call. With
        ``finish_job``, that job is marked done (as ``finish_job``) in the same transaction;
        an unknown job id is ignored.

        With ``claim_send`` (a lease in seconds): when the stored message is ``pending`` and
        its send job is queued and due, that job is claimed in the same transaction, as
        ``claim_jobs`` would (running, attempts + 1, ``locked_until`` = now + lease), and
        returned third, carrying the message and conversation; ``attempt_mark`` is then
        merged into the message's metadata. Otherwise the third item is None (an earlier
        run stored the message and its job is running, waiting or done): the worker's
        claims take it as before. ``InvalidInput`` for a lease that is not positive."""

    # -- reads ---------------------------------------------------------------------
    def get_conversation(self, conversation_id: int) -> Conversation | None: ...

    def get_message(self, message_id: int) -> Message | None: ...

    def list_conversations(
        self,
        filters: ConversationFilter,
        limit: int,
        cursor: ConversationCursor | None = None,
    ) -> ConversationPage:
        """One page in the filter's sort order; ``next_cursor`` is None on the last page."""

    def list_messages(
        self,
        conversation_id: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Message]:
        """Messages in id order (see module rules)."""

    def list_messages_in(
        self,
        conversation_ids: Sequence[int],
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Message]:
        """Messages of ``conversation_ids`` created in [start, end), in the order of
        ``conversation_ids`` and by id within each (see module rules); ``InvalidInput``
        unless ``check_messages_in`` accepts the arguments."""

    # -- changes -------------------------------------------------------------------
    def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation:
        """Set ``status``. ``closed`` also sets ``closed_at`` and clears needs_human,
        human_reason, waiting_since (flags on messages stay as history). Leaving
        ``closed`` clears ``closed_at`` and raises ``Conflict`` if the user already has
        another open conversation on that platform. ``NotFound`` for an unknown id."""

    def mark_needs_human(
        self, message_id: int, reason: str, priority: int, now: datetime
    ) -> tuple[Message, Conversation]:
        """Flag the message (requires_human, human_reason, human_replied=False) and its
        conversation: needs_human, human_reason, waiting_since (kept if already waiting),
        escalated_at (kept if set), priority = min(current, given). ``NotFound``."""

    def mark_human_replied(
        self, message_id: int, replied_by: str, now: datetime
    ) -> tuple[Message, Conversation]:
        """Mark the message replied (human_replied, replied_by, replied_at). When no
        message of the conversation still requires a human without a reply, the
        conversation's needs_human, human_reason and waiting_since are cleared."""

    def set_delivery_status(
        self,
        message_id: int,
        status: DeliveryStatus,
        now: datetime,
        error: str | None = None,
        external_id: str | None = None,
        finish_job: int | None = None,
    ) -> Message:
        """Record an outbound message's delivery state (and its platform id once sent). With
        ``finish_job``, that job is marked done (as ``finish_job``) in the same transaction:
        both happen or, for an unknown message, neither; an unknown job id is ignored.

        Forward only: a message that went out (sent, delivered, read) is never made
        ``pending`` or ``failed``, nor moved back to an earlier one of those three (Facebook's
        echo or receipt may come before the Send API's answer, or before an outbox that gave
        up marks it failed). Such a call changes the message in nothing, still finishes
        ``finish_job``, and returns the message as it is."""

    def requeue_send(self, message_id: int, now: datetime) -> Message:
        """Send a ``failed`` outbound message again (the admin's retry button), in one
        transaction: the message goes back to ``pending`` with ``delivery_error`` cleared,
        and its ``send`` job back to ``queued`` (run_after = now, attempts = 0, last_error and
        locked_until cleared, updated_at = now), the job being created if there is none.
        A conditional update: of two concurrent calls one succeeds, the other gets
        ``Conflict``. ``Conflict`` unless the message is a bot/agent/system message whose
        delivery_status is ``failed``; ``NotFound`` for an unknown id."""

    # -- stats ---------------------------------------------------------------------
    def stats(self, now: datetime) -> Stats:
        """Aggregates in one query (one request, one read snapshot); ``messages_per_hour``
        has 24 hourly buckets, oldest first, the last one being the hour that contains
        ``now``; ``messages_per_day`` has 30 daily buckets (``day`` at 00:00 UTC), oldest
        first, the last one being the UTC day that contains ``now``. A bucket counts the
        messages created in it and, as ``escalations``, those of them flagged for a human."""

    def team_stats(self, start: datetime, end: datetime) -> list[AccountStats]:
        """What each account did in [start, end), and its open conversations assigned now
        (see the module rules), in e-mail order; one query. ``InvalidInput`` unless
        ``check_period`` accepts the period."""

    # -- admin users and API tokens --------------------------------------------------
    def create_user(
        self, email: str, role: UserRole, password_hash: str, now: datetime
    ) -> AdminUser:
        """``Conflict`` if the email (case-insensitive) exists."""

    def get_user(self, user_id: int) -> AdminUser | None: ...

    def get_user_by_email(self, email: str) -> AdminUser | None: ...

    def list_users(self) -> list[AdminUser]: ...

    def set_user_password(self, user_id: int, password_hash: str) -> None: ...

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or re-enable) a user; a disabled user's tokens stop authenticating.
        ``NotFound`` for an unknown id."""

    def set_user_name(self, user_id: int, display_name: str | None) -> AdminUser:
        """The name the account shows the people it answers (None: none), as given (the
        caller cleans it: ``clean_account_name``); the account as it is now. ``NotFound``
        for an unknown id; ``InvalidInput`` for an empty or longer name than
        ``ACCOUNT_NAME_MAX``."""

    def create_api_token(
        self, user_id: int, name: str, token_hash: str, now: datetime
    ) -> ApiToken: ...

    def authenticate_token(self, token_hash: str, now: datetime) -> AdminUser | None:
        """The enabled user owning an unrevoked token with that hash (one round trip),
        recording ``last_used_at``; None otherwise."""

    def list_api_tokens(self, user_id: int | None = None) -> list[ApiToken]: ...

    def revoke_api_token(self, token_id: int, now: datetime) -> None:
        """``NotFound`` for an unknown id; revoking twice is harmless."""

    # -- saved replies ---------------------------------------------------------------------
    def list_saved_replies(self) -> list[SavedReply]:
        """The team's saved replies (at most ``MAX_SAVED_REPLIES``), in title order."""

    def create_saved_reply(
        self, reply: NewSavedReply, created_by: int | None, now: datetime
    ) -> SavedReply:
        """``Conflict`` for a title another reply has (``saved_reply_key``); ``InvalidInput``
        when ``MAX_SAVED_REPLIES`` are stored; ``NotFound`` for an unknown account."""

    def update_saved_reply(self, reply_id: int, reply: NewSavedReply, now: datetime) -> SavedReply:
        """New title and text; ``NotFound``; ``Conflict`` for another reply's title."""

    def delete_saved_reply(self, reply_id: int) -> None:
        """``NotFound`` for an unknown id."""

    # -- files agents attach to replies ----------------------------------------------------
    def add_file(self, file: NewFile, now: datetime) -> StoredFile:
        """Store a file for the conversation under a new random id (``data`` not echoed);
        ``NotFound`` for an unknown conversation. Deleting the conversation deletes it. It
        is not sent yet: ``send_files`` marks it so, and ``delete_unsent_files`` deletes it
        if that never happens."""

    def track_inbound_with_file(self, message: InboundMessage, file: InboundFile,
                                now: datetime) -> TrackResult:
        """``track_inbound`` and the file, stored in its conversation, in one transaction:
        whoever sees the message can fetch the file (sent with it). A redelivery changes
        nothing (the file is not stored twice)."""

    def send_files(self, conversation_id: int, file_ids: Sequence[str],
                   now: datetime) -> list[StoredFile]:
        """The conversation's files among ``file_ids`` (at most ``MAX_CONVERSATIONS_PER_READ``),
        described (no ``data``), marked sent (at ``now``, unless they were already): a
        reply is about to carry them, and ``delete_unsent_files`` leaves them. Another
        conversation's file, an unknown id, or text that is no id is not among them. In no
        particular order."""

    def delete_unsent_files(self, uploaded_before: datetime, limit: int) -> int:
        """Delete at most ``limit`` files uploaded before ``uploaded_before`` and never sent
        (no reply carried them: the agent took them off, or left), oldest first; returns
        how many went."""

    def get_file(self, file_id: str, data: bool = True) -> StoredFile:
        """The file with its bytes (``data=False``: only what describes it); ``NotFound``
        for an unknown id, or one that is not an id at all."""

    # -- the team's business hours ---------------------------------------------------------
    def get_hours_setting(self) -> HoursSetting | None:
        """The business hours set on Settings; None while none are (the environment's hold)."""

    def set_hours_setting(self, setting: NewHoursSetting, updated_by: int | None,
                          now: datetime) -> HoursSetting:
        """Replace the team's business hours (one row); ``NotFound`` for an unknown account."""

    def clear_hours_setting(self) -> bool:
        """Forget them (the environment's hold again); whether there were any."""

    # -- what each account has read -----------------------------------------------------
    def mark_read(
        self, user_id: int, conversation_id: int, message_count: int, now: datetime
    ) -> ReadMark:
        """The account has read the conversation up to ``message_count`` messages (at most
        the conversation's own count). A mark only moves forward: a lower count leaves the
        stored mark, which is returned. ``NotFound`` for an unknown conversation or account."""

    def mark_unread(self, user_id: int, conversation_id: int, now: datetime) -> ReadMark:
        """The account has not read the conversation's newest message: its mark moves back
        to just before it (the one way a mark moves back). ``NotFound`` as ``mark_read``."""

    def mark_all_read(self, user_id: int, now: datetime) -> int:
        """The account has read every conversation up to its count now (marks only move
        forward); returns how many marks moved. ``NotFound`` for an unknown account."""

    def read_marks(self, user_id: int, conversation_ids: Sequence[int]) -> list[ReadMark]:
        """The account's marks on those conversations (none for one it never read), at most
        ``MAX_CONVERSATIONS_PER_READ`` ids, in no particular order."""

    def unanswered_questions(self, threshold: float, before: int | None, limit: int,
                             walk: int) -> UnansweredPage:
        """The bot's answers with a confidence below ``threshold``, newest first, each with
        the person's message it answered (``metadata.in_reply_to``), at most ``limit``,
        among the messages with an id below ``before`` (None: every message) and at least
        ``before - walk``: one bounded walk of the primary key, however rare such answers
        are. ``next_before`` is where the next walk starts: the last answer's id when
        ``limit`` were found, else the walk's lower end; None once it reached the first
        message."""

    def seen_message_id(self, conversation_id: int) -> int | None:
        """The id of the newest message of the conversation that some account has read
        (the furthest of every account's marks), None when no account has read any, or for
        an unknown conversation: the person's "Seen" on the web chat."""

    # -- tags ------------------------------------------------------------------------------
    def add_tag(self, conversation_id: int, tag: str, now: datetime
                ) -> tuple[Conversation, bool]:
        """Put a tag on a conversation (closed ones too); also whether it was new (False:
        it had it, nothing changed). ``InvalidInput`` for a tag not normalised; ``Conflict``
        when the conversation has ``MAX_TAGS`` already; ``NotFound``."""

    def remove_tag(self, conversation_id: int, tag: str, now: datetime
                   ) -> tuple[Conversation, bool]:
        """Take a tag off; also whether it had it. ``InvalidInput``, ``NotFound``."""

    def rename_tag(self, old: str, new: str, now: datetime) -> list[Conversation]:
        """Rename a tag on every conversation that has it (one that has both keeps one), in
        one transaction; returns those conversations, by id (none: no conversation has it).
        ``InvalidInput`` for a tag not normalised."""

    def delete_tag(self, tag: str, now: datetime) -> list[Conversation]:
        """Take a tag off every conversation, in one transaction; returns them, by id."""

    def list_tags(self, limit: int) -> list[TagCount]:
        """The tags in use: on how many conversations, how many of them not closed; most
        used first, then by tag; at most ``limit`` (``InvalidInput`` below 1)."""

    # -- ratings (satisfaction) ------------------------------------------------------------
    def rate_conversation(self, conversation_id: int, score: int, comment: str | None,
                          now: datetime) -> Conversation:
        """The person's rating of a closed conversation (1 to 5, a comment or None, as
        ``check_rating`` takes them): it replaces any earlier one, ``rated_at = updated_at =
        now``. ``Conflict`` when the conversation is not closed (one condition with the
        write, so a conversation reopened meanwhile is not rated); ``NotFound``."""

    def satisfaction(self, since: datetime | None, until: datetime) -> Satisfaction:
        """The ratings given in [since, until) (``since`` None: from the start): the counts
        and average, per score and per assignee (most rated first, then by id, ``None``
        last), and the ``RECENT_RATING_COMMENTS`` newest with a comment."""

    # -- auto-assignment -------------------------------------------------------------------
    def set_user_available(self, user_id: int, available: bool) -> AdminUser:
        """Whether the account takes new conversations (auto-assignment); the account as
        stored. ``NotFound``."""

    def touch_users(self, user_ids: Sequence[int], now: datetime) -> None:
        """Those accounts have a page of the panel open now: their ``last_seen_at``
        becomes ``now`` (never moved back; unknown ids are ignored). ``InvalidInput`` for
        more than ``MAX_TOUCH_USERS``."""

    def claim_offline(self, seen_before: datetime, now: datetime) -> list[AdminUser]:
        """The accounts that went offline: seen (``touch_users``), last before
        ``seen_before``, and not claimed here since; each is claimed (``now``) in the same
        statement, so of several processes sweeping at once one gets it, and it comes
        again only after it has been seen again. Id order."""

    def auto_assign(self, conversation_ids: Sequence[int] | None, limit: int, max_open: int,
                    now: datetime, online_since: datetime | None = None
                    ) -> list[tuple[Conversation, AdminUser]]:
        """Assign up to ``limit`` (1 to ``MAX_AUTO_ASSIGN``) waiting conversations, among
        ``conversation_ids`` (None: any), to accounts seen since ``online_since`` (None:
        seen or not), as the rule above says; each assignee's
        ``last_assigned_at`` and the conversation's ``updated_at`` become ``now``. Returns
        (conversation, assignee) in the order given out; fewer, or none, when no account
        can take more. ``InvalidInput`` for a bad ``limit`` or a negative ``max_open``."""

    # -- deletion (erasure, retention) -------------------------------------------------------
    def delete_conversations(self, conversation_ids: Sequence[int]) -> list[Conversation]:
        """Delete those conversations with everything of theirs, in one transaction: the
        conversations as they were, in id order (an unknown id is skipped: deleting twice
        deletes once). ``InvalidInput`` for more than ``MAX_DELETE`` ids."""

    def delete_closed_before(self, before: datetime, limit: int) -> list[Conversation]:
        """Retention: delete up to ``limit`` (at most ``MAX_DELETE``) closed conversations
        with no message, no change and no trail line (a note) since ``before``
        (``last_message_at``, ``updated_at`` and every line's ``created_at`` earlier),
        oldest last message first, in one transaction; the deleted conversations in id
        order."""

    # -- handling (bot or human), profile --------------------------------------------------
    def set_handling(
        self, conversation_id: int, handled_by: HandledBy, assigned_to: int | None, now: datetime
    ) -> tuple[Conversation, bool]:
        """Set who answers. ``human``: handled_by=human, assigned_to as given (None keeps
        the current assignee). ``bot``: handled_by=bot, assigned_to=None, and needs_human,
        human_reason, waiting_since, handoff_timeout_notified_at cleared (message flags
        stay as history). Returns the conversation and whether ``handled_by`` changed
        (a conditional update: of two concurrent bot->human calls exactly one gets True).
        ``NotFound`` for an unknown id."""

    def assign(self, conversation_id: int, user_id: int | None, now: datetime) -> Conversation:
        """Assign to an admin user (or unassign with None). ``NotFound`` for an unknown
        conversation or user."""

    # -- activity trail --------------------------------------------------------------------
    def add_activity(self, lines: Sequence[NewActivity], now: datetime) -> list[Activity]:
        """Store lines of activity trails (one statement, ``created_at`` = now), returned in
        the order given. ``NotFound`` for an unknown conversation or account (none stored);
        ``InvalidInput`` for more than ``MAX_ACTIVITY_PER_WRITE`` lines."""

    def list_activity(
        self, conversation_id: int, limit: int, before: int | None = None
    ) -> list[Activity]:
        """A conversation's newest ``limit`` lines (before the line id ``before``), id order."""

    def get_activity(self, line_id: int) -> Activity | None: ...

    def rewrite_note(self, note_id: int, detail: dict[str, Any]) -> Activity:
        """Replace a note's ``detail`` (an edit, or the mark of a deletion that drops its
        text); any other line is left as written. ``NotFound`` for an id that is no note;
        ``Conflict`` for a deleted note (``detail.deleted_at``): it stays deleted."""

    def list_activity_in(
        self,
        conversation_ids: Sequence[int],
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Activity]:
        """Lines of ``conversation_ids`` created in [start, end), in (conversation id, id)
        order, at most ``limit``; ``after`` (conversation id, line id: the last one returned)
        continues. One call per page of conversations (an export). ``InvalidInput`` for a
        limit below 1 or more than ``MAX_CONVERSATIONS_PER_READ`` ids."""

    def set_profile(
        self, conversation_id: int, display_name: str | None, profile: dict, now: datetime
    ) -> Conversation:
        """Store the person's name and profile (from the platform). ``NotFound``."""

    def move_person(
        self, platform: str, from_user_id: str, to_user_id: str, display_name: str | None,
        profile: dict, now: datetime,
    ) -> list[Conversation]:
        """A person who turned out to be another (a web chat visitor who signed in on the
        site): the newest ``MAX_DELETE`` conversations of ``from_user_id`` become
        ``to_user_id``'s, with that name (None keeps each one's) and profile, in one
        transaction. An open one moves only when ``to_user_id`` has none open (a person has
        at most one): it then stays ``from_user_id``'s. Returns the conversations moved, as
        they are now, newest first. ``InvalidInput`` when both ids are the same."""

    # -- delivery receipts -------------------------------------------------------------------
    def mark_delivered_until(
        self,
        platform: str,
        external_user_id: str,
        until: datetime,
        status: DeliveryStatus,
        now: datetime,
    ) -> list[Message]:
        """A platform's watermark: every bot/agent/system message of that person's
        conversations created at or before ``until`` moves forward to ``status``
        (``delivered`` or ``read``): sent -> delivered -> read, never backwards, never from
        pending or failed. Returns the messages that changed, in id order."""

    def find_message_by_external_id(self, platform: str, external_id: str) -> Message | None:
        """The message with that platform id (inbound mid, or an outbound one once sent)."""

    def update_message_metadata(
        self, message_id: int, patch: dict, now: datetime, expect: dict | None = None
    ) -> Message:
        """Merge ``patch`` into the message's metadata (top-level keys; None deletes a key).
        ``NotFound``. With ``expect``, only if each of its top-level keys holds that value
        now (None: the key is absent), checked and written in one transaction; otherwise
        ``Conflict`` and nothing changes (a compare and set: read, decide, write if
        nobody wrote meanwhile)."""

    # -- jobs ---------------------------------------------------------------------------------
    def enqueue_job(
        self, kind: JobKind, message_id: int, now: datetime, run_after: datetime | None = None
    ) -> Job:
        """Queue a job for a message unless one of that kind exists (then return it)."""

    def claim_jobs(
        self, now: datetime, limit: int, lease_seconds: float, kinds: list[JobKind] | None = None
    ) -> list[Job]:
        """Atomically take up to ``limit`` jobs that are queued with run_after <= now, or
        running with locked_until < now (a crashed claimer): status running, attempts+1,
        locked_until = now + lease. Oldest run_after first, then id."""

    def finish_job(self, job_id: int, now: datetime) -> None:
        """Mark done."""

    def retry_job(self, job_id: int, run_after: datetime, error: str, now: datetime) -> None:
        """Back to queued for a later attempt, recording the error."""

    def fail_job(self, job_id: int, error: str, now: datetime) -> None:
        """Give up for good, recording the error."""

    def count_jobs(self, status: str | None = None) -> int:
        """How many jobs (of that status); for health pages and tests."""

    # -- lifecycle sweeps (safe with several processes: conditional updates) ---------------
    def sweep_idle(self, idle_before: datetime, now: datetime) -> list[Conversation]:
        """``active`` conversations with last_message_at < idle_before become ``idle``;
        returns those this call changed."""

    def sweep_closed(self, close_before: datetime, now: datetime) -> list[Conversation]:
        """``active``/``idle`` conversations with last_message_at < close_before are closed
        (as ``set_status(closed)``); returns those this call changed."""

    def claim_handoff_timeouts(self, waiting_before: datetime, now: datetime) -> list[Conversation]:
        """Conversations needing a human with waiting_since < waiting_before and no
        ``handoff_timeout_notified_at``: set it to now and return them (each once)."""

    def raise_waiting_priority(
        self, waiting_before: datetime, now: datetime
    ) -> list[Conversation]:
        """Conversations needing a human with waiting_since < waiting_before, priority > 1
        and no ``priority_raised_at`` (not yet raised during this wait): priority - 1,
        priority_raised_at = updated_at = now. One conditional update, so with concurrent
        callers each conversation is raised by exactly one of them; returns those this call
        changed, in id order. A new wait may raise it again (see the module rules)."""
