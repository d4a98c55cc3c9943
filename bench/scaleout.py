"""Ingest with several app processes on one Redis message queue against one process.

Signed webhooks, each from its own person, sent directly to the processes in turn (a
sticky proxy would send one test client to one process), all on the Supabase store. The
same load, the same concurrency, a fresh store for each count of processes. The CPU each
part of the machine spends per webhook comes with the figures (``bench/cpu.py``): on a
small machine it is what says whether a second process can help.
"""

from __future__ import annotations

import time

from bench.cpu import CpuMeter, stack_groups
from tests.support.cluster import APP_SECRET, Cluster
from tests.support.webhook_load import post_webhooks, webhook_body


def ingest(cluster: Cluster, processes: int, requests_count: int, concurrency: int,
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

        def targets(count: int, tag: str):
            return [(apps[i % processes].url + "/webhook",
                     webhook_body(f"{run}-{tag}-{i}", f"m.{run}.{tag}.{i}",
                                  "what are your opening hours?")) for i in range(count)]

        post_webhooks(targets(50 * processes, "warm"), APP_SECRET, concurrency=4)
        meter = CpuMeter({"app processes": [a.proc.pid for a in apps],
                          "redis": [cluster.redis.proc.pid],
                          **stack_groups(cluster.stack)}).start()
        load = post_webhooks(targets(requests_count, "run"), APP_SECRET, concurrency)
        cpu = meter.stop(requests_count)
    finally:
        cluster.stop_apps()
    return {"processes": processes, "requests": requests_count, "concurrency": concurrency,
            "bot": bot, **load.summary(), "cpu_ms_per_webhook": cpu}


def one_against_two(cluster: Cluster, requests_count: int, concurrency: int,
                    bot: bool = True) -> dict:
    """The ingest figures with 1 process and with 2, and the throughput ratio."""
    one = ingest(cluster, 1, requests_count, concurrency, bot)
    two = ingest(cluster, 2, requests_count, concurrency, bot)
    return {"one": one, "two": two, "ratio": round(two["per_s"] / one["per_s"], 2)}
