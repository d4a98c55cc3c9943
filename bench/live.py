"""Live-update benchmarks: webhook-to-admin-socket latency, and web-chat visitors held by one
worker. Both run on a ``tests.support.cluster.Cluster`` (gunicorn, Redis, local Supabase).

``admin_latency``: webhooks at a steady rate, alternating over two processes; admin
sockets (a minimal Engine.IO v4 / Socket.IO v5 client over ``websockets``, in a process of
their own) split over both. Each webhook comes from a new person, so
its ``conversation.created`` reaches every admin socket; the latency is from the moment the
webhook was due to be sent (open loop: a slow server cannot slow the sender down and hide
its own queueing) to its arrival on each socket.

``webchat_visitors``: visitors, each with its own token from ``POST /chat/session``, open
the ``/chat`` namespace over WebSocket and stay; a few send a message and wait for the
acknowledgement while all are held. The worker's resident and peak memory come from
/proc. The visitors are a minimal Engine.IO v4 / Socket.IO v5 client over ``websockets``
(asyncio): a thread per python-socketio client would not hold thousands.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.cpu import CpuMeter, stack_groups
from channels.messenger.signature import sign
from tests.support.cluster import APP_SECRET, Cluster, child_pids
from tests.support.webhook_load import webhook_body


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, int(round(q * len(values))) - 1))]


def _cookie(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def admin_latency(cluster: Cluster, rate: float = 200.0, seconds: float = 20.0,
                  sockets: int = 20, processes: int = 2, bot: str = "in_app") -> dict:
    """p50/p99 from webhook to ``conversation.created`` on each admin socket.

    ``bot``: where the bot's answers are worked out and sent -- ``in_app`` (the default
    deployment: in each web process), ``worker`` (one ``python worker.py`` process, the web
    processes with ``RUN_WORKER_IN_APP=false``) or ``off`` (nobody: the ingest path alone).
    With a bot, the result also says how many webhooks it had answered when the sending
    ended and when the admins' events were all in, and how long after the last webhook it
    had answered them all (waiting up to 300 s for that).

    The admin sockets live in a process of their own (``_hold_admin_sockets``), a light
    Engine.IO/Socket.IO client on one asyncio loop: 20 python-socketio clients on threads
    beside the sender needed most of a core to decode a few thousand events a second, and
    the figure measured their backlog rather than the server. Times are ``time.monotonic``,
    one clock for both processes.
    """
    cluster.stop_apps()
    cluster.reset_store()
    apps = cluster.start_apps(processes, nginx=False, LOG_LEVEL="ERROR",
                              ADMIN_STATS_INTERVAL_SECONDS="5",
                              RUN_WORKER_IN_APP="true" if bot == "in_app" else "false")
    if bot == "worker":
        cluster.start_worker(LOG_LEVEL="ERROR")
    browser = cluster.admin_session(apps[0].url)  # one sign-in, many tabs
    count = int(rate * seconds)
    ctx = multiprocessing.get_context("spawn")
    ready, sent = ctx.Event(), ctx.Event()
    results = ctx.Queue()
    holder = ctx.Process(target=_hold_admin_sockets, daemon=True, args=(
        [apps[n % processes].url for n in range(sockets)], _cookie(browser), count * sockets,
        ready, sent, results))
    holder.start()
    if not ready.wait(60):
        holder.kill()
        raise RuntimeError("the admin sockets did not connect")

    run = f"lat{time.time_ns()}"
    bodies = [webhook_body(f"{run}-{i}", f"m.{run}.{i}", "what are your opening hours?")
              for i in range(count)]
    start = time.monotonic() + 0.5
    due = [start + i / rate for i in range(count)]
    # How busy the machine's cores were while the webhooks went out: above about 90 % the
    # figure measures queueing for CPU, not the app's path from webhook to socket.
    meter = CpuMeter({"app processes": [a.proc.pid for a in apps]
                      + [w.pid for w in cluster.workers],
                      "admin sockets": [holder.pid], "redis": [cluster.redis.proc.pid],
                      **stack_groups(cluster.stack)}).start()
    metered_from = time.monotonic()
    statuses, acked = asyncio.run(_send_on_time(
        [apps[i % processes].url + "/webhook" for i in range(count)], bodies, due))
    sent_by = time.monotonic()
    cpu = meter.stop(count)
    answered_when_sent = _bot_answers(cluster, run) if bot != "off" else None
    sent.set()
    # The holder stops once all events are in, none has come for 5 s, or 120 s have passed.
    arrivals, dropped_sockets = results.get(timeout=180)
    holder.join(30)
    bot_backlog = None
    if bot != "off":
        answered_when_seen = _bot_answers(cluster, run)
        # How long the bot needs to answer them all, from the last webhook's due time.
        answered, deadline = answered_when_seen, time.monotonic() + 300
        while answered < count - sum(1 for s in statuses if s != 200) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
            answered = _bot_answers(cluster, run)
        bot_backlog = {"answered_when_sent": answered_when_sent,
                       "answered_when_events_in": answered_when_seen,
                       "answered": answered,
                       "all_answered_after_s": round(time.monotonic() - due[-1], 1)}
    cluster.stop_apps()

    index = {f"{run}-{i}": i for i in range(count)}
    latencies = [(t - due[index[psid]]) * 1000
                 for seen in arrivals for psid, t in seen.items() if psid in index]
    expected = sum(1 for s in statuses if s == 200) * sockets
    acks = [a for a, s in zip(acked, statuses) if s == 200]
    return {
        "rate_per_s": rate, "seconds": seconds, "sockets": sockets, "processes": processes,
        "bot": bot,
        "webhooks": count, "non_200": sum(1 for s in statuses if s != 200),
        "send_lag_s": round(max(0.0, sent_by - due[-1]), 2),
        "cpu_ms_per_webhook": cpu,
        "cpu_busy_pct": round(cpu["total"] * count / 1000 / (sent_by - metered_from)
                              / (os.cpu_count() or 1) * 100, 1),
        "events_expected": expected, "events_received": len(latencies),
        "sockets_dropped": dropped_sockets,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(_pct(latencies, 0.99), 1) if latencies else None,
        "ack_p50_ms": round(statistics.median(acks), 1) if acks else None,
        "ack_p99_ms": round(_pct(acks, 0.99), 1) if acks else None,
        "bot_backlog": bot_backlog,
    }


def _bot_answers(cluster: Cluster, run: str) -> int:
    """The run's conversations with a bot reply stored."""
    return int(cluster.sql(
        "select count(distinct m.conversation_id) from messages m join conversations c"
        " on c.id = m.conversation_id where m.sender_type = 'bot'"
        f" and c.external_user_id like '{run}-%'")[0][0])


async def _send_on_time(urls: list[str], bodies: list[bytes], due: list[float]):
    """POST ``bodies[i]`` to ``urls[i]`` at ``due[i]`` (monotonic), whether or not earlier
    ones have been answered (open loop), over at most 64 keep-alive connections per host.
    Returns each one's status (None: no answer) and ms from its due time to its answer.

    asyncio and aiohttp, not a pool of threads with ``requests``: at 200 webhooks a second
    those took about a third of a core (1.8 ms of CPU a request) from the processes whose
    latency is measured; this spends about a quarter of that."""
    import aiohttp

    statuses: list[int | None] = [None] * len(bodies)
    acked: list[float | None] = [None] * len(bodies)

    async def post(session, i: int) -> None:
        try:
            async with session.post(urls[i], data=bodies[i], headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(bodies[i], APP_SECRET)}) as response:
                await response.read()
                statuses[i] = response.status
                acked[i] = (time.monotonic() - due[i]) * 1000
        except (aiohttp.ClientError, asyncio.TimeoutError):
            statuses[i] = None

    connector = aiohttp.TCPConnector(limit_per_host=64)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        tasks = []
        for i in range(len(bodies)):
            delay = due[i] - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, i)))
        await asyncio.gather(*tasks)
    return statuses, acked


def _hold_admin_sockets(urls: list[str], cookie: str, expected: int, ready, sent,
                        results) -> None:
    """In a process of its own: one ``/admin`` socket per URL, signed in with ``cookie``;
    puts ``(arrivals, dropped)`` on ``results``, where ``arrivals[n]`` maps each person's id
    to the monotonic time its ``conversation.created`` reached socket ``n``."""
    results.put(asyncio.run(_admin_sockets(urls, cookie, expected, ready, sent)))


async def _admin_sockets(urls, cookie, expected, ready, sent):
    import websockets

    prefix = '42/admin,["conversation.created",'
    arrivals: list[dict[str, float]] = [{} for _ in urls]
    dropped, closing = [0], [False]

    async def connect(url: str):
        ws = await websockets.connect(
            url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
            origin=url, additional_headers={"Cookie": cookie}, open_timeout=30,
            ping_interval=None, max_queue=None)
        if not (await ws.recv()).startswith("0"):
            raise RuntimeError("no Engine.IO open packet")
        await ws.send("40/admin,")
        while True:
            packet = await ws.recv()
            if packet == "2":
                await ws.send("3")
            elif packet.startswith("40/admin"):
                return ws
            elif packet.startswith("44/admin"):
                raise RuntimeError(f"/admin refused the socket: {packet[:200]}")

    async def listen(ws, seen: dict[str, float]) -> None:
        try:
            async for packet in ws:
                if packet == "2":
                    await ws.send("3")
                elif packet.startswith(prefix):
                    at = time.monotonic()
                    seen[json.loads(packet[len(prefix):-1])["conversation"]
                         ["external_user_id"]] = at
        except Exception:
            pass
        if not closing[0]:
            dropped[0] += 1  # the server closed it under us (a missed ping, say)

    conns = await asyncio.gather(*(connect(url) for url in urls))
    tasks = [asyncio.create_task(listen(ws, seen)) for ws, seen in zip(conns, arrivals)]
    ready.set()
    last, quiet_since, deadline = -1, time.monotonic(), None
    while True:
        await asyncio.sleep(0.1)
        now, got = time.monotonic(), sum(map(len, arrivals))
        if got != last:
            last, quiet_since = got, now
        if sent.is_set():
            deadline = deadline or now + 120
            if got >= expected or now - quiet_since > 5 or now > deadline:
                break
    closing[0] = True
    for ws in conns:
        await ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return arrivals, dropped[0]


# -- web-chat visitors ------------------------------------------------------------------

def _memory_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


class _Visitor:
    """One visitor's socket: Engine.IO open, ``/chat`` connect with its token, pings."""

    def __init__(self, url: str, origin: str, token: str):
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.origin = origin
        self.token = token
        self.ws = None
        self.connected = False
        self.closed = False
        self._acks: dict[int, asyncio.Future] = {}
        self._next_ack = 0

    async def open(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, origin=self.origin, open_timeout=30,
                                           ping_interval=None, max_queue=64)
        opened = await self.ws.recv()
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected Engine.IO open: {opened[:80]}")
        await self.ws.send("40/chat," + json.dumps({"token": self.token}))
        while True:
            packet = await self.ws.recv()
            if packet == "2":
                await self.ws.send("3")
            elif packet.startswith("40/chat"):
                self.connected = True
                return
            elif packet.startswith("44/chat"):
                raise RuntimeError(f"refused: {packet[:200]}")

    async def listen(self) -> None:
        """Answer pings and route acknowledgements until the socket closes."""
        try:
            async for packet in self.ws:
                if packet == "2":
                    await self.ws.send("3")
                elif packet.startswith("43/chat,"):
                    rest = packet[len("43/chat,"):]
                    digits = len(rest) - len(rest.lstrip("0123456789"))
                    future = self._acks.pop(int(rest[:digits]), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(rest[digits:]))
        except Exception:
            pass
        self.closed = True

    async def call(self, event: str, data: dict, timeout: float = 30.0):
        ack = self._next_ack
        self._next_ack += 1
        future = asyncio.get_running_loop().create_future()
        self._acks[ack] = future
        await self.ws.send(f"42/chat,{ack}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, timeout)


async def _hold_visitors(url: str, tokens: list[str], hold: float, ramp_per_s: float,
                         talkers: int, worker_pid: int) -> dict:
    visitors = [_Visitor(url, url, token) for token in tokens]
    listeners = []
    failures = 0
    peak_during = 0
    started = time.perf_counter()
    for n, visitor in enumerate(visitors):
        due = started + n / ramp_per_s
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        try:
            await visitor.open()
            listeners.append(asyncio.create_task(visitor.listen()))
        except Exception:
            failures += 1
    opened_in = time.perf_counter() - started
    # Everyone is in; a few talk while all are held.
    round_trips = []
    live = [v for v in visitors if v.connected]
    for visitor in live[:: max(1, len(live) // max(1, talkers))][:talkers]:
        began = time.perf_counter()
        try:
            answer = await visitor.call("message", {"content": "what are your opening hours?",
                                                    "client_id": uuid.uuid4().hex})
            if isinstance(answer, list) and answer and "error" not in answer[0]:
                round_trips.append((time.perf_counter() - began) * 1000)
        except Exception:
            pass
    end = time.perf_counter() + hold
    while time.perf_counter() < end:
        peak_during = max(peak_during, _memory_kb(worker_pid)["VmRSS"])
        await asyncio.sleep(0.5)
    still_open = sum(1 for v in visitors if v.connected and not v.closed)
    for visitor in visitors:
        if visitor.ws is not None:
            await visitor.ws.close()
    for task in listeners:
        task.cancel()
    return {"opened": len(live), "failed": failures, "open_s": round(opened_in, 1),
            "still_open_after_hold": still_open, "rss_peak_kb": peak_during,
            "message_ack_p50_ms": round(statistics.median(round_trips), 1) if round_trips else None,
            "message_acks": len(round_trips)}


def webchat_visitors(cluster: Cluster, count: int = 2000, hold: float = 10.0,
                     ramp_per_s: float = 250.0, talkers: int = 20) -> dict:
    """Visitors held by one gunicorn worker, and that worker's memory."""
    cluster.stop_apps()
    cluster.reset_store()
    (app,) = cluster.start_apps(1, nginx=False, LOG_LEVEL="ERROR",
                                CHAT_SESSION_RATE_LIMIT="1000000/minute",
                                CHAT_RATE_LIMIT="1000000/minute")
    try:
        (worker,) = child_pids(app.proc.pid)
        before = _memory_kb(worker)

        def new_token(_: int) -> str:
            answer = requests.post(app.url + "/chat/session", json={}, timeout=30,
                                   headers={"Origin": app.url})
            answer.raise_for_status()
            return answer.json()["token"]

        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(new_token, range(count)))
        result = asyncio.run(_hold_visitors(app.url, tokens, hold, ramp_per_s, talkers, worker))
        after = _memory_kb(worker)
    finally:
        cluster.stop_apps()
    return {"visitors": count, **result, "rss_before_kb": before["VmRSS"],
            "rss_held_kb": max(result["rss_peak_kb"], after["VmRSS"]),
            "peak_kb": after["VmHWM"]}

