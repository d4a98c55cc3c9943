"""Roll-up counters of the SQLite store (schema version 4): what ``stats()`` reads instead of
scanning every conversation and message. Mirrors supabase/migrations/*_stats_rollup.sql.

``stats_conversations`` (one row per platform) holds what the conversation rows contribute to
the totals, plus the messages still waiting for a human; ``stats_hourly`` the messages and
escalations per UTC hour. Triggers add what a new row contributes and subtract what the old
row contributed, inside the writing statement's transaction, so every write path keeps them
exact without knowing about them. SQLite has one writer at a time: no contention to spread.

The trigger bodies are generated here from one definition of a row's contribution, so the
insert, update and delete cases cannot drift apart. ``CREATE TRIGGER IF NOT EXISTS`` keeps an
existing trigger as it is: changing a body needs a schema version and a DROP TRIGGER step.
"""

from __future__ import annotations

# Exact microseconds between two stored timestamps (fixed-width ISO text, see sqlite_db.ts).
_MICROSECONDS_BETWEEN = (
    "((CAST(strftime('%s', substr({a}, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr({b}, 1, 19)) AS INTEGER)) * 1000000"
    " + (CAST(substr({a}, 21, 6) AS INTEGER) - CAST(substr({b}, 21, 6) AS INTEGER)))"
)

_CONVERSATION_COUNTERS = ("conversations", "active", "closed", "messages", "needing_human",
                          "escalated", "handed", "bot_resolved", "response_us", "responses",
                          "unreplied")


def _conversation_exprs(row: str) -> list[tuple[str, str]]:
    """(counter, expression): what conversation ``row`` (NEW, OLD or an alias) contributes."""
    replied_after = f"{row}.first_human_reply_at >= {row}.escalated_at"
    micros = _MICROSECONDS_BETWEEN.format(a=f"{row}.first_human_reply_at", b=f"{row}.escalated_at")
    return [
        ("conversations", "1"),
        ("active", f"({row}.status = 'active')"),
        ("closed", f"({row}.status = 'closed')"),
        ("messages", f"{row}.message_count"),
        ("needing_human", f"{row}.needs_human"),
        ("escalated", f"({row}.escalated_at IS NOT NULL)"),
        ("handed", f"({row}.escalated_at IS NOT NULL OR {row}.first_human_reply_at IS NOT NULL"
                   f" OR {row}.handled_by = 'human')"),
        ("bot_resolved", f"({row}.status = 'closed' AND {row}.escalated_at IS NULL"
                         f" AND {row}.first_human_reply_at IS NULL AND {row}.handled_by = 'bot')"),
        ("response_us", f"coalesce(CASE WHEN {replied_after} THEN {micros} END, 0)"),
        ("responses", f"coalesce({replied_after}, 0)"),
        ("unreplied", "0"),
    ]


def _conversation_terms(row: str, sign: str) -> str:
    """A SELECT list: what conversation ``row`` contributes, times ``sign``."""
    return f"{row}.platform AS platform, " + ", ".join(
        f"{sign} * {e} AS {c}" for c, e in _conversation_exprs(row))


def _conversation_change() -> str:
    """A SELECT list: NEW's contribution minus OLD's (an update within one platform)."""
    return "NEW.platform AS platform, " + ", ".join(
        f"{n} - {o} AS {c}"
        for (c, n), (_, o) in zip(_conversation_exprs("NEW"), _conversation_exprs("OLD")))


def _message_terms(row: str, sign: str) -> str:
    """A SELECT list: what message ``row`` adds to ``stats_conversations`` (its unreplied)."""
    zeros = ", ".join(f"0 AS {c}" for c in _CONVERSATION_COUNTERS[:-1])
    return (f"{row}.platform AS platform, {zeros},"
            f" {sign} * ({row}.requires_human = 1 AND {row}.human_replied = 0) AS unreplied")


def _hour_terms(row: str, sign: str) -> str:
    """A SELECT list: what message ``row`` adds to its hour in ``stats_hourly``."""
    return (f"substr({row}.created_at, 1, 13) AS bucket_hour, {sign} AS messages,"
            f" {sign} * {row}.requires_human AS escalations")


_SET_CONVERSATIONS = ", ".join(f"{c} = {c} + excluded.{c}" for c in _CONVERSATION_COUNTERS)
_SET_HOURS = "messages = messages + excluded.messages, escalations = escalations + excluded.escalations"


def _add_conversations(source: str) -> str:
    """Upsert the sums of ``source`` (rows of conversation terms) per platform; zero sums
    (an update of columns stats do not read) touch nothing."""
    sums = ", ".join(f"sum({c})" for c in _CONVERSATION_COUNTERS)
    return (
        f"INSERT INTO stats_conversations (platform, {', '.join(_CONVERSATION_COUNTERS)})"
        f" SELECT platform, {sums} FROM ({source}) GROUP BY platform"
        f" HAVING {' OR '.join(f'sum({c}) <> 0' for c in _CONVERSATION_COUNTERS)}"
        f" ON CONFLICT (platform) DO UPDATE SET {_SET_CONVERSATIONS}"
    )


def _add_conversation_row(terms: str, where: str = "true") -> str:
    """Upsert one row's terms as they are (no grouping: the cheap path of every insert)."""
    return (
        f"INSERT INTO stats_conversations (platform, {', '.join(_CONVERSATION_COUNTERS)})"
        f" SELECT {terms} WHERE {where} ON CONFLICT (platform) DO UPDATE SET {_SET_CONVERSATIONS}"
    )


def _add_hours(source: str) -> str:
    """Upsert the sums of ``source`` (rows of hour terms) per hour; zero sums touch nothing."""
    return (
        "INSERT INTO stats_hourly (bucket_hour, messages, escalations)"
        f" SELECT bucket_hour, sum(messages), sum(escalations) FROM ({source})"
        " GROUP BY bucket_hour HAVING sum(messages) <> 0 OR sum(escalations) <> 0"
        f" ON CONFLICT (bucket_hour) DO UPDATE SET {_SET_HOURS}"
    )


def _add_hour_row(terms: str) -> str:
    """Upsert one message's hour terms as they are."""
    return (f"INSERT INTO stats_hourly (bucket_hour, messages, escalations) SELECT {terms}"
            f" WHERE true ON CONFLICT (bucket_hour) DO UPDATE SET {_SET_HOURS}")


def _trigger(name: str, event: str, statements: list[str]) -> str:
    body = "".join(f"    {s};\n" for s in statements)
    return f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} FOR EACH ROW BEGIN\n{body}END"


def _both(terms) -> str:
    """The NEW row's terms and the OLD row's, negated, as one source."""
    return f"SELECT {terms('NEW', '1')} UNION ALL SELECT {terms('OLD', '-1')}"


def _waiting(row: str) -> str:
    return f"{row}.requires_human = 1 AND {row}.human_replied = 0"


# Only updates of these columns can move a counter (SQLite's UPDATE OF filter).
_CONVERSATION_COLUMNS = ("platform, status, message_count, needs_human, escalated_at,"
                         " first_human_reply_at, handled_by")
_MESSAGE_COLUMNS = "platform, created_at, requires_human, human_replied"

ROLLUP_STATEMENTS: list[str] = [
    "CREATE TABLE IF NOT EXISTS stats_conversations (platform TEXT PRIMARY KEY, "
    + ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _CONVERSATION_COUNTERS) + ")",
    "CREATE TABLE IF NOT EXISTS stats_hourly (bucket_hour TEXT PRIMARY KEY,"  # 'YYYY-MM-DDTHH'
    " messages INTEGER NOT NULL DEFAULT 0, escalations INTEGER NOT NULL DEFAULT 0)",
    _trigger("stats_conversation_inserted", "INSERT ON conversations",
             [_add_conversation_row(_conversation_terms("NEW", "1"))]),
    # One upsert of the difference (every tracked message bumps message_count); a platform
    # change, which the store never makes, moves the row's contribution across.
    _trigger("stats_conversation_updated", f"UPDATE OF {_CONVERSATION_COLUMNS} ON conversations",
             [_add_conversation_row(_conversation_change(), "NEW.platform = OLD.platform"),
              _add_conversation_row(_conversation_terms("OLD", "-1"),
                                    "NEW.platform <> OLD.platform"),
              _add_conversation_row(_conversation_terms("NEW", "1"),
                                    "NEW.platform <> OLD.platform")]),
    _trigger("stats_conversation_deleted", "DELETE ON conversations",
             [_add_conversation_row(_conversation_terms("OLD", "-1"))]),
    _trigger("stats_message_inserted", "INSERT ON messages",
             [_add_hour_row(_hour_terms("NEW", "1")),
              _add_conversation_row(_message_terms("NEW", "1"), _waiting("NEW"))]),
    _trigger("stats_message_updated", f"UPDATE OF {_MESSAGE_COLUMNS} ON messages",
             [_add_hours(_both(_hour_terms)), _add_conversations(_both(_message_terms))]),
    _trigger("stats_message_deleted", "DELETE ON messages",
             [_add_hour_row(_hour_terms("OLD", "-1")),
              _add_conversation_row(_message_terms("OLD", "-1"), _waiting("OLD"))]),
]

# The counters of the rows already there: run once, in the upgrade transaction, when a file
# of schema version 3 or older gets the roll-up tables (a new file starts empty).
BACKFILL_STATEMENTS: list[str] = [
    "DELETE FROM stats_conversations",
    "DELETE FROM stats_hourly",
    _add_conversations(f"SELECT {_conversation_terms('c', '1')} FROM conversations AS c"),
    _add_conversations(f"SELECT {_message_terms('m', '1')} FROM messages AS m"
                       " WHERE m.requires_human = 1 AND m.human_replied = 0"),
    _add_hours(f"SELECT {_hour_terms('m', '1')} FROM messages AS m"),
]
