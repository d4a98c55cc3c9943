"""Trigram indexes of the SQLite store's search (schema version 5): what a substring search
reads instead of every message. The SQLite counterpart of the ``pg_trgm`` GIN indexes of
supabase/migrations/20261125000000_init.sql.

``messages_search`` and ``conversations_search`` are FTS5 tables with the ``trigram``
tokenizer holding the *case-folded* text (``ufold``, Python's ``str.casefold``) of each
message's content and each conversation's display name, by rowid = the row's id. They are
contentless (``content=''``) and keep no positions (``detail=none``): an index only says
which rows hold every trigram of the search text, and the search then checks those rows with
the same LIKE as the full scan. So the index narrows what is read and never decides what is
found: both ways of searching find the same conversations.

Folding before indexing keeps the store's search rule (Python's ``casefold`` on both sides
for non-ASCII search text): casefold maps each character on its own, so text that contains
the search text up to case contains it once both are folded, and every trigram of the folded
search text is in the folded text.

Rows are indexed in batches, not one by one: FTS5 writes a new segment at every commit,
45-60 us even for one short row, and the store commits each tracked message on its own
(indexing each row in its own insert made ``track_inbound`` 500 -> 610-650 us and Messenger
ingest 6-7 % slower, 5 Dec 2026). ``search_progress`` holds, per index, the highest id
indexed (``upto``); ids only grow (AUTOINCREMENT). When an insert brings ``CATCH_UP_AFTER``
rows past it, a trigger indexes the rows after it (at most ``CATCH_UP_ROWS``) in the
inserting transaction: 7-12 us a row on average. A search reads the index for the rows up
to ``upto`` and checks the few rows after it directly, so it sees every committed row.
Updates and deletes of indexed rows change the index at once.

The triggers call ``ufold``, which the store registers on each of its connections: a program
that writes to the file through another connection must register it too (bench/store.py
does, with ``sqlite_db.register_functions``), or its writes fail with "no such function:
ufold".
"""

from __future__ import annotations

# Beyond this many rows holding every trigram, the search walks the conversations in the
# page's order instead (see candidates_sql): a text that common is found in the first
# conversations walked, and reading its rows from the index would cost more.
MAX_CANDIDATES = 20_000
# The trigrams of a long search text that go into the index query, spread over the text
# (each one further narrows the rows; the LIKE check is what decides).
MAX_TRIGRAMS = 16
# Rows after ``upto`` that make an insert index them (in one statement, one segment)...
CATCH_UP_AFTER = 32
# ...and at most how many it indexes at a time (a file filled by a program that bypassed
# the triggers catches up over several inserts rather than in one long write).
CATCH_UP_ROWS = 256

_TABLES = {"messages_search": ("messages", "content"),
           "conversations_search": ("conversations", "display_name")}


def _upto(index: str) -> str:
    return f"(SELECT upto FROM search_progress WHERE name = '{index}')"


def _statements(index: str, table: str, column: str) -> list[str]:
    upto = _upto(index)
    batch = f"SELECT id FROM {table} WHERE id > {upto} ORDER BY id LIMIT {CATCH_UP_ROWS}"
    catch_up = (
        f"INSERT INTO {index} (rowid, text) SELECT id, ufold({column}) FROM {table}"
        f" WHERE id IN ({batch});"
        f" UPDATE search_progress SET upto = (SELECT max(id) FROM ({batch}))"
        f" WHERE name = '{index}';")
    add = f"INSERT INTO {index} (rowid, text) VALUES (NEW.id, ufold(NEW.{column}));"
    # A contentless table removes a row given the text it was indexed with.
    remove = (f"INSERT INTO {index} ({index}, rowid, text)"
              f" VALUES ('delete', OLD.id, ufold(OLD.{column}));")
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {index} USING fts5(text, content = '',"
        " detail = none, columnsize = 0, tokenize = 'trigram case_sensitive 1')",
        f"INSERT OR IGNORE INTO search_progress (name, upto) VALUES ('{index}', 0)",
        f"CREATE TRIGGER IF NOT EXISTS {index}_catch_up AFTER INSERT ON {table}"
        f" WHEN NEW.id >= {upto} + {CATCH_UP_AFTER} BEGIN {catch_up} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_updated AFTER UPDATE OF {column} ON {table}"
        f" WHEN NEW.{column} IS NOT OLD.{column} AND OLD.id <= {upto}"
        f" BEGIN {remove} {add} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_deleted AFTER DELETE ON {table}"
        f" WHEN OLD.id <= {upto} BEGIN {remove} END",
    ]


SEARCH_STATEMENTS: list[str] = [
    "CREATE TABLE IF NOT EXISTS search_progress ("
    " name TEXT PRIMARY KEY, upto INTEGER NOT NULL) WITHOUT ROWID",
]
BACKFILL_STATEMENTS: list[str] = []
for _index, (_table, _column) in _TABLES.items():
    SEARCH_STATEMENTS += _statements(_index, _table, _column)
    # The rows already there, indexed in the upgrade transaction (a new file starts empty).
    BACKFILL_STATEMENTS += [
        f"INSERT INTO {_index} (rowid, text) SELECT id, ufold({_column}) FROM {_table}",
        f"UPDATE search_progress SET upto = (SELECT coalesce(max(id), 0) FROM {_table})"
        f" WHERE name = '{_index}'",
    ]


def index_query(search: str) -> str | None:
    """The FTS5 query of the rows whose folded text holds every trigram of ``search``
    folded (at most MAX_TRIGRAMS of them), or None when it has fewer than three characters
    and so no trigram: such a search walks the conversations."""
    folded = search.casefold()
    trigrams = list(dict.fromkeys(folded[i:i + 3] for i in range(len(folded) - 2)))
    if not trigrams:
        return None
    if len(trigrams) > MAX_TRIGRAMS:  # evenly spread, the first and the last included
        step = (len(trigrams) - 1) / (MAX_TRIGRAMS - 1)
        trigrams = [trigrams[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def _offered(index: str) -> str:
    return f"SELECT rowid FROM {index} WHERE {index} MATCH :fts"


# How many rows (up to MAX_CANDIDATES + 1 of each kind) the search would check for :fts:
# those the indexes offer, and those after their ``upto`` (not indexed yet).
COUNT_SQL = "SELECT " + " + ".join(
    f"(SELECT count(*) FROM ({rows} LIMIT {MAX_CANDIDATES + 1}))"
    for index, (table, _) in _TABLES.items()
    for rows in (_offered(index), f"SELECT 1 FROM {table} WHERE id > {_upto(index)}"))


def candidates_sql(fold: str) -> str:
    """The WHERE term "conversation whose name or a message of which contains :pattern",
    checking only the rows the indexes offer for :fts and those not indexed yet. ``fold``
    is the LIKE's left side with ``{}`` for the column, as in the full scan."""
    name_like = f"{fold.format('c.display_name')} LIKE :pattern ESCAPE '\\'"
    text_like = f"{fold.format('m.content')} LIKE :pattern ESCAPE '\\'"
    return (
        "conversations.id IN ("
        f"SELECT c.id FROM conversations c WHERE c.id IN ({_offered('conversations_search')})"
        f" AND {name_like}"
        f" UNION SELECT c.id FROM conversations c WHERE c.id > {_upto('conversations_search')}"
        f" AND {name_like}"
        f" UNION SELECT m.conversation_id FROM messages m WHERE m.id IN"
        f" ({_offered('messages_search')}) AND {text_like}"
        f" UNION SELECT m.conversation_id FROM messages m WHERE m.id > {_upto('messages_search')}"
        f" AND {text_like})"
    )
