"""Wires the services of one process together from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.events import EventBus
from services.settings import Settings
from services.store import ConversationStore, create_store
from services.tracking import Clock, ConversationTracker, utcnow


@dataclass
class Services:
    """The long-lived collaborators of one process (one store client, one event bus)."""

    settings: Settings
    store: ConversationStore
    events: EventBus
    tracker: ConversationTracker
    clock: Clock

    def close(self) -> None:
        self.store.close()


def build_services(
    settings: Settings,
    store: ConversationStore | None = None,
    clock: Clock = utcnow,
) -> Services:
    """Build the services; tests pass their own store or clock."""
    store = store or create_store(settings)
    events = EventBus()
    tracker = ConversationTracker(store, events, clock)
    return Services(settings=settings, store=store, events=events, tracker=tracker, clock=clock)
