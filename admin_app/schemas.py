"""Request and response bodies of the admin JSON API, as pydantic models.

The routes validate their input with the request models and build every JSON answer through
a response model (``respond``), and ``admin_app.openapi`` generates the OpenAPI document
from the same classes, so the description cannot drift from what is sent. The domain values
inside (conversations, messages, stats) are the models of ``services.models``, reused as they
are.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Literal

from flask import Response, jsonify
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from services.errors import InvalidInput
from services.models import (
    AWAY_MESSAGE_MAX,
    HOURS_SCHEDULE_MAX,
    MAX_CLOSED_DATES,
    MAX_REPLY_FILES,
    MAX_TAGS_LISTED,
    NOTE_MAX_LENGTH,
    SAVED_REPLY_BODY_MAX,
    SAVED_REPLY_TITLE_MAX,
    TAG_MAX_LENGTH,
    AccountStats,
    Activity,
    Conversation,
    ConversationFilter,
    Message,
    NewSavedReply,
    ReadMark,
    SavedReply,
    Satisfaction,
    Stats,
    TagCount,
    UnansweredQuestion,
    UserRole,
    clean_account_name,
    normalize_tag,
    utc,
)

# The largest id the stores hold (a signed 64-bit integer, as SQLite and PostgreSQL bigint).
MAX_ID = 2**63 - 1
MAX_COUNT = 2**31 - 1  # the largest count the stores hold (PostgreSQL integer)


class _Query(BaseModel):
    """Query strings and bodies: unknown keys (cache busters) are ignored."""

    model_config = ConfigDict(extra="ignore")


class _Body(_Query):
    """A JSON body: types as the document says them (``true`` is not the id 1, ``"2"`` is not
    the priority 2), unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class _Answer(BaseModel):
    """A JSON answer: every key is always present (``null`` when empty)."""

    model_config = ConfigDict(
        json_schema_mode_override="serialization", json_schema_serialization_defaults_required=True
    )


# --- what the routes accept -------------------------------------------------------------


class ConversationListQuery(ConversationFilter):
    """Query string of ``GET /admin/conversations``.

    Unknown parameters (a front end's ``_=<timestamp>`` cache buster, say) are ignored
    here, before the filter is built; the filter itself stays strict."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=100, ge=1, description="page size, capped at API_MAX_PAGE_SIZE")
    cursor: str | None = Field(default=None, max_length=512,
                               description="the previous page's next_cursor")
    q: str | None = Field(default=None, max_length=200, description="the same as search")
    assigned_to: int | None = Field(default=None, ge=1, le=MAX_ID)
    unread: bool | None = Field(default=None, description="true: only conversations with "
                                "messages the caller has not read (or never opened)")
    # Set from ``unread``, for the caller only: never read from the query string.
    unread_by: SkipJsonSchema[int | None] = Field(default=None, exclude=True)


class HistoryQuery(_Query):
    """``limit`` messages, the latest ones unless ``before``/``after`` (message ids) page."""

    limit: int = Field(default=50, ge=1, description="capped at API_MAX_PAGE_SIZE")
    before: int | None = Field(default=None, ge=1, le=MAX_ID)
    after: int | None = Field(default=None, ge=1, le=MAX_ID)


class UnansweredQuery(_Query):
    """The walk's start: the ``next_before`` of the page before (none: from the newest)."""

    before: int | None = Field(default=None, ge=1, le=MAX_ID)


class ActivityQuery(_Query):
    """``limit`` lines of a conversation's activity trail, the latest unless ``before`` (a
    line id) pages back."""

    limit: int = Field(default=50, ge=1, description="capped at API_MAX_PAGE_SIZE")
    before: int | None = Field(default=None, ge=1, le=MAX_ID)


# The bounds of the export and the team stats are parsed by parse_period; the document says
# what they look like, so a fuzzer tries real dates, the first and last ones included.
# An empty value means the default, as if it were not given.
_DAY_OR_TIME = {"type": "string",
                "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}]}


def parse_moment(value: str, name: str, end_of_day: bool) -> datetime:
    """``YYYY-MM-DD`` (a whole day: its start, or with ``end_of_day`` the next day's, so
    that an end takes the day in) or an ISO-8601 time; naive times are UTC. ``InvalidInput``
    for anything else; ``OverflowError`` past the year 9999."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time.min, tzinfo=timezone.utc)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"invalid {name}: use YYYY-MM-DD or an ISO-8601 time") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def parse_period(start: str | None, end: str | None, names: tuple[str, str], what: str,
                 default_end: datetime, default_days: int) -> tuple[datetime, datetime]:
    """The [start, end) a query's two bounds name (``parse_moment``; ``names`` are the
    parameters', ``what`` the period's in errors), in UTC: without an end, ``default_end``;
    without a start, ``default_days`` before the end. ``InvalidInput`` for a bound that is no
    day or time, or a default that would leave the years 0001 to 9999."""
    try:
        until = parse_moment(end, names[1], end_of_day=True) if end else default_end
        since = (parse_moment(start, names[0], end_of_day=False) if start
                 else until - timedelta(days=default_days))
    except OverflowError:  # the day after 9999-12-31, or days before 0001-01-01
        raise InvalidInput(f"the {what} must stay within the years 0001 to 9999") from None
    return utc(since), utc(until)


class ExportQuery(_Query):
    """Query string of ``GET /admin/export`` (parsed by ``admin_app.export``)."""

    from_: str | None = Field(default=None, alias="from", json_schema_extra=_DAY_OR_TIME,
                              description="YYYY-MM-DD (inclusive) or an ISO-8601 time")
    to: str | None = Field(default=None, json_schema_extra=_DAY_OR_TIME,
                           description="YYYY-MM-DD (inclusive) or an ISO-8601 time")
    format: Literal["csv", "json"] = "csv"
    tag: str | None = Field(default=None, description="only the conversations with this tag "
                                                      "(as typed; empty: every one)")

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_as_stored(cls, value):
        """A form's "any tag" sends ``tag=``: no filter."""
        if isinstance(value, str):
            return normalize_tag(value) if value.strip() else None
        return value


class TeamStatsQuery(_Query):
    """Query string of ``GET /admin/stats/team`` (parsed by ``parse_period``)."""

    start: str | None = Field(default=None, json_schema_extra=_DAY_OR_TIME,
                              description="YYYY-MM-DD (from its start) or an ISO-8601 time; "
                                          "default: 7 days before end")
    end: str | None = Field(default=None, json_schema_extra=_DAY_OR_TIME,
                            description="YYYY-MM-DD (inclusive) or an ISO-8601 time "
                                        "(excluded); default: now")


MAX_READ_MARKS = 100  # conversations one GET /admin/read-marks names


class ReadMarksQuery(_Query):
    """Query string of ``GET /admin/read-marks``: ``ids=3,8,21``."""

    ids: str = Field(max_length=2000, pattern=r"^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18})*$",
                     description=f"conversation ids, comma-separated (at most {MAX_READ_MARKS})")

    def conversation_ids(self) -> list[int]:
        """The ids, once each in their order; ``InvalidInput`` for too many or too large."""
        ids = list(dict.fromkeys(int(i) for i in self.ids.split(",")))
        if len(ids) > MAX_READ_MARKS:
            raise InvalidInput(f"at most {MAX_READ_MARKS} conversation ids")
        if max(ids) > MAX_ID:
            raise InvalidInput(f"conversation ids are at most {MAX_ID}")
        return ids


class MarkHumanBody(_Body):
    """Optional body of ``mark-human``."""

    reason: str = Field(default="", max_length=500)
    priority: int = Field(default=2, ge=1, le=5, description="1 is the highest")


def _not_blank(what: str) -> AfterValidator:
    """Refuse text that is only white space, as "the <what> is empty"."""
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"the {what} is empty")
        return value
    return AfterValidator(check)


class ReplyBody(_Body):
    """An agent's reply: a text, files (uploaded to the conversation first), or both."""

    content: str = Field(default="", max_length=4000)
    attachments: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_REPLY_FILES,
        description="the file_id of each file to send, as POST .../files answered")

    @model_validator(mode="after")
    def _something(self) -> "ReplyBody":
        if not self.content.strip() and not self.attachments:
            raise ValueError("the reply is empty: write something or attach a file")
        return self


class HoursBody(_Body):
    """The business hours to put in force over the server's settings: every key is needed
    (a missing one is a 400, never read as "always open")."""

    schedule: str = Field(max_length=HOURS_SCHEDULE_MAX, description=(
        "weekly hours in the syntax of BUSINESS_HOURS: 'mon-fri 09:00-18:00; sat "
        "10:00-14:00' or the same as a JSON object's text; '' is always open"))
    timezone: str = Field(min_length=1, max_length=64, description="an IANA time zone")
    closed_dates: list[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]] = Field(
        max_length=MAX_CLOSED_DATES, description="whole days off, YYYY-MM-DD")
    away_message: str | None = Field(default=None, max_length=AWAY_MESSAGE_MAX, description=(
        "told to a person handed to the team outside the hours ({next_open}: when the team "
        "is back); '' sends HANDOFF_MESSAGE at any hour; null or absent: the server's "
        "AWAY_MESSAGE"))
    handoff_message: str | None = Field(default=None, max_length=AWAY_MESSAGE_MAX, description=(
        "told to a person handed to the team within the hours (at any hour without them); "
        "'' sends nothing; null or absent: the server's HANDOFF_MESSAGE"))

    def dates(self) -> list[date]:
        try:
            return sorted({date.fromisoformat(d) for d in self.closed_dates})
        except ValueError as exc:
            raise InvalidInput(f"closed_dates: {exc}") from None


class SavedReplyBody(_Body):
    """A saved reply as an admin writes it; ``{first_name}`` in the text becomes the
    person's first name (or "there") when an agent puts it in a reply."""

    title: Annotated[str, Field(max_length=SAVED_REPLY_TITLE_MAX), _not_blank("title")]
    body: Annotated[str, Field(max_length=SAVED_REPLY_BODY_MAX), _not_blank("text")]

    def new(self) -> NewSavedReply:
        return NewSavedReply(title=self.title, body=self.body)


class NoteBody(_Body):
    """A note for the team on a conversation; the person never sees it."""

    text: Annotated[str, Field(max_length=NOTE_MAX_LENGTH), _not_blank("note")]


class ReadBody(_Body):
    """``{"message_count": 12}``: the signed-in account has read the conversation up to its
    12th message (the count the page shows)."""

    message_count: int = Field(ge=0, le=MAX_COUNT)


# A tag as typed: stored normalised (trimmed, inner spaces one, lower case; 1 to 32 letters,
# digits, spaces, ``-`` and ``_``).
TypedTag = Annotated[str, Field(max_length=4 * TAG_MAX_LENGTH), AfterValidator(normalize_tag)]


class TagBody(_Body):
    """``{"tag": "Billing"}``: a tag as typed (``TypedTag``)."""

    tag: TypedTag


class AssignBody(_Body):
    """``{"user_id": 3}`` assigns, ``{"user_id": null}`` (or no body) unassigns."""

    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)


BULK_MAX = 100  # conversations one bulk action may change


class BulkBody(_Body):
    """``{"ids": [4, 9], "action": "close"}``: one action on several conversations (the
    inbox's selection). ``assign`` takes ``user_id`` (null unassigns); ``read`` marks them
    read for the caller up to their count now; ``tag`` and ``untag`` put ``tag`` on them or
    take it off."""

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=BULK_MAX,
        description=f"the conversations, at most {BULK_MAX}; one given twice is changed once")
    action: Literal["close", "reopen", "assign", "read", "tag", "untag"]
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                description="assign: the account (null: nobody)")
    tag: TypedTag | None = Field(
        default=None, description="tag and untag: the tag, as typed (stored as TagBody says)")

    @model_validator(mode="after")
    def _tag_actions_name_their_tag(self) -> "BulkBody":
        if self.action in ("tag", "untag") and self.tag is None:
            raise ValueError(f"{self.action} needs a tag")
        return self


class MeBody(_Body):
    """``{"display_name": "Sam"}``: the name the account shows the people it answers
    (trimmed, inner spaces made one; blank or null: none, the widget says "Team")."""

    display_name: str | None = Field(max_length=200)

    @field_validator("display_name")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return clean_account_name(value)


class AvailabilityBody(_Body):
    """``{"available": true}``: the account takes new conversations (auto-assignment)."""

    available: bool


# --- what the routes answer -------------------------------------------------------------


class ErrorBody(_Answer):
    """Every error of the admin API."""

    success: Literal[False] = False
    error: str = Field(description="what went wrong, in words an agent can read")


class PublicUser(_Answer):
    """An account as the API shows it: no password hash."""

    id: int
    email: str
    role: UserRole
    disabled: bool
    available: bool = Field(default=False, description="takes new conversations now "
                            "(auto-assignment, AUTO_ASSIGN)")
    last_seen_at: datetime | None = Field(default=None, description="when a page of the "
                                          "panel last said it was open for the account")
    online: bool = Field(default=False, description="a page of the panel open within "
                         "OFFLINE_AFTER_SECONDS")
    display_name: str | None = Field(default=None, description="the name the people the "
                                     "account answers see above its replies (null: none)")

    @classmethod
    def of(cls, user, online: bool = False) -> "PublicUser":
        """The public view of an ``AdminUser`` (``online``: ``tracker.is_online``)."""
        return cls(id=user.id, email=user.email, role=user.role, disabled=user.disabled,
                   available=user.available, last_seen_at=user.last_seen_at, online=online,
                   display_name=user.display_name)


class MessagingWindow(_Answer):
    """Messenger's reply window of a conversation."""

    state: Literal["open", "human_agent", "closed"]
    until: datetime | None
    label: str


class ConversationList(_Answer):
    success: Literal[True] = True
    conversations: list[Conversation]
    count: int
    next_cursor: str | None
    read: list[ReadMark] | None = Field(
        description="the signed-in account's read marks on these conversations (none for one "
                    "it never opened): a conversation's unread count is its message_count "
                    "past its mark's; null when the marks could not be read (the page still "
                    "answers)")


class ReadMarkList(_Answer):
    success: Literal[True] = True
    read: list[ReadMark] = Field(description="the signed-in account's marks on those "
                                             "conversations (none for one it never opened)")


class AllReadAnswer(_Answer):
    success: Literal[True] = True
    moved: int = Field(description="how many of the caller's marks moved")


class ReadAnswer(_Answer):
    success: Literal[True] = True
    read: ReadMark = Field(description="the account's mark as stored (it moves back only by "
                                       "a mark unread)")


class ConversationDetail(_Answer):
    success: Literal[True] = True
    conversation: Conversation
    messages: list[Message]
    window: MessagingWindow | None = Field(description="null on platforms other than Messenger")


class MessageList(_Answer):
    success: Literal[True] = True
    messages: list[Message]
    count: int


class ActivityList(_Answer):
    success: Literal[True] = True
    activity: list[Activity] = Field(description="oldest first; actor_id null: the bot, a "
                                     "rule or a sweep")
    count: int


class NoteAnswer(_Answer):
    success: Literal[True] = True
    activity: Activity = Field(description="the note, a line of kind note (detail.text)")


class HoursAnswer(_Answer):
    success: Literal[True] = True
    source: Literal["settings", "environment"] = Field(description=(
        "where the hours in force come from: set on Settings or through this API, or the "
        "server's BUSINESS_HOURS, BUSINESS_TIMEZONE and BUSINESS_CLOSED_DATES"))
    schedule: str = Field(description="'' when the team is always open")
    timezone: str
    closed_dates: list[date]
    away_message: str = Field(description="the text in force outside the hours ('': the "
                              "handoff message at any hour)")
    handoff_message: str = Field(description="the text in force within the hours ('': "
                                 "nothing)")
    status: dict | None = Field(description=(
        "as GET /chat/hours: open, closes_at, next_open, next_open_text, timezone; null "
        "when always open"))
    updated_by: int | None = Field(description="who set them (source settings)")
    updated_at: datetime | None


class SavedReplyList(_Answer):
    success: Literal[True] = True
    saved_replies: list[SavedReply] = Field(description="in title order")
    count: int


class Suggestion(BaseModel):
    """An entry of the FAQ bot's knowledge file close to the person's latest message."""

    intent: str
    question: str = Field(description="the entry's first question")
    answer: str = Field(description="what the reply box is filled with when it is used")
    score: float = Field(description="how close, 0-100 (the bot answers at FAQ_MIN_SCORE)")


class SuggestionList(_Answer):
    success: Literal[True] = True
    available: bool = Field(description="false: the bot is not the FAQ bot, nothing to suggest")
    message_id: int | None = Field(
        description="the person's latest message they answer; null when there is none with text")
    suggestions: list[Suggestion] = Field(description="best first, at most 3")


class UnansweredAnswer(_Answer):
    success: Literal[True] = True
    threshold: float = Field(description="ESCALATION_CONFIDENCE_THRESHOLD: answers below it")
    questions: list[UnansweredQuestion] = Field(description="newest first")
    next_before: int | None = Field(
        description="pass as before= for the next page; null: no older messages")


class SavedReplyAnswer(_Answer):
    success: Literal[True] = True
    saved_reply: SavedReply


class DoneAnswer(_Answer):
    success: Literal[True] = True


class ConversationAnswer(_Answer):
    success: Literal[True] = True
    conversation: Conversation


class HandlingAnswer(_Answer):
    success: Literal[True] = True
    conversation: Conversation
    changed: bool = Field(description="false when it was already handled that way")


class Attachment(BaseModel):
    """A file as a message carries it (``attachments``)."""

    type: Literal["image", "video", "audio", "file"] = Field(description=(
        "image, video and audio are shown as such (and sent to Messenger so); file is a "
        "download"))
    url: str = Field(description="where it is served, /files/<file_id>/<name>")
    name: str
    content_type: str
    size: int
    file_id: str


class FileAnswer(_Answer):
    success: Literal[True] = True
    attachment: Attachment = Field(description=(
        "the file stored; a reply names it in attachments by its file_id"))


class TagAnswer(_Answer):
    success: Literal[True] = True
    conversation: Conversation
    changed: bool = Field(description="false when the conversation already had (or, on "
                                      "removal, did not have) the tag")


class DeleteQuery(_Query):
    """Query string of ``DELETE /admin/conversations/<id>``."""

    person: bool = Field(default=False, description="also every other conversation of the "
                         "same person (platform and id), closed ones too: their erasure")


class DeletedAnswer(_Answer):
    success: Literal[True] = True
    deleted: list[int] = Field(description="the ids of the deleted conversations, in order")
    count: int = Field(description="how many were deleted")


class BulkFailure(_Answer):
    id: int
    error: str = Field(description="why this conversation was not changed")


class BulkAnswer(_Answer):
    success: Literal[True] = True
    done: list[int] = Field(description="the conversations changed, or already so, in the "
                            "order given")
    failed: list[BulkFailure] = Field(description="the others, each with why (unknown, or "
                                      "a reopening another open conversation of the person "
                                      "prevents)")


class ReleasedAnswer(_Answer):
    success: Literal[True] = True
    released: list[int] = Field(description="the ids of the conversations given back to "
                                "the team, in order")
    count: int = Field(description="how many were given back")
    handed_out: int = Field(description="how many of them auto-assignment gave to another "
                            "account at once (0 without AUTO_ASSIGN)")


class RetagAnswer(_Answer):
    success: Literal[True] = True
    tag: str | None = Field(description="the tag's new name (null: it was deleted)")
    conversations: int = Field(description="the conversations it was renamed or deleted on")


class TagList(_Answer):
    success: Literal[True] = True
    tags: list[TagCount] = Field(description="the tags in use, most used first (at most "
                                             f"{MAX_TAGS_LISTED})")
    count: int


class MessageAnswer(_Answer):
    success: Literal[True] = True
    message: Message


class FlagAnswer(_Answer):
    success: Literal[True] = True
    message: Message
    conversation: Conversation


class StatsAnswer(_Answer):
    success: Literal[True] = True
    stats: Stats


class SatisfactionAnswer(_Answer):
    success: Literal[True] = True
    start: datetime
    end: datetime
    satisfaction: Satisfaction = Field(
        description="the ratings people gave their closed conversations in [start, end): "
                    "rated, average, satisfied (4 or 5 of 5; the CSAT rate is satisfied / "
                    "rated), by_score (the counts of 1 to 5), by_agent (per assignee, most "
                    "rated first; user_id null: nobody), comments (the 10 newest with one)")


class TeamStatsAnswer(_Answer):
    success: Literal[True] = True
    start: datetime
    end: datetime
    accounts: list[AccountStats] = Field(
        description="each account that did anything in [start, end) or has open "
                    "conversations assigned now, in e-mail order")


class MeAnswer(_Answer):
    success: Literal[True] = True
    user: PublicUser


class UserList(_Answer):
    success: Literal[True] = True
    users: list[PublicUser]
    count: int


class ExportedConversation(Conversation):
    """A conversation of the JSON export, with its messages in the range and the lines of
    its activity trail (notes included) written in it."""

    messages: list[Message]
    activity: list[Activity]


class ExportJson(_Answer):
    """The JSON export (streamed: ``admin_app.export`` writes it piece by piece)."""

    model_config = ConfigDict(populate_by_name=True)

    success: Literal[True] = True
    from_: datetime = Field(alias="from")
    to: datetime
    conversations: list[ExportedConversation]


def respond(answer: BaseModel, status: int = 200) -> tuple[Response, int]:
    """The JSON response of a route, built from its response model."""
    return jsonify(answer.model_dump(mode="json", by_alias=True)), status
