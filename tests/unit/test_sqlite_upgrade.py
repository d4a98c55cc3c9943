"""The SQLite store upgrades a database file of an older schema version in place on start."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from services.errors import NotFound, StoreUnavailable
from services.models import ConversationFilter, NewActivity, NewFile, NewSavedReply, TagCount
from services.store.sqlite import SqliteStore
from services.store.sqlite_db import SCHEMA_VERSION, register_functions
from services.store.sqlite_search import index_query
from tests.contract.helpers import inbound, outbound

DATA = Path(__file__).with_name("data")
V1_SCHEMA = DATA / "sqlite_schema_v1.sql"
V2_SCHEMA = DATA / "sqlite_schema_v2.sql"
V3_SCHEMA = DATA / "sqlite_schema_v3.sql"
V4_SCHEMA = DATA / "sqlite_schema_v4.sql"
V5_SCHEMA = DATA / "sqlite_schema_v5.sql"
V6_SCHEMA = DATA / "sqlite_schema_v6.sql"
V7_SCHEMA = DATA / "sqlite_schema_v7.sql"
V8_SCHEMA = DATA / "sqlite_schema_v8.sql"
V9_SCHEMA = DATA / "sqlite_schema_v9.sql"
V10_SCHEMA = DATA / "sqlite_schema_v10.sql"
V11_SCHEMA = DATA / "sqlite_schema_v11.sql"
V12_SCHEMA = DATA / "sqlite_schema_v12.sql"
V13_SCHEMA = DATA / "sqlite_schema_v13.sql"
V14_SCHEMA = DATA / "sqlite_schema_v14.sql"
V15_SCHEMA = DATA / "sqlite_schema_v15.sql"
V16_SCHEMA = DATA / "sqlite_schema_v16.sql"
V17_SCHEMA = DATA / "sqlite_schema_v17.sql"


def _version_1_database(path: Path) -> None:
    """A database as the version-1 store left it: schema, data, user_version 1."""
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at, message_count, needs_human, waiting_since)
        VALUES ('webchat', 'old-user', '2026-11-24T10:00:00.000000+00:00',
                '2026-11-24T10:00:00.000000+00:00', '2026-11-24T10:00:00.000000+00:00', 1, 1,
                '2026-11-24T10:00:00.000000+00:00');
        INSERT INTO messages (conversation_id, platform, sender_type, content, external_id,
                              created_at, requires_human)
        VALUES (1, 'webchat', 'user', 'from version 1', 'v1-mid',
                '2026-11-24T10:00:00.000000+00:00', 1);
        PRAGMA user_version = 1;
    """)
    db.close()


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def test_version_1_file_is_upgraded_in_place(tmp_path, clock):
    path = tmp_path / "old.db"
    _version_1_database(path)
    assert "handoff_timeout_notified_at" not in _columns(path, "conversations")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            indexes = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"handoff_timeout_notified_at", "priority_raised_at"} <= _columns(
            path, "conversations")
        assert {"jobs_claim_idx", "conversations_handoff_wait_idx",
                "messages_unread_outbound_idx", "conversations_waiting_idx",
                "conversations_priority_raise_idx"} <= indexes

        old = store.get_conversation(1)
        assert (old.external_user_id, old.needs_human, old.handoff_timeout_notified_at) == (
            "old-user", True, None)
        assert store.find_message_by_external_id("webchat", "v1-mid").content == "from version 1"
        (claimed,) = store.claim_handoff_timeouts(clock(), clock())
        assert claimed.handoff_timeout_notified_at == clock()

        # The upgraded file works like a new one: jobs come with messages.
        r = store.track_inbound(inbound("old-user", "after the upgrade"), clock())
        assert r.conversation.id == 1 and r.conversation.message_count == 2
        store.track_outbound(outbound(1, "answer"), clock())
        assert [j.kind for j in store.claim_jobs(clock(), 10, 60)] == ["respond", "send"]
    finally:
        store.close()

    # Opening it again is a no-op.
    again = SqliteStore(path)
    try:
        assert again.count_jobs() == 2
        assert again.get_conversation(1).handoff_timeout_notified_at == clock()
    finally:
        again.close()


def test_version_2_file_is_upgraded_in_place(tmp_path, clock):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at, message_count, needs_human, priority,
                                   waiting_since, handoff_timeout_notified_at)
        VALUES ('webchat', 'v2-user', '2026-11-24T10:00:00.000000+00:00',
                '2026-11-24T10:00:00.000000+00:00', '2026-11-24T10:00:00.000000+00:00', 1, 1,
                3, '2026-11-24T10:00:00.000000+00:00', '2026-11-24T10:30:00.000000+00:00');
        PRAGMA user_version = 2;
    """)
    db.close()
    assert "priority_raised_at" not in _columns(path, "conversations")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = store.get_conversation(1)
        assert (old.priority, old.priority_raised_at) == (3, None)
        assert old.handoff_timeout_notified_at is not None  # kept by the upgrade
        (raised,) = store.raise_waiting_priority(clock(), clock())
        assert (raised.id, raised.priority, raised.priority_raised_at) == (1, 2, clock())
        page = store.list_conversations(ConversationFilter(sort="waiting"), limit=10)
        assert [c.id for c in page.conversations] == [1]
    finally:
        store.close()


def _version_3_database(path: Path) -> None:
    """A version-3 file with conversations in every state the stats count, and no roll-ups."""
    db = sqlite3.connect(path)
    db.executescript(V3_SCHEMA.read_text(encoding="utf-8"))
    day = "2026-11-24T"
    db.executescript(f"""
        -- 1 messenger, active, escalated 10:00, agent 10:01:30.25 (90.25 s), 3 messages.
        -- 2 webchat, closed by the bot alone, 2 messages.
        -- 3 webchat, active, escalated 11:00, nobody yet, 1 message waiting for a human.
        -- 4 webchat, idle, escalated 09:00:00, agent 09:00:10 (10 s), 2 messages.
        INSERT INTO conversations (platform, external_user_id, status, handled_by, needs_human,
                                   message_count, escalated_at, first_human_reply_at,
                                   created_at, updated_at, last_message_at)
        VALUES ('messenger', 'u1', 'active', 'bot', 0, 3, '{day}10:00:00.000000+00:00',
                '{day}10:01:30.250000+00:00', '{day}09:59:00.000000+00:00',
                '{day}10:01:30.250000+00:00', '{day}10:01:30.250000+00:00'),
               ('webchat', 'u2', 'closed', 'bot', 0, 2, NULL, NULL,
                '{day}08:00:00.000000+00:00', '{day}08:00:01.000000+00:00',
                '{day}08:00:01.000000+00:00'),
               ('webchat', 'u3', 'active', 'bot', 1, 1, '{day}11:00:00.000000+00:00', NULL,
                '{day}10:59:00.000000+00:00', '{day}11:00:00.000000+00:00',
                '{day}10:59:00.000000+00:00'),
               ('webchat', 'u4', 'idle', 'human', 0, 2, '{day}09:00:00.000000+00:00',
                '{day}09:00:10.000000+00:00', '{day}08:59:00.000000+00:00',
                '{day}09:00:10.000000+00:00', '{day}09:00:10.000000+00:00');
        INSERT INTO messages (conversation_id, platform, sender_type, content, created_at,
                              requires_human, human_replied)
        VALUES (1, 'messenger', 'user', 'a', '{day}09:59:00.000000+00:00', 1, 1),
               (1, 'messenger', 'bot', 'b', '{day}09:59:01.000000+00:00', 0, 0),
               (1, 'messenger', 'agent', 'c', '{day}10:01:30.250000+00:00', 0, 0),
               (2, 'webchat', 'user', 'd', '{day}08:00:00.000000+00:00', 0, 0),
               (2, 'webchat', 'bot', 'e', '{day}08:00:01.000000+00:00', 0, 0),
               (3, 'webchat', 'user', 'f', '{day}10:59:00.000000+00:00', 1, 0),
               (4, 'webchat', 'user', 'g', '{day}08:59:00.000000+00:00', 1, 1),
               (4, 'webchat', 'agent', 'h', '{day}09:00:10.000000+00:00', 0, 0);
        PRAGMA user_version = 3;
    """)
    db.close()


def test_version_3_file_gets_its_stats_rollups_filled_in_place(tmp_path, clock):
    path = tmp_path / "v3.db"
    _version_3_database(path)
    with sqlite3.connect(path) as db:
        assert not db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'stats_%'").fetchall()
    now = clock()

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("SELECT count(*) FROM stats_hourly").fetchone()[0] == 3  # 08-10h
        s = store.stats(now)
        assert s == store.stats_from_rows(now)  # backfilled counters = the rows
        assert (s.total_conversations, s.active_conversations, s.total_messages) == (4, 2, 8)
        assert (s.messages_requiring_human, s.conversations_needing_human) == (1, 1)
        assert (s.escalated_conversations, s.handed_to_human_conversations) == (3, 3)
        assert s.bot_resolved_conversations == 1
        assert s.avg_first_human_response_seconds == pytest.approx(50.125)  # (90.25 + 10) / 2
        assert s.median_first_human_response_seconds == pytest.approx(50.125)
        assert s.by_platform["messenger"].messages == 3
        assert s.by_platform["webchat"].conversations == 3
        day = next(d for d in s.messages_per_day if d.day.day == 24)
        assert (day.messages, day.escalations) == (8, 3)

        # The triggers work on the upgraded file: an agent answers conversation 3.
        store.track_outbound(outbound(3, "here", sender_type="agent"), now)
        after = store.stats(now)
        assert after == store.stats_from_rows(now)
        assert (after.total_messages, after.messages_requiring_human) == (9, 0)
        assert after.conversations_needing_human == 0
    finally:
        store.close()

    # Opening it again neither backfills twice nor loses anything.
    again = SqliteStore(path)
    try:
        assert again.stats(now) == after
    finally:
        again.close()


def test_version_4_file_gets_its_search_indexes_filled_in_place(tmp_path, clock):
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path)
    db.executescript(V4_SCHEMA.read_text(encoding="utf-8"))
    day = "2026-12-01T10:00:0"
    db.executescript(f"""
        INSERT INTO conversations (platform, external_user_id, display_name, created_at,
                                   updated_at, last_message_at, message_count)
        VALUES ('webchat', 'v4-a', 'Jürgen Straße', '{day}0.000000+00:00',
                '{day}1.000000+00:00', '{day}1.000000+00:00', 2),
               ('messenger', 'v4-b', NULL, '{day}2.000000+00:00',
                '{day}2.000000+00:00', '{day}2.000000+00:00', 1);
        INSERT INTO messages (conversation_id, platform, sender_type, content, created_at)
        VALUES (1, 'webchat', 'user', 'where is my PARCEL', '{day}0.000000+00:00'),
               (1, 'webchat', 'bot', 'it left today', '{day}1.000000+00:00'),
               (2, 'messenger', 'user', 'ΑΣΑ refund please', '{day}2.000000+00:00');
        PRAGMA user_version = 4;
    """)
    db.close()

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            # The rows already there went into the indexes, folded.
            indexed = db.execute("SELECT rowid FROM messages_search WHERE messages_search"
                                 " MATCH ?", (index_query("parcel"),)).fetchall()
            assert indexed == [(1,)]
            names = db.execute("SELECT rowid FROM conversations_search WHERE"
                               " conversations_search MATCH ?", (index_query("straße"),)).fetchall()
            assert names == [(1,)]

        def found(text: str) -> set[int]:
            page = store.list_conversations(ConversationFilter(search=text), limit=10)
            return {c.id for c in page.conversations}

        assert found("parcel") == found("left tod") == found("JÜRGEN") == found("straße") == {1}
        assert found("ασα refund") == {2}
        # Written after the upgrade: found before it is indexed.
        store.track_inbound(inbound("v4-b", "a new question", platform="messenger"), clock())
        assert found("new quest") == {2}
    finally:
        store.close()

    again = SqliteStore(path)  # opening it again indexes nothing twice
    try:
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT rowid FROM messages_search WHERE messages_search"
                              " MATCH ?", (index_query("refund"),)).fetchall()
            upto = db.execute("SELECT upto FROM search_progress WHERE name ="
                              " 'messages_search'").fetchone()[0]
        assert (rows, upto) == ([(3,)], 3)  # message 4 waits for the next batch
    finally:
        again.close()


def test_version_5_file_gets_the_activity_table(tmp_path, clock):
    path = tmp_path / "v5.db"
    db = sqlite3.connect(path)
    register_functions(db)  # the search triggers of version 5 call them
    db.executescript(V5_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('v5@example.com', 'agent', 'hash', '2026-12-04T10:00:00.000000+00:00');
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at, message_count, status, closed_at)
        VALUES ('webchat', 'v5-user', '2026-12-04T10:00:00.000000+00:00',
                '2026-12-04T10:00:00.000000+00:00', '2026-12-04T10:00:00.000000+00:00', 0,
                'closed', '2026-12-04T11:00:00.000000+00:00');
        PRAGMA user_version = 5;
    """)
    db.close()
    assert "activity" not in _tables(path)

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.list_activity(1, 10) == []  # nothing happened before the trail existed
        user = store.get_user_by_email("v5@example.com")
        (line,) = store.add_activity([NewActivity(conversation_id=1, kind="reopened",
                                                  actor_id=user.id, actor=user.email)], clock())
        assert store.list_activity(1, 10) == [line]
        assert store.get_conversation(1).status == "closed"  # kept by the upgrade
    finally:
        store.close()


def test_version_6_file_gets_the_team_stats_indexes(tmp_path, clock):
    path = tmp_path / "v6.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V6_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('v6@example.com', 'agent', 'hash', '2026-12-05T10:00:00.000000+00:00');
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at, message_count, escalated_at,
                                   first_human_reply_at, assigned_to)
        VALUES ('webchat', 'v6-user', '2026-12-05T10:00:00.000000+00:00',
                '2026-12-05T10:05:00.000000+00:00', '2026-12-05T10:05:00.000000+00:00', 2,
                '2026-12-05T10:01:00.000000+00:00', '2026-12-05T10:05:00.000000+00:00', 1);
        INSERT INTO messages (conversation_id, platform, sender_type, sender_id, content,
                              created_at)
        VALUES (1, 'webchat', 'user', NULL, 'a person, please',
                '2026-12-05T10:00:00.000000+00:00'),
               (1, 'webchat', 'agent', 'v6@example.com', 'here I am',
                '2026-12-05T10:05:00.000000+00:00');
        INSERT INTO activity (conversation_id, kind, actor_id, actor, created_at)
        VALUES (1, 'taken_over', 1, 'v6@example.com', '2026-12-05T10:04:00.000000+00:00');
        PRAGMA user_version = 6;
    """)
    db.close()
    assert "messages_agent_created_idx" not in _indexes(path)

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"messages_agent_created_idx", "conversations_first_reply_idx",
                "activity_created_idx"} <= _indexes(path)
        # The rows already there are in them: the day's team stats count them.
        day = clock().replace(year=2026, month=12, day=5, hour=0)
        (row,) = store.team_stats(day, day.replace(day=6))
        assert (row.email, row.replies, row.picked_up, row.first_responses,
                row.median_first_response_seconds, row.open_assigned) == (
            "v6@example.com", 1, 1, 1, 240, 1)
    finally:
        store.close()


def test_version_7_file_gets_the_saved_replies_table(tmp_path, clock):
    path = tmp_path / "v7.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V7_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('v7@example.com', 'admin', 'hash', '2026-12-05T10:00:00.000000+00:00');
        PRAGMA user_version = 7;
    """)
    db.close()
    assert "saved_replies" not in _tables(path)

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        made = store.create_saved_reply(NewSavedReply(title="Hours", body="9 to 5"), 1, clock())
        assert store.list_saved_replies() == [made]
        assert store.get_user(1).email == "v7@example.com"  # the rows there are kept
    finally:
        store.close()


def test_version_8_file_gets_the_read_marks_table(tmp_path, clock):
    path = tmp_path / "v8.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V8_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('v8@example.com', 'agent', 'hash', '2026-12-05T10:00:00.000000+00:00');
        PRAGMA user_version = 8;
    """)
    db.close()
    assert "conversation_reads" not in _tables(path)

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conversation = store.track_inbound(inbound("v8-user", "hi"), clock()).conversation
        mark = store.mark_read(1, conversation.id, 1, clock())
        assert store.read_marks(1, [conversation.id]) == [mark]
        assert store.get_user(1).email == "v8@example.com"  # the rows there are kept
    finally:
        store.close()


def test_version_9_file_gets_tags(tmp_path, clock):
    path = tmp_path / "v9.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V9_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at)
        VALUES ('webchat', 'v9-user', '2026-12-05T10:00:00.000000+00:00',
                '2026-12-05T10:00:00.000000+00:00', '2026-12-05T10:00:00.000000+00:00');
        INSERT INTO activity (conversation_id, kind, detail, created_at)
        VALUES (1, 'note', '{"text": "kept"}', '2026-12-05T10:00:00.000000+00:00'),
               (1, 'note', '{"text": "its id is not given out again"}',
                '2026-12-05T10:00:00.000000+00:00');
        DELETE FROM activity WHERE id = 2;
        PRAGMA user_version = 9;
    """)
    db.close()
    assert "conversation_tags" not in _tables(path)
    indexes = {i for i in _indexes(path) if i.startswith("activity_")}

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = store.get_conversation(1)
        assert old.external_user_id == "v9-user" and old.tags == []  # the rows there are kept
        tagged, changed = store.add_tag(1, "billing", clock())
        assert changed and tagged.tags == ["billing"]
        page = store.list_conversations(ConversationFilter(tag="billing"), 10)
        assert [c.id for c in page.conversations] == [1]
        assert store.list_tags(10) == [TagCount(tag="billing", conversations=1, open=1)]
        # The trail was rebuilt to take tag lines: its lines, indexes and ids are kept.
        (kept,) = store.list_activity(1, 10)
        assert (kept.id, kept.kind, kept.detail) == (1, "note", {"text": "kept"})
        (line,) = store.add_activity(
            [NewActivity(conversation_id=1, kind="tagged", detail={"tag": "billing"})], clock())
        assert line.id == 3
        assert {i for i in _indexes(path) if i.startswith("activity_")} == indexes
        assert "activity_before_v10" not in _tables(path)
    finally:
        store.close()


def test_version_10_file_gets_ratings(tmp_path, clock):
    path = tmp_path / "v10.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V10_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, status, created_at, updated_at,
                                   last_message_at, closed_at, tags)
        VALUES ('webchat', 'v10-user', 'closed', '2026-12-05T10:00:00.000000+00:00',
                '2026-12-05T10:00:00.000000+00:00', '2026-12-05T10:00:00.000000+00:00',
                '2026-12-05T10:00:00.000000+00:00', '["vip"]');
        PRAGMA user_version = 10;
    """)
    db.close()
    assert "rating" not in _columns(path, "conversations")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = store.get_conversation(1)
        assert old.external_user_id == "v10-user" and old.tags == ["vip"]
        assert (old.rating, old.rating_comment, old.rated_at) == (None, None, None)
        rated = store.rate_conversation(1, 5, "Lovely", clock())
        assert (rated.rating, rated.rating_comment) == (5, "Lovely")
        assert store.satisfaction(None, clock() + timedelta(seconds=1)).rated == 1
        assert "conversations_rated_idx" in _indexes(path)
        with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE conversations SET rating = 6")  # the column's check came too
    finally:
        store.close()


def test_version_11_file_gains_availability(tmp_path, clock):
    path = tmp_path / "v11.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V11_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('ann@example.com', 'agent', 'hash', '2026-12-05T10:00:00.000000+00:00');
        PRAGMA user_version = 11;
    """)
    db.close()
    assert "available" not in _columns(path, "admin_users")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        ann = store.get_user(1)
        assert (ann.email, ann.available, ann.last_assigned_at) == ("ann@example.com", False,
                                                                   None)
        assert store.set_user_available(1, True).available is True
        waiting = store.track_inbound(inbound("u1", "a person please"), clock())
        store.mark_needs_human(waiting.message.id, "asked", 3, clock())
        ((conversation, user),) = store.auto_assign(None, 10, 0, clock())
        assert (conversation.assigned_to, user.last_assigned_at) == (1, clock())
        with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE admin_users SET available = 2")  # the column's check came too
    finally:
        store.close()


def test_version_12_file_gains_last_seen(tmp_path, clock):
    path = tmp_path / "v12.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V12_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at, available)
        VALUES ('ann@example.com', 'agent', 'hash', '2026-12-05T10:00:00.000000+00:00', 1);
        PRAGMA user_version = 12;
    """)
    db.close()
    assert "last_seen_at" not in _columns(path, "admin_users")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        ann = store.get_user(1)
        assert (ann.email, ann.available, ann.last_seen_at) == ("ann@example.com", True, None)
        store.touch_users([1], clock())
        assert store.get_user(1).last_seen_at == clock()
        waiting = store.track_inbound(inbound("u1", "a person please"), clock())
        store.mark_needs_human(waiting.message.id, "asked", 3, clock())
        ((conversation, _),) = store.auto_assign(None, 10, 0, clock(), online_since=clock())
        assert conversation.assigned_to == 1
    finally:
        store.close()


def test_version_13_file_gains_the_offline_claim(tmp_path, clock):
    path = tmp_path / "v13.db"
    seen = "2026-11-20T10:00:00.000000+00:00"  # before the clock fixture's now
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V13_SCHEMA.read_text(encoding="utf-8"))
    db.executescript(f"""
        INSERT INTO admin_users (email, role, password_hash, created_at, last_seen_at)
        VALUES ('ann@example.com', 'agent', 'hash', '{seen}', '{seen}'),
               ('bob@example.com', 'agent', 'hash', '{seen}', NULL);
        PRAGMA user_version = 13;
    """)
    db.close()
    assert "offline_announced_at" not in _columns(path, "admin_users")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # Ann, offline since before the upgrade, is announced by the first sweep, once;
        # Bob, never seen, never.
        assert [u.email for u in store.claim_offline(clock(), clock())] == ["ann@example.com"]
        assert store.claim_offline(clock(), clock()) == []
        store.touch_users([1, 2], clock())
        later = clock.advance(minutes=5)
        assert [u.email for u in store.claim_offline(later, later)] == [
            "ann@example.com", "bob@example.com"]
    finally:
        store.close()


def test_version_14_file_gains_the_files_table(tmp_path, clock):
    path = tmp_path / "v14.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V14_SCHEMA.read_text(encoding="utf-8"))
    db.execute("PRAGMA user_version = 14")
    db.close()
    assert "files" not in _tables(path)

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"files_conversation_idx", "files_unsent_idx"} <= _indexes(path)
        conversation = store.track_inbound(inbound("v14", "hi"), clock()).conversation
        stored = store.add_file(NewFile(conversation_id=conversation.id, name="a.txt",
                                        content_type="text/plain", data=b"kept"), clock())
        assert store.get_file(stored.id).data == b"kept"
        store.delete_conversations([conversation.id])  # the cascade works on the new table
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    finally:
        store.close()


def test_version_15_files_count_as_sent(tmp_path, clock):
    """The files of a version-15 file gain ``sent_at``, set: none is taken for one never
    sent and deleted; files uploaded since are unsent until a reply carries them."""
    path = tmp_path / "v15.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V15_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at, message_count)
        VALUES ('webchat', 'v15', '2026-12-01T10:00:00.000000+00:00',
                '2026-12-01T10:00:00.000000+00:00', '2026-12-01T10:00:00.000000+00:00', 0);
        INSERT INTO files (id, conversation_id, name, content_type, size, data, created_at)
        VALUES ('0c6f3a9e-2b1d-4e8f-9a7c-5d4e3f2a1b0c', 1, 'old.txt', 'text/plain', 3, x'6f6c64',
                '2026-12-01T10:00:00.000000+00:00');
        PRAGMA user_version = 15;
    """)
    db.close()
    assert "sent_at" not in _columns(path, "files")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("SELECT sent_at FROM files").fetchone()[0] == \
                "2026-12-01T10:00:00.000000+00:00"
        assert "files_unsent_idx" in _indexes(path)
        assert store.delete_unsent_files(clock(), 10) == 0
        assert store.get_file("0c6f3a9e-2b1d-4e8f-9a7c-5d4e3f2a1b0c").data == b"old"
        new = store.add_file(NewFile(conversation_id=1, name="new.txt",
                                     content_type="text/plain", data=b"new"), clock())
        assert store.delete_unsent_files(clock.advance(hours=1), 10) == 1
        with pytest.raises(NotFound):
            store.get_file(new.id)
    finally:
        store.close()


def test_version_16_file_gains_account_names(tmp_path, clock):
    """Version 17: admin_users.display_name, none for the accounts already there."""
    path = tmp_path / "v16.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V16_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO admin_users (email, role, password_hash, created_at)
        VALUES ('old@example.com', 'agent', 'h', '2026-12-01T10:00:00.000000+00:00');
        PRAGMA user_version = 16;
    """)
    db.close()
    assert "display_name" not in _columns(path, "admin_users")

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = store.get_user_by_email("old@example.com")
        assert old.display_name is None
        assert store.set_user_name(old.id, "Olga").display_name == "Olga"
        with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE admin_users SET display_name = ''")  # the table's own check
    finally:
        store.close()


def test_version_17_file_takes_sign_in_lines(tmp_path, clock):
    """Version 18: the trail takes 'signed_in' lines; its lines, ids and indexes are kept."""
    path = tmp_path / "v17.db"
    db = sqlite3.connect(path)
    register_functions(db)
    db.executescript(V17_SCHEMA.read_text(encoding="utf-8"))
    db.executescript("""
        INSERT INTO conversations (platform, external_user_id, created_at, updated_at,
                                   last_message_at)
        VALUES ('webchat', 'v17-user', '2026-12-07T10:00:00.000000+00:00',
                '2026-12-07T10:00:00.000000+00:00', '2026-12-07T10:00:00.000000+00:00');
        INSERT INTO activity (conversation_id, kind, detail, created_at)
        VALUES (1, 'tagged', '{"tag": "vip"}', '2026-12-07T10:00:00.000000+00:00'),
               (1, 'note', '{"text": "its id is not given out again"}',
                '2026-12-07T10:00:00.000000+00:00');
        DELETE FROM activity WHERE id = 2;
        PRAGMA user_version = 17;
    """)
    with pytest.raises(sqlite3.IntegrityError):  # the version-17 table's own check
        db.execute("INSERT INTO activity (conversation_id, kind, created_at)"
                   " VALUES (1, 'signed_in', '2026-12-07T10:00:00.000000+00:00')")
    db.close()
    indexes = {i for i in _indexes(path) if i.startswith("activity_")}

    store = SqliteStore(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 18
        (kept,) = store.list_activity(1, 10)
        assert (kept.id, kept.kind, kept.detail) == (1, "tagged", {"tag": "vip"})
        (line,) = store.add_activity(
            [NewActivity(conversation_id=1, kind="signed_in", detail={"name": "Ada"})], clock())
        assert (line.id, line.kind, line.detail) == (3, "signed_in", {"name": "Ada"})
        assert {i for i in _indexes(path) if i.startswith("activity_")} == indexes
        assert "activity_before_v18" not in _tables(path)
        with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO activity (conversation_id, kind, created_at)"
                       " VALUES (1, 'unheard_of', '2026-12-07T10:00:00.000000+00:00')")
    finally:
        store.close()


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreUnavailable):
        SqliteStore(path)
