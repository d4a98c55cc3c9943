"""Durable jobs in the SQLite store (mixed into ``SqliteStore``).

A claim is one ``BEGIN IMMEDIATE`` transaction: it holds the file's write lock from its first
read, so no other thread or process can pick the same rows between our select and update.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Callable, ContextManager

from services.errors import Conflict, InvalidInput, NotFound
from services.models import Job, JobKind, Message
from services.store.sqlite_db import conversation_from, job_from, message_from, one, ts

JOB_KINDS = ("respond", "send")
JOB_STATUSES = ("queued", "running", "done", "failed")


def enqueue(db: sqlite3.Connection, kind: str, message_id: int, conversation_id: int,
            run_after: str, now: str) -> sqlite3.Row:
    """Queue a job inside the caller's transaction unless one of that kind exists for the
    message; return the stored row either way."""
    row = one(db.execute(
        "INSERT INTO jobs (kind, message_id, conversation_id, run_after, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, message_id) DO NOTHING RETURNING *",
        (kind, message_id, conversation_id, run_after, now, now)))
    if row is None:
        row = one(db.execute("SELECT * FROM jobs WHERE kind = ? AND message_id = ?",
                             (kind, message_id)))
    return row


def _by_id(db: sqlite3.Connection, table: str, ids: set[int], build: Callable) -> dict:
    """The rows of ``table`` (a name of ours, never input) with these ids, as models."""
    if not ids:
        return {}
    rows = db.execute(f"SELECT * FROM {table} WHERE id IN ({', '.join(map(str, ids))})")
    return {row["id"]: build(row) for row in rows.fetchall()}


# A job done (finish_job, and a write that ends its job): its assignments, ``updated_at`` bound.
_DONE = "status = 'done', locked_until = NULL, updated_at = ?"


class SqliteJobs:
    """The job half of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def enqueue_job(
        self, kind: JobKind, message_id: int, now: datetime, run_after: datetime | None = None
    ) -> Job:
        """Queue a job for a message unless one of that kind exists (then return it).
        ``NotFound`` for an unknown message."""
        if kind not in JOB_KINDS:
            raise InvalidInput(f"unknown job kind {kind!r}")
        now_s = ts(now)
        with self._tx() as db:
            msg = one(db.execute("SELECT conversation_id FROM messages WHERE id = ?",
                                 (message_id,)))
            if msg is None:
                raise NotFound(f"message {message_id}")
            row = enqueue(db, kind, message_id, msg["conversation_id"],
                          now_s if run_after is None else ts(run_after), now_s)
        return job_from(row)

    def claim_jobs(
        self, now: datetime, limit: int, lease_seconds: float, kinds: list[JobKind] | None = None
    ) -> list[Job]:
        """Take up to ``limit`` due jobs (queued and due, or running with an expired lease)."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        if lease_seconds <= 0:
            raise InvalidInput("lease_seconds must be positive")
        if kinds is not None and not set(kinds) <= set(JOB_KINDS):
            raise InvalidInput(f"unknown job kind in {kinds!r}")
        now_s = ts(now)
        params = {"now": now_s, "until": ts(now + timedelta(seconds=lease_seconds)),
                  "limit": limit}
        kind_filter = ""  # kinds are checked above, so quoting them inline is safe
        if kinds is not None:
            kind_filter = f" AND kind IN ({', '.join(repr(k) for k in kinds) or 'NULL'})"
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running')"
                " AND ((status = 'queued' AND run_after <= :now)"
                " OR (status = 'running' AND locked_until < :now))" + kind_filter +
                " ORDER BY run_after, id LIMIT :limit", params).fetchall()
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            claimed = db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
                " locked_until = :until, updated_at = :now"
                f" WHERE id IN ({', '.join(map(str, ids))}) RETURNING *", params).fetchall()
            # Each job's message and conversation from the same transaction (see Job).
            messages = _by_id(db, "messages", {r["message_id"] for r in claimed}, message_from)
            conversations = _by_id(db, "conversations", {r["conversation_id"] for r in claimed},
                                   conversation_from)
        jobs = [job_from(r).model_copy(update={
            "message": messages.get(r["message_id"]),
            "conversation": conversations.get(r["conversation_id"])}) for r in claimed]
        return sorted(jobs, key=lambda j: (j.run_after, j.id))

    def requeue_send(self, message_id: int, now: datetime) -> Message:
        """A failed outbound message back to pending, and its send job (made if missing)
        back to queued from scratch, in one transaction; ``Conflict`` unless it failed."""
        now_s = ts(now)
        with self._tx() as db:
            msg = one(db.execute(
                "UPDATE messages SET delivery_status = 'pending', delivery_error = NULL"
                " WHERE id = ? AND delivery_status = 'failed' AND sender_type <> 'user'"
                " RETURNING *", (message_id,)))
            if msg is None:
                if one(db.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,))) is None:
                    raise NotFound(f"message {message_id}")
                raise Conflict("only a failed outbound message can be sent again")
            db.execute(
                "INSERT INTO jobs (kind, message_id, conversation_id, run_after, created_at,"
                " updated_at) VALUES ('send', :message_id, :conversation_id, :now, :now, :now)"
                " ON CONFLICT (kind, message_id) DO UPDATE SET status = 'queued',"
                " run_after = :now, attempts = 0, last_error = NULL, locked_until = NULL,"
                " updated_at = :now",
                {"message_id": message_id, "conversation_id": msg["conversation_id"],
                 "now": now_s})
        return message_from(msg)

    def _set_job(self, job_id: int, assignments: str, params: tuple) -> None:
        with self._tx() as db:
            if db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?",
                          (*params, job_id)).rowcount == 0:
                raise NotFound(f"job {job_id}")

    def finish_job(self, job_id: int, now: datetime) -> None:
        """Mark done; ``NotFound`` for an unknown id."""
        self._set_job(job_id, _DONE, (ts(now),))

    @staticmethod
    def _finish_job_in(db, job_id: int, now: datetime) -> None:
        """``finish_job`` inside a write's transaction (an unknown id changes nothing)."""
        db.execute(f"UPDATE jobs SET {_DONE} WHERE id = ?", (ts(now), job_id))

    def retry_job(self, job_id: int, run_after: datetime, error: str, now: datetime) -> None:
        """Back to queued for a later attempt, recording the error; ``NotFound``."""
        self._set_job(job_id, "status = 'queued', run_after = ?, last_error = ?,"
                      " locked_until = NULL, updated_at = ?", (ts(run_after), error, ts(now)))

    def fail_job(self, job_id: int, error: str, now: datetime) -> None:
        """Give up for good, recording the error; ``NotFound``."""
        self._set_job(job_id, "status = 'failed', last_error = ?, locked_until = NULL,"
                      " updated_at = ?", (error, ts(now)))

    def count_jobs(self, status: str | None = None) -> int:
        """How many jobs (of that status); ``InvalidInput`` for an unknown status."""
        if status is not None and status not in JOB_STATUSES:
            raise InvalidInput(f"unknown job status {status!r}")
        return self._read("SELECT count(*) FROM jobs WHERE ? IS NULL OR status = ?",
                          (status, status))[0][0]
