"""``ConversationTracker``: the one entry point channels and the admin app call."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, Sequence

from services.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreUnavailable
from services.events import Event, EventBus
from services.models import (
    MAX_AUTO_ASSIGN,
    MAX_DELETE,
    MAX_TAGS_LISTED,
    MAX_TOUCH_USERS,
    NOTE_MAX_LENGTH,
    AccountStats,
    Activity,
    ActivityKind,
    AdminUser,
    Conversation,
    ConversationCursor,
    ConversationFilter,
    ConversationPage,
    ConversationStatus,
    DeliveryStatus,
    HandledBy,
    InboundFile,
    InboundMessage,
    Job,
    Message,
    NewActivity,
    OutboundMessage,
    ReadMark,
    Satisfaction,
    SpooledResult,
    Stats,
    TagCount,
    TrackResult,
    normalize_tag,
)
from services.store.base import MAX_ACTIVITY_PER_WRITE, ConversationStore

if TYPE_CHECKING:
    from services.inbound_batch import InboundBatcher
    from services.spool import InboundSpool

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ANNOUNCE_EVERY_SECONDS = 1.0  # store.status while spooling: at most this often per process
# Outbound messages this process saw settled (sent or beyond) that it remembers, newest kept:
# Facebook's echo of each of our sends then costs no store read (see settled_send).
SETTLED_SENDS_KEPT = 4096
SETTLED = frozenset({"sent", "delivered", "read"})
# An agent's message answers what waited for a human in its conversation; the newest this
# many messages before it are read to announce those (see _publish_answered).
ANSWERED_LOOKBACK = 100


class DegradedAnswer(Protocol):
    """Answers a spooled message without the store (``services.bot_turn.DegradedTurn``)."""

    def wants(self, message: InboundMessage) -> bool:
        """Whether a degraded turn should answer this message."""

    def start(self, seq: int, message: InboundMessage) -> None:
        """Answer in the background and record the outcome on the spool entry."""


def utcnow() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


def _dump(model) -> dict:
    return model.model_dump(mode="json")


def _note_text(text: str) -> str:
    """A note's text as stored: trimmed; ``InvalidInput`` when blank or too long."""
    text = text.strip()
    if not text:
        raise InvalidInput("the note is empty")
    if len(text) > NOTE_MAX_LENGTH:
        raise InvalidInput(f"a note is at most {NOTE_MAX_LENGTH} characters")
    return text


# "@bob" or "@bob@example.com" in a note: a teammate told of it (``mentioned``).
_MENTION = re.compile(r"(?<![\w@.])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")


def mentioned(text: str, users: Sequence[AdminUser], author_id: int) -> list[AdminUser]:
    """The accounts a note names: ``@`` and an account's whole e-mail, or the part before
    its ``@`` when no other account shares it (any case; a full stop or comma after it is
    punctuation). Disabled accounts and the author are left out; each once, in order."""
    by_email = {u.email.lower(): u for u in users}
    by_local: dict[str, list[AdminUser]] = {}
    for user in users:
        by_local.setdefault(user.email.lower().split("@", 1)[0], []).append(user)
    found: dict[int, AdminUser] = {}
    for match in _MENTION.finditer(text):
        name = match.group(1).lower().rstrip(".")
        user = by_email.get(name) if "@" in name else None
        if user is None and "@" not in name and len(by_local.get(name, ())) == 1:
            user = by_local[name][0]
        if user is not None and not user.disabled and user.id != author_id:
            found.setdefault(user.id, user)
    return list(found.values())


def activity_line(conversation_id: int, kind: ActivityKind, by: AdminUser | None = None,
                  **detail) -> NewActivity:
    """A line of a conversation's activity trail; ``by`` None: the bot, a rule or a sweep.
    Details that are None are left out."""
    return NewActivity(conversation_id=conversation_id, kind=kind,
                       actor_id=by.id if by else None, actor=by.email if by else None,
                       detail={k: v for k, v in detail.items() if v is not None})


def _typed_tag(typed: str) -> str:
    """A tag as typed, normalised (``InvalidInput`` when it cannot be)."""
    try:
        return normalize_tag(typed)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


class ConversationTracker:
    """Tracks every message and conversation change, and publishes what changed."""

    def __init__(
        self,
        store: ConversationStore,
        events: EventBus,
        clock: Clock = utcnow,
        spool: "InboundSpool | None" = None,
        batcher: "InboundBatcher | None" = None,
    ):
        self.store = store
        self.events = events
        self.clock = clock
        self.spool = spool
        # Group commit for track_inbound under load (services/inbound_batch.py); None: one
        # store call per message.
        self.batcher = batcher
        self.degraded: DegradedAnswer | None = None  # set by build_services
        # AUTO_ASSIGN (set by build_services): the most open conversations an account is
        # given (0: no limit); None: off, the first to reply takes a conversation.
        self.auto_assign_max_open: int | None = None
        # An account with no page of the panel open for this long is offline (set by
        # build_services: OFFLINE_AFTER_SECONDS); with auto_assign_online_only
        # (AUTO_ASSIGN_ONLINE_ONLY) auto-assignment passes it over.
        self.offline_after = timedelta(seconds=90)
        self.auto_assign_online_only = True
        # This process's view of the store: False from a spooled message until replay ends.
        self.store_available = True
        self._announced_at = 0.0
        self._announce_lock = threading.Lock()
        self._settled_sends: OrderedDict[int, None] = OrderedDict()
        self._settled_lock = threading.Lock()

    # -- tracking --------------------------------------------------------------------
    def track_inbound(self, message: InboundMessage) -> TrackResult | SpooledResult:
        """Store a message from a platform (one store call, which messages arriving at the
        same moment may share); a redelivery changes nothing.

        With a spool: while it holds anything, or when the store raises
        ``StoreUnavailable``, the message is journalled there instead (``SpooledResult``)
        and replayed in order later; without one the error propagates.
        """
        now = self.clock()
        if self.spool is not None and not self.spool.is_empty():
            return self._spool(message, now)
        try:
            if self.batcher is not None:
                result = self.batcher.track(message, now)
            else:
                result = self.store.track_inbound(message, now)
        except StoreUnavailable:
            if self.spool is None:
                raise
            return self._spool(message, now)
        self._published(result)
        return result

    def track_inbound_file(self, message: InboundMessage, file: InboundFile) -> TrackResult:
        """A person's message with the file they sent, stored together in one store write
        (never through the batcher); a redelivery changes nothing. A file is never kept in
        the spool: while the store is down, or the spool still holds messages,
        ``StoreUnavailable`` is raised and the sender tries again later."""
        if self.spool is not None and not self.spool.is_empty():
            raise StoreUnavailable("messages wait in the spool: no file can be stored now")
        result = self.store.track_inbound_with_file(message, file, self.clock())
        self._published(result)
        return result

    def replay_inbound(self, message: InboundMessage, received_at: datetime) -> TrackResult:
        """Store a spooled message as if it had just arrived (events included); a no-op
        for one the store already has. ``StoreUnavailable`` propagates."""
        result = self.store.track_inbound(message, received_at)
        self._published(result, replayed=True)
        return result

    def announce_store(self, available: bool, spooled: int, force: bool = True) -> None:
        """Publish ``store.status``; unforced, at most once per second unless it changed."""
        with self._announce_lock:
            changed = available != self.store_available
            now = time.monotonic()
            if not (force or changed or now - self._announced_at >= ANNOUNCE_EVERY_SECONDS):
                return
            self.store_available = available
            self._announced_at = now
        self.events.publish(Event("store.status", {"available": available, "spooled": spooled}))

    def _spool(self, message: InboundMessage, now: datetime) -> SpooledResult:
        assert self.spool is not None
        degraded = self.degraded
        wants_turn = degraded is not None and degraded.wants(message)
        seq, created = self.spool.append(message, now, "pending" if wants_turn else "none")
        if created and wants_turn:
            degraded.start(seq, message)
        self.announce_store(False, self.spool.count(), force=False)
        return SpooledResult(message=message, seq=seq, created=created, received_at=now)

    def _published(self, result: TrackResult, replayed: bool = False) -> None:
        if result.created:
            if result.conversation_created:
                self._publish("conversation.created", result.conversation)
            extra = {"replayed": True,
                     "external_user_id": result.conversation.external_user_id} if replayed else {}
            self._publish_message("message.created", result.message, extra)
            if not result.conversation_created:
                self._publish("conversation.updated", result.conversation)

    def track_outbound(self, message: OutboundMessage, finish_job: int | None = None,
                       activity: Sequence[Activity] = ()) -> Message:
        """Store a bot, agent or system message, ``pending`` until a channel sends it; the
        job ``finish_job`` (the one that wrote it) ends in the same write. ``activity``:
        trail lines already written for the change that led to it, published with the
        conversation's update rather than in one of their own."""
        return self.track_outbound_claiming_send(message, finish_job, activity=activity)[0]

    def track_outbound_claiming_send(
        self, message: OutboundMessage, finish_job: int | None = None,
        claim_send: float | None = None, attempt_mark: dict | None = None,
        activity: Sequence[Activity] = (),
    ) -> tuple[Message, Job | None]:
        """``track_outbound``; with ``claim_send`` (a lease in seconds) the message's send
        job also comes back claimed, for the caller to run now (see the store's
        ``track_outbound_with_conversation``), or None if it is not to be sent from here."""
        stored, conversation, send = self.store.track_outbound_with_conversation(
            message, self.clock(), finish_job=finish_job, claim_send=claim_send,
            attempt_mark=attempt_mark)
        # "send_claimed": its send job is the caller's, nothing for a worker to wake up for.
        self._publish_message("message.created", stored,
                              {"send_claimed": True} if send is not None else None)
        self._publish("conversation.updated", conversation, activity)
        if stored.sender_type == "agent":
            self._publish_answered(stored)
        return stored, send

    def _publish_answered(self, reply: Message) -> None:
        """The store marks every message of the conversation that waited for a human as
        answered in the agent's write (replied by the agent, at the reply's time): announce
        them, or open pages go on showing them as waiting. One read of the newest messages,
        made at an agent's pace; if it fails, the reply stands and pages see the marks when
        they next read the conversation."""
        try:
            before = self.store.list_messages(reply.conversation_id, ANSWERED_LOOKBACK,
                                              before=reply.id)
        except StoreUnavailable:
            log.warning("could not read the messages agent reply %s answered", reply.id)
            return
        for message in before:
            if (message.requires_human and message.human_replied
                    and message.replied_at == reply.created_at
                    and message.replied_by == reply.sender_id):
                self._publish_message("message.updated", message)

    # -- reads -----------------------------------------------------------------------
    def get(self, conversation_id: int) -> Conversation:
        conversation = self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    def get_message(self, message_id: int) -> Message:
        message = self.store.get_message(message_id)
        if message is None:
            raise NotFound(f"message {message_id} not found")
        return message

    def list(
        self, filters: ConversationFilter, limit: int, cursor: str | None = None
    ) -> ConversationPage:
        """One page of conversations; ``cursor`` is the previous page's ``next_cursor``."""
        position = ConversationCursor.decode(cursor) if cursor else None
        if position is not None and position.sort != filters.sort:
            raise InvalidInput("cursor was made for another sort order")
        return self.store.list_conversations(filters, limit, position)

    def history(
        self,
        conversation_id: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Message]:
        """Messages of a conversation in order; ``before``/``after`` are message ids."""
        return self.store.list_messages(conversation_id, limit, before=before, after=after)

    def messages_in(
        self,
        conversation_ids: Sequence[int],
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Message]:
        """Messages of many conversations created in [start, end), conversation by
        conversation in the order given, by id within each; ``after`` is the last one
        returned, as (conversation id, message id). One store call (an export's read)."""
        return self.store.list_messages_in(conversation_ids, start, end, limit, after=after)

    def stats(self) -> Stats:
        return self.store.stats(self.clock())

    def team_stats(self, start: datetime, end: datetime) -> list[AccountStats]:
        """What each account did in [start, end), and its open conversations assigned now
        (one store call); ``InvalidInput`` for an empty, reversed or too long period."""
        return self.store.team_stats(start, end)

    def activity(
        self, conversation_id: int, limit: int, before: int | None = None
    ) -> list[Activity]:
        """A conversation's activity trail: its newest ``limit`` lines, oldest first."""
        return self.store.list_activity(conversation_id, limit, before=before)

    def activity_in(
        self,
        conversation_ids: Sequence[int],
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Activity]:
        """Trail lines of many conversations written in [start, end), in (conversation id,
        id) order; ``after`` is the last one returned. One store call (an export's read)."""
        return self.store.list_activity_in(conversation_ids, start, end, limit, after=after)

    # -- changes ---------------------------------------------------------------------
    # ``by`` is the account that asks for a change (None: the bot, a rule, a sweep). A change
    # that happened is written to the conversation's activity trail after it, and published
    # with it (the ``activity`` of its ``conversation.updated``). The trail is written by a
    # second store call: if that one fails the change stands, and the line is logged.
    def set_status(
        self, conversation_id: int, status: ConversationStatus, by: AdminUser | None = None
    ) -> Conversation:
        before = self.store.get_conversation(conversation_id) if by is not None else None
        if before is not None and (before.status == "closed") == (status == "closed"):
            # An account closes or reopens: closing a closed conversation, or reopening one
            # that is not closed, writes nothing and says nothing.
            return before
        conversation = self.store.set_status(conversation_id, status, self.clock())
        lines = []
        if before is not None:
            lines.append(activity_line(conversation_id, "closed" if status == "closed"
                                       else "reopened", by))
        self._publish("conversation.updated", conversation, self.record_activity(lines))
        return conversation

    def close(self, conversation_id: int, by: AdminUser | None = None) -> Conversation:
        """Close a conversation; its flags are cleared, its next message opens a new one."""
        return self.set_status(conversation_id, "closed", by)

    def reopen(self, conversation_id: int, by: AdminUser | None = None) -> Conversation:
        """Make a closed conversation active again (``Conflict`` if another is open)."""
        return self.set_status(conversation_id, "active", by)

    def mark_needs_human(
        self, message_id: int, reason: str, priority: int = 3, by: AdminUser | None = None,
        hand_out: bool = True,
    ) -> tuple[Message, Conversation]:
        """Flag a message, and so its conversation, for a human reply. A flag set by an
        account is a line of the trail; the bot's is one when it hands the conversation
        over (``set_handling``). With AUTO_ASSIGN, a conversation nobody has is then
        handed out (``hand_out``; False: the caller does it once its change is whole)."""
        message, conversation = self.store.mark_needs_human(
            message_id, reason, priority, self.clock()
        )
        lines = []
        if by is not None:
            lines.append(activity_line(conversation.id, "escalated", by, reason=reason,
                                       message_id=message_id, priority=priority))
        self._publish_message("message.updated", message)
        self._publish("conversation.updated", conversation, self.record_activity(lines))
        if hand_out and conversation.needs_human and conversation.assigned_to is None:
            conversation = next(iter(self.hand_out([conversation.id])), conversation)
        return message, conversation

    def add_note(self, conversation_id: int, text: str, by: AdminUser) -> Activity:
        """A note for the team on a conversation (the person never sees it): a line of its
        trail, published like the others. ``NotFound``; ``InvalidInput`` for a blank note;
        unlike a change's line, a note that cannot be written is an error (it is the action)."""
        text = _note_text(text)
        conversation = self.get(conversation_id)
        (note,) = self.store.add_activity(
            [activity_line(conversation_id, "note", by, text=text)], self.clock())
        self._publish("conversation.updated", conversation, [note])
        self._tell_mentioned(conversation, note, text, "", by)
        return note

    def _tell_mentioned(self, conversation: Conversation, note: Activity, text: str,
                        before: str, by: AdminUser) -> None:
        """Teammates the note names ("@bob"), and did not name ``before`` it was edited, are
        told on every page they have open; the note stands even when the accounts cannot
        be read to tell them."""
        if "@" not in text:
            return
        try:
            users = self.store.list_users()
        except StoreUnavailable as exc:
            log.warning("note %s: its mentions not told (%s)", note.id, exc)
            return
        already = {u.id for u in mentioned(before, users, by.id)} if "@" in before else set()
        told = [u for u in mentioned(text, users, by.id) if u.id not in already]
        if told:
            self.events.publish(Event("note.mentioned", {
                "user_ids": [u.id for u in told], "by": by.email,
                "conversation": _dump(conversation), "note": _dump(note)}, conversation.id))

    def editable_note(self, note_id: int, by: AdminUser) -> Activity:
        """The note, if ``by`` may edit it (its author): ``NotFound`` for an id that is no
        note, ``Forbidden`` for someone else's."""
        note = self._note(note_id)
        if note.actor_id != by.id:
            raise Forbidden("only its author can edit a note")
        return note

    def edit_note(self, note_id: int, text: str, by: AdminUser,
                  current: Activity | None = None) -> Activity:
        """Its author's new text for a note (``detail.edited_at`` says when), published like
        a new line; ``current``: the note as ``editable_note`` just read it. ``NotFound``,
        ``Forbidden`` (see ``editable_note``), ``Conflict`` for a deleted note,
        ``InvalidInput`` for a blank or long text."""
        text = _note_text(text)
        note = current if current is not None else self.editable_note(note_id, by)
        line, conversation = self._rewrite_note(
            note, {"text": text, "edited_at": self.clock().isoformat()})
        # An edit that names someone new tells them, as a new note would; those named
        # before are not told again.
        self._tell_mentioned(conversation, line, text, str(note.detail.get("text") or ""), by)
        return line

    def delete_note(self, note_id: int, by: AdminUser) -> Activity:
        """Delete a note (its author, or an admin): the line stays in the trail with who
        deleted it and when, and its text is gone. Deleting it again changes nothing.
        ``NotFound`` for an id that is no note, ``Forbidden`` for someone else's (agents)."""
        note = self._note(note_id)
        if note.actor_id != by.id and by.role != "admin":
            raise Forbidden("only its author or an admin can delete a note")
        if note.detail.get("deleted_at"):
            return note
        return self._rewrite_note(note, {"deleted_at": self.clock().isoformat(),
                                         "deleted_by_id": by.id, "deleted_by": by.email})[0]

    def _note(self, note_id: int) -> Activity:
        line = self.store.get_activity(note_id)
        if line is None or line.kind != "note":
            raise NotFound(f"note {note_id} not found")
        return line

    def _rewrite_note(self, note: Activity, detail: dict) -> tuple[Activity, Conversation]:
        """Store a note's new detail and publish the line with its conversation; both."""
        line = self.store.rewrite_note(note.id, detail)
        conversation = self.get(note.conversation_id)
        self._publish("conversation.updated", conversation, [line])
        return line, conversation

    def mark_read(self, conversation_id: int, message_count: int, by: AdminUser) -> ReadMark:
        """``by`` has read the conversation up to ``message_count`` messages (see the store's
        ``mark_read``). A mark that moved is published (``conversation.read``), so the
        account's other pages and devices show it at once. ``NotFound``."""
        now = self.clock()
        mark = self.store.mark_read(by.id, conversation_id, message_count, now)
        if mark.read_at == now:  # written now: it moved
            self._publish_read(mark)
        return mark

    def mark_unread(self, conversation_id: int, by: AdminUser) -> ReadMark:
        """``by`` marks the conversation unread: its mark moves back to just before the
        newest message, published as ``conversation.read`` like a mark that moved on."""
        mark = self.store.mark_unread(by.id, conversation_id, self.clock())
        self._publish_read(mark)
        return mark

    def _publish_read(self, mark: ReadMark) -> None:
        """To the account's own pages only (``admin_app.live``)."""
        self.events.publish(Event("conversation.read", {"read": _dump(mark)},
                                  mark.conversation_id))

    def mark_all_read(self, by: AdminUser) -> int:
        """``by`` has read every conversation up to its count now; returns how many marks
        moved. Published once (``conversations.read``): the account's pages read theirs again."""
        moved = self.store.mark_all_read(by.id, self.clock())
        self.events.publish(Event("conversations.read", {"user_id": by.id, "moved": moved}))
        return moved

    def read_marks(self, user_id: int, conversation_ids: Sequence[int]) -> list[ReadMark]:
        """The account's marks on those conversations (one store call)."""
        return self.store.read_marks(user_id, conversation_ids)

    def seen_message_id(self, conversation_id: int) -> int | None:
        """The newest message of the conversation some account has read (None: none has):
        what the person is shown as "Seen" (one store call)."""
        return self.store.seen_message_id(conversation_id)

    def record_activity(self, lines: Sequence[NewActivity]) -> list[Activity]:
        """Write lines of activity trails, ``MAX_ACTIVITY_PER_WRITE`` a call (a sweep may
        close thousands of conversations at once); a batch the store cannot take is logged,
        not raised. A service that made the changes (a sweep) publishes the lines with them
        (``conversation_changed``)."""
        written: list[Activity] = []
        for start in range(0, len(lines), MAX_ACTIVITY_PER_WRITE):
            batch = lines[start:start + MAX_ACTIVITY_PER_WRITE]
            try:
                written += self.store.add_activity(batch, self.clock())
            except (StoreUnavailable, InvalidInput) as exc:  # InvalidInput: a database
                # whose trail does not take the kind yet (a migration not applied)
                log.warning("activity trail not written (%s): %s", exc,
                            [line.model_dump(mode="json") for line in batch])
        return written

    def mark_human_replied(self, message_id: int, replied_by: str) -> tuple[Message, Conversation]:
        """Record that a human answered a flagged message."""
        message, conversation = self.store.mark_human_replied(
            message_id, replied_by, self.clock()
        )
        self._publish_message("message.updated", message)
        self._publish("conversation.updated", conversation)
        return message, conversation

    def set_delivery_status(
        self,
        message_id: int,
        status: DeliveryStatus,
        error: str | None = None,
        external_id: str | None = None,
        finish_job: int | None = None,
    ) -> Message:
        message = self.store.set_delivery_status(
            message_id, status, self.clock(), error=error, external_id=external_id,
            finish_job=finish_job,
        )
        self._note_settled(message)
        self._publish_message("message.updated", message)
        return message

    def settled_send(self, message_id: int) -> bool:
        """True if this process saw the outbound message ``message_id`` marked sent (or
        delivered, or read), which lasts: a delivery status only moves forward (see the
        store's ``set_delivery_status``). False says nothing: another process may have
        settled it, or this one longer ago than it remembers."""
        with self._settled_lock:
            return message_id in self._settled_sends

    def _note_settled(self, message: Message) -> None:
        if message.delivery_status not in SETTLED or message.sender_type == "user":
            return
        with self._settled_lock:
            self._settled_sends[message.id] = None
            self._settled_sends.move_to_end(message.id)
            while len(self._settled_sends) > SETTLED_SENDS_KEPT:
                self._settled_sends.popitem(last=False)

    def set_handling(
        self,
        conversation_id: int,
        handled_by: HandledBy,
        assigned_to: int | None = None,
        by: AdminUser | None = None,
        reason: str | None = None,
        current: Conversation | None = None,
    ) -> tuple[Conversation, bool]:
        """Hand the conversation to a human (take over) or back to the bot. The trail gets
        ``taken_over`` (``escalated`` when the bot hands over, with ``reason``) or
        ``handed_back`` when the handler changed, else ``assigned`` when an account's
        call gave it another assignee. ``current``: the conversation as the caller has just
        read it, which spares reading it again to tell what an account's call changed."""
        before = current
        if before is None and by is not None:
            before = self.store.get_conversation(conversation_id)
        conversation, changed = self.store.set_handling(
            conversation_id, handled_by, assigned_to, self.clock()
        )
        lines = []
        if changed:
            kind: ActivityKind = ("handed_back" if handled_by == "bot"
                                  else "taken_over" if by is not None else "escalated")
            lines.append(activity_line(conversation_id, kind, by, reason=reason))
        elif before is not None and conversation.assigned_to != before.assigned_to:
            lines.append(self._assigned_line(conversation, by))
        self._publish("conversation.updated", conversation, self.record_activity(lines))
        return conversation, changed

    def assign(
        self, conversation_id: int, user_id: int | None, by: AdminUser | None = None
    ) -> Conversation:
        """Assign to an account, or unassign with None; a change is a line of the trail."""
        before = self.store.get_conversation(conversation_id) if by is not None else None
        conversation = self.store.assign(conversation_id, user_id, self.clock())
        lines = []
        if before is not None and conversation.assigned_to != before.assigned_to:
            lines.append(self._assigned_line(conversation, by, before.assigned_to))
        self._publish("conversation.updated", conversation, self.record_activity(lines))
        return conversation

    def _assigned_line(self, conversation: Conversation, by: AdminUser | None,
                       previous: int | None = None) -> NewActivity:
        if conversation.assigned_to is None:
            return activity_line(conversation.id, "unassigned", by, from_id=previous)
        if by is not None and conversation.assigned_to == by.id:
            return activity_line(conversation.id, "assigned", by, to_id=by.id, to=by.email)
        user = self.store.get_user(conversation.assigned_to)
        return activity_line(conversation.id, "assigned", by, to_id=conversation.assigned_to,
                             to=user.email if user else None)

    def add_tag(self, conversation_id: int, tag: str, by: AdminUser | None = None
                ) -> tuple[Conversation, bool]:
        """Put a tag on a conversation (``tag`` as typed: normalised here, ``InvalidInput``
        if it cannot be); a change is a line of the trail (``tagged``), published with it.
        Also whether it was new."""
        return self._change_tag(self.store.add_tag, "tagged", conversation_id, tag, by)

    def remove_tag(self, conversation_id: int, tag: str, by: AdminUser | None = None
                   ) -> tuple[Conversation, bool]:
        """Take a tag off (normalised as ``add_tag``; ``untagged``); also whether it had it."""
        return self._change_tag(self.store.remove_tag, "untagged", conversation_id, tag, by)

    def _change_tag(self, change, kind: ActivityKind, conversation_id: int, tag: str,
                    by: AdminUser | None) -> tuple[Conversation, bool]:
        tag = _typed_tag(tag)
        conversation, changed = change(conversation_id, tag, self.clock())
        if changed:
            lines = [activity_line(conversation_id, kind, by, tag=tag)]
            self._publish("conversation.updated", conversation, self.record_activity(lines))
        return conversation, changed

    def rename_tag(self, old: str, new: str, by: AdminUser | None = None) -> int:
        """Rename a tag on every conversation that has it (tags as typed, normalised here;
        merged where a conversation has both); each conversation gets a ``tagged`` line
        (``detail.renamed_from``) and is published with it. Returns how many changed;
        ``NotFound`` when none has the tag, ``InvalidInput`` for a bad or unchanged name."""
        old, new = _typed_tag(old), _typed_tag(new)
        changed = self.store.rename_tag(old, new, self.clock())
        return self._retagged(changed, old, activity_line(0, "tagged", by, tag=new,
                                                          renamed_from=old))

    def delete_tag(self, tag: str, by: AdminUser | None = None) -> int:
        """Take a tag off every conversation (an ``untagged`` line each, ``detail.everywhere``
        true), published; returns how many. ``NotFound`` when none has it."""
        tag = _typed_tag(tag)
        changed = self.store.delete_tag(tag, self.clock())
        return self._retagged(changed, tag, activity_line(0, "untagged", by, tag=tag,
                                                          everywhere=True))

    def _retagged(self, changed: list[Conversation], tag: str, line: NewActivity) -> int:
        if not changed:
            raise NotFound(f"no conversation has the tag {tag!r}")
        written = self.record_activity(
            [line.model_copy(update={"conversation_id": c.id}) for c in changed])
        lines = {a.conversation_id: [a] for a in written}
        for conversation in changed:
            self._publish("conversation.updated", conversation, lines.get(conversation.id, []))
        return len(changed)

    def rate(self, conversation_id: int, score: int, comment: str | None = None
             ) -> Conversation:
        """The person's rating of their closed conversation (1 to 5; ``comment`` trimmed,
        blank as none): it replaces an earlier one and is published with the conversation.
        ``InvalidInput``, ``Conflict`` (not closed), ``NotFound``."""
        if isinstance(comment, str):
            comment = comment.strip() or None
        conversation = self.store.rate_conversation(conversation_id, score, comment,
                                                    self.clock())
        self._publish("conversation.updated", conversation)
        return conversation

    def rate_by_person(self, platform: str, external_user_id: str, conversation_id: int,
                       score: int) -> bool:
        """A person's answer to a channel's rating request: rates the conversation if it is
        theirs and closed (the same score again changes nothing); False otherwise (unknown,
        someone else's, reopened), and the channel then tracks the answer as a message."""
        conversation = self.store.get_conversation(conversation_id)
        if conversation is None:
            return False
        if (conversation.platform, conversation.external_user_id) != (platform,
                                                                       external_user_id):
            return False
        if conversation.status != "closed":
            return False
        if conversation.rating == score:
            return True  # a redelivered tap
        try:
            self.rate(conversation_id, score)
        except Conflict:  # reopened meanwhile
            return False
        return True

    def satisfaction(self, since: datetime | None, until: datetime | None = None
                     ) -> Satisfaction:
        """The ratings given in [since, until) (``until`` None: now), one store call."""
        return self.store.satisfaction(since, until or self.clock())

    # -- auto-assignment ---------------------------------------------------------------
    def set_available(self, user_id: int, available: bool) -> AdminUser:
        """Whether the account takes new conversations (AUTO_ASSIGN): published to every
        page (``account.available``); an account that becomes available is handed the
        conversations that wait for someone at once. ``NotFound``."""
        user = self.store.set_user_available(user_id, available)
        self.events.publish(Event("account.available", {
            "user_id": user.id, "available": user.available}))
        if user.available:
            self.hand_out()
        return user

    def release(self, user_id: int, by: AdminUser) -> tuple[list[Conversation], int]:
        """Admins: give an account's open conversations back to the team (someone off sick,
        or gone home with conversations in hand). With AUTO_ASSIGN the account is set Away
        first, so that none comes straight back to it. Each conversation is unassigned (an
        ``unassigned`` line of its trail by ``by``, published), and those waiting for a
        human are handed out to the others as auto-assignment does (they wait for someone
        without it). Returns the conversations released, as they end up, in id order, and
        how many of them went to another account. ``NotFound``."""
        user = self.store.get_user(user_id)
        if user is None:
            raise NotFound(f"user {user_id}")
        if self.auto_assign_max_open is not None and user.available:
            self.set_available(user_id, False)
        released: dict[int, Conversation] = {}
        for status in ("active", "idle"):
            for _ in range(100):  # batches until none is left (a bound, not a limit met)
                page = self.store.list_conversations(
                    ConversationFilter(status=status, assigned_to=user_id), limit=MAX_DELETE)
                theirs = [c for c in page.conversations if c.assigned_to == user_id]
                released.update(self._unassign_all(theirs, by))
                if len(page.conversations) < MAX_DELETE or not theirs:
                    break
        waiting = [c.id for c in released.values() if c.needs_human]
        handed = []
        for start in range(0, len(waiting), MAX_AUTO_ASSIGN):
            handed += self.hand_out(waiting[start:start + MAX_AUTO_ASSIGN])
        for conversation in handed:
            released[conversation.id] = conversation
        if released:
            log.info("account %s gave back %d conversations of account %s", by.id,
                     len(released), user_id)
        return [released[i] for i in sorted(released)], len(handed)

    def _unassign_all(self, conversations: Sequence[Conversation], by: AdminUser
                      ) -> dict[int, Conversation]:
        """Unassign conversations as just listed: one store write each, their ``unassigned``
        lines in one write, each published with its line."""
        now = self.clock()
        done: dict[int, Conversation] = {}
        for listed in conversations:
            try:
                done[listed.id] = self.store.assign(listed.id, None, now)
            except NotFound:
                pass  # deleted meanwhile
        written = self.record_activity([
            activity_line(listed.id, "unassigned", by, from_id=listed.assigned_to)
            for listed in conversations if listed.id in done])
        lines = {line.conversation_id: [line] for line in written}
        for conversation in done.values():
            self._publish("conversation.updated", conversation, lines.get(conversation.id, []))
        return done

    def is_online(self, user: AdminUser, now: datetime | None = None) -> bool:
        """Whether a page of the panel said it was open for the account within
        ``offline_after``."""
        now = now or self.clock()
        return user.last_seen_at is not None and user.last_seen_at >= now - self.offline_after

    def seen(self, user_ids: Iterable[int]) -> None:
        """Those accounts have a page of the panel open now (each process says so for its
        sockets every third of ``offline_after``). A store that cannot is logged: the next
        round says it again."""
        ids = sorted(set(user_ids))
        for start in range(0, len(ids), MAX_TOUCH_USERS):
            try:
                self.store.touch_users(ids[start:start + MAX_TOUCH_USERS], self.clock())
            except StoreUnavailable as exc:
                # INFO: the outage itself is reported where it matters (store.status); this
                # runs on a background loop, which may outlive the store at shutdown.
                log.info("could not mark %d accounts seen: %s", len(ids), exc)
                return

    def came_online(self, user: AdminUser) -> None:
        """A page of the panel connected for ``user`` (as loaded for that request): it is
        marked seen unless it was a moment ago, and if it was offline, what waits is handed
        out (AUTO_ASSIGN, online only) to whoever can take it now, this account included
        if it is available (read again: its page may have said so while this ran)."""
        now = self.clock()
        was_online = self.is_online(user, now)
        if was_online and user.last_seen_at >= now - self.offline_after / 3:
            return  # another page of it said so a moment ago; the rounds keep it online
        try:
            self.store.touch_users([user.id], now)
        except StoreUnavailable as exc:
            log.warning("could not mark account %s seen: %s", user.id, exc)
            return
        if not was_online:
            # Every page hears it (and, from the sweep, when it goes: announce_offline).
            self.events.publish(Event("account.online", {
                "user_id": user.id, "online": True, "last_seen_at": now.isoformat()}))
            if self.auto_assign_online_only:
                self.hand_out()

    def announce_offline(self) -> list[AdminUser]:
        """Publish ``account.online`` (``online`` false, with ``last_seen_at``) for each
        account whose pages have all been gone for ``offline_after`` since it was last
        announced (``store.claim_offline``: once, whichever process sweeps). The sweep
        calls it, so pages hear of it up to a sweep interval late. Returns the accounts."""
        now = self.clock()
        gone = self.store.claim_offline(now - self.offline_after, now)
        for user in gone:
            self.events.publish(Event("account.online", {
                "user_id": user.id, "online": False,
                "last_seen_at": user.last_seen_at.isoformat()}))
        return gone

    def hand_out(self, conversation_ids: Sequence[int] | None = None) -> list[Conversation]:
        """AUTO_ASSIGN: the waiting conversations among ``conversation_ids`` (None: the
        longest-waiting ``MAX_AUTO_ASSIGN``) go to the least loaded available accounts
        (online ones only, with ``auto_assign_online_only``), each an ``assigned`` line of
        its trail (``detail.auto``) published with it.
        Nothing when it is off; a store that cannot is logged, and the next sweep tries
        again. Returns the conversations assigned."""
        if self.auto_assign_max_open is None:
            return []
        limit = MAX_AUTO_ASSIGN if conversation_ids is None else \
            max(1, min(len(conversation_ids), MAX_AUTO_ASSIGN))
        try:
            now = self.clock()
            given = self.store.auto_assign(
                conversation_ids, limit, self.auto_assign_max_open, now,
                online_since=now - self.offline_after if self.auto_assign_online_only
                else None)
        except StoreUnavailable as exc:
            log.warning("auto-assignment deferred to the next sweep: %s", exc)
            return []
        written = self.record_activity([
            activity_line(c.id, "assigned", to_id=u.id, to=u.email, auto=True)
            for c, u in given])
        lines = {line.conversation_id: line for line in written}
        for conversation, _ in given:
            line = lines.get(conversation.id)
            self._publish("conversation.updated", conversation, [line] if line else [])
        return [c for c, _ in given]

    # -- deletion (erasure, retention) --------------------------------------------------
    def delete(self, conversation_id: int, by: AdminUser, person: bool = False
               ) -> list[Conversation]:
        """Admins: delete a conversation with everything the store keeps of it (messages,
        trail, notes, read marks, tags, rating); with ``person``, every conversation of its
        person, closed ones too, and any they open meanwhile. Each is published as
        ``conversation.deleted`` (its id, platform and person, no content) and the deletion
        is logged with who asked and the ids. Returns the deleted conversations, id order.
        ``NotFound``."""
        conversation = self.get(conversation_id)
        deleted = self.store.delete_conversations([conversation.id])
        if person:
            # A person's conversations, read and deleted in batches until none is left
            # (a message arriving meanwhile opens one more; a few passes catch it).
            for _ in range(100):
                page = self.store.list_conversations(
                    ConversationFilter(platform=conversation.platform,
                                       external_user_id=conversation.external_user_id),
                    limit=MAX_DELETE)
                if not page.conversations:
                    break
                deleted += self.store.delete_conversations(
                    [c.id for c in page.conversations])
        deleted.sort(key=lambda c: c.id)
        log.info("%s deleted %s %s: conversations %s", by.email,
                 "every conversation of" if person else "a conversation of",
                 conversation.platform, [c.id for c in deleted])
        self.conversations_deleted(deleted)
        return deleted

    def conversations_deleted(self, deleted: Sequence[Conversation]) -> None:
        """Announce conversations deleted in the store (by an admin, or the retention sweep):
        open pages drop them, a visitor's widget starts afresh."""
        for conversation in deleted:
            self.events.publish(Event("conversation.deleted", {"conversation": {
                "id": conversation.id, "platform": conversation.platform,
                "external_user_id": conversation.external_user_id}}, conversation.id))

    def tags(self, limit: int = MAX_TAGS_LISTED) -> list[TagCount]:
        """The tags in use, most used first (one store call)."""
        return self.store.list_tags(limit)

    def set_profile(
        self, conversation_id: int, display_name: str | None, profile: dict
    ) -> Conversation:
        conversation = self.store.set_profile(conversation_id, display_name, profile, self.clock())
        self._publish("conversation.updated", conversation)
        return conversation

    def move_person(
        self, platform: str, from_user_id: str, to_user_id: str, display_name: str | None,
        profile: dict,
    ) -> list[Conversation]:
        """A person who turned out to be another (a web chat visitor who signed in on the
        site): their conversations become ``to_user_id``'s (see the store's
        ``move_person``), each with a ``signed_in`` line in its trail (``detail.name``: the
        name given), and published as ``conversation.updated``. Two store calls (one when
        nothing moved)."""
        moved = self.store.move_person(platform, from_user_id, to_user_id, display_name,
                                       profile, self.clock())
        written = self.record_activity([
            activity_line(conversation.id, "signed_in", name=display_name)
            for conversation in moved])
        lines = {line.conversation_id: [line] for line in written}
        for conversation in moved:
            self._publish("conversation.updated", conversation, lines.get(conversation.id, []))
        return moved

    def mark_delivered_until(
        self, platform: str, external_user_id: str, until: datetime, status: DeliveryStatus
    ) -> list[Message]:
        """Apply a platform's delivered/read watermark to that person's outbound messages."""
        changed = self.store.mark_delivered_until(
            platform, external_user_id, until, status, self.clock()
        )
        for message in changed:
            self._publish_message("message.updated", message)
        return changed

    def find_message(self, platform: str, external_id: str) -> Message | None:
        return self.store.find_message_by_external_id(platform, external_id)

    def update_message_metadata(self, message_id: int, patch: dict,
                                expect: dict | None = None) -> Message:
        """Merge keys into a message's metadata (e.g. a reaction); None deletes a key. With
        ``expect``, only if those keys hold those values now, else ``Conflict``."""
        message = self.store.update_message_metadata(message_id, patch, self.clock(),
                                                     expect=expect)
        self._publish_message("message.updated", message)
        return message

    def conversation_changed(
        self, conversation: Conversation, activity: Sequence[Activity] = ()
    ) -> None:
        """Announce a conversation another service changed in the store (a sweep, say),
        with the lines of its trail that change wrote."""
        self._publish("conversation.updated", conversation, activity)

    def message_changed(self, message: Message) -> None:
        """Announce a message another service changed in the store (a requeued send)."""
        self._publish_message("message.updated", message)

    # -- events ----------------------------------------------------------------------
    def typing(self, conversation_id: int, sender_type: str, typing: bool = True) -> None:
        """Say that the bot (``sender_type``) is writing to the person, or stopped: a
        ``typing`` event, as an agent's page publishes one (the widget, the admins' pages
        and Messenger's indicator follow it)."""
        self.events.publish(Event("typing", {"conversation_id": conversation_id,
                                             "sender_type": sender_type, "typing": typing},
                                  conversation_id))

    def _publish(self, name, conversation: Conversation,
                 activity: Sequence[Activity] = ()) -> None:
        data = {"conversation": _dump(conversation)}
        if activity:
            data["activity"] = [_dump(a) for a in activity]
        self.events.publish(Event(name, data, conversation.id))

    def _publish_message(self, name, message: Message, extra: dict | None = None) -> None:
        self.events.publish(
            Event(name, {"message": _dump(message), **(extra or {})}, message.conversation_id)
        )
