"""Aggregates of the SQLite store (mixed into ``SqliteStore``): ``stats()`` from the roll-up
counters (sqlite_rollup.py), ``stats_from_rows()``, the same figures by scanning the rows, and
``team_stats()``, what each account did in a period."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Callable, ContextManager

from services.models import (
    PLATFORMS, AccountStats, DayBucket, HourBucket, PlatformStats, Stats, utc,
)
from services.store.base import check_period
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
# PostgreSQL's percentile_cont(0.5)); NULL when there are none. This one counts them first.
_MEDIAN_RESPONSE = (
    f"WITH r AS (SELECT {_RESPONSE_SECONDS} AS s FROM conversations WHERE {_REPLIED_AFTER}),"
    " n AS (SELECT count(*) AS c FROM r)"
    " SELECT avg(s) FROM (SELECT s FROM r ORDER BY s"
    " LIMIT 2 - (SELECT c FROM n) % 2 OFFSET ((SELECT c FROM n) - 1) / 2)"
)


# The same median, the count known (from the counters): only the middle one or two rows are
# read, by walking conversations_response_time_idx (same expression, same condition).
_MIDDLE_RESPONSES = (
    f"SELECT avg(s) FROM (SELECT {_RESPONSE_SECONDS} AS s FROM conversations"
    f" WHERE {_REPLIED_AFTER} ORDER BY {_RESPONSE_SECONDS} LIMIT ? OFFSET ?)"
)

# What each account did in [:start, :end) (see base.py), one statement. Each part reads one
# index: agent messages by time (messages_agent_created_idx), trail lines by time
# (activity_created_idx), conversations by first human reply (conversations_first_reply_idx),
# open conversations by assignee (conversations_assigned_to_idx). A conversation's first
# agent message is the first of its agent messages in the period when its first human reply
# is in the period (that message set first_human_reply_at to its own created_at): found among
# the period's replies, not looked up conversation by conversation (a quarter faster at
# 1,000,000 messages, bench/admin.py). The median is the middle response time or the mean of the
# middle two, as PostgreSQL's percentile_cont(0.5).
_TEAM_STATS = f"""
WITH replies AS (
    SELECT sender_id AS email, count(*) AS replies,
           count(DISTINCT conversation_id) AS conversations_replied
      FROM messages
     WHERE sender_type = 'agent' AND created_at >= :start AND created_at < :end
     GROUP BY sender_id
), lines AS (
    SELECT kind, actor_id, conversation_id, detail FROM activity
     WHERE created_at >= :start AND created_at < :end
), picked AS (
    SELECT user_id, count(DISTINCT conversation_id) AS picked_up
      FROM (SELECT actor_id AS user_id, conversation_id FROM lines WHERE kind = 'taken_over'
            UNION ALL
            SELECT json_extract(detail, '$.to_id'), conversation_id FROM lines
             WHERE kind = 'assigned')
     WHERE user_id IS NOT NULL
     GROUP BY user_id
), done AS (
    SELECT actor_id AS user_id, sum(kind = 'handed_back') AS handed_back,
           sum(kind = 'closed') AS closed,
           sum(kind = 'note' AND json_extract(detail, '$.deleted_at') IS NULL) AS notes
      FROM lines
     WHERE actor_id IS NOT NULL AND kind IN ('handed_back', 'closed', 'note')
     GROUP BY actor_id
), firsts AS MATERIALIZED (
    SELECT f.email, CASE WHEN {_REPLIED_AFTER} THEN {_RESPONSE_SECONDS} END AS seconds
      FROM conversations AS c
      JOIN (SELECT conversation_id, sender_id AS email, min(id) FROM messages
             WHERE sender_type = 'agent' AND created_at >= :start AND created_at < :end
             GROUP BY conversation_id) AS f ON f.conversation_id = c.id
     WHERE c.first_human_reply_at >= :start AND c.first_human_reply_at < :end
), ranked AS (
    SELECT email, seconds, row_number() OVER (PARTITION BY email ORDER BY seconds) AS place,
           count(*) OVER (PARTITION BY email) AS responses
      FROM firsts WHERE seconds IS NOT NULL
), medians AS (
    SELECT email, avg(seconds) AS median_seconds FROM ranked
     WHERE place IN ((responses + 1) / 2, (responses + 2) / 2)
     GROUP BY email
), first_responses AS (
    SELECT email, count(*) AS first_responses, avg(seconds) AS avg_seconds FROM firsts
     GROUP BY email
), open_assigned AS (
    SELECT assigned_to AS user_id, count(*) AS open_assigned FROM conversations
     WHERE assigned_to IS NOT NULL AND status <> 'closed'
     GROUP BY assigned_to
)
SELECT u.id AS user_id, u.email, u.role, u.disabled,
       coalesce(r.replies, 0) AS replies,
       coalesce(r.conversations_replied, 0) AS conversations_replied,
       coalesce(p.picked_up, 0) AS picked_up, coalesce(d.handed_back, 0) AS handed_back,
       coalesce(d.closed, 0) AS closed, coalesce(d.notes, 0) AS notes,
       coalesce(f.first_responses, 0) AS first_responses,
       m.median_seconds AS median_first_response_seconds,
       f.avg_seconds AS avg_first_response_seconds,
       coalesce(o.open_assigned, 0) AS open_assigned
  FROM admin_users AS u
  LEFT JOIN replies AS r ON r.email = u.email
  LEFT JOIN picked AS p ON p.user_id = u.id
  LEFT JOIN done AS d ON d.user_id = u.id
  LEFT JOIN first_responses AS f ON f.email = u.email
  LEFT JOIN medians AS m ON m.email = u.email
  LEFT JOIN open_assigned AS o ON o.user_id = u.id
 WHERE r.email IS NOT NULL OR p.user_id IS NOT NULL OR d.user_id IS NOT NULL
    OR f.email IS NOT NULL OR o.user_id IS NOT NULL
 ORDER BY lower(u.email), u.id
"""


def _windows(now: datetime) -> tuple[list[datetime], list[datetime]]:
    """The 24 UTC hours and the 30 UTC days of the charts, the last ones containing ``now``."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    first_day = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    return ([first + timedelta(hours=i) for i in range(24)],
            [first_day + timedelta(days=i) for i in range(30)])


class SqliteStats:
    """The aggregate half of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def stats(self, now: datetime) -> Stats:
        """Aggregates over all conversations, read from the roll-up counters (a few dozen
        rows, whatever the number of messages) and the middle of the response-time index."""
        now = utc(now)
        hours, days = _windows(now)
        with self._tx("DEFERRED") as db:
            groups = db.execute(
                "SELECT platform, conversations, active, closed, messages,"
                " needing_human AS needing, escalated, handed, bot_resolved,"
                " response_us, responses, unreplied"
                " FROM stats_conversations").fetchall()
            responses = sum(g["responses"] for g in groups)
            median = db.execute(
                _MIDDLE_RESPONSES, (2 - responses % 2, (responses - 1) // 2)
            ).fetchone()[0] if responses else None
            per_hour = {row[0]: row for row in db.execute(
                "SELECT bucket_hour, messages, escalations FROM stats_hourly"
                " WHERE bucket_hour >= ? AND bucket_hour < ?",
                (ts(hours[0])[:13], ts(hours[-1] + timedelta(hours=1))[:13])).fetchall()}
            per_day = {row[0]: row for row in db.execute(
                "SELECT substr(bucket_hour, 1, 10) AS day, sum(messages), sum(escalations)"
                " FROM stats_hourly WHERE bucket_hour >= ? AND bucket_hour < ? GROUP BY day",
                (ts(days[0])[:13], ts(days[-1] + timedelta(days=1))[:13])).fetchall()}
        response_us = sum(g["response_us"] for g in groups)  # integers: an exact sum
        return _assemble(now, hours, days, groups, median, per_hour, per_day,
                         unreplied=sum(g["unreplied"] for g in groups),
                         avg_response=response_us / 1e6 / responses if responses else None)

    def stats_from_rows(self, now: datetime) -> Stats:
        """The same aggregates computed by scanning every conversation and message: the
        reference the roll-up counters are checked against (tests, audits); slow at scale."""
        now = utc(now)
        hours, days = _windows(now)
        with self._tx("DEFERRED") as db:
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
        responses = sum(g["responses"] for g in groups)
        response_sum = sum(g["response_sum"] or 0 for g in groups)
        return _assemble(now, hours, days, groups, median, per_hour, per_day,
                         unreplied=unreplied,
                         avg_response=response_sum / responses if responses else None)

    def team_stats(self, start: datetime, end: datetime) -> list[AccountStats]:
        """What each account did in [start, end) (see base.py): one read."""
        start, end = check_period(start, end)
        rows = self._read(_TEAM_STATS, {"start": ts(start), "end": ts(end)})
        return [AccountStats.model_validate(dict(row)) for row in rows]


def _assemble(now: datetime, hours: list[datetime], days: list[datetime],
              groups: list[sqlite3.Row], median: float | None, per_hour: dict, per_day: dict,
              *, unreplied: int, avg_response: float | None) -> Stats:
    """``Stats`` from per-platform groups and the hour/day rows keyed by their text prefix."""

    def total_of(column: str) -> int:
        return sum(g[column] for g in groups)

    total, messages = total_of("conversations"), total_of("messages")
    closed, escalated = total_of("closed"), total_of("escalated")
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
        avg_first_human_response_seconds=avg_response,
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
