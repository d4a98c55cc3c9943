"""``GET /admin/export``: conversations with their messages for a date range, streamed; and
``GET /admin/conversations/<id>/transcript``, one conversation as text.

Conversations are read page by page through the tracker (newest activity first, keyset
cursor), and the messages of a page's conversations ``MESSAGE_PAGE`` at a time, in one store
call each, so memory stays flat however large the range (one conversation's messages are
held until its last one is read).

An export is long (1,000,000 messages: about 40 s, 175 MB of CSV) and, on SQLite, never
waits on a socket: each page is read in a millisecond without leaving gevent's loop, and
writing a chunk returns at once while the client keeps up. So the stream hands the loop to
the worker's other greenlets (webhooks, sockets, the bot) at least every ``SLICE_SECONDS``
(``shared``); before, one export held a worker, and every webhook sent to it, for the whole
of it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from time import monotonic
from typing import Iterator

from flask import Response, stream_with_context

from admin_app import get_services
from admin_app.api import _query, bp
from admin_app.auth import login_required
from admin_app.extensions import socketio
from admin_app.pages import person_name
from admin_app.schemas import ExportQuery, parse_period
from services.errors import InvalidInput
from services.models import Activity, Conversation, ConversationFilter, Message

CONVERSATION_PAGE = 200
MESSAGE_PAGE = 500
DEFAULT_DAYS = 30
SLICE_SECONDS = 0.01  # the longest an export runs before the worker's other greenlets do
YIELD_SECONDS = 0.0001  # the pause it then makes (``shared``)

CSV_COLUMNS = [
    "conversation_id", "platform", "external_user_id", "display_name", "conversation_status",
    "handled_by", "needs_human", "message_id", "created_at", "sender_type", "sender_id",
    "content", "attachments", "delivery_status", "delivery_error", "confidence_score",
    "requires_human", "human_reason", "human_replied", "replied_by", "replied_at",
    # Added later, last, so the columns before keep their places.
    "conversation_tags", "conversation_rating", "conversation_rating_comment",
]


def _range(query: ExportQuery) -> tuple[datetime, datetime]:
    # Without ``to``: everything up to now, this very second included.
    start, end = parse_period(query.from_, query.to, ("from", "to"), "range",
                              get_services().clock() + timedelta(seconds=1), DEFAULT_DAYS)
    if start >= end:
        raise InvalidInput("from must be before to")
    return start, end


def conversations_in(start: datetime, end: datetime, with_activity: bool = False,
                     tag: str | None = None
                     ) -> Iterator[tuple[Conversation, list[Message], list[Activity]]]:
    """Every conversation with activity in [start, end) (with ``tag``, those that have it
    now), with its messages in that range, and (``with_activity``) the lines of its
    activity trail written in it."""
    tracker = get_services().tracker
    listed = ConversationFilter(sort="last_activity", tag=tag)
    cursor = None
    while True:
        page = tracker.list(listed, CONVERSATION_PAGE, cursor)
        chosen, older_follow = [], False
        for conversation in page.conversations:
            if conversation.last_message_at < start:
                older_follow = True  # newest activity first: everything after this is older
                break
            if conversation.created_at < end:
                chosen.append(conversation)
        activity = _activity_of(chosen, start, end) if with_activity else {}
        for conversation, messages in _with_messages(chosen, start, end):
            yield conversation, messages, activity.get(conversation.id, [])
        if older_follow or not page.next_cursor:
            return
        cursor = page.next_cursor


def _with_messages(conversations: list[Conversation], start: datetime,
                   end: datetime) -> Iterator[tuple[Conversation, list[Message]]]:
    """Each of ``conversations`` that has messages in [start, end), with them, in the same
    order: ``MESSAGE_PAGE`` messages per store call, whichever conversations they are of
    (over Supabase a call is a round trip; one per conversation made exports crawl)."""
    if not conversations:
        return
    tracker = get_services().tracker
    by_id = {c.id: c for c in conversations}
    held: list[Message] = []
    after = None
    while True:
        batch = tracker.messages_in(list(by_id), start, end, MESSAGE_PAGE, after)
        for message in batch:
            if held and message.conversation_id != held[0].conversation_id:
                yield by_id[held[0].conversation_id], held
                held = []
            held.append(message)
        if len(batch) < MESSAGE_PAGE:
            break
        after = (batch[-1].conversation_id, batch[-1].id)
    if held:
        yield by_id[held[0].conversation_id], held


def _activity_of(conversations: list[Conversation], start: datetime,
                 end: datetime) -> dict[int, list[Activity]]:
    """The trail lines of a page of conversations written in [start, end), by conversation:
    ``MESSAGE_PAGE`` lines per store call (a trail is short: its people's actions and notes)."""
    lines: dict[int, list[Activity]] = {}
    if not conversations:
        return lines
    ids = [c.id for c in conversations]
    after = None
    while True:
        batch = get_services().tracker.activity_in(ids, start, end, MESSAGE_PAGE, after)
        for line in batch:
            lines.setdefault(line.conversation_id, []).append(line)
        if len(batch) < MESSAGE_PAGE:
            return lines
        after = (batch[-1].conversation_id, batch[-1].id)


def shared(chunks: Iterator[str]) -> Iterator[str]:
    """``chunks``, letting the worker's other greenlets run whenever ``SLICE_SECONDS`` have
    gone by since they last could (``socketio.sleep``: gevent's, or a thread's).

    The pause is ``YIELD_SECONDS``, not 0. gevent's ``sleep(0)`` only queues this greenlet
    behind the loop's pending callbacks, and the loop polls sockets only between rounds of
    callbacks, checking the time once every 50 of them: when the export is the only one
    queued, it ran again and again before any socket was read, and a webhook waited about
    200 ms for its request to be read. A timer, however short, fires only after a poll."""
    until = monotonic() + SLICE_SECONDS
    for chunk in chunks:
        yield chunk
        if monotonic() >= until:
            socketio.sleep(YIELD_SECONDS)
            until = monotonic() + SLICE_SECONDS


def _cell(value) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with a '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False) if value else ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(start: datetime, end: datetime, tag: str | None) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for conversation, messages, _ in conversations_in(start, end, tag=tag):
        for m in messages:
            writer.writerow([_cell(v) for v in (
                conversation.id, conversation.platform, conversation.external_user_id,
                conversation.display_name, conversation.status, conversation.handled_by,
                conversation.needs_human, m.id, m.created_at, m.sender_type, m.sender_id,
                m.content, m.attachments, m.delivery_status, m.delivery_error,
                m.confidence_score, m.requires_human, m.human_reason, m.human_replied,
                m.replied_by, m.replied_at, ", ".join(conversation.tags),
                conversation.rating, conversation.rating_comment,
            )])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _json(start: datetime, end: datetime, tag: str | None) -> Iterator[str]:
    yield json.dumps({"success": True, "from": start.isoformat(), "to": end.isoformat()})[:-1]
    yield ', "conversations": ['
    first = True
    for conversation, messages, activity in conversations_in(start, end, with_activity=True,
                                                             tag=tag):
        item = conversation.model_dump(mode="json")
        item["messages"] = [m.model_dump(mode="json") for m in messages]
        item["activity"] = [a.model_dump(mode="json") for a in activity]
        yield ("" if first else ",\n") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "]}\n"


@bp.get("/export")
@login_required
def export():
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|json&tag=…`` (default: the last 30 days,
    every conversation, CSV)."""
    query = _query(ExportQuery)
    fmt = query.format
    start, end = _range(query)
    body = (_csv if fmt == "csv" else _json)(start, end, query.tag)
    name = f"switchboard-{start:%Y%m%d}-{end:%Y%m%d}.{fmt}"
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    return Response(
        stream_with_context(shared(body)),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )


# -- one conversation as text ----------------------------------------------------------------
TRANSCRIPT_PAGE = 500
SENDERS = {"bot": "Bot", "system": "Notice"}


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _transcript_line(person: str, message: Message) -> str:
    """A message as a transcript line: when, who, what (more lines indented under it), then
    each attachment as its kind, its name (a file sent in the conversation has one) and
    link."""
    who = (person if message.sender_type == "user" else SENDERS.get(message.sender_type)
           or message.sender_id or "Agent")
    text = message.content.replace("\r\n", "\n").replace("\n", "\n    ")
    lines = [f"[{_when(message.created_at)}] {who}: {text}".rstrip()]
    for attachment in message.attachments:
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        url = attachment.get("url") or payload.get("url") or ""
        kind = attachment.get("type") or "file"
        name = attachment.get("name")
        named = f"{kind} {name}" if isinstance(name, str) and name else kind
        lines.append(f"    ({named}{': ' + url if url else ''})")
    return "\n".join(lines) + "\n"


@bp.get("/conversations/<int:conversation_id>/transcript")
@login_required
def transcript(conversation_id: int):
    """One conversation as plain text to save or pass on: who wrote what and when (UTC),
    oldest first, attachments as links; the team's notes and trail are not in it. Streamed,
    ``TRANSCRIPT_PAGE`` messages a store call. 404 for an unknown conversation."""
    tracker = get_services().tracker
    conversation = tracker.get(conversation_id)  # NotFound: a 404 before anything is sent
    person = person_name(conversation)

    def lines() -> Iterator[str]:
        platform = "Messenger" if conversation.platform == "messenger" else "Web chat"
        yield f"Conversation {conversation.id} · {platform} · {person}\n"
        facts = [f"Started {_when(conversation.created_at)}", conversation.status]
        if conversation.rating:
            facts.append(f"rated {conversation.rating}/5")
        yield " · ".join(facts) + "\n\n"
        after = 0
        while True:
            page = tracker.history(conversation_id, TRANSCRIPT_PAGE, after=after)
            for message in page:
                yield _transcript_line(person, message)
            if len(page) < TRANSCRIPT_PAGE:
                return
            after = page[-1].id

    return Response(
        stream_with_context(shared(lines())),
        mimetype="text/plain",
        headers={"Content-Disposition":
                 f'attachment; filename="conversation-{conversation_id}.txt"',
                 "Cache-Control": "no-store"},
    )
