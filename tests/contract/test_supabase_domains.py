"""The value rules of conversations, messages and jobs, kept as domains on the real
PostgreSQL (migration 20261204040000): every column is of its domain, no table CHECK is
left to compile at every statement, each rule refuses what it refused before with the
same SQLSTATE, and the migration can run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.local_supabase import StackError

REPO = Path(__file__).resolve().parents[2]
MIGRATION = REPO / "supabase" / "migrations" / "20261204040000_check_domains.sql"

COLUMNS = {
    ("conversations", "platform"): "channel_platform",
    ("conversations", "external_user_id"): "person_id",
    ("conversations", "profile"): "json_object",
    ("conversations", "status"): "conversation_status",
    ("conversations", "handled_by"): "conversation_handler",
    ("conversations", "priority"): "priority_level",
    ("conversations", "message_count"): "non_negative_count",
    ("conversations", "tags"): "tag_list",  # 20261205090000_conversation_tags.sql
    ("conversations", "rating"): "rating_score",  # 20261205130000_ratings.sql
    ("conversations", "rating_comment"): "rating_comment_text",
    ("messages", "platform"): "channel_platform",
    ("messages", "sender_type"): "sender_kind",
    ("messages", "attachments"): "json_array",
    ("messages", "confidence_score"): "unit_interval",
    ("messages", "delivery_status"): "delivery_state",
    ("messages", "metadata"): "json_object",
    ("jobs", "kind"): "job_kind",
    ("jobs", "status"): "job_status",
    ("jobs", "attempts"): "non_negative_count",
}

# (domain, values it takes, values it refuses), as the table constraints had them
RULES = [
    ("channel_platform", ["'messenger'", "'webchat'"], ["'telegram'", "''"]),
    ("person_id", ["'p'", "repeat('x', 256)"], ["''", "repeat('x', 257)"]),
    ("json_object", ["'{}'", "'{\"a\": [1]}'"], ["'[]'", "'null'", "'1'"]),
    ("json_array", ["'[]'", "'[{\"type\": \"image\"}]'"], ["'{}'", "'\"x\"'"]),
    ("conversation_status", ["'active'", "'idle'", "'closed'"], ["'open'"]),
    ("conversation_handler", ["'bot'", "'human'"], ["'agent'"]),
    ("priority_level", ["1", "5"], ["0", "6"]),
    ("non_negative_count", ["0", "7"], ["-1"]),
    ("sender_kind", ["'user'", "'bot'", "'agent'", "'system'"], ["'admin'"]),
    ("unit_interval", ["0", "0.5", "1"], ["-0.01", "1.01"]),
    ("delivery_state", ["'received'", "'pending'", "'sent'", "'delivered'", "'read'",
                        "'failed'"], ["'lost'"]),
    ("job_kind", ["'respond'", "'send'"], ["'sweep'"]),
    ("job_status", ["'queued'", "'running'", "'done'", "'failed'"], ["'waiting'"]),
    ("tag_list", ["'{}'", "'{billing,vip}'", "array_fill('x'::text, array[20])"],
     ["'{billing,NULL}'", "array_fill('x'::text, array[21])"]),
    ("rating_score", ["1", "5"], ["0", "6"]),
    ("rating_comment_text", ["'ok'", "repeat('é', 500)"],
     ["''", "' padded'", "repeat('x', 501)"]),
]


def test_every_column_is_of_its_domain_and_no_table_check_is_left(supabase_stack):
    rows = supabase_stack.psql("""
        select c.relname || '.' || a.attname || '=' || t.typname
          from pg_attribute a join pg_class c on c.oid = a.attrelid
          join pg_type t on t.oid = a.atttypid
         where c.relnamespace = 'public'::regnamespace
           and c.relname in ('conversations', 'messages', 'jobs') and t.typtype = 'd'
         order by 1""").split()
    assert rows == sorted(f"{t}.{c}={d}" for (t, c), d in COLUMNS.items())
    checks = supabase_stack.psql("""
        select count(*) from pg_constraint
         where contype = 'c' and conrelid in ('public.conversations'::regclass,
                                              'public.messages'::regclass,
                                              'public.jobs'::regclass)""").strip()
    assert checks == "0"


@pytest.mark.parametrize("domain, good, bad", RULES, ids=[r[0] for r in RULES])
def test_each_rule_takes_what_it_took_and_refuses_what_it_refused(supabase_stack, domain,
                                                                  good, bad):
    base = supabase_stack.psql(
        f"select format_type(typbasetype, null) from pg_type where typname = '{domain}'"
        " and typnamespace = 'public'::regnamespace").strip()
    for value in good:
        assert supabase_stack.psql(
            f"select ({value})::{base}::public.{domain} is not null").strip() == "t"
    for value in bad:
        with pytest.raises(StackError, match=f'value for domain {domain} violates check'):
            supabase_stack.psql(f"select ({value})::{base}::public.{domain}")
    # a NULL is left to NOT NULL, as the table constraints left it
    assert supabase_stack.psql(f"select null::public.{domain} is null").strip() == "t"


def test_a_bad_value_written_to_a_table_is_a_check_violation(supabase_stack):
    """What the store maps to InvalidInput: SQLSTATE 23514, as with the table constraints."""
    out = supabase_stack.psql("""
        do $$ begin
            begin
                insert into public.conversations (platform, external_user_id, status,
                                                  created_at, updated_at, last_message_at)
                values ('webchat', 'domain-test', 'open', now(), now(), now());
                raise exception 'accepted';
            exception when check_violation then
                raise notice 'sqlstate %', sqlstate;
            end;
        end $$;
        select 'done';""")
    assert out.strip() == "done"
    assert supabase_stack.psql(
        "select count(*) from public.conversations where external_user_id = 'domain-test'"
    ).strip() == "0"


def test_the_migration_runs_again_and_changes_nothing(supabase_stack):
    before = supabase_stack.psql(
        "select count(*) from pg_type where typnamespace = 'public'::regnamespace"
        " and typtype = 'd'").strip()
    supabase_stack.psql(MIGRATION.read_text())
    after = supabase_stack.psql(
        "select count(*) from pg_type where typnamespace = 'public'::regnamespace"
        " and typtype = 'd'").strip()
    assert before == after == str(len(RULES))
    test_every_column_is_of_its_domain_and_no_table_check_is_left(supabase_stack)


def test_the_ratings_migration_runs_again(supabase_stack):
    ratings = REPO / "supabase" / "migrations" / "20261205130000_ratings.sql"
    supabase_stack.psql(ratings.read_text())
    test_every_column_is_of_its_domain_and_no_table_check_is_left(supabase_stack)
