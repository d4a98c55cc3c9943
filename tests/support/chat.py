"""Building ``Conversation`` and ``Message`` values for tests that need no store."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from services.models import Conversation, Message

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def conversation(**fields) -> Conversation:
    """A webchat conversation started at ``T0``; ``fields`` override anything."""
    values = dict(
        id=7, platform="webchat", external_user_id="visitor-1", display_name="Ada",
        created_at=T0, updated_at=T0, last_message_at=T0,
    )
    values.update(fields)
    return Conversation(**values)


def message(sender_type: str, content: str, **fields) -> Message:
    """A message of conversation 7; ids and timestamps increase with each call."""
    number = next(_ids)
    values = dict(
        id=number, conversation_id=7, platform="webchat", sender_type=sender_type,
        content=content, created_at=T0 + timedelta(seconds=number),
    )
    values.update(fields)
    return Message(**values)


def user(content: str, **fields) -> Message:
    return message("user", content, **fields)


def bot(content: str, confidence: float | None = 0.9, **fields) -> Message:
    return message("bot", content, confidence_score=confidence, **fields)
