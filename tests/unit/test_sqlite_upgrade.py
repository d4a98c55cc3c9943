"""The SQLite store upgrades a database file of an older schema version in place on start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.errors import StoreUnavailable
from services.models import ConversationFilter
from services.store.sqlite import SqliteStore
from services.store.sqlite_db import SCHEMA_VERSION
from tests.contract.helpers import inbound, outbound

DATA = Path(__file__).with_name("data")
V1_SCHEMA = DATA / "sqlite_schema_v1.sql"
V2_SCHEMA = DATA / "sqlite_schema_v2.sql"


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
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
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


def test_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreUnavailable):
        SqliteStore(path)
