"""Everything a store holds about messages, read with SQL behind the store's back.

The fuzz tests compare this with what their payloads should have stored, so a message
without its conversation or without its ``respond`` job (a half-done write) shows up.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredMessage:
    """One stored message with its conversation's person and its jobs."""

    external_id: str | None
    platform: str
    external_user_id: str
    sender_type: str
    content: str
    conversation_id: int
    jobs: tuple[str, ...]  # kinds of its jobs, sorted


_SQL = """
select m.external_id, m.platform, c.external_user_id, m.sender_type, m.content,
       m.conversation_id,
       (select {agg} from jobs j where j.message_id = m.id) as jobs
  from messages m join conversations c on c.id = m.conversation_id
 order by m.id
"""


def _row(row) -> StoredMessage:
    jobs = row[6]
    kinds = tuple(sorted(jobs.split(","))) if jobs else ()
    return StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], kinds)


def sqlite_messages(path: str | Path) -> list[StoredMessage]:
    """Every message of the SQLite file at ``path``."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [_row(r) for r in db.execute(_SQL.format(agg="group_concat(j.kind)"))]
    finally:
        db.close()


def supabase_messages(stack) -> list[StoredMessage]:
    """Every message of the local Supabase stack's database (through ``psql``)."""
    inner = _SQL.format(agg="string_agg(j.kind, ',')")
    out = stack.psql(f"select coalesce(json_agg(t), '[]') from ({inner}) t").strip()
    columns = ("external_id", "platform", "external_user_id", "sender_type", "content",
               "conversation_id", "jobs")
    return [_row([r[c] for c in columns]) for r in json.loads(out)]


def messages_of(store, stack=None) -> list[StoredMessage]:
    """Every message of ``store`` (a ``SqliteStore``, or the Supabase store of ``stack``)."""
    if store.kind == "sqlite":
        return sqlite_messages(store.path)
    return supabase_messages(stack)


def serve_over(request, tmp_path: Path, env: dict[str, str], db_name: str):
    """Start gunicorn on the store ``request.param`` names, with ``env`` on top; returns the
    ``LiveServer`` and a function reading every stored message (the fuzz tests' ``live``)."""
    from tests.support.live_server import LiveServer

    env = {"HOME": str(tmp_path), "DATABASE_PATH": str(tmp_path / db_name), **env}
    stack = None
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)
    server = LiveServer(env, log_path=tmp_path / "server.log").start()
    if stack is not None:
        return server, lambda: supabase_messages(stack)
    return server, lambda: sqlite_messages(tmp_path / db_name)
