"""list_conversations on the real local stack: a search walks the conversations when its text
is common, reads the trigram indexes when it is rare, and both ways list the same pages.

The bound is the setting ``switchboard.search_walk_after`` (20,000 rows when unset); each
call below runs in its own psql session with the setting at 0 (every search walks) or far
above the data (none does). Which way ran shows in the plan of the page's query, read
with auto_explain: only the indexes' way gathers the ids of matching names and messages
(an Append of the two), and it never reads a conversation's messages through
messages_conversation_idx (the walk may, or may hash one read of them). What the walk
saves at 1,000,000 messages is measured by bench/admin.py's ``search_common``.
"""

from __future__ import annotations

import json

import pytest

from bench.store import bulk_postgres

SEARCHES = ["orders and", "Person 42", "PERSON 7", "bulk-42-", "bulk-9", "zz-none", "a",
            "ß", "%", "_1", "message bulk-1"]
FILTERS = [{}, {"status": "closed"}, {"sort": "priority"}, {"sort": "waiting"},
           {"platform": "webchat"}]
AUTO_EXPLAIN = ("load 'auto_explain';\nset auto_explain.log_min_duration = 0;\n"
                "set auto_explain.log_nested_statements = on;\n"
                "set auto_explain.log_level = notice;\n")


@pytest.fixture(scope="module")
def loaded(supabase_stack):
    supabase_stack.reset()
    bulk_postgres(supabase_stack, 1000)  # 10,000 messages, analysed
    yield supabase_stack
    supabase_stack.reset()


def _call(stack, walk_after: int | None, filters: dict, limit: int, cursor: dict | None = None):
    """One call in its own session (the setting at ``walk_after``, or unset): its rows, and
    how many nodes of its plans (auto_explain's, this session's only) read
    messages_conversation_idx."""
    args = json.dumps(filters).replace("'", "''")
    cursor_sql = "null" if cursor is None else "'" + json.dumps(cursor) + "'"
    setting = "" if walk_after is None else f"set switchboard.search_walk_after = {walk_after};\n"
    out, notices = stack.psql_notices(
        AUTO_EXPLAIN + setting + f"select list_conversations('{args}', {limit}, {cursor_sql});\n")
    return json.loads(out.strip()), notices.count("messages_conversation_idx")


def _pages(stack, walk_after: int, search: str, filters: dict, limit: int = 7, most: int = 4):
    """The ids of the first ``most`` pages, following the cursor; and the scans made."""
    pages, cursor, scans = [], None, 0
    while len(pages) < most:
        rows, made = _call(stack, walk_after, {"search": search, **filters}, limit + 1, cursor)
        scans += made
        pages.append([r["id"] for r in rows[:limit]])
        if len(rows) <= limit:
            break
        last = rows[limit - 1]
        cursor = {"sort": filters.get("sort", "last_activity"), "id": last["id"],
                  "last_message_at": last["last_message_at"], "priority": last["priority"],
                  "needs_human": last["needs_human"], "waiting_since": last["waiting_since"]}
    return pages, scans


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in
                                                                      f.items()) or "none")
def test_walking_and_reading_the_indexes_list_the_same_pages(loaded, filters):
    for search in SEARCHES:
        walked, _ = _pages(loaded, 0, search, filters)
        indexed, index_scans = _pages(loaded, 10**9, search, filters)
        assert walked == indexed, (search, filters)
        assert sum(map(len, walked)) == len(set().union(*walked))  # each conversation once
        if len(search) >= 3:  # a shorter text walks whatever the setting
            assert index_scans == 0, (search, filters)


def _page_plan(stack, walk_after: int | None, search: str) -> tuple[int, str]:
    """How many conversations one call lists, and the plan of its page query."""
    setting = "" if walk_after is None else f"set switchboard.search_walk_after = {walk_after};\n"
    args = json.dumps({"search": search}).replace("'", "''")
    out, notices = stack.psql_notices(
        AUTO_EXPLAIN + setting + f"select jsonb_array_length(list_conversations('{args}', 50));\n")
    plans = [plan for plan in notices.split("NOTICE:") if "conversations_last_activity_idx"
             in plan or "from conversations c" in plan]
    assert len(plans) == 1, notices[-3000:]  # the page query (the count reads no such thing)
    return int(out.strip()), plans[0]


def test_the_bound_decides_which_way_a_search_runs(loaded):
    # "orders and" is in all 10,000 messages: unset (20,000) it reads the indexes' ids; at
    # 5,000 it walks. A rare text reads the indexes at both; a two-letter one always walks.
    for walk_after, search, found, walks in ((None, "orders and", 50, False),
                                             (5000, "orders and", 50, True),
                                             (None, "bulk-42-", 1, False),
                                             (5000, "bulk-42-", 1, False),
                                             (10**9, "a", 50, True)):
        listed, plan = _page_plan(loaded, walk_after, search)
        assert listed == found, (walk_after, search)
        assert ("Append" not in plan) == walks, (walk_after, search, plan)
