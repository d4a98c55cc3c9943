"""Messenger ingest benchmark: signed webhooks over loopback to the app under gunicorn.

    .venv/bin/python bench/messenger.py [--requests 3000] [--concurrency 16] [--store sqlite|supabase]

Prints acknowledged webhooks per second and p50/p99 time to 200 for ``POST /webhook``,
beside ``POST /bench/bare`` (a Flask route that only returns 200) served by the same
gunicorn process in the same run; the ratio is the figure. The background worker runs
too (bot replies go to a local Graph API stand-in), as in production: its answers count
in the webhook rounds they overlap, and a bare-route round starts once it is idle. The
requests are split into three rounds of each route, alternating.
"""

from __future__ import annotations

import argparse
import os
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from channels.messenger.signature import sign  # noqa: E402
from tests.support.graph_stub import start_graph_stub  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402

SECRET = "bench-app-secret"
ROUNDS = 3  # bare and webhook rounds, alternating


def webhook_body(i: int) -> bytes:
    now_ms = int(time.time() * 1000)
    return json.dumps({
        "object": "page",
        "entry": [{
            "id": "PAGE", "time": now_ms,
            "messaging": [{
                "sender": {"id": f"psid-{i % 500}"}, "recipient": {"id": "PAGE"},
                "timestamp": now_ms,
                "message": {"mid": f"m_bench_{time.time_ns()}_{i}", "text": "what are your opening hours?"},
            }],
        }],
    }).encode()


def run_load(url: str, bodies: list[bytes], concurrency: int, signed: bool) -> dict:
    """Post ``bodies`` from ``concurrency`` threads; ``elapsed`` s, each post's ``latencies``."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    index = iter(range(len(bodies)))

    def worker() -> None:
        nonlocal failures
        session = requests.Session()
        mine, bad = [], 0
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                break
            body = bodies[i]
            headers = {"Content-Type": "application/json"}
            if signed:
                headers["X-Hub-Signature-256"] = sign(body, SECRET)
            start = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=30)
            mine.append(time.perf_counter() - start)
            bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            failures += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"elapsed": time.perf_counter() - started, "latencies": latencies,
            "non_200": failures}


def summarize(runs: list[dict]) -> dict:
    """Requests per second over all ``runs`` together, and their p50/p99 time to answer."""
    latencies = sorted(x for r in runs for x in r["latencies"])
    return {
        "per_s": round(len(latencies) / sum(r["elapsed"] for r in runs), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "non_200": sum(r["non_200"] for r in runs),
    }


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


def measure(store: str = "sqlite", requests_count: int = 3000, concurrency: int = 16,
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
        warm = [webhook_body(-i) for i in range(1, 200)]
        run_load(server.url + "/webhook", warm, 4, signed=True)
        bodies = [webhook_body(i) for i in range(requests_count)]
        # Alternating rounds, so a slow spell of the machine falls on both routes alike.
        bare_runs, hook_runs = [], []
        for part in range(ROUNDS):
            chunk = bodies[part::ROUNDS]
            wait_until_quiet(stub)
            bare_runs.append(run_load(server.url + "/bench/bare", chunk, concurrency, False))
            hook_runs.append(run_load(server.url + "/webhook", chunk, concurrency, True))
        bare, hook = summarize(bare_runs), summarize(hook_runs)
    finally:
        server.stop()
        graph.shutdown()
        graph.server_close()
        if own_stack:
            from scripts import local_supabase

            local_supabase.stop(state_dir=stack.state_dir)
    return {
        "store": store,
        "requests": requests_count,
        "concurrency": concurrency,
        "bare": bare,
        "webhook": hook,
        "ratio_per_s": round(hook["per_s"] / bare["per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "supabase"], default="sqlite")
    args = parser.parse_args()

    result = measure(args.store, args.requests, args.concurrency)
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
