"""Turns a Messenger Platform webhook body into typed events (pure: no I/O, no clock).

Facebook batches: one POST may carry several ``entry`` objects, each with ``messaging``
events (our app owns the thread) and ``standby`` events (another app, such as the Page
inbox, owns it). Every event is returned, sorted by timestamp; a malformed event is
skipped with a warning so one bad piece never costs the rest of the batch.

The body is cleaned first (``clean_json``), because JSON can carry what neither store nor a
JSON encoder takes: lone UTF-16 surrogates (``"\\ud800"``) become U+FFFD, NUL characters are
dropped, ``NaN``/``Infinity`` become null, and nesting deeper than ``MAX_DEPTH`` is cut off.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timezone
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

# Numbers below this are seconds, not milliseconds (some documented examples use seconds).
_SECONDS_LIMIT = 100_000_000_000
# Real webhooks nest about 8 levels; attachment payloads are kept as JSON, and a deeper
# value could not be encoded again (recursion limits of json, PostgreSQL's jsonb, browsers).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` without NUL characters and with lone surrogates as U+FFFD (storable text)."""
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def clean_json(value: Any, depth: int = 0) -> Any:
    """A JSON value every store and encoder accepts (see the module docstring)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {clean_text(k): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


class NotAPageWebhook(ValueError):
    """The body is not a Messenger webhook for a Page (``object != "page"`` or no entries)."""


class Attachment(BaseModel):
    """One attachment, flattened: type and URL for media, coordinates for a location."""

    model_config = ConfigDict(extra="ignore")

    type: str
    url: str | None = None
    title: str | None = None
    coordinates: dict[str, float] | None = None
    sticker_id: int | None = None
    payload: dict[str, Any] | None = None  # templates and anything without a plain URL

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sender_id: str = Field(min_length=1)
    recipient_id: str = Field(min_length=1)
    timestamp: datetime
    timestamp_ms: int
    page_id: str | None = None
    standby: bool = False


class MessageEvent(_Event):
    """A message sent to the Page, or (``is_echo``) one the Page sent."""

    kind: Literal["message"] = "message"
    mid: str = Field(min_length=1)
    text: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    quick_reply_payload: str | None = None
    reply_to: str | None = None
    is_echo: bool = False
    app_id: str | None = None
    metadata: str | None = None


class PostbackEvent(_Event):
    """A tap on a postback button, Get Started or a persistent-menu item."""

    kind: Literal["postback"] = "postback"
    mid: str | None = None
    title: str | None = None
    payload: str | None = None
    referral: dict[str, Any] | None = None


class DeliveryEvent(_Event):
    """Every message the Page sent before ``watermark`` was delivered."""

    kind: Literal["delivery"] = "delivery"
    watermark: datetime
    mids: list[str] = Field(default_factory=list)


class ReadEvent(_Event):
    """Every message the Page sent up to ``watermark`` was read."""

    kind: Literal["read"] = "read"
    watermark: datetime


class ReactionEvent(_Event):
    """The person reacted to (or took back a reaction from) the message ``mid``."""

    kind: Literal["reaction"] = "reaction"
    mid: str = Field(min_length=1)
    action: Literal["react", "unreact"]
    reaction: str | None = None
    emoji: str | None = None


class UnknownEvent(_Event):
    """A kind we do not handle (optin, referral, handover, edits…): logged and acknowledged."""

    kind: Literal["unknown"] = "unknown"
    fields: list[str] = Field(default_factory=list)


MessengerEvent = Union[
    MessageEvent, PostbackEvent, DeliveryEvent, ReadEvent, ReactionEvent, UnknownEvent
]

_ENVELOPE = {"sender", "recipient", "timestamp"}


def to_datetime(value: Any) -> tuple[datetime, int]:
    """A Facebook timestamp (ms, or s; number or numeric string) as UTC and as ms."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        number = float(value)
        ms = int(number if number >= _SECONDS_LIMIT else number * 1000)
        if ms < 0:
            raise ValueError
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc), ms
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"not a timestamp: {value!r}") from None


def _id(party: Any) -> str | None:
    if not isinstance(party, dict):
        return None
    value = party.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _attachment(raw: Any) -> Attachment:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ValueError("attachment without a type")
    payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
    coords = payload.get("coordinates")
    if isinstance(coords, dict):
        coords = {k: v for k, v in coords.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
    sticker = payload.get("sticker_id")
    url = payload.get("url") or raw.get("url")
    known = {"url", "coordinates", "sticker_id", "title"}
    rest = {k: v for k, v in payload.items() if k not in known}
    return Attachment(
        type=raw["type"],
        url=url if isinstance(url, str) else None,
        title=_opt_str(raw.get("title") or payload.get("title")),
        coordinates=coords if isinstance(coords, dict) else None,
        sticker_id=sticker if isinstance(sticker, int) and not isinstance(sticker, bool) else None,
        payload=rest or None,
    )


def _message(base: dict[str, Any], raw: Any) -> MessageEvent:
    if not isinstance(raw, dict):
        raise ValueError("message is not an object")
    attachments = raw.get("attachments") or []
    if not isinstance(attachments, list):
        raise ValueError("attachments is not a list")
    quick_reply = raw.get("quick_reply")
    reply_to = raw.get("reply_to")
    return MessageEvent(
        **base,
        mid=raw.get("mid"),
        text=_opt_str(raw.get("text")),
        attachments=[_attachment(a) for a in attachments],
        quick_reply_payload=_opt_str(quick_reply.get("payload"))
        if isinstance(quick_reply, dict) else None,
        reply_to=_opt_str(reply_to.get("mid")) if isinstance(reply_to, dict) else None,
        is_echo=raw.get("is_echo") is True,
        app_id=_opt_str(raw.get("app_id")),
        metadata=_opt_str(raw.get("metadata")),
    )


def _postback(base: dict[str, Any], raw: Any) -> PostbackEvent:
    if not isinstance(raw, dict):
        raise ValueError("postback is not an object")
    referral = raw.get("referral")
    return PostbackEvent(
        **base,
        mid=_opt_str(raw.get("mid")),
        title=_opt_str(raw.get("title")),
        payload=_opt_str(raw.get("payload")),
        referral=referral if isinstance(referral, dict) else None,
    )


def _watermark(raw: Any) -> datetime:
    if not isinstance(raw, dict) or "watermark" not in raw:
        raise ValueError("receipt without a watermark")
    return to_datetime(raw["watermark"])[0]


def parse_event(raw: Any, page_id: str | None, entry_time: Any, standby: bool) -> MessengerEvent:
    """One ``messaging``/``standby`` item as a typed event; ``ValueError`` if malformed."""
    if not isinstance(raw, dict):
        raise ValueError("event is not an object")
    sender, recipient = _id(raw.get("sender")), _id(raw.get("recipient"))
    if sender is None:
        raise ValueError("event without a sender id")
    if recipient is None:
        recipient = page_id
    if recipient is None:
        raise ValueError("event without a recipient id")
    stamp = raw.get("timestamp")
    if stamp is None:  # delivery receipts are documented without one
        stamp = (raw.get("delivery") or {}).get("watermark") if isinstance(
            raw.get("delivery"), dict) else None
        stamp = stamp if stamp is not None else entry_time
    when, ms = to_datetime(stamp)
    base = dict(sender_id=sender, recipient_id=recipient, timestamp=when, timestamp_ms=ms,
                page_id=page_id, standby=standby)
    try:
        if "message" in raw:
            return _message(base, raw["message"])
        if "postback" in raw:
            return _postback(base, raw["postback"])
        if "delivery" in raw:
            watermark = _watermark(raw["delivery"])
            mids = raw["delivery"].get("mids")
            mids = [m for m in mids if isinstance(m, str)] if isinstance(mids, list) else []
            return DeliveryEvent(**base, watermark=watermark, mids=mids)
        if "read" in raw:
            return ReadEvent(**base, watermark=_watermark(raw["read"]))
        if "reaction" in raw:
            r = raw["reaction"]
            if not isinstance(r, dict):
                raise ValueError("reaction is not an object")
            return ReactionEvent(**base, mid=r.get("mid"), action=r.get("action"),
                                 reaction=_opt_str(r.get("reaction")),
                                 emoji=_opt_str(r.get("emoji")))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return UnknownEvent(**base, fields=sorted(set(raw) - _ENVELOPE))


def parse_webhook(body: Any) -> list[MessengerEvent]:
    """Every event of a Page webhook body, sorted by timestamp (stable).

    Raises ``NotAPageWebhook`` when the body is not a Page webhook at all.
    """
    body = clean_json(body)
    if not isinstance(body, dict) or body.get("object") != "page":
        raise NotAPageWebhook("the body is not a Messenger webhook for a Page")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise NotAPageWebhook("the body has no entry list")
    events: list[MessengerEvent] = []
    for e_index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            log.warning("messenger webhook: entry %d is not an object; skipped", e_index)
            continue
        page_id = _id(entry)
        for field, standby in (("messaging", False), ("standby", True)):
            items = entry.get(field)
            if items is None:
                continue
            if not isinstance(items, list):
                log.warning("messenger webhook: entry %d %s is not a list; skipped",
                            e_index, field)
                continue
            for i_index, item in enumerate(items):
                try:
                    events.append(parse_event(item, page_id, entry.get("time"), standby))
                except (ValueError, TypeError) as exc:
                    log.warning("messenger webhook: entry %d %s[%d] skipped: %s",
                                e_index, field, i_index, exc)
    events.sort(key=lambda event: event.timestamp_ms)
    return events
