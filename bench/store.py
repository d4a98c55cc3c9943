"""Store benchmark: tracked messages per second and stats latency at 100,000 messages.

    .venv/bin/python bench/store.py [--messages 100000] [--track 2000] [--stores sqlite,supabase]

For each store: ``track_inbound`` throughput (one thread, then 4 threads) through the store
API, then the table bulk-loaded by SQL to ``--messages`` messages, then ``stats`` latency.
The Supabase store runs against the local stack (scripts/local_supabase) on loopback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.inbound_batch import InboundBatcher  # noqa: E402
from services.models import InboundMessage  # noqa: E402

NOW = datetime.now(timezone.utc)
PER_CONVERSATION = 10


def track_rate(store, count: int, threads: int, tag: str) -> float:
    """Messages tracked per second: ``count`` messages, 4 per person."""
    messages = [
        InboundMessage(
            platform="messenger" if i % 2 else "webchat",
            external_user_id=f"{tag}-user-{i // 4}",
            external_id=f"{tag}-mid-{i}",
            content=f"benchmark message {i}",
        )
        for i in range(count)
    ]
    start = time.perf_counter()
    if threads == 1:
        for m in messages:
            store.track_inbound(m, NOW)
    else:
        # each thread takes whole people, so their messages stay in order
        groups = [messages[i : i + 4] for i in range(0, count, 4)]

        def run(group):
            for m in group:
                store.track_inbound(m, NOW)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, groups))
    return count / (time.perf_counter() - start)


def bulk_sqlite(path: Path, conversations: int) -> None:
    import sqlite3

    from services.store.sqlite_db import register_functions

    db = sqlite3.connect(path)
    register_functions(db)  # the search indexes' triggers fold the text they index
    ts = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")  # noqa: E731
    conv_rows, msg_rows = [], []
    next_id = (db.execute("select coalesce(max(id), 0) from conversations").fetchone()[0]) + 1
    for n in range(conversations):
        cid = next_id + n
        start = NOW - timedelta(minutes=(n * 37) % (30 * 24 * 60))
        last = start + timedelta(minutes=PER_CONVERSATION)
        conv_rows.append((cid, "messenger" if n % 3 else "webchat", f"bulk-{n}", f"Person {n}",
                          "active" if n % 4 else "closed", PER_CONVERSATION, ts(start), ts(last), ts(last)))
        for k in range(PER_CONVERSATION):
            msg_rows.append((cid, "messenger" if n % 3 else "webchat", "user" if k % 2 == 0 else "bot",
                             f"bulk message {n}-{k} about orders and refunds", f"bulk-{n}-{k}",
                             ts(start + timedelta(minutes=k)), 1 if k == 3 and n % 10 == 0 else 0))
    with db:
        db.executemany(
            "insert into conversations (id, platform, external_user_id, display_name, status,"
            " message_count, created_at, updated_at, last_message_at) values (?,?,?,?,?,?,?,?,?)",
            conv_rows,
        )
        db.executemany(
            "insert into messages (conversation_id, platform, sender_type, content, external_id,"
            " created_at, requires_human) values (?,?,?,?,?,?,?)",
            msg_rows,
        )
    db.close()


def bulk_postgres(stack, conversations: int) -> None:
    stack.psql(
        f"""
        with c as (
          insert into conversations (platform, external_user_id, display_name, status,
                                     message_count, created_at, updated_at, last_message_at)
          select case when n % 3 = 0 then 'webchat' else 'messenger' end, 'bulk-' || n,
                 'Person ' || n, case when n % 4 = 0 then 'closed' else 'active' end,
                 {PER_CONVERSATION},
                 '{NOW.isoformat()}'::timestamptz - ((n * 37) % 43200) * interval '1 minute',
                 '{NOW.isoformat()}'::timestamptz - ((n * 37) % 43200 - {PER_CONVERSATION}) * interval '1 minute',
                 '{NOW.isoformat()}'::timestamptz - ((n * 37) % 43200 - {PER_CONVERSATION}) * interval '1 minute'
          from generate_series(0, {conversations - 1}) n
          returning id, platform, external_user_id, created_at
        )
        insert into messages (conversation_id, platform, sender_type, content, external_id,
                              created_at, requires_human)
        select c.id, c.platform, case when k % 2 = 0 then 'user' else 'bot' end,
               'bulk message ' || c.external_user_id || '-' || k || ' about orders and refunds',
               c.external_user_id || '-' || k, c.created_at + k * interval '1 minute',
               k = 3 and c.id % 10 = 0
        from c, generate_series(0, {PER_CONVERSATION - 1}) k;
        analyze conversations; analyze messages;
        """
    )


def latency(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def track_vs_noop(store, calls: int, threads: int = 1, tag: str = "rt", rounds: int = 5,
                  batched: bool = False) -> dict:
    """``track_inbound`` per second beside the no-op SQL function ``noop()`` called through
    the same Supabase client: the ratio is what our SQL costs over the round trip itself.

    ``batched``: the messages go through an ``InboundBatcher`` (the group commit the app's
    tracker uses), so concurrent calls share requests; ``noop()`` is still one request each.
    The two alternate in ``rounds`` blocks, so a machine getting busier or quieter during
    the run weighs on both alike.
    """
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    counter = iter(range(10**9))
    tracker = InboundBatcher(store) if batched else store
    tag = f"{tag}b" if batched else tag

    def timed(fn, count: int) -> float:
        started = time.perf_counter()
        if pool is None:
            for _ in range(count):
                fn(next(counter))
        else:
            list(pool.map(fn, [next(counter) for _ in range(count)]))
        return time.perf_counter() - started

    def track(i: int) -> None:
        (tracker.track if batched else tracker.track_inbound)(InboundMessage(
            platform="messenger", external_user_id=f"{tag}-{threads}-user-{i // 4}",
            external_id=f"{tag}-{threads}-mid-{i}", content=f"round trip {i}"), NOW)

    def noop(i: int) -> None:
        store.ping()  # ping() is one rpc("noop")

    try:
        timed(noop, min(100, calls))  # warm the connection pool
        per_round = max(1, calls // rounds)
        noop_s = track_s = 0.0
        for _ in range(rounds):
            noop_s += timed(noop, per_round)
            track_s += timed(track, per_round)
    finally:
        if pool is not None:
            pool.shutdown()
    done = per_round * rounds
    batches = {"store_calls": tracker.calls} if batched else {}
    return {"threads": threads, "batched": batched, **batches,
            "calls": done, "noop_per_s": round(done / noop_s, 1),
            "track_per_s": round(done / track_s, 1), "ratio": round(noop_s / track_s, 3)}


def bench(kind: str, total: int, track: int, stack=None) -> dict:
    """Track rates and stats latency on one store. ``stack``: a running local Supabase
    stack to use and leave running (otherwise one is started and stopped here)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    own_stack = False
    if kind == "sqlite":
        from services.store.sqlite import SqliteStore

        path = workdir / "bench.db"
        store = SqliteStore(path)
        load = lambda n: bulk_sqlite(path, n)  # noqa: E731
        stack = None
    else:
        from scripts import local_supabase
        from services.store.supabase import SupabaseStore

        if stack is None:
            stack = local_supabase.start(state_dir=REPO / ".local" / "supabase-bench", repo=REPO)
            own_stack = True
        stack.reset()
        store = SupabaseStore(url=stack.url, service_role_key=stack.service_role_key)
        load = lambda n: bulk_postgres(stack, n)  # noqa: E731
    try:
        one = track_rate(store, track, 1, "t1")
        four = track_rate(store, track, 4, "t4")
        remaining = max(0, total - 2 * track)
        started = time.perf_counter()
        load(remaining // PER_CONVERSATION)
        load_s = time.perf_counter() - started
        messages = store.stats(NOW).total_messages
        p50, p95 = latency(lambda: store.stats(NOW), 30)
        return {
            "store": kind,
            "track_per_s_1_thread": round(one, 1),
            "track_per_s_4_threads": round(four, 1),
            "messages_loaded": messages,
            "bulk_load_s": round(load_s, 2),
            "stats_p50_ms": round(p50, 2),
            "stats_p95_ms": round(p95, 2),
        }
    finally:
        store.close()
        if own_stack:
            from scripts import local_supabase

            local_supabase.stop(state_dir=stack.state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--track", type=int, default=2000)
    parser.add_argument("--stores", default="sqlite,supabase")
    args = parser.parse_args()
    rows = [bench(kind, args.messages, args.track) for kind in args.stores.split(",")]
    keys = list(rows[0])
    print(" | ".join(f"{k:>22}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k]!s:>22}" for k in keys))
    out = REPO / "bench" / "results" / "store.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"at": NOW.isoformat(), "results": rows}, indent=2))
    print(f"saved {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
