"""Aggregates of the SQLite store (mixed into ``SqliteStore``): ``stats()``."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Callable, ContextManager

from services.models import PLATFORMS, DayBucket, HourBucket, PlatformStats, Stats, utc
from services.store.sqlite_db import ts

# Exact seconds between two stored timestamps (julianday keeps only milliseconds).
_SECONDS_BETWEEN = (
    "((CAST(strftime('%s', substr({a}, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr({b}, 1, 19)) AS INTEGER))"
    " + (CAST(substr({a}, 21, 6) AS INTEGER) - CAST(substr({b}, 21, 6) AS INTEGER)) / 1e6)"
)
_RESPONSE_SECONDS = _SECONDS_BETWEEN.format(a="first_human_reply_at", b="escalated_at")
_REPLIED_AFTER = "first_human_reply_at >= escalated_at"  # NULL (not counted) when either is unset
_HANDED_TO_HUMAN = ("(escalated_at IS NOT NULL OR first_human_reply_at IS NOT NULL"
                    " OR handled_by = 'human')")
_BOT_RESOLVED = ("(status = 'closed' AND escalated_at IS NULL AND first_human_reply_at IS NULL"
                 " AND handled_by = 'bot')")
# The median of the response times: the middle one, or the mean of the middle two (as
# PostgreSQL's percentile_cont(0.5)); NULL when there are none.
_MEDIAN_RESPONSE = (
    f"WITH r AS (SELECT {_RESPONSE_SECONDS} AS s FROM conversations WHERE {_REPLIED_AFTER}),"
    " n AS (SELECT count(*) AS c FROM r)"
    " SELECT avg(s) FROM (SELECT s FROM r ORDER BY s"
    " LIMIT 2 - (SELECT c FROM n) % 2 OFFSET ((SELECT c FROM n) - 1) / 2)"
)


class SqliteStats:
    """The aggregate half of ``ConversationStore``; needs ``_tx``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]

    def stats(self, now: datetime) -> Stats:
        """Aggregates over all conversations: five aggregate queries in one read snapshot."""
        now = utc(now)
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        hours = [first + timedelta(hours=i) for i in range(24)]
        first_day = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
        days = [first_day + timedelta(days=i) for i in range(30)]
        with self._tx("DEFERRED") as db:
            # Message totals are sums of message_count, which every insert bumps in the same
            # transaction: cheaper than counting the (much larger) messages table.
            groups = db.execute(
                "SELECT platform, count(*) AS conversations,"
                " coalesce(sum(status = 'active'), 0) AS active,"
                " coalesce(sum(status = 'closed'), 0) AS closed,"
                " coalesce(sum(message_count), 0) AS messages,"
                " coalesce(sum(needs_human), 0) AS needing, count(escalated_at) AS escalated,"
                f" coalesce(sum({_HANDED_TO_HUMAN}), 0) AS handed,"
                f" coalesce(sum({_BOT_RESOLVED}), 0) AS bot_resolved,"
                f" sum(CASE WHEN {_REPLIED_AFTER} THEN {_RESPONSE_SECONDS} END) AS response_sum,"
                f" count(CASE WHEN {_REPLIED_AFTER} THEN 1 END) AS responses"
                " FROM conversations GROUP BY platform").fetchall()
            median = db.execute(_MEDIAN_RESPONSE).fetchone()[0]
            unreplied = db.execute(
                "SELECT count(*) FROM messages WHERE requires_human = 1 AND human_replied = 0"
            ).fetchone()[0]
            per_hour = {row[0]: row for row in db.execute(
                "SELECT substr(created_at, 1, 13) AS hour, count(*),"
                " coalesce(sum(requires_human), 0) FROM messages"
                " WHERE created_at >= ? AND created_at < ? GROUP BY hour",
                (ts(hours[0]), ts(hours[-1] + timedelta(hours=1)))).fetchall()}
            per_day = {row[0]: row for row in db.execute(
                "SELECT substr(created_at, 1, 10) AS day, count(*),"
                " coalesce(sum(requires_human), 0) FROM messages"
                " WHERE created_at >= ? AND created_at < ? GROUP BY day",
                (ts(days[0]), ts(days[-1] + timedelta(days=1)))).fetchall()}

        def total_of(column: str) -> int:
            return sum(g[column] for g in groups)

        total, messages = total_of("conversations"), total_of("messages")
        closed = total_of("closed")
        escalated, responses = total_of("escalated"), total_of("responses")
        handed, bot_resolved = total_of("handed"), total_of("bot_resolved")
        by_platform = {p: PlatformStats() for p in PLATFORMS}
        for g in groups:
            by_platform[g["platform"]] = PlatformStats(
                conversations=g["conversations"], active_conversations=g["active"],
                messages=g["messages"])
        buckets = []
        for hour in hours:
            row = per_hour.get(ts(hour)[:13])
            buckets.append(HourBucket(hour=hour, messages=row[1] if row else 0,
                                      escalations=row[2] if row else 0))
        daily = []
        for day in days:
            row = per_day.get(ts(day)[:10])
            daily.append(DayBucket(day=day, messages=row[1] if row else 0,
                                   escalations=row[2] if row else 0))
        return Stats(
            total_conversations=total,
            active_conversations=total_of("active"),
            total_messages=messages,
            messages_requiring_human=unreplied,
            conversations_needing_human=total_of("needing"),
            escalated_conversations=escalated,
            escalation_rate=escalated / total if total else 0.0,
            avg_messages_per_conversation=messages / total if total else 0.0,
            avg_first_human_response_seconds=(
                sum(g["response_sum"] or 0 for g in groups) / responses if responses else None),
            median_first_human_response_seconds=median,
            handed_to_human_conversations=handed,
            handoff_rate=handed / total if total else 0.0,
            bot_resolved_conversations=bot_resolved,
            bot_resolved_rate=bot_resolved / closed if closed else 0.0,
            by_platform=by_platform,
            messages_per_hour=buckets,
            messages_per_day=daily,
            timestamp=now,
        )
