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

    db = sqlite3.connect(path)
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


def bench(kind: str, total: int, track: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    if kind == "sqlite":
        from services.store.sqlite import SqliteStore

        path = workdir / "bench.db"
        store = SqliteStore(path)
        load = lambda n: bulk_sqlite(path, n)  # noqa: E731
        stack = None
    else:
        from scripts import local_supabase
        from services.store.supabase import SupabaseStore

        stack = local_supabase.start(state_dir=REPO / ".local" / "supabase-bench", repo=REPO)
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
        if stack is not None:
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
