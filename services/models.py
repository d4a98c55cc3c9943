"""Typed values that flow between channels, services, stores and the admin app."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
import uuid
from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.errors import NotFound

Platform = Literal["messenger", "webchat"]
JobKind = Literal["respond", "send"]
JobStatus = Literal["queued", "running", "done", "failed"]
ConversationStatus = Literal["active", "idle", "closed"]
HandledBy = Literal["bot", "human"]
SenderType = Literal["user", "bot", "agent", "system"]
DeliveryStatus = Literal["received", "pending", "sent", "delivered", "read", "failed"]
ConversationSort = Literal["last_activity", "priority", "waiting"]
UserRole = Literal["admin", "agent"]
# What a conversation's activity trail records (who answers it, who has it, its state).
ActivityKind = Literal[
    "escalated", "taken_over", "handed_back", "assigned", "unassigned", "closed", "reopened",
    "handoff_timed_out", "priority_raised", "note", "tagged", "untagged", "signed_in",
]
NOTE_MAX_LENGTH = 2000  # a note an agent leaves on a conversation for the team
SAVED_REPLY_TITLE_MAX = 80
SAVED_REPLY_BODY_MAX = 4000  # as long as a reply
FILE_NAME_MAX = 200  # a file an agent attaches to a reply, as the person will see it named
MAX_REPLY_FILES = 5  # files one reply carries
MAX_SAVED_REPLIES = 500  # the team's whole list goes to every conversation page
HOURS_SCHEDULE_MAX = 2000  # BUSINESS_HOURS as set on Settings
MAX_CLOSED_DATES = 400  # a year of holidays and then some
AWAY_MESSAGE_MAX = 1000  # AWAY_MESSAGE and HANDOFF_MESSAGE as set on Settings
TAG_MAX_LENGTH = 32  # a label on a conversation ("billing", "vip", "bug report")
MAX_TAGS = 20  # on one conversation
MAX_TAGS_LISTED = 200  # the tags in use that GET /admin/tags lists, most used first
RATING_COMMENT_MAX_LENGTH = 500  # what a person may add to their rating of a conversation
SATISFIED_SCORE = 4  # a rating of 4 or 5 (of 5) counts as satisfied (CSAT)
RECENT_RATING_COMMENTS = 10  # the newest comments the satisfaction stats list
MAX_DELETE = 200  # conversations one deletion takes (a person's, or a retention sweep's batch)
MAX_AUTO_ASSIGN = 200  # waiting conversations one auto-assignment call hands out
MAX_TOUCH_USERS = 1000  # accounts one touch_users call marks seen
ACCOUNT_NAME_MAX = 60  # the name an account shows the people it answers

PLATFORMS: tuple[str, ...] = ("messenger", "webchat")
STATUSES: tuple[str, ...] = ("active", "idle", "closed")
PREVIEW_LENGTH = 140
_SURROGATE = re.compile("[\ud800-\udfff]")


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _timestamps_are_utc(cls, value: Any) -> Any:
        return utc(value) if isinstance(value, datetime) else value


class Conversation(_Model):
    """One thread between a person on a platform and the business."""

    id: int
    platform: Platform
    external_user_id: str
    display_name: str | None = None
    profile: dict[str, Any] = Field(default_factory=dict)
    status: ConversationStatus = "active"
    handled_by: HandledBy = "bot"
    needs_human: bool = False
    human_reason: str | None = None
    priority: int = Field(default=5, ge=1, le=5)
    assigned_to: int | None = None
    message_count: int = 0
    last_message_preview: str | None = None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    last_user_message_at: datetime | None = None
    waiting_since: datetime | None = None
    escalated_at: datetime | None = None
    first_human_reply_at: datetime | None = None
    closed_at: datetime | None = None
    handoff_timeout_notified_at: datetime | None = None
    # When raise_waiting_priority raised the priority during the current wait (None: not yet).
    priority_raised_at: datetime | None = None
    # The team's labels on it ("billing", "vip"): normalised (normalize_tag), sorted, unique.
    tags: list[str] = Field(default_factory=list)
    # How the person rated it once it was closed (1 to 5; the last rating counts), with what
    # they added, and when.
    rating: int | None = Field(default=None, ge=1, le=5)
    rating_comment: str | None = None
    rated_at: datetime | None = None


class Message(_Model):
    """One message of a conversation, in either direction."""

    id: int
    conversation_id: int
    platform: Platform
    sender_type: SenderType
    sender_id: str | None = None
    content: str = ""
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    external_id: str | None = None
    created_at: datetime
    confidence_score: float | None = None
    requires_human: bool = False
    human_reason: str | None = None
    human_replied: bool = False
    replied_by: str | None = None
    replied_at: datetime | None = None
    delivery_status: DeliveryStatus = "received"
    delivery_error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


class _Incoming(_Model):
    """Text from outside: NUL characters are dropped, since PostgreSQL text cannot hold them,
    and lone surrogates become U+FFFD, since no store or JSON encoder takes them."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nul(cls, data: Any) -> Any:
        return _without_nul(data)


class InboundMessage(_Incoming):
    """A message a channel received from a platform, before it is tracked."""

    platform: Platform
    external_user_id: str = Field(min_length=1, max_length=256)
    external_id: str | None = Field(default=None, max_length=512)
    content: str = ""
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    sender_type: SenderType = "user"
    sender_id: str | None = None
    display_name: str | None = None
    profile: dict[str, Any] | None = None
    received_at: datetime | None = None
    respond: bool = True  # False: track only, the bot must not answer (e.g. Messenger standby)


class OutboundMessage(_Incoming):
    """A message the business sends into a conversation (bot, agent or system)."""

    conversation_id: int
    sender_type: Literal["bot", "agent", "system"]
    content: str = ""
    sender_id: str | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    external_id: str | None = Field(default=None, max_length=512)
    confidence_score: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    delivery_status: DeliveryStatus = "pending"


class NewActivity(_Incoming):
    """A line of a conversation's activity trail, before it is stored: what changed and
    who changed it (``actor_id`` None: the bot, a rule or a sweep), or a note an agent left
    for the team (``note``, its ``detail.text``; the person never sees it)."""

    conversation_id: int
    kind: ActivityKind
    actor_id: int | None = None
    actor: str | None = Field(default=None, max_length=320)  # the account's e-mail then
    detail: dict[str, Any] = Field(default_factory=dict)


class Activity(NewActivity):
    """A stored line of a conversation's activity trail."""

    id: int
    created_at: datetime


class NewSavedReply(_Incoming):
    """A saved reply as an admin writes it: a title to find it by, and the text it puts in
    the reply box (``{first_name}`` becomes the person's first name there)."""

    title: str = Field(min_length=1, max_length=SAVED_REPLY_TITLE_MAX)
    body: str = Field(min_length=1, max_length=SAVED_REPLY_BODY_MAX)

    @field_validator("title", "body", mode="before")
    @classmethod
    def _trimmed(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value  # blank: too short


class NewHoursSetting(_Incoming):
    """The business hours as an admin sets them on Settings, in place of the environment's
    ``BUSINESS_HOURS``, ``BUSINESS_TIMEZONE``, ``BUSINESS_CLOSED_DATES``, ``AWAY_MESSAGE``
    and ``HANDOFF_MESSAGE``: a schedule in their syntax (blank: always open), an IANA time
    zone, the days off and what a person handed to the team is told outside the hours and
    within them. Their meaning is
    checked by ``services.business_hours.TeamHours``; the store keeps them as given."""

    schedule: str = Field(max_length=HOURS_SCHEDULE_MAX)
    timezone: str = Field(min_length=1, max_length=64)
    closed_dates: list[date] = Field(default_factory=list, max_length=MAX_CLOSED_DATES)
    # What a person handed to the team outside the hours is told ({next_open}: when the
    # team is back); None: the server's AWAY_MESSAGE; "": HANDOFF_MESSAGE at any hour.
    away_message: str | None = Field(default=None, max_length=AWAY_MESSAGE_MAX)
    # What a person handed to the team within the hours (or at any hour, without hours)
    # is told; None: the server's HANDOFF_MESSAGE; "": nothing.
    handoff_message: str | None = Field(default=None, max_length=AWAY_MESSAGE_MAX)

    @field_validator("schedule", "timezone", "away_message", "handoff_message", mode="before")
    @classmethod
    def _trimmed(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("closed_dates", mode="after")
    @classmethod
    def _sorted(cls, value: list[date]) -> list[date]:
        return sorted(set(value))


class HoursSetting(NewHoursSetting):
    """The stored business hours (one for the team), with who set them last, and when."""

    updated_by: int | None = None
    updated_at: datetime


class NewFile(_Incoming):
    """A file an agent attaches to a reply, before it is stored: its bytes and how it is
    named and typed. The store gives it a random id, which is also what makes its address
    (``/files/<id>/<name>``) hard to guess."""

    conversation_id: int
    name: str = Field(min_length=1, max_length=FILE_NAME_MAX)
    content_type: str = Field(min_length=3, max_length=255)
    data: bytes = Field(min_length=1)
    created_by: int | None = None


def canonical_file_id(value: str) -> str:
    """A file id as the stores keep it (a UUID's lower-case text); ``NotFound`` for text that
    is not one, so that both stores answer it alike."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"file {value!r} not found") from None


class InboundFile(_Incoming):
    """A file a person sends with their message (the web chat's), stored with it in one
    write: its id is chosen by the channel, so that sending the message again (the same
    ``external_id``) stores the file once."""

    id: str
    name: str = Field(min_length=1, max_length=FILE_NAME_MAX)
    content_type: str = Field(min_length=3, max_length=255)
    data: bytes = Field(min_length=1)


class StoredFile(_Model):
    """A stored file; ``data`` is None where only what describes it was read."""

    id: str
    conversation_id: int
    name: str
    content_type: str
    size: int
    created_by: int | None = None
    created_at: datetime
    data: bytes | None = Field(default=None, exclude=True, repr=False)


class SavedReply(NewSavedReply):
    """A stored saved reply, shared by the whole team; titles are unique, compared
    case-insensitively (``title_key``)."""

    id: int
    created_by: int | None = None
    created_at: datetime
    updated_at: datetime


def _tag_character(char: str) -> bool:
    """A letter or digit of any script (with its accents: "İ" lower-cased is "i" and a
    combining dot), a space, ``-`` or ``_``."""
    return char.isalnum() or char in " -_" or unicodedata.category(char).startswith("M")


def normalize_tag(value: str) -> str:
    """A tag as stored: trimmed, inner whitespace one space, lower case, NFC; 1 to
    ``TAG_MAX_LENGTH`` letters, digits, spaces, ``-`` and ``_``. ``ValueError`` otherwise."""
    tag = unicodedata.normalize("NFC", " ".join(value.split()).lower())
    if not tag:
        raise ValueError("a tag cannot be blank")
    if len(tag) > TAG_MAX_LENGTH:
        raise ValueError(f"a tag is at most {TAG_MAX_LENGTH} characters")
    if not all(_tag_character(char) for char in tag):
        raise ValueError("a tag holds only letters, digits, spaces, - and _")
    return tag


def clean_account_name(value: object) -> str | None:
    """The name an account shows the people it answers, as stored: trimmed, inner
    whitespace one space, NFC; blank is none (None). ``ValueError`` for anything but a
    string, one longer than ``ACCOUNT_NAME_MAX`` characters, or one with control
    characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a name is a string")
    name = unicodedata.normalize("NFC", " ".join(value.split()))
    if not name:
        return None
    if len(name) > ACCOUNT_NAME_MAX:
        raise ValueError(f"a name is at most {ACCOUNT_NAME_MAX} characters")
    if any(unicodedata.category(char)[0] == "C" for char in name):
        raise ValueError("a name holds no control characters")
    return name


def normalize_tags(value: Any) -> tuple[str, ...]:
    """Tags a bot gives (a webhook's answer, a knowledge-file entry): None is none; else a
    list of at most ``MAX_TAGS`` strings, each a tag (``normalize_tag``), kept once each, in
    order. ``ValueError`` says what is wrong, to follow the field's name."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValueError("must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValueError(f"holds more than {MAX_TAGS} tags")
    tags = []
    for index, typed in enumerate(value, start=1):
        try:
            tags.append(normalize_tag(typed))
        except ValueError as exc:
            raise ValueError(f"item {index} ({typed[:40]!r}): {exc}") from None
    return tuple(dict.fromkeys(tags))


class TagCount(_Model):
    """A tag in use: on how many conversations, and how many of them are not closed."""

    tag: str
    conversations: int = Field(ge=0)
    open: int = Field(ge=0)


class RatingComment(_Model):
    """A rating that came with a comment (the satisfaction stats list the newest)."""

    conversation_id: int
    display_name: str | None = None
    platform: Platform
    assigned_to: int | None = None
    rating: int = Field(ge=1, le=5)
    comment: str
    rated_at: datetime


class AgentSatisfaction(_Model):
    """The ratings of the conversations assigned to one account (``user_id`` None: to
    nobody)."""

    user_id: int | None = None
    rated: int = Field(ge=0)
    average: float
    satisfied: int = Field(ge=0)


class Satisfaction(_Model):
    """The ratings people gave their conversations in a period: how many, their average,
    how many were satisfied (4 or 5: the CSAT rate is ``satisfied / rated``), each score's
    count (``by_score[0]`` is 1), per assignee, and the newest comments."""

    rated: int = Field(ge=0)
    average: float | None = None
    satisfied: int = Field(ge=0)
    by_score: list[int]
    by_agent: list[AgentSatisfaction] = Field(default_factory=list)
    comments: list[RatingComment] = Field(default_factory=list)


class ReadMark(_Model):
    """How far one account has read one conversation: its ``message_count`` when the account
    last had it open (the inbox's unread count is the conversation's count past it). Kept
    per account, so it is the same on every device the account signs in on."""

    user_id: int
    conversation_id: int
    message_count: int = Field(ge=0)
    read_at: datetime


class UnansweredQuestion(_Model):
    """A bot answer below the escalation threshold (the bot could not answer well), with the
    person's message it answered: what the knowledge or the bot is missing."""

    answer_id: int
    conversation_id: int
    created_at: datetime
    confidence: float
    intent: str | None = None
    question_id: int | None = None  # None: the person's message is gone, or was not named
    question: str | None = None


class UnansweredPage(_Model):
    """Newest first; ``next_before`` continues the walk further back (None: at the start)."""

    questions: list[UnansweredQuestion]
    next_before: int | None


def saved_reply_key(title: str) -> str:
    """What two titles share when they name the same reply: case-folded, inner spaces
    collapsed (the stores' unique index is on it)."""
    return " ".join(title.casefold().split())


class TrackResult(_Model):
    """What ``track_inbound`` did: the stored message, its conversation, and what was new."""

    conversation: Conversation
    message: Message
    created: bool
    conversation_created: bool
    spooled: Literal[False] = False


class SpooledResult(_Model):
    """What ``track_inbound`` did while the store was unavailable: the message waits in the
    local spool (``services/spool.py``) and has no conversation yet. Channels acknowledge it
    as queued; ``created`` is False for a redelivery already spooled."""

    message: InboundMessage
    seq: int
    created: bool
    received_at: datetime
    spooled: Literal[True] = True


class ConversationFilter(_Model):
    """Filters for conversation lists; every field is optional and they combine with AND.

    Unknown fields are refused (``extra="forbid"``), and a store refuses a filter it does not
    implement: a filter that went missing on the way would list everyone's conversations.
    ``external_user_id`` is a platform's id for a person, so it comes with ``platform``.
    """

    model_config = ConfigDict(extra="forbid")

    status: ConversationStatus | None = None
    platform: Platform | None = None
    external_user_id: str | None = Field(default=None, min_length=1, max_length=256)
    needs_human: bool | None = None
    handled_by: HandledBy | None = None
    assigned_to: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # a 64-bit id
    unassigned: bool | None = None
    # Unread by this account: messages past its read mark, or never opened by it.
    unread_by: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    tag: str | None = None  # conversations carrying this tag (normalised as stored)
    search: str | None = Field(default=None, max_length=200)
    sort: ConversationSort = "last_activity"

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_as_stored(cls, value: Any) -> Any:
        return normalize_tag(value) if isinstance(value, str) else value

    @field_validator("search", "external_user_id", mode="before")
    @classmethod
    def _as_stored(cls, value: Any) -> Any:
        """Text is compared with stored text, which holds no NUL and no lone surrogate (a
        NUL also broke the Supabase query: jsonb refuses it)."""
        if isinstance(value, str):
            return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
        return value

    @model_validator(mode="after")
    def _person_needs_platform(self) -> "ConversationFilter":
        if self.external_user_id is not None and self.platform is None:
            raise ValueError("external_user_id needs platform")
        return self


class ConversationPage(_Model):
    """One page of a keyset-paginated conversation list."""

    conversations: list[Conversation]
    next_cursor: str | None = None

    @classmethod
    def from_rows(
        cls, rows: list[Conversation], limit: int, sort: "ConversationSort"
    ) -> "ConversationPage":
        """The page from ``limit + 1`` fetched rows: the extra row says a next page exists."""
        conversations = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = ConversationCursor.after(conversations[-1], sort).encode()
        return cls(conversations=conversations, next_cursor=next_cursor)


class PlatformStats(_Model):
    conversations: int = 0
    active_conversations: int = 0
    messages: int = 0


class HourBucket(_Model):
    """Messages created in one UTC hour, and how many of them were flagged for a human."""

    hour: datetime
    messages: int = 0
    escalations: int = 0


class DayBucket(_Model):
    """Messages created in one UTC day (``day`` is its 00:00 UTC), and how many were flagged."""

    day: datetime
    messages: int = 0
    escalations: int = 0


class Stats(_Model):
    """Aggregates over every conversation, computed by the store in SQL."""

    total_conversations: int
    active_conversations: int
    total_messages: int
    messages_requiring_human: int
    conversations_needing_human: int
    escalated_conversations: int
    escalation_rate: float
    avg_messages_per_conversation: float
    avg_first_human_response_seconds: float | None
    median_first_human_response_seconds: float | None = None
    handed_to_human_conversations: int = 0
    handoff_rate: float = 0.0
    bot_resolved_conversations: int = 0
    bot_resolved_rate: float = 0.0
    by_platform: dict[str, PlatformStats]
    messages_per_hour: list[HourBucket]
    messages_per_day: list[DayBucket]
    timestamp: datetime


class AccountStats(_Model):
    """What one account did in a period (``ConversationStore.team_stats``), and the open
    conversations assigned to it now. A first response is a conversation whose first human
    reply, in the period, was the account's; its seconds run from the escalation (None
    when none of them was escalated before that reply)."""

    user_id: int
    email: str
    role: UserRole
    disabled: bool
    replies: int = 0
    conversations_replied: int = 0
    picked_up: int = 0
    handed_back: int = 0
    closed: int = 0
    notes: int = 0
    first_responses: int = 0
    median_first_response_seconds: float | None = None
    avg_first_response_seconds: float | None = None
    open_assigned: int = 0


class AdminUser(_Model):
    """A person who signs in to the admin panel."""

    id: int
    email: str
    role: UserRole
    password_hash: str = Field(repr=False)
    created_at: datetime
    disabled: bool = False
    # Auto-assignment (AUTO_ASSIGN): whether the account takes new conversations now, and
    # when it was last given one (the longest without one goes first among equals).
    available: bool = False
    last_assigned_at: datetime | None = None
    # When a page of the panel last said it was open (online; OFFLINE_AFTER_SECONDS).
    last_seen_at: datetime | None = None
    # The name people the account answers see above its replies ("Sam"); None: "Team".
    display_name: str | None = None


class ApiToken(_Model):
    """A bearer token for the admin API; only its hash is stored."""

    id: int
    user_id: int
    name: str
    token_hash: str = Field(repr=False)
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Job(_Model):
    """Durable background work about one message: answer it (``respond``) or send it (``send``).

    Jobs are created by the store in the same transaction as their message, so anything
    acknowledged to a platform has its job; a crashed worker's job is claimed again once
    its lease (``locked_until``) runs out.
    """

    id: int
    kind: JobKind
    message_id: int
    conversation_id: int
    status: JobStatus = "queued"
    attempts: int = 0
    run_after: datetime
    locked_until: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    # The job's message and conversation as they were when it was claimed (``claim_jobs``
    # reads them in the same call); None when they are gone, and for a later job of the
    # same conversation in one batch (an earlier job may have changed them): read them fresh.
    message: Message | None = None
    conversation: Conversation | None = None


class ConversationCursor(_Model):
    """The position after the last row of a page, for the given sort order.

    ``needs_human`` and ``waiting_since`` came with the ``waiting`` sort: they are optional so
    that cursors issued before still decode, and left out of the token when None (a missing
    ``waiting_since`` is the same as a null one). A ``waiting`` cursor must carry
    ``needs_human``.
    """

    sort: ConversationSort
    last_message_at: datetime
    # Bounded like the rows they come from: a forged cursor must not reach a store with an
    # id SQLite cannot bind (a 500 before); it is an invalid cursor.
    priority: int = Field(ge=1, le=5)
    id: int = Field(ge=1, le=2**63 - 1)
    needs_human: bool | None = None
    waiting_since: datetime | None = None

    @model_validator(mode="after")
    def _waiting_needs_its_keys(self) -> "ConversationCursor":
        if self.sort == "waiting" and self.needs_human is None:
            raise ValueError("a 'waiting' cursor needs needs_human")
        return self

    def encode(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "ConversationCursor":
        """Parse a cursor string; raises ``ValueError`` on anything malformed."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return cls.model_validate_json(raw)
        except Exception as exc:  # any garbage is one kind of error for the caller
            raise ValueError("invalid cursor") from exc

    @classmethod
    def after(cls, conversation: Conversation, sort: ConversationSort) -> "ConversationCursor":
        """The cursor just past ``conversation`` in ``sort`` order (the sort keys it needs)."""
        waiting = sort == "waiting"
        return cls(
            sort=sort,
            last_message_at=conversation.last_message_at,
            priority=conversation.priority,
            id=conversation.id,
            needs_human=conversation.needs_human if waiting else None,
            waiting_since=conversation.waiting_since if waiting else None,
        )


def preview(text: str, attachments: list[dict[str, Any]] | None = None) -> str:
    """The short one-line form of a message shown in the inbox: its text, or for a message
    of files alone the first one's name ("📎 quote.pdf +1")."""
    flat = " ".join(text.split())
    if not flat and attachments:
        first = attachments[0] if isinstance(attachments[0], dict) else {}
        name = first.get("name") or first.get("title") or first.get("type") or "file"
        more = f" +{len(attachments) - 1}" if len(attachments) > 1 else ""
        flat = " ".join(f"📎 {name}{more}".split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"
