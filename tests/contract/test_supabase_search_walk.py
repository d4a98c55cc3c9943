"""list_conversations on the real local stack: a search walks the conversations when its text
is common, reads the trigram indexes when it is rare, and both ways list the same pages.

The bound is the setting ``switchboard.search_walk_after`` (20,000 rows when unset); each
call below runs in its own psql session with the setting at 0 (every search walks) or far
above the data (none does). The way that does not walk never reads a conversation's
messages through messages_conversation_idx. (At this size the planner may run the walk's
check as one hashed read of the messages, so its scans of that index are not counted; what
the walk saves at 1,000,000 messages is measured by bench/admin.py's ``search_common``.)
"""

from __future__ import annotations

import json

import pytest

from bench.store import bulk_postgres

SEARCHES = ["orders and", "Person 42", "PERSON 7", "bulk-42-", "bulk-9", "zz-none", "a",
            "ß", "%", "_1", "message bulk-1"]
FILTERS = [{}, {"status": "closed"}, {"sort": "priority"}, {"sort": "waiting"},
           {"platform": "webchat"}]
CONVERSATION_SCANS = ("select idx_scan from pg_stat_user_indexes"
                      " where indexrelname = 'messages_conversation_idx';")


@pytest.fixture(scope="module")
def loaded(supabase_stack):
    supabase_stack.reset()
    bulk_postgres(supabase_stack, 1000)  # 10,000 messages, analysed
    yield supabase_stack
    supabase_stack.reset()


def _call(stack, walk_after: int | None, filters: dict, limit: int, cursor: dict | None = None):
    """One call in its own session (the setting at ``walk_after``, or unset): its rows and
    the scans of messages_conversation_idx it made."""
    args = json.dumps(filters).replace("'", "''")
    cursor_sql = "null" if cursor is None else "'" + json.dumps(cursor) + "'"
    setting = "" if walk_after is None else f"set switchboard.search_walk_after = {walk_after};\n"
    out = stack.psql(
        "set stats_fetch_consistency = none;\n" + setting + CONVERSATION_SCANS + "\n"
        f"select list_conversations('{args}', {limit}, {cursor_sql});\n"
        "select pg_stat_force_next_flush();\n" + CONVERSATION_SCANS)
    lines = [line for line in out.split("\n") if line.strip()]
    return json.loads(lines[1]), int(lines[-1]) - int(lines[0])


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


def test_a_common_text_is_found_either_way(loaded):
    # "orders and" is in all 10,000 messages: unset (20,000) it is read by the indexes, at
    # 5,000 it walks; a rare text reads the indexes at both. Same answers.
    for search, found in (("bulk-42-", 1), ("orders and", 50)):
        unset, _ = _call(loaded, None, {"search": search}, 50)
        low, _ = _call(loaded, 5000, {"search": search}, 50)
        assert len(unset) == found and unset == low, search
