"""How long the team usually takes to answer someone who asked for a person.

``CHAT_REPLY_TIME``: ``auto`` is the stats' median first human response (every escalation
answered so far, read from an index by ``stats()``), read at most once every
``REPLY_TIME_TTL`` seconds by each process; a number of minutes is a fixed promise; ``off``
says nothing. The web chat's widget puts it in words itself (the session's ``reply_time``);
``HANDOFF_MESSAGE``'s ``{reply_time}`` becomes the same words here ("within about 15
minutes", "as soon as we can" while nothing is known).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

from services.errors import StoreUnavailable

log = logging.getLogger(__name__)

REPLY_TIME_TTL = 300.0  # seconds a process keeps the usual reply time it read
RETRY_SECONDS = 60.0  # a store that could not answer is asked again this much later
UNKNOWN = "as soon as we can"


class ReplyTime:
    """The usual reply time of the team, in seconds, or None (unknown, or not said)."""

    def __init__(self, stats: Callable[[], object], setting: str,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stats = stats  # tracker.stats: a Stats with median_first_human_response_seconds
        self.setting = setting
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._read: tuple[float, int | None] | None = None  # (good until, seconds)

    def seconds(self) -> int | None:
        if self.setting == "off":
            return None
        if self.setting != "auto":
            return int(self.setting) * 60
        now = self._monotonic()
        with self._lock:
            if self._read is not None and now < self._read[0]:
                return self._read[1]
            last = self._read[1] if self._read else None
            # Whoever comes meanwhile is given the last figure, not a second read.
            self._read = (now + RETRY_SECONDS, last)
        try:
            median = self._stats().median_first_human_response_seconds
        except StoreUnavailable as exc:
            log.warning("the usual reply time cannot be read: %s", exc)
            return last
        seconds = None if median is None else max(1, round(median))
        with self._lock:
            self._read = (now + REPLY_TIME_TTL, seconds)
        return seconds

    def fill(self, template: str) -> str:
        """``template`` with ``{reply_time}`` in words (only read when it is there)."""
        if "{reply_time}" not in template:
            return template
        return template.replace("{reply_time}", describe(self.seconds()))


def describe(seconds: int | None) -> str:
    """A wait in words, as the widget says it: "within a few minutes", "within about 15
    minutes", "within about an hour", "within about 3 hours", "within a day", "within
    about 2 days"; "as soon as we can" when unknown."""
    if seconds is None:
        return UNKNOWN
    minutes = math.ceil(seconds / 60)
    if minutes > 10:
        minutes = math.ceil(minutes / 5) * 5  # 11 to 15 minutes: "15"
    hours = math.ceil(seconds / 3600)
    days = math.ceil(seconds / 86400)
    if minutes <= 5:
        return "within a few minutes"
    if minutes < 60:
        return f"within about {minutes} minutes"
    if hours <= 1:
        return "within about an hour"
    if hours < 24:
        return f"within about {hours} hours"
    return "within a day" if days <= 1 else f"within about {days} days"
