"""The SQLite store's connection pool: bounded, one user per connection, closed by close().

A gevent worker runs one greenlet per Socket.IO event; when each held its own connection,
2,000 web-chat visitors sending at once kept some 1,850 connections (about 1 GB) open.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.store.sqlite_db import SqliteDatabase

REPO = Path(__file__).resolve().parent.parent.parent


def _db(tmp_path: Path, pool_size: int) -> SqliteDatabase:
    return SqliteDatabase(tmp_path / "pool.db", pool_size=pool_size)


def test_a_connection_is_never_used_by_two_threads_at_once(tmp_path):
    db = _db(tmp_path, pool_size=3)
    lock = threading.Lock()
    in_use: set[int] = set()
    seen: set[int] = set()
    clashes: list[int] = []
    start = threading.Barrier(12)

    def user(n: int) -> None:
        start.wait()
        for _ in range(20):
            with db.connection() as conn:
                with lock:
                    if id(conn) in in_use:
                        clashes.append(n)
                    in_use.add(id(conn))
                    seen.add(id(conn))
                conn.execute("SELECT count(*) FROM messages").fetchall()
                time.sleep(0.001)  # hold it while the others ask
                with lock:
                    in_use.discard(id(conn))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clashes == []
    assert 1 <= len(seen) <= 3  # the pool's size bounds the connections ever opened
    db.close()


def test_a_waiting_thread_gets_the_connection_given_back(tmp_path):
    db = _db(tmp_path, pool_size=1)
    taken, release = threading.Event(), threading.Event()
    got: list[object] = []

    def holder() -> None:
        with db.connection() as conn:
            got.append(conn)
            taken.set()
            release.wait(5)

    def waiter() -> None:
        with db.connection() as conn:
            got.append(conn)

    first = threading.Thread(target=holder)
    first.start()
    assert taken.wait(5)
    second = threading.Thread(target=waiter)
    second.start()
    time.sleep(0.2)
    assert len(got) == 1, "the second thread got a connection while the only one was in use"
    release.set()
    first.join(5)
    second.join(5)
    assert len(got) == 2 and got[0] is got[1]
    db.close()


def test_a_read_inside_a_transaction_uses_its_connection(tmp_path):
    db = _db(tmp_path, pool_size=1)  # a second connection would wait for the first: deadlock
    with db.transaction() as tx:
        tx.execute("INSERT INTO admin_users (email, password_hash, role, created_at)"
                   " VALUES ('a@example.com', 'x', 'admin', '2026-01-01T00:00:00.000000+00:00')")
        rows = db.read("SELECT email FROM admin_users")
    assert [r["email"] for r in rows] == ["a@example.com"]  # it saw the uncommitted write
    db.close()


def test_close_closes_pooled_and_in_use_connections(tmp_path):
    db = _db(tmp_path, pool_size=3)
    opened: list[sqlite3.Connection] = []
    together = threading.Barrier(3)

    def user() -> None:
        with db.connection() as conn:
            opened.append(conn)
            together.wait(5)  # three at once, so the pool opens three

    threads = [threading.Thread(target=user) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in opened}) == 3
    with db.connection() as in_use:
        db.close()
        with pytest.raises(sqlite3.ProgrammingError):
            in_use.execute("SELECT 1")
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    # Later calls open new connections; the closed one is not handed out again.
    with db.connection() as conn:
        assert conn is not in_use and conn not in opened
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    db.close()


def test_a_connection_left_in_a_transaction_is_not_pooled(tmp_path):
    db = _db(tmp_path, pool_size=1)
    with db.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")  # and never ended: it holds the write lock
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # closed, which released the lock
    started = time.monotonic()
    with db.transaction() as tx:
        assert tx is not conn
        tx.execute("PRAGMA user_version")
    assert time.monotonic() - started < 1  # no wait on busy_timeout
    db.close()


def _open_file_handles(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


GREENLETS = """
from gevent import monkey
monkey.patch_all()
import os, sys, gevent
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from services.store.sqlite import SqliteStore
from tests.contract.helpers import inbound

path = Path(sys.argv[2])
store = SqliteStore(path)

def handler(n):
    store.track_inbound(inbound(f"visitor-{n}"), datetime.now(timezone.utc))
    gevent.sleep(0.3)  # the greenlet lives on (it acknowledges, emits) after its store call

greenlets = [gevent.spawn(handler, n) for n in range(200)]
gevent.sleep(0.15)
handles = sum(1 for fd in os.listdir("/proc/self/fd")
              if os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve()))
gevent.joinall(greenlets, raise_error=True)
store.close()
print(handles)
"""


def test_greenlets_share_a_few_connections(tmp_path):
    """200 greenlets alive at once, each after a store write, hold no more connections
    than the pool's size (each connection holds the database file open once; counted in
    /proc, which every machine the suite runs on has: no /proc is a failure, not a skip)."""
    done = subprocess.run(
        [sys.executable, "-c", GREENLETS, str(REPO), str(tmp_path / "g.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    handles = int(done.stdout.strip().splitlines()[-1])
    assert 1 <= handles <= SqliteDatabase(tmp_path / "size.db").pool_size


SEARCH_OFF_THE_LOOP = """
from gevent import monkey
monkey.patch_all()
import json, sys, time, gevent
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import services.store.sqlite_db as sqlite_db
from services.models import ConversationFilter
from services.store.sqlite import SqliteStore
from tests.contract.helpers import inbound

real_sleep = monkey.get_original("time", "sleep")

def slow_fold(value):  # a search that takes a while, as one of 1,000,000 messages does
    real_sleep(0.002)
    return None if value is None else value.casefold()

sqlite_db._ufold = slow_fold  # before the store opens its connections
store = SqliteStore(Path(sys.argv[2]))
now = datetime.now(timezone.utc)
for n in range(150):
    store.track_inbound(inbound(f"visitor-{n}", "Café au lait?" if n == 7 else "hello"), now)

gaps, ticking = [], True
def ticker():  # what the rest of the process sees: how long the loop was away
    last = time.monotonic()
    while ticking:
        gevent.sleep(0.005)
        gaps.append(time.monotonic() - (last + 0.005))
        last = time.monotonic()

tick = gevent.spawn(ticker)
gevent.sleep(0.05)
started = time.monotonic()
# One letter: no trigram for the search indexes, so it reads every message.
page = store.list_conversations(ConversationFilter(search="É"), 50)
took = time.monotonic() - started
ticking = False
tick.join()
store.track_inbound(inbound("after-the-search"), now)  # the pool still works
print(json.dumps({"took": took, "max_gap": max(gaps),
                  "found": [c.external_user_id for c in page.conversations]}))
store.close()
"""


def test_a_long_search_under_gevent_leaves_the_loop_running(tmp_path):
    """A substring search too short for the trigram indexes (or whose text is in too many
    rows) reads every message; under gevent it runs in a native thread
    (``SqliteDatabase.read(long=True)``), so the other greenlets of the process -- webhooks,
    sockets -- go on while it runs. Here each folded value costs 2 ms (about 0.6 s in all,
    without the GIL, as SQLite's own scan is), and a greenlet ticking every 5 ms must never
    wait long."""
    done = subprocess.run(
        [sys.executable, "-c", SEARCH_OFF_THE_LOOP, str(REPO), str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["found"] == ["visitor-7"]
    assert result["took"] >= 0.4, result  # the search really was long
    assert result["max_gap"] < 0.15, result  # ... and the loop kept turning


COMMIT_ASIDE = """
from gevent import monkey
monkey.patch_all()
import json, sys, time, gevent
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import services.store.sqlite_db as sqlite_db
from services.inbound_batch import InboundBatcher
from services.store.sqlite import SqliteStore
from tests.contract.helpers import inbound

real_sleep = monkey.get_original("time", "sleep")
native_id = monkey.get_original("_thread", "get_ident")
main_thread = native_id()
commits = []  # (in a thread other than the loop's, when) for each COMMIT of a write

class SlowDisk(sqlite_db._Connection):  # every commit waits 50 ms, as on a slow disk
    def execute(self, sql, *args):
        if sql == "COMMIT" and self.in_transaction:
            commits.append(native_id() != main_thread)
            real_sleep(0.05)
        return super().execute(sql, *args)

sqlite_db._Connection = SlowDisk  # before the store opens its connections
store = SqliteStore(Path(sys.argv[2]))
commits.clear()
batcher = InboundBatcher(store, max_batch=50, max_in_flight=2)
now = datetime.now(timezone.utc)

gaps, ticking = [], True
def ticker():
    last = time.monotonic()
    while ticking:
        gevent.sleep(0.005)
        gaps.append(time.monotonic() - (last + 0.005))
        last = time.monotonic()

tick = gevent.spawn(ticker)
gevent.sleep(0.02)
started = time.monotonic()
# 60 webhooks at once, each tracking its message through the group commit
results = [r.get() for r in [gevent.spawn(batcher.track, inbound(f"visitor-{n}"), now)
                             for n in range(60)]]
took = time.monotonic() - started
ticking = False
tick.join()
# Another write of the process (a job, an assignment), on the loop, while a commit runs
# in a thread: it waits its turn without SQLite's busy handler stopping the loop.
other = gevent.spawn(store.track_inbound, inbound("visitor-late"), now)
gevent.sleep(0.001)
store.mark_needs_human(results[0].message.id, "asked", 1, now)
other.get()
print(json.dumps({"calls": batcher.calls, "stored": len({r.message.id for r in results}),
                  "commits_aside": sum(commits), "commits": len(commits), "took": took,
                  "max_gap": max(gaps),
                  "count": store.stats(now).total_conversations}))
store.close()
"""


def test_a_commit_under_gevent_runs_aside_and_messages_share_the_next(tmp_path):
    """With ``synchronous = FULL`` a commit waits for the disk. Under gevent the tracking
    of inbound messages commits in a native thread (``transaction(commit_aside=True)``):
    the loop goes on, the webhooks arriving meanwhile queue in the group commit, and the
    next transaction carries them all. Here every commit takes 50 ms: 60 messages sent
    at once are stored in a few calls (on the loop each call would stop the others from
    even queueing: 60 calls, 3 s), and a greenlet ticking every 5 ms never waits as long
    as a commit. A write of another kind, begun while a commit runs aside, waits its turn
    on the process's write lock (cooperatively) and is stored."""
    done = subprocess.run(
        [sys.executable, "-c", COMMIT_ASIDE, str(REPO), str(tmp_path / "c.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stored"] == 60 and result["count"] == 61, result
    assert result["calls"] <= 6, result  # shared transactions, not one each
    assert result["took"] < 1.0, result
    assert result["max_gap"] < 0.04, result  # the loop never stopped for a commit
    # the tracking commits ran aside; the other write's commit on the loop
    assert result["commits_aside"] >= result["calls"] + 1, result
    assert result["commits"] == result["commits_aside"] + 1, result
