"""An existing Supabase deployment upgrades in place: the stats roll-up migration fills its
counters from the rows already there, and stats() then equals stats_from_rows().

The test builds a scratch database on the local stack's PostgreSQL, applies the migrations
that came before the roll-ups, writes data through the SQL functions of that version (and a
bulk insert, as a large deployment would have), then applies the roll-up migration file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.models import Stats
from tests.reliability.test_stats_rollup import assert_same

pytestmark = pytest.mark.supabase

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
ROLLUP = "20261125040000"
DB = "rollup_upgrade_scratch"
T = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def _in_scratch(stack, sql: str) -> str:
    """Run ``sql`` in the scratch database, in one transaction (as migrations are applied)."""
    return stack.psql(f"\\connect {DB}\nbegin;\n{sql}\ncommit;\n")


def _stats(stack, function: str, now: datetime) -> Stats:
    out = _in_scratch(stack, f"select {function}('{now.isoformat()}')::text;")
    return Stats.model_validate(json.loads(out.strip().splitlines()[-1]))


def _track(kind: str, payload: dict, at: datetime) -> str:
    return f"select {kind}('{json.dumps(payload)}'::jsonb, '{at.isoformat()}');"


@pytest.fixture
def scratch(supabase_stack):
    """A database at the schema just before the roll-ups; dropped afterwards."""
    supabase_stack.psql(f"drop database if exists {DB}")
    supabase_stack.psql(f"create database {DB}")
    try:
        for f in sorted(MIGRATIONS.glob("*.sql")):
            if re.match(r"\d+", f.name).group(0) < ROLLUP:
                _in_scratch(supabase_stack, f.read_text(encoding="utf-8"))
        yield supabase_stack
    finally:
        supabase_stack.psql(f"drop database if exists {DB} with (force)")


def test_rollup_migration_backfills_an_existing_database(scratch, ledger):
    stack = scratch
    h = lambda hours: T - timedelta(hours=hours)  # noqa: E731
    # Written by the write paths of the version before the roll-ups.
    writes = [
        _track("track_inbound", {"platform": "messenger", "external_user_id": "u1",
                                 "content": "help", "external_id": "m1"}, h(30)),
        "select mark_needs_human((select id from messages where external_id = 'm1'),"
        f" 'asked', 2, '{h(29.9).isoformat()}');",
        _track("track_outbound", {"conversation_id": 1, "sender_type": "agent",
                                  "content": "here"}, h(29.5)),
        _track("track_inbound", {"platform": "webchat", "external_user_id": "u2",
                                 "content": "hi", "external_id": "w1"}, h(2)),
        _track("track_outbound", {"conversation_id": 2, "sender_type": "bot",
                                  "content": "hello"}, h(1.9)),
        f"select set_status(2, 'closed', '{h(1).isoformat()}');",
        _track("track_inbound", {"platform": "webchat", "external_user_id": "u3",
                                 "content": "urgent", "external_id": "w2"}, h(0.5)),
        "select mark_needs_human((select id from messages where external_id = 'w2'),"
        f" 'now', 1, '{h(0.4).isoformat()}');",
    ]
    _in_scratch(stack, "\n".join(writes))
    # And volume, as bench/store.py loads it: 2,000 conversations, 20,000 messages.
    _in_scratch(stack, f"""
        with c as (
          insert into conversations (platform, external_user_id, status, message_count,
                                     created_at, updated_at, last_message_at)
          select case when n % 3 = 0 then 'webchat' else 'messenger' end, 'bulk-' || n,
                 case when n % 4 = 0 then 'closed' else 'active' end, 10,
                 '{T.isoformat()}'::timestamptz - n * interval '17 minutes',
                 '{T.isoformat()}'::timestamptz - n * interval '17 minutes',
                 '{T.isoformat()}'::timestamptz - n * interval '17 minutes'
          from generate_series(1, 2000) n
          returning id, platform, created_at
        )
        insert into messages (conversation_id, platform, sender_type, content, created_at,
                              requires_human)
        select c.id, c.platform, 'user', 'bulk', c.created_at + k * interval '1 minute',
               k = 3 and c.id % 10 = 0
        from c, generate_series(0, 9) k;
    """)
    before = _stats(stack, "stats", T)  # the pre-roll-up stats(), which scans the rows

    _in_scratch(stack, (MIGRATIONS / f"{ROLLUP}_stats_rollup.sql").read_text(encoding="utf-8"))

    # The backfill filled the counters (one row per hour that has messages), not the journal.
    check = _in_scratch(stack, "select (select count(*) from stats_hourly)"
                               " = (select count(distinct date_trunc('hour', created_at, 'UTC'))"
                               " from messages) and not exists (select from stats_hourly_deltas)"
                               " and not exists (select from stats_conversation_deltas);")
    assert check.strip().splitlines()[-1] == "t"
    after = _stats(stack, "stats", T)
    assert_same(after, _stats(stack, "stats_from_rows", T))
    assert_same(after, before)
    assert (after.total_conversations, after.total_messages) == (2003, 20005)
    assert after.messages_requiring_human == 201  # w2 and the 200 bulk ones (m1 answered)
    assert after.avg_first_human_response_seconds == pytest.approx(1440.0)  # 29.9 h -> 29.5 h
    ledger.payloads(len(writes))

    # The upgraded database counts new writes through the triggers.
    _in_scratch(stack, _track("track_outbound", {"conversation_id": 3, "sender_type": "agent",
                                                 "content": "on it"}, h(0.3)))
    later = _stats(stack, "stats", T)
    assert_same(later, _stats(stack, "stats_from_rows", T))
    assert (later.total_messages, later.messages_requiring_human) == (20006, 200)
