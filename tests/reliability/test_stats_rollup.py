"""Roll-up stats equal the stats computed from the rows, on both stores.

``stats()`` reads counters that triggers keep; ``stats_from_rows()`` scans the rows the old
way. After a random mix of writes through every write path (inbound, redeliveries, bot and
agent replies, escalations, replies, status changes, closes, sweeps, handling, receipts,
raw SQL updates and deletes as an operator would do by hand), sequential and concurrent,
the two must agree exactly; a write rolled back half-way must move no counter.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from scripts.local_supabase import StackError
from services.errors import Conflict, NotFound
from services.models import Stats
from services.store.sqlite_db import register_functions
from tests.contract.helpers import in_parallel, inbound, outbound

T = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
PLATFORMS = ("messenger", "webchat")


def assert_same(rollup: Stats, rows: Stats) -> None:
    """Equal field by field; floats (averages, rates) to the last few bits, all else exact."""
    got, want = rollup.model_dump(), rows.model_dump()
    for key, value in want.items():
        if isinstance(value, float) and got[key] is not None:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key
        else:
            assert got[key] == value, key


def check(store) -> Stats:
    """Roll-ups = rows, at two ``now``s (so the hour and day windows move); the stats at T."""
    for now in (T, T - timedelta(days=3, hours=5)):
        assert_same(store.stats(now), store.stats_from_rows(now))
    return store.stats(T)


class RawSql:
    """Writes that bypass the store's code, as an operator's SQL session would."""

    def __init__(self, store, request) -> None:
        self._path = getattr(store, "path", None)
        self._stack = None if self._path else request.getfixturevalue("supabase_stack")

    def run(self, *statements: str, fail: bool = False) -> None:
        """Run the statements in one transaction; ``fail``: raise after them (rollback)."""
        if self._stack is not None:
            tail = ["select 1 / 0"] if fail else []
            self._stack.psql("begin; " + "; ".join([*statements, *tail]) + "; commit;")
            return
        db = sqlite3.connect(self._path, isolation_level=None)
        register_functions(db)  # what the search indexes' triggers call
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("BEGIN IMMEDIATE")
            for statement in statements:
                db.execute(statement)
            if fail:
                raise RuntimeError("injected failure after the writes")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()


class Writer:
    """Random writes through the store API, remembering what it acknowledged."""

    def __init__(self, store, seed: int, users: list[str], tag: str) -> None:
        self.store, self.rng, self.users, self.tag = store, random.Random(seed), users, tag
        self.conversations: list[int] = []
        self.inbound: list[tuple[int, str, str]] = []  # (message id, platform, external id)
        self.outbound: list[int] = []
        self.acked: set[int] = set()  # ids of messages the store said it created
        self.redeliveries = 0
        self.sent = 0
        self._n = 0

    def when(self) -> datetime:
        # Mostly the last day (the hour window), some up to 35 days back (beyond the days).
        back = self.rng.choice([self.rng.uniform(0, 26 * 3600), self.rng.uniform(0, 35 * 86400)])
        return T - timedelta(seconds=back, microseconds=self.rng.randrange(1_000_000))

    def step(self) -> None:
        """One random write; Conflict/NotFound are answers the contract allows."""
        self.sent += 1
        op = self.rng.choices(
            ["inbound", "redeliver", "bot", "agent", "escalate", "replied", "status",
             "handling", "sweep", "receipt"],
            weights=[30, 5, 12, 8, 12, 6, 8, 5, 3, 4])[0]
        try:
            getattr(self, f"_{op}")()
        except (Conflict, NotFound):
            pass

    def _inbound(self) -> None:
        self._n += 1
        platform = self.rng.choice(PLATFORMS)
        ext = f"{self.tag}-{self._n}"
        r = self.store.track_inbound(
            inbound(self.rng.choice(self.users), f"m {ext}", platform=platform, ext=ext),
            self.when())
        assert r.created
        self.acked.add(r.message.id)
        self.conversations.append(r.conversation.id)
        self.inbound.append((r.message.id, platform, ext))

    def _redeliver(self) -> None:
        if self.inbound:
            message_id, platform, ext = self.rng.choice(self.inbound)
            r = self.store.track_inbound(
                inbound("anyone", "again", platform=platform, ext=ext), self.when())
            assert not r.created and r.message.id == message_id
            self.redeliveries += 1

    def _reply(self, sender_type: str) -> None:
        if self.conversations:
            m = self.store.track_outbound(
                outbound(self.rng.choice(self.conversations), "r", sender_type=sender_type),
                self.when())
            self.acked.add(m.id)
            self.outbound.append(m.id)

    def _bot(self) -> None:
        self._reply("bot")

    def _agent(self) -> None:
        self._reply("agent")

    def _escalate(self) -> None:
        if self.inbound:
            self.store.mark_needs_human(self.rng.choice(self.inbound)[0], "why",
                                        self.rng.randint(1, 5), self.when())

    def _replied(self) -> None:
        if self.inbound:
            self.store.mark_human_replied(self.rng.choice(self.inbound)[0], "agent", self.when())

    def _status(self) -> None:
        if self.conversations:
            self.store.set_status(self.rng.choice(self.conversations),
                                  self.rng.choice(["active", "idle", "closed"]), self.when())

    def _handling(self) -> None:
        if self.conversations:
            self.store.set_handling(self.rng.choice(self.conversations),
                                    self.rng.choice(["bot", "human"]), None, self.when())

    def _sweep(self) -> None:
        cutoff = T - timedelta(days=self.rng.uniform(1, 30))
        if self.rng.random() < 0.5:
            self.store.sweep_idle(cutoff, T)
        else:
            self.store.sweep_closed(cutoff, T)
        self.store.raise_waiting_priority(cutoff, T)

    def _receipt(self) -> None:
        if self.outbound:
            message_id = self.rng.choice(self.outbound)
            self.store.set_delivery_status(message_id, "sent", self.when(),
                                           external_id=f"{self.tag}-out-{message_id}")
            m = self.store.get_message(message_id)
            c = self.store.get_conversation(m.conversation_id)
            self.store.mark_delivered_until(c.platform, c.external_user_id, T, "read", T)


def _account(store, ledger, writers: list[Writer], removed: set[int]) -> None:
    """Every acknowledged message is there once (none lost, none doubled by redelivery)."""
    acked = set().union(*(w.acked for w in writers)) - removed
    missing = sum(1 for mid in acked if store.get_message(mid) is None)
    total = store.stats_from_rows(T).total_messages
    ledger.lost(missing)
    ledger.duplicates(max(0, total - len(acked)))
    assert missing == 0
    assert total == len(acked)


def test_rollups_equal_rows_after_random_writes(store, request, ledger):
    raw = RawSql(store, request)
    users = [f"person-{i}" for i in range(25)]
    writer = Writer(store, seed=7, users=users, tag="seq")
    removed: set[int] = set()
    empty = check(store)
    assert empty.total_messages == 0
    for round_ in range(8):
        for _ in range(40):
            writer.step()
        # An operator's hand-made changes go through the same triggers.
        if writer.conversations:
            victim = writer.rng.choice(writer.conversations)
            if round_ % 3 == 0:
                removed |= {m.id for m in store.list_messages(victim, 1000)}
                raw.run(f"DELETE FROM conversations WHERE id = {victim}")
                writer.conversations = [c for c in writer.conversations if c != victim]
                writer.inbound = [i for i in writer.inbound if i[0] not in removed]
                writer.outbound = [o for o in writer.outbound if o not in removed]
            else:
                # Closed, then moved to the other platform (which the store never does).
                raw.run("UPDATE conversations SET status = 'closed', needs_human = false"
                        f" WHERE id = {victim}",
                        "UPDATE conversations SET platform = CASE platform WHEN 'webchat'"
                        f" THEN 'messenger' ELSE 'webchat' END WHERE id = {victim}")
        check(store)
    s = check(store)
    ledger.payloads(writer.sent + writer.redeliveries)
    # The mix reached what the counters count (else the comparison proves little).
    assert s.total_conversations > 20 and s.total_messages > 100
    assert s.escalated_conversations > 0 and s.avg_first_human_response_seconds is not None
    assert s.bot_resolved_conversations > 0 and s.messages_requiring_human > 0
    assert 0 < s.active_conversations < s.total_conversations
    assert sum(b.messages for b in s.messages_per_day) < s.total_messages  # some are older
    assert writer.redeliveries > 0
    _account(store, ledger, [writer], removed)


def test_rollups_equal_rows_with_concurrent_writers(store, ledger):
    users = [f"shared-{i}" for i in range(12)]  # few people: writers meet on conversations
    writers = [Writer(store, seed=100 + i, users=users, tag=f"w{i}") for i in range(6)]
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = []

    def run(i: int) -> None:
        if i == len(writers):  # a reader: stats() folds the journal while writers add to it
            while not stop.is_set() and len(reads) < 200:
                reads.append(store.stats(T).total_messages)
            return
        try:
            for _ in range(60):
                if stop.is_set():
                    return
                writers[i].step()
                # Redeliver another writer's message now and then: concurrent same-id races.
                other = writers[(i + 1) % len(writers)]
                if other.inbound and writers[i].rng.random() < 0.1:
                    _, platform, ext = other.inbound[-1]
                    r = store.track_inbound(inbound("x", "dup", platform=platform, ext=ext), T)
                    assert not r.created
                    writers[i].redeliveries += 1
        except BaseException as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(exc)
            stop.set()

    def writer_then_stop(i: int) -> None:
        run(i)
        if i < len(writers) and sum(w.sent for w in writers) >= 60 * len(writers):
            stop.set()

    in_parallel(len(writers) + 1, writer_then_stop)
    assert errors == []
    assert len(reads) > 1  # stats ran during the writes
    s = check(store)
    ledger.payloads(sum(w.sent + w.redeliveries for w in writers))
    assert s.total_messages > 150 and s.escalated_conversations > 0
    _account(store, ledger, writers, set())


def test_a_write_rolled_back_half_way_moves_no_counter(store, request, ledger):
    raw = RawSql(store, request)
    writer = Writer(store, seed=3, users=[f"p{i}" for i in range(6)], tag="rb")
    for _ in range(60):
        writer.step()
    before = check(store)
    conv = writer.conversations[0]
    c = store.get_conversation(conv)
    ledger.fault(1)
    with pytest.raises((RuntimeError, StackError)):  # SQLite's injected error, psql's 1 / 0
        raw.run(
            "UPDATE conversations SET status = 'closed', message_count = message_count + 5"
            f" WHERE id = {conv}",
            "INSERT INTO messages (conversation_id, platform, sender_type, content, created_at,"
            f" requires_human) VALUES ({conv}, '{c.platform}', 'user', 'ghost',"
            f" '{T.isoformat(timespec='microseconds')}', true)",
            f"DELETE FROM conversations WHERE id <> {conv}",
            fail=True)
    after = check(store)
    assert after == before
    ledger.survived(1)
