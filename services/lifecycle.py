"""The conversation lifecycle sweep: idle after a while, closed after longer, a long wait
for a human raises the priority once, and the "we'll get back to you" message goes out
when nobody has answered a waiting person in time (with business hours, only time the
team is open counts: services/business_hours.py); with a retention period, conversations
closed and untouched for longer are deleted, a batch a sweep; with auto-assignment, the
conversations that wait for nobody in particular are handed out; the accounts whose pages
have all gone are announced offline; files agents uploaded and never sent are deleted after
``UNSENT_FILE_HOURS``, a batch a sweep.

Every step is a conditional update in the store, so several processes may sweep at once
without closing or messaging anything twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from services.business_hours import BusinessHours
from services.errors import StoreUnavailable
from services.models import Activity, OutboundMessage
from services.tracking import ConversationTracker, activity_line

log = logging.getLogger(__name__)
# Conversations one sweep's retention deletes: on SQLite, whose single writer every webhook
# waits for, 50 closed conversations of 10 messages hold the writes for 35 ms (p50; 200:
# 94 ms; bench/admin.py at 1,000,000 messages); a sweep every 30 s still deletes 144,000 a day.
RETENTION_BATCH = 50
# Files never sent one sweep deletes (up to 10 MiB each: a backlog goes over a few sweeps).
UNSENT_FILES_BATCH = 100


def _seconds(duration: timedelta) -> int:
    return int(duration.total_seconds())


class LifecycleSweeper:
    """One ``sweep()`` applies every time-based rule once, at the tracker's clock."""

    def __init__(
        self,
        tracker: ConversationTracker,
        idle_after: timedelta,
        close_after: timedelta,
        handoff_timeout: timedelta,
        handoff_timeout_message: str,
        priority_raise_after: timedelta = timedelta(minutes=15),
        hours: Callable[[], BusinessHours | None] = lambda: None,
        retention: timedelta | None = None,
        unsent_files_after: timedelta | None = None,
    ) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.idle_after = idle_after
        self.close_after = close_after
        self.handoff_timeout = handoff_timeout
        self.handoff_timeout_message = handoff_timeout_message
        self.priority_raise_after = priority_raise_after
        self.hours = hours
        self.retention = retention
        self.unsent_files_after = unsent_files_after

    def _waits_count(self, now: datetime) -> bool:
        """Whether the handoff timeout may fire now: always without business hours; with
        them, once the team has been open for the timeout's length, so a person who wrote
        at night (and was told when the team is back) hears "sorry for the wait" only if
        nobody answered that long into the opening."""
        hours = self.hours()
        if hours is None:
            return True
        period = hours.period_at(now)
        return period is not None and now - period[0] >= self.handoff_timeout

    def _expire(self, now: datetime) -> int:
        """Retention: delete one batch of the conversations closed and untouched for longer
        than ``retention`` (a backlog goes a batch a sweep, so a sweep stays short)."""
        if self.retention is None:
            return 0
        deleted = self.store.delete_closed_before(now - self.retention, RETENTION_BATCH)
        if deleted:
            log.info("retention: deleted %d conversations closed and untouched for %s: %s",
                     len(deleted), self.retention, [c.id for c in deleted])
            self.tracker.conversations_deleted(deleted)
        return len(deleted)

    def _forget_unsent_files(self, now: datetime) -> int:
        """Delete a batch of the files uploaded longer than ``unsent_files_after`` ago that
        no reply carried (the reply box forgets them on a reload: they could never be)."""
        if self.unsent_files_after is None:
            return 0
        deleted = self.store.delete_unsent_files(now - self.unsent_files_after,
                                                 UNSENT_FILES_BATCH)
        if deleted:
            log.info("deleted %d files uploaded more than %s ago and never sent", deleted,
                     self.unsent_files_after)
        return deleted

    def sweep(self) -> dict[str, int]:
        """Run the rules; returns how many conversations each one changed."""
        now = self.tracker.clock()
        closed = self.store.sweep_closed(now - self.close_after, now)
        idle = self.store.sweep_idle(now - self.idle_after, now)
        raised = self.store.raise_waiting_priority(now - self.priority_raise_after, now)
        timed_out = (self.store.claim_handoff_timeouts(now - self.handoff_timeout, now)
                     if self._waits_count(now) else [])
        # One write for the trail lines of the whole sweep; each is published with its
        # conversation's change (idle is not a line: nothing anyone did or must do).
        written = self.tracker.record_activity([
            *(activity_line(c.id, "closed", after_seconds=_seconds(self.close_after))
              for c in closed),
            *(activity_line(c.id, "priority_raised", priority=c.priority) for c in raised),
            *(activity_line(c.id, "handoff_timed_out",
                            after_seconds=_seconds(self.handoff_timeout)) for c in timed_out),
        ])
        lines: dict[int, list[Activity]] = {}
        for line in written:
            lines.setdefault(line.conversation_id, []).append(line)
        # A timed-out conversation that gets the "we'll get back to you" message is
        # announced once, with that message's update; the others here, once each.
        messaged = timed_out if self.handoff_timeout_message else []
        for conversation in [*closed, *idle, *raised, *(() if messaged else timed_out)]:
            self.tracker.conversation_changed(conversation, lines.pop(conversation.id, []))
        for conversation in messaged:
            activity = lines.pop(conversation.id, [])
            try:
                self.tracker.track_outbound(
                    OutboundMessage(
                        conversation_id=conversation.id,
                        sender_type="system",
                        content=self.handoff_timeout_message,
                        external_id=f"handoff-timeout:{conversation.id}:"
                        f"{conversation.waiting_since.isoformat() if conversation.waiting_since else ''}",
                        metadata={"kind": "handoff_timeout"},
                    ),
                    activity=activity,
                )
            except StoreUnavailable:
                # The timeout is claimed and its line written: pages still hear of them.
                self.tracker.conversation_changed(conversation, activity)
                raise
        deleted = self._expire(now)
        # AUTO_ASSIGN: what waited while nobody was available, or past everyone's limit.
        assigned = self.tracker.hand_out()
        offline = self.tracker.announce_offline()
        unsent_files = self._forget_unsent_files(now)
        return {
            "deleted": deleted,
            "unsent_files": unsent_files,
            "assigned": len(assigned),
            "offline": len(offline),
            "closed": len(closed),
            "idle": len(idle),
            "priority_raised": len(raised),
            "handoff_timeouts": len(timed_out),
        }
