"""The per-message SQL helpers json_or_null() and message_preview() on the real PostgreSQL:
inlined into the statements that call them (migration 20261204030000), with the results
they had before, for every kind of input."""

from __future__ import annotations

import json

import pytest

from services.models import preview


def sql(stack, query: str) -> list[str]:
    return stack.psql(query).splitlines()


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.parametrize("helper, argument", [
    ("json_or_null", "'{\"a\": 1}'::jsonb"),
    ("message_preview", "'hello   there'::text"),
])
def test_the_planner_inlines_the_helpers(supabase_stack, helper, argument):
    """A function with SET search_path (or, for a SQL function, STRICT over a non-strict body,
    or a FROM clause) is called, and planned again, on every call; inlined, its body is part
    of the caller's plan and the function no longer appears in it."""
    assert sql(supabase_stack,
               f"select proconfig is null from pg_proc where oid = 'public.{helper}'::regproc") \
        == ["t"]
    plan = "\n".join(sql(supabase_stack, f"explain (verbose, costs off) "
                                         f"select public.{helper}(x) from (select {argument} as x) t"))
    assert helper not in plan, plan


def test_json_or_null_turns_json_null_into_sql_null_and_keeps_everything_else(supabase_stack):
    values = ["null", "{}", "[]", "0", "false", '""', '"null"', '{"a": null}', "[null]"]
    rows = sql(supabase_stack, "select coalesce(public.json_or_null(v)::text, '<sql null>') from ("
               + " union all ".join(f"select {i} as n, {literal(v)}::jsonb as v"
                                    for i, v in enumerate(values))
               + " union all select 99, null::jsonb) t order by n")
    expected = ["<sql null>"] + [json.dumps(json.loads(v), separators=(", ", ": "))
                                 for v in values[1:]] + ["<sql null>"]
    assert rows == expected


@pytest.mark.parametrize("text", [
    "",
    "Hi there",
    "  lots \t of\n\n  space  ",
    "x" * 140,
    "x" * 141,
    "y " * 100,
    "é" * 139 + " ü",
    "line one\r\nline two\vthree\ffour",
    "word " * 27 + "abcdefghijklmnop",
])
def test_message_preview_is_the_apps_preview(supabase_stack, text):
    got = sql(supabase_stack, f"select public.message_preview({literal(text)}) is null,"
                              f" '[' || public.message_preview({literal(text)}) || ']'")
    assert got == [f"f|[{preview(text)}]"]


def test_message_preview_of_null_is_null(supabase_stack):
    assert sql(supabase_stack, "select public.message_preview(null) is null") == ["t"]
