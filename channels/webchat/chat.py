"""What the web chat does for a visitor, whatever the transport (Socket.IO or HTTP).

Both transports call ``WebchatChannel`` with a ``Visitor`` taken from a verified token, so
the rules live in one place: a visitor reads and writes only conversations of platform
``webchat`` whose ``external_user_id`` is their visitor id; a message is tracked through
the same ``track_inbound`` call as a Messenger one (the bot and the escalation rules then
run as the message's ``respond`` job).

A visitor's conversation is opened by their first message (``track_inbound`` opens one when
the visitor has none open), not when the widget is opened: people who open the bubble and
leave never clutter the inbox or the stats. Until then a session has no conversation id.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from services.errors import Conflict, NotFound, StoreUnavailable
from services.models import (
    RATING_COMMENT_MAX_LENGTH,
    Conversation,
    ConversationFilter,
    InboundFile,
    InboundMessage,
    Message,
    SpooledResult,
    TrackResult,
)
from services.reply_time import ReplyTime
from services.settings import Settings
from services.tracking import ConversationTracker

from channels.webchat.identity import Visitor

log = logging.getLogger(__name__)

PLATFORM = "webchat"
CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")  # the whole id: fullmatch ("$" allows "\n")
MAX_REASON = 500
ESCALATION_TEXT = "I'd like to talk to a person, please."
ESCALATION_REASON = "the visitor asked for a person"
_SCAN_PAGE = 200
MAX_ID = 2**63 - 1  # ids are 64-bit in both stores; a larger number names nothing
_SURROGATE = re.compile("[\ud800-\udfff]")
RECEIPTS = ("delivered", "read")  # what a widget reports of the team's messages
PAGE_URL_MAX = 2000  # a page's address as kept (a longer one loses its query, then is cut)
PAGE_TITLE_MAX = 200
_PAGE_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)  # the whole address


class ChatError(Exception):
    """A request the chat refuses, with its HTTP status and a short machine-readable code.

    ``detail`` is English, for developers; ``extra`` carries the numbers a visitor needs
    (``limit``: characters, ``max_bytes``: a file's size), so the widget can say why in the
    visitor's language."""

    def __init__(self, status: int, error: str, detail: str,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON of an HTTP error, and of a Socket.IO error acknowledgement."""
        return {"error": self.error, "detail": self.detail, "status": self.status,
                **self.extra}


def room(conversation_id: int) -> str:
    """The Socket.IO room (namespace ``/chat``) of one conversation."""
    return f"conversation:{conversation_id}"


def visitor_state(conversation: Conversation | dict) -> str:
    """What the visitor is told about who answers: ``bot``, ``escalated`` (waiting for a
    person), ``human`` (a person has joined) or ``closed``."""
    c = conversation if isinstance(conversation, dict) else conversation.model_dump()
    if c.get("status") == "closed":
        return "closed"
    if c.get("handled_by") == "human" and (
        c.get("assigned_to") is not None or not c.get("needs_human")
    ):
        return "human"
    if c.get("needs_human") or c.get("handled_by") == "human":
        return "escalated"
    return "bot"


def public_conversation(conversation: Conversation | dict) -> dict[str, Any]:
    """The fields of a conversation a visitor may see (no priority, reasons or assignees)."""
    c = (
        conversation if isinstance(conversation, dict)
        else conversation.model_dump(mode="json")
    )
    return {
        "id": c["id"],
        "status": c.get("status"),
        "state": visitor_state(c),
        "handled_by": c.get("handled_by"),
        "needs_human": bool(c.get("needs_human")),
        "created_at": c.get("created_at"),
        "last_message_at": c.get("last_message_at"),
        "closed_at": c.get("closed_at"),
        "rating": c.get("rating"),  # the visitor's own rating of it, once closed
    }


def public_message(message: Message, visitor_id: str) -> dict[str, Any]:
    """The fields of a stored message a visitor may see.

    Confidence scores, escalation reasons, agent identities and delivery internals stay
    on the admin side. ``client_id`` gives the widget back the id it chose for its own
    message, so it can match the acknowledgement, the history and a resend.
    """
    client_id = None
    prefix = f"{visitor_id}:"
    if message.sender_type == "user" and (message.external_id or "").startswith(prefix):
        client_id = message.external_id[len(prefix):]
    kind = message.metadata.get("kind")
    if message.metadata.get("escalate"):
        kind = "escalation"
    # The name the agent chose to show the people they answer (their e-mail never goes).
    name = message.metadata.get("agent_name") if message.sender_type == "agent" else None
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender_type": message.sender_type,
        "content": message.content,
        "attachments": message.attachments,
        "created_at": iso(message.created_at),
        "client_id": client_id,
        "kind": kind if isinstance(kind, str) else None,
        "sender_name": name if isinstance(name, str) else None,
    }


def visitor_room(visitor_id: str) -> str:
    """The Socket.IO room (namespace ``/chat``) of every socket of one visitor: reaches them
    before they have a conversation, e.g. with the bot's reply while the store is down."""
    return f"visitor:{visitor_id}"


def queued_ack(result: SpooledResult) -> dict[str, Any]:
    """The acknowledgement of a message kept in the spool while the store is down: it is
    received and will be saved (and shown with an id) once the store is back."""
    message = result.message
    prefix = f"{message.external_user_id}:"
    external_id = message.external_id or ""
    return {
        "status": "queued",
        "client_id": external_id[len(prefix):] if external_id.startswith(prefix) else None,
        "content": message.content,
        "received_at": iso(result.received_at),
        "detail": "received; it will be saved as soon as the chat's store is back",
    }


def _with_page(metadata: dict[str, Any], page: dict[str, str] | None) -> dict[str, Any]:
    return {**metadata, "page": page} if page else metadata


def iso(value: datetime | None) -> str | None:
    """A UTC time as the rest of the JSON writes it (``…Z``)."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _text(value: object, name: str) -> str:
    """Visitor text as stored: no NUL, and lone surrogates (JSON ``"\\ud800"``, which no
    encoder or store takes) as U+FFFD."""
    if not isinstance(value, str):
        raise ChatError(400, "bad_request", f"{name} must be a string")
    return _SURROGATE.sub("\ufffd", value.replace("\x00", "")).strip()


def positive_id(value: object, name: str) -> int | None:
    """An optional positive integer id from JSON or a query string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ChatError(400, "bad_request", f"{name} must be a positive integer")
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e400 is inf
        raise ChatError(400, "bad_request", f"{name} must be a positive integer") from None
    if number < 1 or number > MAX_ID or str(number) != str(value).strip():
        raise ChatError(400, "bad_request", f"{name} must be a positive integer")
    return number


# How long after a closing a visitor who comes back is still asked how it went.
RATE_WITHIN = timedelta(hours=24)


class Resumed(NamedTuple):
    """What became of the conversation a widget remembers (``WebchatChannel.resume``)."""

    open: Conversation | None = None
    to_rate: Conversation | None = None
    deleted: int | None = None


class WebchatChannel:
    """The web chat's rules, shared by the Socket.IO namespace and the HTTP fallback."""

    def __init__(self, tracker: ConversationTracker, settings: Settings,
                 reply_time: ReplyTime | None = None) -> None:
        self.tracker = tracker
        self.settings = settings
        self._reply_time = reply_time  # made on first use without one (tests)

    # -- the wait for a person ---------------------------------------------------------
    def reply_time(self) -> int | None:
        """How long the team usually takes to answer someone who asked for a person, in
        seconds, for the widget to say (``CHAT_REPLY_TIME``, services/reply_time.py)."""
        if self._reply_time is None:
            self._reply_time = ReplyTime(self.tracker.stats, self.settings.chat_reply_time)
        return self._reply_time.seconds()

    # -- access ----------------------------------------------------------------------
    def conversation_for(self, visitor: Visitor, conversation_id: int) -> Conversation:
        """The conversation if it is this visitor's: 404 if there is none, 403 otherwise."""
        if not 1 <= conversation_id <= MAX_ID:  # from a URL: any number of digits
            raise ChatError(404, "not_found", "no such conversation")
        try:
            conversation = self.tracker.get(conversation_id)
        except NotFound:
            raise ChatError(404, "not_found", "no such conversation") from None
        if conversation.platform != PLATFORM or conversation.external_user_id != visitor.id:
            raise ChatError(403, "forbidden", "this conversation belongs to someone else")
        return conversation

    def resume(self, visitor: Visitor, conversation_id: int | None) -> Resumed:
        """The visitor's conversation the widget remembers: ``open`` if it still is;
        ``to_rate`` if it was closed less than ``RATE_WITHIN`` ago and is not rated yet, so
        the widget can still ask how it went; ``deleted`` (its id) if the team deleted it
        (or its retention did), so the widget takes its thread off the screen; none of them
        otherwise."""
        if conversation_id is None:
            return Resumed()
        try:
            conversation = self.conversation_for(visitor, conversation_id)
        except ChatError as exc:
            if exc.status != 404:
                raise
            return Resumed(deleted=conversation_id)  # start afresh
        if conversation.status != "closed":
            return Resumed(open=conversation)
        recent = conversation.closed_at is not None and \
            conversation.closed_at > self.tracker.clock() - RATE_WITHIN
        return Resumed(to_rate=conversation if recent and conversation.rating is None
                       else None)

    # -- writing ---------------------------------------------------------------------
    def client_id(self, value: object) -> str:
        """The widget's id for a message (its external id); one is made if none is given."""
        if value is None or value == "":
            return uuid.uuid4().hex
        if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
            raise ChatError(
                400, "bad_request", "client_id must be 1-100 letters, digits, '.', '_' or '-'"
            )
        return value

    def content(self, value: object) -> str:
        text = _text(value, "content")
        if not text:
            raise ChatError(400, "bad_request", "the message is empty")
        limit = self.settings.chat_max_message_length
        if len(text) > limit:
            raise ChatError(413, "too_long", f"a message has at most {limit} characters",
                            {"limit": limit})
        return text

    def escalate_reason(self, value: object) -> str:
        text = "" if value is None else _text(value, "reason")
        if len(text) > MAX_REASON:
            raise ChatError(413, "too_long", f"a reason has at most {MAX_REASON} characters",
                            {"limit": MAX_REASON})
        return text

    def page(self, value: object) -> dict[str, str] | None:
        """The page of the site the visitor wrote from, as the widget gives it (``{"url",
        "title"}``), kept in the message's metadata for the team; None when none is given.
        The address must be an http(s) one (400 otherwise); one longer than
        ``PAGE_URL_MAX`` loses its query and fragment, then is cut; the title is trimmed to
        ``PAGE_TITLE_MAX`` characters."""
        if value is None:
            return None
        url = value.get("url") if isinstance(value, dict) else None
        if not isinstance(url, str) or not _PAGE_URL.fullmatch(url.strip()):
            raise ChatError(400, "bad_request",
                            "page must be {\"url\": an http(s) address, \"title\"?: text}")
        url = url.strip()
        if len(url) > PAGE_URL_MAX:
            url = re.split(r"[?#]", url, maxsplit=1)[0][:PAGE_URL_MAX]
        title = value.get("title")
        title = _text(title, "page title") if title is not None else ""
        if len(title) > PAGE_TITLE_MAX:
            title = title[:PAGE_TITLE_MAX - 1].rstrip() + "…"
        return {"url": url, "title": title}

    def post(
        self, visitor: Visitor, content: object, client_id: object, page: object = None
    ) -> TrackResult | SpooledResult:
        """Track a visitor's message; the same ``client_id`` again returns the stored one."""
        return self._track(visitor, self.content(content), self.client_id(client_id),
                           _with_page({}, self.page(page)))

    def post_file(
        self, visitor: Visitor, caption: object, client_id: object, file: InboundFile,
        attachment: dict[str, Any], page: object = None,
    ) -> TrackResult:
        """A visitor's message carrying a file (and an optional caption), stored together;
        the same ``client_id`` again returns the stored one. ``StoreUnavailable`` while the
        store is down: a file is never spooled."""
        text = "" if caption is None or caption == "" else self.content(caption)
        return self.tracker.track_inbound_file(
            self._message(visitor, text, self.client_id(client_id),
                          _with_page({}, self.page(page)), [attachment]), file)

    def escalate(
        self, visitor: Visitor, reason: object, client_id: object, page: object = None
    ) -> TrackResult | SpooledResult:
        """The "talk to a person" button: a visitor message the bot turn escalates.

        It is tracked like any message, with ``metadata.escalate`` set, so it goes through
        the same job and the same policy (``EscalationPolicy.button_request``) as Messenger's
        button, and the transcript shows that the visitor asked.
        """
        text = self.escalate_reason(reason)
        metadata = _with_page({"escalate": True, "reason": text or ESCALATION_REASON},
                              self.page(page))
        return self._track(visitor, text or ESCALATION_TEXT, self.client_id(client_id), metadata)

    def _track(
        self, visitor: Visitor, content: str, client_id: str, metadata: dict
    ) -> TrackResult | SpooledResult:
        return self.tracker.track_inbound(self._message(visitor, content, client_id, metadata))

    @staticmethod
    def _message(visitor: Visitor, content: str, client_id: str, metadata: dict,
                 attachments: list[dict[str, Any]] | None = None) -> InboundMessage:
        return InboundMessage(
            platform=PLATFORM,
            external_user_id=visitor.id,
            # Scoped by visitor: one visitor's ids can never collide with another's.
            external_id=f"{visitor.id}:{client_id}",
            content=content,
            display_name=visitor.display_name,
            profile=visitor.profile(),  # a verified customer's id and e-mail, for the team
            metadata=metadata,
            attachments=attachments or [],
        )

    def receipt(self, visitor: Visitor, conversation_id: int, message_id: object,
                status: object, checked: bool = False) -> int:
        """The visitor's widget received (``delivered``) or showed (``read``) the team's
        messages of their conversation up to ``message_id``: Messenger's delivery and read
        watermarks, for the web chat. The team's messages of the visitor sent at or before
        it move forward (sent -> delivered -> read, never back; admins' pages hear each).
        Returns how many moved. 400 for a bad status or id; 404/403 as for any
        conversation (``checked``: the caller has seen that it is the visitor's), and 404
        for a message that is not the conversation's."""
        if status not in RECEIPTS:
            raise ChatError(400, "bad_request", "status must be 'delivered' or 'read'")
        number = positive_id(message_id, "message_id")
        if number is None:
            raise ChatError(400, "bad_request", "message_id is required")
        if not checked:
            self.conversation_for(visitor, conversation_id)
        try:
            message = self.tracker.get_message(number)
        except NotFound:
            message = None
        if message is None or message.conversation_id != conversation_id:
            raise ChatError(404, "not_found", "no such message in this conversation")
        changed = self.tracker.mark_delivered_until(PLATFORM, visitor.id, message.created_at,
                                                    status)  # type: ignore[arg-type]
        return len(changed)

    # -- reading ---------------------------------------------------------------------
    def history(
        self,
        visitor: Visitor,
        conversation_id: int,
        limit: int | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> tuple[Conversation, list[Message]]:
        """The conversation and its messages (at most ``CHAT_HISTORY_LIMIT``), in order."""
        conversation = self.conversation_for(visitor, conversation_id)
        cap = self.settings.chat_history_limit
        limit = cap if limit is None else min(limit, cap)
        return conversation, self.tracker.history(conversation_id, limit, before, after)

    def rate(self, visitor: Visitor, conversation_id: int, score: object,
             comment: object) -> Conversation:
        """The visitor's rating of their closed conversation (1 to 5, an optional comment of
        up to ``RATING_COMMENT_MAX_LENGTH`` characters): 400 for a bad one, 409 while the
        conversation is open, 403/404 as for any conversation."""
        self.conversation_for(visitor, conversation_id)
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ChatError(400, "bad_request", "score must be a whole number from 1 to 5")
        text = None if comment is None else _text(comment, "comment") or None
        if text is not None and len(text) > RATING_COMMENT_MAX_LENGTH:
            raise ChatError(413, "too_large", "a comment is at most "
                            f"{RATING_COMMENT_MAX_LENGTH} characters",
                            {"limit": RATING_COMMENT_MAX_LENGTH})
        try:
            return self.tracker.rate(conversation_id, score, text)
        except Conflict:
            raise ChatError(409, "conflict", "a conversation is rated once it is closed"
                            ) from None

    def escalations(
        self, visitor: Visitor, conversation_id: int
    ) -> tuple[Conversation, list[dict[str, Any]]]:
        """The conversation's requests for a person, and whether a person answered each.

        The rule that raised a flag (e.g. "frustration detected") is for agents; the
        visitor sees the reason only when they gave it themselves.
        """
        conversation = self.conversation_for(visitor, conversation_id)
        found: list[dict[str, Any]] = []
        before = None
        while True:
            page = self.tracker.history(conversation_id, _SCAN_PAGE, before=before)
            for message in page:
                if message.requires_human:
                    asked = bool(message.metadata.get("escalate"))
                    reason = message.metadata.get("reason") if asked else None
                    found.append({
                        "message_id": message.id,
                        "created_at": iso(message.created_at),
                        "requested_by_visitor": asked,
                        "reason": reason if reason != ESCALATION_REASON else None,
                        "answered": message.human_replied,
                        "answered_at": iso(message.replied_at),
                    })
            if len(page) < _SCAN_PAGE:
                break
            before = page[0].id
        found.sort(key=lambda e: e["message_id"])
        return conversation, found

    def sign_in(self, before: Visitor, customer: Visitor) -> list[Conversation]:
        """A visitor who signed in on the site (identity verification): what they wrote
        while anonymous goes with them, their conversations becoming the customer's, with
        the customer's profile (and name, when the site gave one). Their open conversation
        goes too, unless the customer already has one open elsewhere. One store call; a
        store that cannot (down, or a Supabase database without the migration) is logged and
        the session goes on without it (down, its next call fails and the widget retries)."""
        try:
            return self.tracker.move_person(PLATFORM, before.id, customer.id,
                                            customer.display_name, customer.profile() or {})
        except StoreUnavailable as exc:
            log.warning("webchat: a visitor who signed in keeps their chat anonymous: %s", exc)
            return []

    def open_conversation(self, visitor: Visitor) -> Conversation | None:
        """The visitor's open conversation, if they have one (the newest first: a visitor
        has at most one open): a signed-in customer's on a device that remembers none."""
        page = self.tracker.list(
            ConversationFilter(platform=PLATFORM, external_user_id=visitor.id), 5)
        return next((c for c in page.conversations if c.status != "closed"), None)

    def conversations(self, visitor: Visitor) -> list[Conversation]:
        """Every conversation of the visitor (closed ones too), most recent first.

        The store filters by person (platform ``webchat`` and the visitor id, one index
        look-up), so no one else's conversation is ever read.
        """
        mine: list[Conversation] = []
        cursor = None
        filters = ConversationFilter(platform=PLATFORM, external_user_id=visitor.id)
        while True:
            page = self.tracker.list(filters, _SCAN_PAGE, cursor)
            mine.extend(page.conversations)
            cursor = page.next_cursor
            if cursor is None:
                return mine
