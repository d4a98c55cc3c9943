"""The SQLite store's trigram search indexes (services/store/sqlite_search.py).

The indexes hold exactly the trigrams of each row's folded text after any mix of writes; a
search reads them for a rare text and walks the conversations for a common or short one; and
both ways list the same conversations, in the same pages, as the Python model of
tests/reliability/test_hostile_search.py.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.models import ConversationCursor, ConversationFilter, InboundMessage
from services.store import sqlite as sqlite_store
from services.store import sqlite_search
from services.store.sqlite import SqliteStore
from tests.contract.helpers import outbound
from tests.reliability.test_hostile_search import Seeded, texts

WORDS = ["Straße", "ΑΣΑ", "İstanbul", "naïve café", "100%", "a_b", 'say "hi"', "Kelvin \u212a",
         "order 4711", "refund", "ab", "x", "\U0001f600 ok", "STRASSE", "ﬃ", ""]


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "search.db")
    yield s
    s.close()


def _indexed(store, index: str) -> set[tuple[str, int]]:
    """(trigram, row id) pairs the index holds, read through fts5vocab."""
    with store.db.transaction("DEFERRED") as db:
        db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{index}_vocab"
                   f" USING fts5vocab(main, {index}, instance)")
        return {(term, rowid) for term, rowid in db.execute(
            f"SELECT term, doc FROM temp.{index}_vocab")}


def _upto(store, index: str) -> int:
    return store.db.read("SELECT upto FROM search_progress WHERE name = ?", (index,))[0][0]


def _expected(store, index: str, table: str, column: str) -> set[tuple[str, int]]:
    pairs = set()
    for row in store.db.read(f"SELECT id, {column} AS text FROM {table} WHERE id <= ?",
                             (_upto(store, index),)):
        folded = (row["text"] or "").casefold()
        pairs |= {(folded[i:i + 3], row["id"]) for i in range(len(folded) - 2)}
    return pairs


def _check_indexes(store) -> None:
    """Each index holds the trigrams of exactly the rows up to its ``upto``; fewer than
    CATCH_UP_AFTER rows wait after it."""
    for index, table, column in (("messages_search", "messages", "content"),
                                 ("conversations_search", "conversations", "display_name")):
        assert _indexed(store, index) == _expected(store, index, table, column)
        waiting = store.db.read(f"SELECT count(*) FROM {table} WHERE id > ?",
                                (_upto(store, index),))[0][0]
        assert waiting < sqlite_search.CATCH_UP_AFTER


def test_indexes_hold_exactly_the_folded_text_after_any_writes(store, clock):
    rng = random.Random(7)
    for step in range(300):
        person = f"p{rng.randrange(40)}"
        name = rng.choice(WORDS + [None] * 4) or None
        conversation = store.track_inbound(InboundMessage(
            platform=rng.choice(["webchat", "messenger"]), external_user_id=person,
            external_id=f"m{step}", content=" ".join(rng.sample(WORDS, 3)),
            display_name=name), clock.advance(seconds=1)).conversation
        if rng.random() < 0.3:
            store.track_outbound(outbound(conversation.id, rng.choice(WORDS) + " reply"),
                                 clock.advance(seconds=1))
        if rng.random() < 0.05:  # deleting a conversation deletes its messages (cascade)
            with store.db.transaction() as db:
                db.execute("DELETE FROM conversations WHERE id = ?", (conversation.id,))
        if rng.random() < 0.1:  # an edit (the store never edits content; a tool might)
            with store.db.transaction() as db:
                ids = [r[0] for r in db.execute("SELECT id FROM messages")]
                db.execute("UPDATE messages SET content = content || ' edited' WHERE id = ?",
                           (rng.choice(ids),))
        if step % 50 == 49:
            _check_indexes(store)
    assert len(store.db.read("SELECT id FROM messages")) > 200
    assert _upto(store, "messages_search") > 200 and _upto(store, "conversations_search") > 32
    _check_indexes(store)


def test_a_write_rolled_back_leaves_the_indexes_as_they_were(store, clock):
    for i in range(40):
        store.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"u{i}", external_id=f"a{i}",
            content=f"kept text {i}", display_name=f"Kept {i}"), clock.advance(seconds=1))
    before = _indexed(store, "messages_search"), _indexed(store, "conversations_search")
    assert _upto(store, "messages_search") == 32 and before[0] and before[1]
    with pytest.raises(RuntimeError), store.db.transaction() as db:
        db.execute("UPDATE conversations SET display_name = 'Gone Name'")
        db.execute("DELETE FROM messages")
        raise RuntimeError("after the writes")
    assert (_indexed(store, "messages_search"), _indexed(store, "conversations_search")) == before
    _check_indexes(store)


def _pages(store, search: str, limit: int = 4, **filters) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = store.list_conversations(ConversationFilter(search=search, **filters),
                                        limit=limit, cursor=cursor)
        pages.append([c.id for c in page.conversations])
        if page.next_cursor is None:
            return pages
        cursor = ConversationCursor.decode(page.next_cursor)


@pytest.fixture
def ways(store, monkeypatch):
    """Search with the indexes whenever they can be used, or never; and which way ran."""
    used = []
    real = sqlite_store.candidates_sql

    def spy(fold):
        used.append("index")
        return real(fold)

    monkeypatch.setattr(sqlite_store, "candidates_sql", spy)

    def search(how: str, text: str, **filters) -> tuple[list[list[int]], bool]:
        used.clear()
        limit = {"index": 10**9, "scan": -1}[how]
        monkeypatch.setattr(sqlite_store, "MAX_CANDIDATES", limit)
        return _pages(store, text, **filters), bool(used)

    return search


def test_index_and_walk_list_the_same_pages_as_the_model(store, clock, ways):
    seeded = Seeded(store, clock)
    checked = 0

    @settings(max_examples=200, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.one_of(texts, st.sampled_from(["name", "plain", "Name x", "STRASSE", "straße",
                                             "ασα", "İstan", "\u212avin", "ﬃ", "100% s"])),
           st.sampled_from([{}, {"platform": "webchat"}, {"sort": "priority"},
                            {"sort": "waiting"}]))
    def one(search, filters):
        nonlocal checked
        by_index, indexed = ways("index", search, **filters)
        by_walk, walked_index = ways("scan", search, **filters)
        assert not walked_index
        assert indexed == (sqlite_search.index_query(search) is not None)
        assert by_index == by_walk, search
        listed = {cid for page in by_index for cid in page}
        if not filters:
            assert seeded.required(search) <= listed <= seeded.allowed(search), search
        checked += indexed and bool(listed)

    one()
    assert checked >= 10  # the index was used for searches that found something


def test_a_common_text_walks_the_conversations_and_a_rare_one_reads_the_index(
        store, clock, monkeypatch):
    for i in range(70):  # ids 1-64 indexed, 65-70 after upto
        store.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"v{i}", external_id=f"c{i}",
            content=f"order number {1000 + i} please"), clock.advance(seconds=1))
    assert _upto(store, "messages_search") == _upto(store, "conversations_search") == 64
    used = []
    real = sqlite_store.candidates_sql
    monkeypatch.setattr(sqlite_store, "candidates_sql", lambda fold: used.append(1) or real(fold))
    monkeypatch.setattr(sqlite_store, "MAX_CANDIDATES", 40)

    # 1 row offered, 12 not indexed yet (6 messages, 6 conversations): the index.
    assert (_pages(store, "number 1017"), len(used)) == ([[18]], 1)
    assert (_pages(store, "NUMBER 1068"), len(used)) == ([[69]], 2)  # found after upto
    used.clear()
    common = _pages(store, "NUMBER 10", limit=7)  # 64 rows offered: more than 40
    assert not used
    assert [len(p) for p in common] == [7] * 10
    assert [cid for page in common for cid in page] == list(range(70, 0, -1))
    short = _pages(store, "102", limit=50)  # one trigram: 10 rows offered, the index
    assert (short, len(used)) == ([list(range(30, 20, -1))], 1)
    used.clear()
    assert _pages(store, "01", limit=50) == [[*range(20, 10, -1), 2]]  # no trigram: the walk
    assert not used
