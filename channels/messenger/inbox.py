"""``MessengerInbox``: turns parsed webhook events into tracker calls.

Redelivery is harmless: a message's ``mid`` is its external id, so the tracker stores it
once; receipts and reactions only move state forward or overwrite it with the same value.
No Graph API call and no bot call happen here -- the tracker stores the ``respond`` job
with the message and a background worker answers it.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Iterable

from pydantic import ValidationError

from channels.messenger.marks import OWN_METADATA_PREFIX, PROGRESS_KEY, parse_own_metadata
from channels.messenger.parser import (
    DeliveryEvent,
    MessageEvent,
    MessengerEvent,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
)
from channels.messenger.ratings import parse_rating_payload
from services.errors import Conflict, NotFound
from services.models import InboundMessage, Message
from services.tracking import ConversationTracker

log = logging.getLogger(__name__)

PLATFORM = "messenger"
# People of one delivery handled at once (each on a thread: a greenlet under gevent).
MAX_PARALLEL = 16
# MessengerSender puts OWN_METADATA_PREFIX in the Send API ``metadata``; Facebook echoes it
# back, so our own sends are recognised even when FACEBOOK_APP_ID is not configured.
__all__ = ["MessengerInbox", "OWN_METADATA_PREFIX", "PAGE_INBOX_SENDER", "PLATFORM"]
PAGE_INBOX_SENDER = "page_inbox"
# When the person last took a reaction back: a redelivered older "react" must not undo it.
REACTION_REMOVED_KEY = "reaction_removed_at"
# A reaction, or an echoed part's progress, is read, decided and written only if nobody
# wrote those keys meanwhile (another delivery handled at the same time); else read again,
# at most this many times, after which the event fails and Facebook redelivers it.
DECIDE_ATTEMPTS = 5


def _person(event: MessengerEvent) -> str:
    """Whose conversation an event belongs to: the sender, or for an echo (the Page
    speaking) its recipient."""
    if isinstance(event, MessageEvent) and event.is_echo:
        return event.recipient_id
    return event.sender_id


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v is not False}


class MessengerInbox:
    """Applies Messenger events to the tracker; ``app_id`` is FACEBOOK_APP_ID (may be "")."""

    def __init__(self, tracker: ConversationTracker, app_id: str) -> None:
        self.tracker = tracker
        self.app_id = str(app_id or "")

    def handle_all(self, events: Iterable[MessengerEvent]) -> Counter:
        """Handle a delivery's events; returns how many ended in each outcome.

        Each person's events in their order; different people's side by side (at most
        ``MAX_PARALLEL`` at once), so that under load, when Facebook batches many people's
        messages into one delivery, they share store calls through the group commit
        instead of waiting for one another. Every person's events are handled even when
        another's fail; then the first error is raised (the webhook answers 5xx and
        Facebook redelivers the batch, which the ``mid``s make harmless)."""
        groups: dict[str, list[MessengerEvent]] = {}
        for event in events:
            groups.setdefault(_person(event), []).append(event)
        if len(groups) <= 1:
            return Counter(self.handle(event) for group in groups.values() for event in group)
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(groups)),
                                thread_name_prefix="messenger-inbox") as pool:
            results = list(pool.map(self._handle_in_order, groups.values()))
        errors = [error for _, error in results if error is not None]
        if errors:
            raise errors[0]
        return sum((outcomes for outcomes, _ in results), Counter())

    def _handle_in_order(self, events: list[MessengerEvent]) -> tuple[Counter, Exception | None]:
        """One person's events in order, up to the first that fails (the rest wait for
        Facebook's redelivery): their outcomes, and that failure."""
        outcomes: Counter = Counter()
        for event in events:
            try:
                outcomes[self.handle(event)] += 1
            except Exception as exc:
                return outcomes, exc
        return outcomes, None

    def handle(self, event: MessengerEvent) -> str:
        """Apply one event; returns its outcome (``tracked``, ``duplicate``, ``skipped``…).

        Store errors propagate: the webhook then answers 5xx and Facebook redelivers.
        """
        if isinstance(event, MessageEvent):
            return self._echo(event) if event.is_echo else self._message(event)
        if isinstance(event, PostbackEvent):
            return self._postback(event)
        if isinstance(event, (DeliveryEvent, ReadEvent)):
            status = "delivered" if isinstance(event, DeliveryEvent) else "read"
            changed = self.tracker.mark_delivered_until(
                PLATFORM, event.sender_id, event.watermark, status
            )
            return f"{status}:{len(changed)}"
        if isinstance(event, ReactionEvent):
            return self._reaction(event)
        log.info("messenger: acknowledged an event of an unhandled kind %s", event.fields)
        return "ignored"

    # -- messages --------------------------------------------------------------------
    def _message(self, event: MessageEvent) -> str:
        rating = None if event.standby else parse_rating_payload(event.quick_reply_payload)
        if rating is not None and self.tracker.rate_by_person(PLATFORM, event.sender_id,
                                                              *rating):
            return "rated"  # a tap on the rating request: not a message of a new conversation
        metadata = _without_none({
            "quick_reply_payload": event.quick_reply_payload,
            "reply_to": event.reply_to,
            "standby": event.standby,
            "page_id": event.page_id,
        })
        return self._track(
            external_user_id=event.sender_id,
            external_id=event.mid,
            content=event.text or "",
            attachments=[a.as_dict() for a in event.attachments],
            metadata=metadata,
            received_at=event.timestamp,
            respond=not event.standby,  # another app owns the thread: track, don't answer
        )

    def _echo(self, event: MessageEvent) -> str:
        if self._is_ours(event):
            return self._settle_own_send(event)
        # Typed by a person in the Page's own inbox (or sent by another app of the Page):
        # the conversation is with the recipient.
        metadata = _without_none({
            "echo": True, "app_id": event.app_id, "standby": event.standby,
            "page_id": event.page_id, "reply_to": event.reply_to,
        })
        return self._track(
            external_user_id=event.recipient_id,
            external_id=event.mid,
            content=event.text or "",
            attachments=[a.as_dict() for a in event.attachments],
            metadata=metadata,
            sender_type="agent",
            sender_id=PAGE_INBOX_SENDER,
            respond=False,
        )

    def _is_ours(self, event: MessageEvent) -> bool:
        if self.app_id and event.app_id == self.app_id:
            return True
        return bool(event.metadata and event.metadata.startswith(OWN_METADATA_PREFIX))

    def _settle_own_send(self, event: MessageEvent) -> str:
        """Facebook's echo of one of our sends: proof it went out. A message still
        ``pending`` (its Send API answer was lost to a timeout or a crash) or ``failed``
        (the outbox gave up, yet Facebook had sent it) becomes ``sent`` with the echo's mid,
        so the outbox's retry finds it settled and sends nothing. Never tracked as a new
        message; repeats and unknown ids change nothing."""
        mark = parse_own_metadata(event.metadata)
        if mark is None:
            return "skipped"  # ours by app_id, without our mark: nothing to settle
        if self.tracker.settled_send(mark.message_id):
            # The usual case: this process marked it sent when the Send API answered,
            # before its echo came; nothing to settle, and no store read to find that out.
            return "echo"
        try:
            message = self.tracker.get_message(mark.message_id)
        except NotFound:
            return "skipped"
        if (message.platform != PLATFORM or message.sender_type == "user"
                or message.delivery_status not in ("pending", "failed")):
            return "echo"
        if not mark.is_last_part:
            return self._record_part(message, mark.part, event.mid)
        done = [m for m in (message.metadata.get(PROGRESS_KEY) or []) if isinstance(m, str)]
        # The last part went out, so every part did (parts are sent in order).
        external_id = done[0] if mark.parts > 1 and done else event.mid
        try:
            self.tracker.set_delivery_status(message.id, "sent", external_id=external_id)
        except Conflict:
            log.warning("messenger: echo of message %s carries a mid stored elsewhere",
                        message.id)
            return "skipped"
        log.info("messenger: message %s settled as sent by its echo", message.id)
        return "echo:sent"

    def _record_part(self, message: Message, part: int, mid: str) -> str:
        """An earlier part of a long message went out: record it where the sender looks, so
        a retry skips it. Only the next part in order (an earlier one is recorded, a later
        one cannot be before its predecessors); the sender writes the same ids, and a list
        it wrote meanwhile (longer than the one read) is never cut back."""
        for _ in range(DECIDE_ATTEMPTS):
            progress = message.metadata.get(PROGRESS_KEY)
            done = [m for m in (progress or []) if isinstance(m, str)]
            if part != len(done):
                return "echo"
            try:
                self.tracker.update_message_metadata(
                    message.id, {PROGRESS_KEY: [*done, mid]}, expect={PROGRESS_KEY: progress})
                return "echo:part"
            except Conflict:
                message = self.tracker.get_message(message.id)
        raise Conflict(f"message {message.id}: its progress kept changing; try again later")

    def _postback(self, event: PostbackEvent) -> str:
        # Older postbacks carry no mid: a stable id from sender and time still dedupes them.
        external_id = event.mid or f"postback:{event.sender_id}:{event.timestamp_ms}"
        metadata = _without_none({
            "postback_payload": event.payload,
            "postback_title": event.title,
            "referral": event.referral,
            "standby": event.standby,
            "page_id": event.page_id,
        })
        return self._track(
            external_user_id=event.sender_id,
            external_id=external_id,
            content=event.title or event.payload or "",
            metadata=metadata,
            respond=not event.standby,
        )

    def _track(self, **fields: Any) -> str:
        try:
            message = InboundMessage(platform=PLATFORM, **fields)
        except ValidationError as exc:
            log.warning("messenger: event skipped, it does not fit a message: %s",
                        exc.errors()[0]["msg"])
            return "skipped"
        result = self.tracker.track_inbound(message)
        if result.spooled:  # the store is down: journalled locally, replayed later
            return "spooled" if result.created else "duplicate"
        return "tracked" if result.created else "duplicate"

    # -- reactions -------------------------------------------------------------------
    def _reaction(self, event: ReactionEvent) -> str:
        message = self.tracker.find_message(PLATFORM, event.mid)
        if message is None:
            log.info("messenger: reaction to a message we do not know; ignored")
            return "ignored"
        if event.action == "unreact":
            patch: dict[str, Any] = {"reaction": None, REACTION_REMOVED_KEY:
                                     event.timestamp.isoformat()}
        else:
            patch = {"reaction": _without_none({
                "reaction": event.reaction,
                "emoji": event.emoji,
                "by": event.sender_id,
                "at": event.timestamp.isoformat(),
            })}
        for _ in range(DECIDE_ATTEMPTS):
            if self._reaction_is_stale(message.metadata, event):
                return "stale"
            # Written only if the reaction read is still the message's: an older "react"
            # handled at the same time as a newer "unreact" must not land after it.
            seen = {k: message.metadata.get(k) for k in ("reaction", REACTION_REMOVED_KEY)}
            try:
                self.tracker.update_message_metadata(message.id, patch, expect=seen)
                return "reaction"
            except Conflict:
                message = self.tracker.get_message(message.id)
        raise Conflict(f"message {message.id}: its reaction kept changing; try again later")

    @staticmethod
    def _reaction_is_stale(metadata: dict[str, Any], event: ReactionEvent) -> bool:
        """Facebook redelivers and does not order webhooks: a reaction event no newer than
        the last one applied to the message (react or unreact) changes nothing."""
        seen: list[datetime] = []
        reaction = metadata.get("reaction")
        for value in (reaction.get("at") if isinstance(reaction, dict) else None,
                      metadata.get(REACTION_REMOVED_KEY)):
            if isinstance(value, str):
                try:
                    seen.append(datetime.fromisoformat(value))
                except ValueError:
                    pass
        return bool(seen) and event.timestamp <= max(seen)
