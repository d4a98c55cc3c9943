"""Plans PostgreSQL keeps for the SQL functions, on the real local stack.

PL/pgSQL keeps each statement's plan for the session. After five calls it may keep one
made for any arguments (a generic plan) when that one looks no dearer, and for
``list_messages_in`` it did not stay cheap: it read each conversation's messages by
AND-ing the (conversation_id) index with the created_at range of the whole table, once
per conversation of the page (225-240 ms a call at 200,000 messages, against 3 ms).
The function is planned for each call (``plan_cache_mode = force_custom_plan``).
PostgREST keeps its connections, so a session's sixth call is an everyday thing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.store import NOW, bulk_postgres

CALLS = 10
RANGE_SCANS = ("select idx_scan from pg_stat_user_indexes"
               " where indexrelname = 'messages_created_at_idx';")


@pytest.fixture
def loaded(supabase_stack):
    supabase_stack.reset()
    bulk_postgres(supabase_stack, 1000)  # 10,000 messages, analysed
    yield supabase_stack
    supabase_stack.reset()


def test_list_messages_in_reads_by_conversation_on_every_call_of_a_session(loaded):
    ids = loaded.psql("select array_agg(id)::text from (select id from conversations"
                      " order by last_message_at desc, id desc limit 200) page").strip()
    call = (f"select json_array_length(public.list_messages_in('{ids}',"
            f" '{(NOW - timedelta(days=60)).isoformat()}', '{NOW.isoformat()}', 500));\n")
    # One session: the range index's scans before, CALLS calls, and after (flushed first).
    out = loaded.psql("set stats_fetch_consistency = none;\n" + RANGE_SCANS + "\n"
                      + call * CALLS + "select pg_stat_force_next_flush();\n"
                      + RANGE_SCANS).split()
    before, sizes, after = int(out[0]), out[1:1 + CALLS], int(out[-1])
    assert sizes == ["500"] * CALLS  # every call answered in full
    # Planned per call, the range index is (nearly) never used: 2 scans for 10 calls here.
    # A generic plan scans it once per conversation: about 260 more for the same calls.
    assert after - before < 5 * CALLS, (before, after)


def test_the_read_functions_are_planned_for_each_call(supabase_stack):
    configs = supabase_stack.psql(
        "select proname, proconfig::text from pg_proc where proname in"
        " ('list_messages_in', 'list_conversations') order by proname").splitlines()
    assert len(configs) == 2 and all("plan_cache_mode=force_custom_plan" in line
                                     for line in configs), configs


def test_a_rare_tag_is_found_through_the_partial_gin_index(loaded):
    """conversations_tags_idx holds tagged conversations only (an untagged one's updates,
    one a tracked message, add nothing to it); list_conversations' filter says
    "tags <> '{}'" so that the planner can use it. Without that term the index is never
    read and the filter walks the conversations."""
    loaded.psql("update conversations set tags = '{rare}' where id % 200 = 0;"
                " update conversations set tags = '{common}' where id % 200 <> 0 and id % 2 = 0;"
                " analyze conversations;")
    scans = ("select idx_scan from pg_stat_user_indexes"
             " where indexrelname = 'conversations_tags_idx';")
    call = ("select jsonb_array_length(public.list_conversations("
            "'{\"tag\": \"rare\"}'::jsonb, 50, null));\n")
    out = loaded.psql("set stats_fetch_consistency = none;\n" + scans + "\n" + call * CALLS
                      + "select pg_stat_force_next_flush();\n" + scans).split()
    before, sizes, after = int(out[0]), out[1:1 + CALLS], int(out[-1])
    assert sizes == ["5"] * CALLS
    assert after - before >= CALLS, (before, after)
