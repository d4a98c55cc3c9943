"""Ingest with several app processes on one Redis message queue against one process.

Signed webhooks, each from its own person, sent by wrk (``bench/load.py``) directly to the
processes, one wrk per process with its share of the connections (a sticky proxy would
send one client to one process), all on the Supabase store. The same time, the same
number of connections, a fresh store for each count of processes. The CPU each
part of the machine spends per webhook comes with the figures (``bench/cpu.py``): on a
small machine it is what says whether a second process can help.
"""

from __future__ import annotations

import time

from bench import load
from bench.cpu import CpuMeter, stack_groups
from tests.support.cluster import APP_SECRET, Cluster
from tests.support.webhook_load import post_webhooks, webhook_body


def ingest(cluster: Cluster, processes: int, seconds: float, concurrency: int,
           bot: bool = True) -> dict:
    """Webhooks acknowledged per second (and p50/p99 time to 200) over ``processes``.

    ``bot``: the background work (bot answers, sends) runs in the processes as deployed by
    default; without it, the jobs queue up and the figure is the ingest path alone.
    """
    cluster.stop_apps()
    cluster.reset_store()
    apps = cluster.start_apps(processes, nginx=False, LOG_LEVEL="ERROR",
                              RUN_WORKER_IN_APP="true" if bot else "false")
    try:
        run = f"ing{processes}-{time.time_ns()}"

        def bodies(count: int, tag: str) -> list[bytes]:
            return [webhook_body(f"{run}-{tag}-{i}", f"m.{run}.{tag}.{i}",
                                 "what are your opening hours?") for i in range(count)]

        post_webhooks([(apps[i % processes].url + "/webhook", body)
                       for i, body in enumerate(bodies(50 * processes, "warm"))],
                      APP_SECRET, concurrency=4)
        files = [load.prepare(bodies(load.bodies_needed(seconds), f"run{n}"), APP_SECRET)
                 for n in range(processes)]
        meter = CpuMeter({"app processes": [a.proc.pid for a in apps],
                          "redis": [cluster.redis.proc.pid],
                          **stack_groups(cluster.stack)}).start()
        running = [load.start(app.url, "/webhook", file, seconds,
                              max(1, concurrency // processes))
                   for app, file in zip(apps, files)]
        runs = load.finish_all(running)
        summary = load.combine(runs, side_by_side=True)
        cpu = meter.stop(summary["requests"])
    finally:
        cluster.stop_apps()
    return {"processes": processes, "seconds": seconds, "concurrency": concurrency,
            "bot": bot, **summary, "cpu_ms_per_webhook": cpu}


def one_against_two(cluster: Cluster, seconds: float, concurrency: int,
                    bot: bool = True) -> dict:
    """The ingest figures with 1 process and with 2, and the throughput ratio."""
    one = ingest(cluster, 1, seconds, concurrency, bot)
    two = ingest(cluster, 2, seconds, concurrency, bot)
    return {"one": one, "two": two, "ratio": round(two["per_s"] / one["per_s"], 2)}
