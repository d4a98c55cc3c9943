"""Asking a Messenger user how it went, and reading their answer.

When an account closes a Messenger conversation (never the lifecycle sweep: a person
silent for a day has left) and the person wrote in the last 24 hours (so a standard
``RESPONSE`` message may go), ``RatingRequests`` sends ``RATING_REQUEST_MESSAGE`` with
five quick replies, 1 to 5. Each carries the conversation and the score in its payload,
which Facebook returns when the person taps one; ``MessengerInbox`` then rates that
closed conversation instead of opening a new one with the tap.
"""

from __future__ import annotations

import logging
import re

from channels.messenger.window import decide
from services.events import Event
from services.models import Conversation, OutboundMessage
from services.tracking import Clock, ConversationTracker

log = logging.getLogger(__name__)

PLATFORM = "messenger"
_PAYLOAD = re.compile(r"switchboard-rating:([1-9][0-9]{0,18}):([1-5])")
SCORES = range(1, 6)
MAX_ID = 2**63 - 1  # the largest id the stores hold


def rating_payload(conversation_id: int, score: int) -> str:
    """The quick reply's payload for ``score`` of the conversation (well under Facebook's
    1,000 characters)."""
    return f"switchboard-rating:{conversation_id}:{score}"


def parse_rating_payload(payload: str | None) -> tuple[int, int] | None:
    """(conversation id, score) from a quick reply's payload we sent, or None."""
    match = _PAYLOAD.fullmatch(payload or "")
    if not match or int(match[1]) > MAX_ID:
        return None
    return int(match[1]), int(match[2])


def rating_quick_replies(conversation_id: int) -> list[dict[str, str]]:
    """Five text quick replies (titles "1" to "5"; Facebook allows 13, titles of 20)."""
    return [{"content_type": "text", "title": str(score),
             "payload": rating_payload(conversation_id, score)} for score in SCORES]


class RatingRequests:
    """Subscribed to the services' ``EventBus``: a Messenger conversation an account closed
    gets the rating request (once per closing: its external id names the closing)."""

    def __init__(self, tracker: ConversationTracker, text: str, clock: Clock) -> None:
        self.tracker = tracker
        self.text = text
        self.clock = clock

    def __call__(self, event: Event) -> None:
        if event.name != "conversation.updated" or not self.text:
            return
        data = event.data.get("conversation") or {}
        if data.get("platform") != PLATFORM or data.get("status") != "closed":
            return
        if not any(line.get("kind") == "closed" and line.get("actor_id") is not None
                   for line in event.data.get("activity") or []):
            return  # not closed by an account just now (a sweep, or another change)
        self.request(Conversation.model_validate(data))

    def request(self, conversation: Conversation) -> None:
        decision = decide("system", conversation.last_user_message_at, self.clock())
        if not decision.allowed or decision.tag:
            log.info("messenger: conversation %s closed outside the 24-hour window: no "
                     "rating request", conversation.id)
            return
        closed = conversation.closed_at.isoformat() if conversation.closed_at else ""
        self.tracker.track_outbound(OutboundMessage(
            conversation_id=conversation.id,
            sender_type="system",
            content=self.text,
            external_id=f"rating-request:{conversation.id}:{closed}",
            metadata={"kind": "rating_request",
                      "quick_replies": rating_quick_replies(conversation.id)},
        ))
