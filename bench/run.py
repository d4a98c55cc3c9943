"""Every benchmark of Switchboard, on loopback, in one table.

    .venv/bin/python bench/run.py            # the full run (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # small sizes, a minute or two
    .venv/bin/python bench/run.py --only ingest,latency

Starts what it needs on free ports (a local Supabase stack in ``.local/supabase-bench-run``,
Redis, a Graph API stand-in, gunicorn processes) and stops it all at the end. Prints one
row per figure with the issue's target and whether it is met, and saves the table and
the raw results as JSON in ``bench/results/``. A benchmark whose parts are not built yet
is a "not measured" row saying why, never a number. Everything shares one machine: the
load generator, PostgreSQL, PostgREST, Redis and the app processes compete for its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import calls as calls_bench  # noqa: E402
from bench import live, scaleout  # noqa: E402
from bench import messenger as messenger_bench  # noqa: E402
from bench import store as store_bench  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402

NAMES = ("ingest", "latency", "roundtrip", "calls", "store", "visitors", "scaleout",
         "admin_views")

# Sizes: (quick, full).
SIZES = {
    "ingest_seconds": (1, 3), "ingest_concurrency": (8, 16),
    "latency_seconds": (5, 20), "latency_runs": (1, 2),
    "roundtrip_calls": (300, 2000),
    "calls_messages": (20, 100),
    "store_messages": (20_000, 100_000), "store_track": (500, 2000),
    "visitors": (200, 2000), "visitors_hold": (5, 15),
    "scaleout_seconds": (2, 8), "scaleout_concurrency": (16, 16),
    "admin_conversations": (2_000, 100_000), "admin_runs": (10, 50),
}


class Table:
    """Rows of (benchmark, figure, value, target, verdict); ``raw`` keeps the details."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.raw: dict[str, object] = {}

    def add(self, bench: str, figure: str, value, target: str = "", met: bool | None = None):
        verdict = "" if met is None else ("met" if met else "MISSED")
        self.rows.append({"benchmark": bench, "figure": figure, "value": value,
                          "target": target, "verdict": verdict})

    def not_measured(self, bench: str, why: str) -> None:
        self.rows.append({"benchmark": bench, "figure": "not measured", "value": why,
                          "target": "", "verdict": ""})

    def print(self) -> None:
        cols = ("benchmark", "figure", "value", "target", "verdict")
        width = {c: max(len(c), *(len(str(r[c])) for r in self.rows)) for c in cols}
        width["value"] = min(width["value"], 70)
        line = " | ".join(f"{c:<{width[c]}}" for c in cols)
        print(line)
        print("-+-".join("-" * width[c] for c in cols))
        for r in self.rows:
            print(" | ".join(f"{str(r[c]):<{width[c]}}" for c in cols))


# -- the benchmarks ----------------------------------------------------------------------

def bench_ingest(table: Table, ctx: dict, quick: bool) -> None:
    """Webhooks acknowledged per second beside a bare Flask route, one process."""
    seconds = SIZES["ingest_seconds"][not quick]
    concurrency = SIZES["ingest_concurrency"][not quick]
    for kind in ("sqlite", "supabase"):
        r = messenger_bench.measure(kind, seconds, concurrency,
                                    stack=ctx["stack"] if kind == "supabase" else None)
        table.raw[f"ingest_{kind}"] = r
        name = f"ingest ({kind}, 1 process, {concurrency} clients)"
        table.add(name, "webhook acks per s", r["webhook"]["per_s"])
        table.add(name, "webhook p50 / p99 ms",
                  f"{r['webhook']['p50_ms']} / {r['webhook']['p99_ms']}")
        table.add(name, "bare route per s", r["bare"]["per_s"])
        table.add(name, "webhook / bare", r["ratio_per_s"], ">= 0.5", r["ratio_per_s"] >= 0.5)
        if r["webhook"]["non_200"] or r["bare"]["non_200"]:
            table.add(name, "non-200 answers", r["webhook"]["non_200"] + r["bare"]["non_200"])


def bench_latency(table: Table, ctx: dict, quick: bool) -> None:
    """Webhook to admin socket with 20 admin sockets on 2 processes: at 200 messages/s as
    deployed (the bot answering in the app processes) and for the ingest path alone (no
    background work), then at 50/s, a rate a small machine keeps up with. The full run
    measures each twice, the three one after the other and then again, and prints the
    range: on a shared machine one run can be twice another; the verdict takes the worst."""
    configs = ((200, "in_app", "bot in the app processes"),
               (200, "off", "no background work"),
               (50, "in_app", "bot in the app processes"))
    runs: dict[tuple, list[dict]] = {c: [] for c in configs}
    for _ in range(SIZES["latency_runs"][not quick]):
        for config in configs:
            rate, bot, _label = config
            runs[config].append(live.admin_latency(
                ctx["cluster"](), rate=rate, seconds=SIZES["latency_seconds"][not quick],
                sockets=20, processes=2, bot=bot))
    for (rate, bot, label), results in runs.items():
        table.raw[f"admin_latency_{rate}_{bot}"] = results
        name = f"webhook -> admin socket ({rate}/s, 20 sockets, 2 processes; {label})"
        p99s = [r["p99_ms"] for r in results]
        worst = None if None in p99s else max(p99s)
        table.add(name, "p50 ms", _span(r["p50_ms"] for r in results))
        table.add(name, "p99 ms", _span(p99s), "< 50" if rate == 200 else "",
                  worst is not None and worst < 50 if rate == 200 else None)
        table.add(name, "webhook time to 200 p50 / p99 ms",
                  f"{_span(r['ack_p50_ms'] for r in results)} / "
                  f"{_span(r['ack_p99_ms'] for r in results)}")
        table.add(name, "cores busy while sending, %; CPU ms per webhook (all processes)",
                  f"{_span(r['cpu_busy_pct'] for r in results)}; "
                  f"{_span(r['cpu_ms_per_webhook']['total'] for r in results)}")
        if bot != "off":
            backlogs = [r["bot_backlog"] for r in results]
            table.add(name, "bot answers stored when the sending ended; all answered s after "
                      "the last webhook",
                      f"{_span(b['answered_when_sent'] for b in backlogs)} of "
                      f"{results[0]['webhooks']}; "
                      f"{_span(b['all_answered_after_s'] for b in backlogs)}"
                      + ("" if all(b["answered"] >= r["webhooks"] - r["non_200"]
                                   for b, r in zip(backlogs, results))
                         else " (not all answered within 300 s)"))
        received = sum(r["events_received"] for r in results)
        expected = sum(r["events_expected"] for r in results)
        table.add(name, "events received / expected", f"{received} / {expected}",
                  "all", received == expected)
        for r in results:
            if r["non_200"] or r["send_lag_s"] > 0.5 or r["sockets_dropped"]:
                table.add(name, "non-200; sender behind schedule by s; sockets dropped by the "
                          "server", f"{r['non_200']}; {r['send_lag_s']}; {r['sockets_dropped']}")


def _span(values) -> str:
    """``a`` or ``low–high`` of the runs' figures (None: a run had no figure)."""
    values = list(values)
    if None in values:
        return "none in a run"
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}–{high}"


def bench_calls(table: Table, ctx: dict, quick: bool) -> None:
    """Store calls per answered Messenger message, webhook to echo (bench/calls.py)."""
    for kind in ("sqlite", "supabase"):
        # Echoes as they usually come (after the Send API answered), then racing the answers.
        for delay, when in ((calls_bench.ECHO_DELAY, f"echo {calls_bench.ECHO_DELAY} s later"),
                            (0.0, "echo at once")):
            r = calls_bench.store_calls(kind, SIZES["calls_messages"][not quick],
                                        stack=ctx["stack"] if kind == "supabase" else None,
                                        echo_delay=delay)
            table.raw[f"calls_{kind}" + ("" if delay else "_echo_at_once")] = r
            name = f"store calls per answered Messenger message ({kind}, webhook to {when})"
            table.add(name, "calls per message", r["per_message"])
            table.add(name, "by method",
                      ", ".join(f"{k} {v}" for k, v in r["by_method"].items()))
            table.add(name, "answered / echoed",
                      f"{r['answered']} / {r['echoes']} of {r['messages']}",
                      "all", r["answered"] == r["echoes"] == r["messages"])
        d = r["delivery"]
        table.add(f"one delivery of {d['people']} people's messages ({kind}, in-process)",
                  "store calls; time to 200 ms", f"{d['store_calls']}; {d['ms_to_200']}")


def bench_roundtrip(table: Table, ctx: dict, quick: bool) -> None:
    """Supabase ``track_inbound`` beside the no-op SQL function, same client."""
    from services.store.supabase import SupabaseStore

    stack = ctx["stack"]
    stack.reset()
    store = SupabaseStore(url=stack.url, service_role_key=stack.service_role_key)
    try:
        calls = SIZES["roundtrip_calls"][not quick]
        for threads, batched in ((1, False), (4, False), (4, True), (16, True)):
            r = store_bench.track_vs_noop(store, calls, threads, batched=batched)
            table.raw[f"roundtrip_{threads}{'_batched' if batched else ''}"] = r
            name = (f"supabase track_inbound vs noop() ({threads} thread{'s' * (threads > 1)}"
                    f"{'; through the group commit' if batched else ''})")
            table.add(name, "track_inbound per s", r["track_per_s"])
            if batched:
                table.add(name, "messages per store request",
                          round(r["calls"] / max(1, r["store_calls"]), 2))
            table.add(name, "noop() per s", r["noop_per_s"])
            table.add(name, "track / noop", r["ratio"], ">= 0.9", r["ratio"] >= 0.9)
    finally:
        store.close()


def bench_store(table: Table, ctx: dict, quick: bool) -> None:
    """bench/store.py: tracked messages per second and stats latency, both stores."""
    total = SIZES["store_messages"][not quick]
    track = SIZES["store_track"][not quick]
    for kind in ("sqlite", "supabase"):
        r = store_bench.bench(kind, total, track,
                              stack=ctx["stack"] if kind == "supabase" else None)
        table.raw[f"store_{kind}"] = r
        name = f"store ({kind}, {r['messages_loaded']:,} messages)"
        table.add(name, "track_inbound per s, 1 / 4 threads",
                  f"{r['track_per_s_1_thread']} / {r['track_per_s_4_threads']}")
        table.add(name, "stats p50 / p95 ms", f"{r['stats_p50_ms']} / {r['stats_p95_ms']}")


def bench_admin_views(table: Table, ctx: dict, quick: bool) -> None:
    """bench/admin.py: inbox, conversation, search and stats at 100k conversations / 1M
    messages on both stores (it loads and serves its own stack, in .local/supabase-bench)."""
    name = "admin views at 100k conversations / 1M messages (both stores)"
    try:
        from bench import admin as admin_bench
    except ImportError as exc:
        table.not_measured(name, f"bench/admin.py is not there yet ({exc})")
        return
    if not hasattr(admin_bench, "bench"):
        table.not_measured(name, "bench/admin.py has no bench(kind, conversations, runs, "
                                 "webhooks, admins) to call")
        return
    conversations = SIZES["admin_conversations"][not quick]
    for kind in ("sqlite", "supabase"):
        # webhooks=0: its one-at-a-time socket figure signs 20 admins in, past the
        # login rate limit; "webhook -> admin socket" above measures that path loaded.
        r = admin_bench.bench(kind, conversations, SIZES["admin_runs"][not quick], 0, 0)
        table.raw[f"admin_{kind}"] = r
        size = f"{r['conversations']:,} conversations / {r['messages']:,} messages"
        label = f"admin API ({kind}, {size})"
        for case, target in (("inbox_first_page", 50), ("inbox_next_page", 50),
                             ("inbox_needs_human", 50), ("inbox_by_priority", 50),
                             ("inbox_unread", 50), ("inbox_unread_all_read", None),
                             ("inbox_tag_common", 50), ("inbox_tag_rare", 50),
                             ("tags_in_use", None), ("tag_and_untag", None),
                             ("conversation_page", None), ("mark_read", None),
                             ("search_name", None),
                             ("search_text", None), ("search_common", None),
                             ("search_short", None), ("stats", 100),
                             ("team_stats_7d", 100), ("team_stats_30d", 100)):
            p50, p95 = r.get(f"{case}_p50_ms"), r.get(f"{case}_p95_ms")
            if p95 is None:
                continue
            table.add(label, f"{case} p50 / p95 ms", f"{p50} / {p95}",
                      f"p95 < {target}" if target else "",
                      p95 < target if target and conversations >= 100_000 else None)
        if "webhook_alone_p50_ms" in r:
            table.add(label, "webhook to 200 p50 / p99 ms, alone",
                      f"{r['webhook_alone_p50_ms']} / {r['webhook_alone_p99_ms']}", "", None)
            table.add(label, "... while an admin searches (searches run; their p50 ms)",
                      f"{r['webhook_during_search_p50_ms']} / {r['webhook_during_search_p99_ms']}"
                      f" ({r['searches_during']}, {r['search_p50_ms']})", "", None)
            table.add(label, f"... while an admin exports {admin_bench.EXPORT_DAYS} days, p50 / p99 / max ms "
                             "(webhooks; export s, MB)",
                      f"{r['webhook_during_export_p50_ms']} / {r['webhook_during_export_p99_ms']}"
                      f" / {r['webhook_during_export_max_ms']} ({r['webhook_during_export_count']};"
                      f" {r['export_s']}, {r['export_mb']})", "", None)
    if conversations < 100_000:
        table.add(name, "note", "targets apply at 100k conversations: run without --quick")


def bench_visitors(table: Table, ctx: dict, quick: bool) -> None:
    """Web-chat visitors held by one worker, and its memory: bench/webchat.py (the web
    chat's own benchmark, SQLite) when it can run here, else bench/live.py's (Supabase)."""
    if not (REPO / "channels" / "webchat" / "namespace.py").exists():
        table.not_measured("web-chat visitors on one worker", "channels/webchat is not built yet")
        return
    count = SIZES["visitors"][not quick]
    try:
        from bench import webchat as webchat_bench
    except ImportError:  # it needs aiohttp for its python-socketio AsyncClients
        webchat_bench = None
    if webchat_bench is not None and hasattr(webchat_bench, "measure"):
        r = webchat_bench.measure(visitors=count, messages=1)
        table.raw["webchat_visitors"] = r
        name = f"web-chat visitors on one worker ({count}; bench/webchat.py, sqlite)"
        held = r.get("held_after_answers", r.get("connected", 0))
        peak_kb = r.get("worker_peak_kb", 0)
        ack = f"{r.get('ack_p50_ms')} / {r.get('ack_p99_ms')}"
        dropped = r.get("dropped")
    else:
        r = live.webchat_visitors(ctx["cluster"](), count=count,
                                  hold=SIZES["visitors_hold"][not quick])
        table.raw["webchat_visitors"] = r
        name = f"web-chat visitors on one worker ({count}; bench/live.py, supabase)"
        held = r["still_open_after_hold"]
        peak_kb = r["peak_kb"]
        ack = f"{r['message_ack_p50_ms']} / -"
        dropped = r["opened"] - r["still_open_after_hold"]
        table.add(name, "memory per visitor KB",
                  round((r["rss_held_kb"] - r["rss_before_kb"]) / max(1, r["opened"]), 1))
    table.add(name, "held", held, f">= {count}", held >= count)
    mb = round(peak_kb / 1024, 1)
    table.add(name, "worker peak memory MB", mb, "< 500", mb < 500)
    table.add(name, "message ack p50 / p99 ms while held", ack)
    if dropped:
        table.add(name, "sockets dropped", dropped)
    if count < 2000:
        table.add(name, "note", "the target is 2,000 visitors: run without --quick")


def bench_scaleout(table: Table, ctx: dict, quick: bool) -> None:
    """The ingest figures with 2 processes on Redis against 1 (Supabase store), as deployed
    (bot in the app processes) and for the ingest path alone."""
    for bot, label in ((True, "bot in the app processes"), (False, "no background work")):
        r = scaleout.one_against_two(ctx["cluster"](), SIZES["scaleout_seconds"][not quick],
                                     SIZES["scaleout_concurrency"][not quick], bot)
        table.raw[f"scaleout_{'bot' if bot else 'ingest_only'}"] = r
        for key in ("one", "two"):
            p = r[key]
            name = (f"ingest, {p['processes']} process{'es' * (p['processes'] > 1)} "
                    f"(supabase, Redis; {label})")
            table.add(name, "webhook acks per s", p["per_s"])
            table.add(name, "p50 / p99 ms", f"{p['p50_ms']} / {p['p99_ms']}")
            cpu = p["cpu_ms_per_webhook"]
            table.add(name, "CPU ms per webhook: app, PostgREST, Postgres, gateway, Redis, "
                            "bench; total",
                      f"{cpu['app processes']}, {cpu['postgrest']}, {cpu['postgres']}, "
                      f"{cpu['gateway']}, {cpu['redis']}, {cpu['bench process']}; "
                      f"{cpu['total']}")
            table.add(name, "CPU-bound ceiling on this machine, per s",
                      round((os.cpu_count() or 1) * 1000 / max(0.01, cpu["total"]), 1))
            # Below 100 % the process waits on the store more than on its own core: its
            # group commit sends at most INBOUND_MAX_IN_FLIGHT calls at once.
            table.add(name, "each app process busy, % of one core",
                      round(cpu["app processes"] * p["per_s"] / 10 / p["processes"], 1))
        table.add(f"ingest, 2 processes against 1 ({label})", "throughput ratio", r["ratio"],
                  ">= 1.6", r["ratio"] >= 1.6)


BENCHES = {"ingest": bench_ingest, "latency": bench_latency, "roundtrip": bench_roundtrip,
           "calls": bench_calls,
           "store": bench_store, "admin_views": bench_admin_views, "visitors": bench_visitors,
           "scaleout": bench_scaleout}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default=",".join(NAMES),
                        help=f"comma-separated subset of: {', '.join(NAMES)}")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    os.environ.setdefault("LOCAL_SUPABASE_QUIET", "1")
    from scripts import local_supabase

    # A stack of its own: bench/store.py, bench/messenger.py and bench/admin.py, run alone,
    # start and stop the one in .local/supabase-bench (bench/admin.py still does, from here).
    state_dir = Path(os.environ.get("BENCH_SUPABASE_DIR", REPO / ".local" / "supabase-bench-run"))
    holder: dict[str, Cluster] = {}
    ctx: dict = {"stack": local_supabase.start(state_dir=state_dir, repo=REPO)}

    def cluster() -> Cluster:
        if "c" not in holder:
            holder["c"] = Cluster(ctx["stack"], Path(tempfile.mkdtemp(prefix="bench-cluster-")))
        return holder["c"]

    ctx["cluster"] = cluster
    table = Table()
    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1):
        print(f"bench/run.py: the machine is busy (load {load_before[0]:.1f} on "
              f"{os.cpu_count()} cores): the figures will be low", file=sys.stderr)
    timings = {}
    failed = False
    try:
        for name in chosen:
            started = time.monotonic()
            print(f"bench/run.py: {name}...", file=sys.stderr, flush=True)
            try:
                BENCHES[name](table, ctx, args.quick)
            except Exception as exc:  # one broken benchmark must not hide the others
                failed = True
                traceback.print_exc()
                table.add(name, "FAILED", f"{type(exc).__name__}: {exc}"[:200])
            timings[name] = round(time.monotonic() - started, 1)
    finally:
        if "c" in holder:
            holder["c"].close()
        local_supabase.stop(state_dir=state_dir)

    load_after = os.getloadavg()
    table.add("machine", "cores; load average at start / end",
              f"{os.cpu_count()}; {load_before[0]:.1f} / {load_after[0]:.1f}")
    print()
    table.print()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = REPO / "bench" / "results" / f"run-{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "at": stamp, "quick": args.quick, "cpus": os.cpu_count(), "seconds": timings,
        "load_average": {"start": load_before, "end": load_after},
        "rows": table.rows, "raw": table.raw,
    }, indent=2, default=str))
    print(f"\nsaved {out.relative_to(REPO)}  ({sum(timings.values()):.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
