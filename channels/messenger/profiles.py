"""``ProfileFetcher``: puts a Messenger user's name on their conversation.

Called from background work (never inside the webhook request): the first time a
conversation has no display name, the profile is fetched from the User Profile API,
cached per PSID for ``ttl_seconds``, and stored with ``tracker.set_profile``. When
Facebook has no profile to give (error 2018218, no permission) the PSID stays the name.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from channels.messenger.client import MessengerClient
from services.models import Conversation
from services.outbox import SendError
from services.tracking import ConversationTracker

log = logging.getLogger(__name__)

_MISSING = object()


class ProfileFetcher:
    """Fetches, caches and stores Messenger profiles; never raises for Graph API errors."""

    def __init__(
        self,
        client: MessengerClient,
        tracker: ConversationTracker,
        ttl_seconds: float = 86400,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.tracker = tracker
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._now = monotonic
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, psid: str) -> dict[str, Any] | None:
        """The profile of ``psid`` (cached), or None if Facebook has none or cannot answer."""
        cached = self._cached(psid)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        try:
            raw = self.client.get_profile(psid)
        except SendError as exc:  # transient or unexpected: try again next time
            log.warning("messenger: profile lookup failed (%s); keeping the PSID", exc.code)
            return None
        profile = None
        if raw:
            profile = {k: raw[k] for k in ("first_name", "last_name", "profile_pic")
                       if isinstance(raw.get(k), str) and raw[k]}
        self._store(psid, profile or None)
        return profile or None

    def ensure_profile(self, conversation: Conversation) -> Conversation:
        """Give a Messenger conversation without a display name its person's name."""
        if conversation.platform != "messenger" or conversation.display_name:
            return conversation
        profile = self.lookup(conversation.external_user_id)
        if not profile:
            return conversation
        name = " ".join(p for p in (profile.get("first_name"), profile.get("last_name")) if p)
        return self.tracker.set_profile(conversation.id, name or None, profile)

    def _cached(self, psid: str) -> object:
        with self._lock:
            hit = self._cache.get(psid)
            if hit is None:
                return _MISSING
            expires, profile = hit
            if expires <= self._now():
                del self._cache[psid]
                return _MISSING
            return profile

    def _store(self, psid: str, profile: dict[str, Any] | None) -> None:
        with self._lock:
            self._cache.pop(psid, None)
            self._cache[psid] = (self._now() + self.ttl, profile)
            while len(self._cache) > self.max_entries:  # oldest insertion goes first
                self._cache.pop(next(iter(self._cache)))
