"""Domain events: a small publisher that the Socket.IO layer (and tests) subscribe to."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

EventName = Literal[
    "conversation.created",
    "conversation.updated",
    "message.created",
    "message.updated",
    "stats.updated",
    "typing",
    "presence",  # a page shows a conversation, or stopped (admin_app/live.py)
    "presence.query",  # an inbox asks which conversations the pages show (they answer)
    "conversation.read",  # {"read": ReadMark}: an account read a conversation further
    "conversations.read",  # {"user_id", "moved"}: an account marked every conversation read
    "store.status",  # {"available": bool, "spooled": n}: the store is down / back (spool.py)
    "account.available",  # {"user_id", "available"}: an account takes new conversations or not
    "account.online",  # {"user_id", "online": true}: an account offline opened a page
    "conversation.deleted",  # {"conversation": {id, platform, external_user_id}}
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One thing that happened, with a JSON-ready payload."""

    name: EventName
    data: dict[str, Any]
    conversation_id: int | None = None


Subscriber = Callable[[Event], None]


@dataclass
class EventBus:
    """Delivers every published event to every subscriber, in the publisher's thread.

    A failing subscriber is logged and never breaks the publisher: tracking a message
    must not fail because a socket could not be reached.
    """

    _subscribers: list[Subscriber] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed for %s", event.name)
