"""Messenger ingest benchmark: signed webhooks over loopback to the app under gunicorn.

    .venv/bin/python bench/messenger.py [--seconds 3] [--concurrency 16] [--store sqlite|supabase]

Prints acknowledged webhooks per second and p50/p99 time to 200 for ``POST /webhook``,
beside ``POST /bench/bare`` (a Flask route that only returns 200) served by the same
gunicorn process in the same run; the ratio is the figure. The background worker runs
too (bot replies go to a local Graph API stand-in), as in production: its answers count
in the webhook rounds they overlap, and a bare-route round starts once it is idle. Each
route gets three rounds of ``--seconds``, alternating; the load comes from wrk
(``bench/load.py``), every webhook a new message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import load  # noqa: E402
from tests.support.graph_stub import start_graph_stub  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402
from tests.support.webhook_load import post_webhooks, webhook_body  # noqa: E402

SECRET = "bench-app-secret"
ROUNDS = 3  # bare and webhook rounds, alternating


def bodies(round_tag: str, count: int) -> list[bytes]:
    """``count`` new messages from 500 people (a conversation gets several)."""
    return [webhook_body(f"psid-{i % 500}", f"m_bench_{round_tag}_{i}",
                         "what are your opening hours?") for i in range(count)]


def wait_until_quiet(stub, quiet: float = 1.0, limit: float = 120.0) -> None:
    """Until the bot has sent nothing for ``quiet`` s: its answers to earlier webhooks must
    not run during a bare-route round (and make the bare route look slower)."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline:
        count = len(stub.requests)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def measure(store: str = "sqlite", seconds: float = 3.0, concurrency: int = 16,
            stack=None) -> dict:
    """Bare route and webhook figures from one gunicorn process on ``store``.

    ``stack``: a running local Supabase stack to use (and leave running); without one,
    ``store="supabase"`` starts its own in ``.local/supabase-bench`` and stops it after.
    """
    stub, graph, _ = start_graph_stub()
    work = Path(tempfile.mkdtemp(prefix="bench-messenger-"))
    env = {
        "HOME": str(work),
        "DATABASE_PATH": str(work / "bench.db"),
        "SECRET_KEY": "bench",
        "FACEBOOK_APP_SECRET": SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": stub.token,
        "FACEBOOK_VERIFY_TOKEN": "bench",
        "GRAPH_API_BASE": stub.base_url,
        "GRAPH_API_VERSION": stub.version,
        "LOG_LEVEL": "WARNING",
        "RUN_WORKER_IN_APP": os.environ.get("RUN_WORKER_IN_APP", "true"),
    }
    own_stack = False
    if store == "supabase":
        if stack is None:
            from scripts import local_supabase

            stack = local_supabase.start(state_dir=REPO / ".local" / "supabase-bench", repo=REPO)
            own_stack = True
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)
    # The product plus the bare route, served by the same gunicorn process.
    server = LiveServer(env, log_path=work / "server.log", app_spec="bench.bare_wsgi:app").start()
    try:
        run = f"{store}{time.time_ns()}"
        post_webhooks([(server.url + "/webhook", b) for b in bodies(f"{run}w", 200)],
                      SECRET, concurrency=4)
        # Alternating rounds, so a slow spell of the machine falls on both routes alike.
        bare_runs, hook_runs = [], []
        for part in range(ROUNDS):
            batch = bodies(f"{run}r{part}", load.bodies_needed(seconds))
            wait_until_quiet(stub)
            bare_runs.append(load.run(server.url, "/bench/bare", batch, seconds, concurrency))
            hook_runs.append(load.run(server.url, "/webhook", batch, seconds, concurrency,
                                      secret=SECRET))
        bare = load.combine(bare_runs, side_by_side=False)
        hook = load.combine(hook_runs, side_by_side=False)
    finally:
        server.stop()
        graph.shutdown()
        graph.server_close()
        if own_stack:
            from scripts import local_supabase

            local_supabase.stop(state_dir=stack.state_dir)
    return {
        "store": store,
        "seconds_per_round": seconds,
        "concurrency": concurrency,
        "bare": bare,
        "webhook": hook,
        "ratio_per_s": round(hook["per_s"] / bare["per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3,
                        help="per round, whole seconds (3 per route)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "supabase"], default="sqlite")
    args = parser.parse_args()

    result = measure(args.store, args.seconds, args.concurrency)
    print(f"{'route':>10} | {'per s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | non-200")
    for name in ("bare", "webhook"):
        r = result[name]
        print(f"{name:>10} | {r['per_s']:>8} | {r['p50_ms']:>8} | {r['p99_ms']:>8} | {r['non_200']}")
    print(f"webhook/bare throughput ratio: {result['ratio_per_s']}  (store: {args.store})")
    out = REPO / "bench" / "results" / f"messenger-{args.store}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
