"""Web chat benchmark: N Socket.IO visitors on one gunicorn gevent worker, each sending messages.

    .venv/bin/python bench/webchat.py [--visitors 500] [--messages 3] [--spread 0] [--db-dir DIR]

One gunicorn process (one gevent worker, ``tests.support.live_server.LiveServer``) on a SQLite
file in a temporary directory, ``RESPONDER=faq`` with the background worker in the app, as
``gunicorn.conf.py`` runs it. Each visitor does ``POST /chat/session``, connects to ``/chat``
with its token over the WebSocket transport, waits until every visitor is connected (so all
are held at once), then sends ``--messages`` messages one after the other, each with a client
id, awaiting each acknowledgement: all visitors at the same moment by default (the worst
case), or each from a random moment within ``--spread`` seconds. The bot's answers arrive on
the sockets meanwhile; every socket stays open until each message has its answer (at most
``--answer-wait`` seconds). A socket the server closes meanwhile counts as dropped: when the
worker's backlog outgrows Engine.IO's ping timeout (20 s), it closes sockets whose pong it
has not read in time.

Prints messages tracked per second (acknowledged with a stored message, from the first send
to the last acknowledgement; checked against the database afterwards), p50/p99 time from send
to acknowledgement, connections held at peak (counted by the visitors and, as established TCP
connections on the server's port, by the kernel), the worker's peak memory (VmHWM, and VmRSS
sampled), and CPU use of the worker and of this load generator over the send phase: a load
generator near one core is the bottleneck, a worker near one core is (gevent runs on one).

The visitors are python-socketio ``AsyncClient`` objects on one asyncio loop sharing one
aiohttp session (a thread per client would not hold thousands). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import socketio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.cluster import child_pids  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402

NAMESPACE = "/chat"
QUESTION = "what are your opening hours?"
MAX_VISITORS = 2000
CONNECTING_AT_ONCE = 50  # visitors opening their session and socket at the same time
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_open_files(needed: int) -> int:
    """Raise this process's soft open-file limit to ``needed`` (at most the hard limit); the
    gunicorn processes started afterwards inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(0, min(len(values) - 1, int(round(q * len(values))) - 1))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- what the server process is doing, from /proc ------------------------------------------------

def proc_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def reset_peak_memory(pid: int) -> bool:
    """Start VmHWM afresh from the current RSS (``clear_refs`` 5, Linux 4.0+), so the peak is
    the run's, not the start-up's; False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_runqueue_wait_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (``schedstat``): on a
    shared machine, how much other processes held the worker back."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def proc_open_files_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise RuntimeError("no open-file limit in /proc/limits")


def established_on_port(port: int) -> int:
    """Established TCP connections whose local port is ``port`` (the server's side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except FileNotFoundError:
            pass
    return count


class MemorySampler:
    """Samples a process's VmRSS on a thread, keeping the highest value."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every = pid, every
        self.peak_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss_kb = max(self.peak_rss_kb, proc_memory_kb(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return
            self._stop.wait(self.every)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- the visitors -------------------------------------------------------------------------------

class ClientLogCount(logging.Handler):
    """Counts what the Engine.IO clients log (why a socket went) instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()[:80]
        self.seen[text] = self.seen.get(text, 0) + 1

    def __enter__(self) -> "ClientLogCount":
        log = logging.getLogger("engineio.client")
        self._saved = log.handlers, log.level, log.propagate
        log.handlers, log.propagate = [self], False
        log.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc) -> None:
        log = logging.getLogger("engineio.client")
        log.handlers, level, log.propagate = self._saved
        log.setLevel(level)


class Crowd:
    """What all visitors saw, and the connection count as they see it."""

    def __init__(self, visitors: int) -> None:
        self.visitors = visitors
        self.connected = 0
        self.peak_connected = 0
        self.connect_s: list[float] = []
        self.ack_s: list[float] = []
        self.errors: dict[str, int] = {}
        self.bot_replies = 0
        self.last_reply: float | None = None
        self.dropped = 0  # sockets the server closed before the visitor was done
        self.all_in = asyncio.Event()
        self.arrived = 0
        self.done_sending = 0  # connected visitors through with their messages
        self.first_send: float | None = None
        self.last_ack: float | None = None

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def arrive(self) -> None:
        """One visitor is connected or has given up: once all have, everyone may talk."""
        self.arrived += 1
        if self.arrived == self.visitors:
            self.all_in.set()


async def visitor(n: int, url: str, messages: int, crowd: Crowd, http: aiohttp.ClientSession,
                  gate: asyncio.Semaphore, finish: asyncio.Event, delay: float) -> None:
    """One visitor: a session, a socket, then (``delay`` seconds after everyone is connected)
    ``messages`` messages, each sent when the previous one is acknowledged."""
    sio = socketio.AsyncClient(reconnection=False, http_session=http, handle_sigint=False,
                               request_timeout=60)
    done = False
    gone = asyncio.Event()

    @sio.on("message", namespace=NAMESPACE)
    async def _message(data):
        if isinstance(data, dict) and data.get("sender_type") == "bot":
            crowd.bot_replies += 1
            crowd.last_reply = time.perf_counter()

    @sio.on("disconnect", namespace=NAMESPACE)
    async def _gone(*_):
        gone.set()
        crowd.connected -= 1
        if not done:
            crowd.dropped += 1

    try:
        async with gate:
            began = time.perf_counter()
            try:
                async with http.post(url + "/chat/session", json={}) as answer:
                    if answer.status != 200:
                        crowd.error(f"session HTTP {answer.status}")
                        return
                    token = (await answer.json())["token"]
                await sio.connect(url, auth={"token": token}, namespaces=[NAMESPACE],
                                  transports=["websocket"], wait_timeout=60)
            except Exception as exc:  # the figure is how many got in; say why the rest did not
                crowd.error(f"connect: {type(exc).__name__}: {exc}"[:120])
                return
            crowd.connect_s.append(time.perf_counter() - began)
            crowd.connected += 1
            crowd.peak_connected = max(crowd.peak_connected, crowd.connected)
    finally:
        crowd.arrive()
    await crowd.all_in.wait()
    await asyncio.sleep(delay)
    for m in range(messages):
        sent = time.perf_counter()
        if crowd.first_send is None:
            crowd.first_send = sent
        call = asyncio.ensure_future(sio.call(
            "message", {"content": QUESTION, "client_id": f"b{n}-{m}"},
            namespace=NAMESPACE, timeout=120))
        lost = asyncio.ensure_future(gone.wait())
        await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if not call.done():  # a dropped socket's acknowledgement never comes
            call.cancel()
            crowd.error("send: socket dropped before the ack")
            break
        try:
            ack = call.result()
        except Exception as exc:
            crowd.error(f"send: {type(exc).__name__}")
            continue
        if isinstance(ack, dict) and isinstance(ack.get("id"), int) and "error" not in ack:
            now = time.perf_counter()
            crowd.ack_s.append(now - sent)
            crowd.last_ack = now
        else:
            crowd.error(f"ack: {ack.get('error') if isinstance(ack, dict) else ack!r}")
    crowd.done_sending += 1
    await finish.wait()  # stay connected until the bot has answered
    done = True
    if sio.connected:
        await sio.disconnect()


async def run_crowd(url: str, port: int, worker: int, visitors: int, messages: int,
                    answer_wait: float, client_log: ClientLogCount, spread: float) -> dict:
    """All visitors, start to end; figures of the send phase and of the peak. Each visitor
    starts talking at a random moment within ``spread`` seconds (0: all at once)."""
    crowd = Crowd(visitors)
    rng = random.Random(4)  # the same moments every run
    delays = [rng.uniform(0, spread) if spread > 0 else 0.0 for _ in range(visitors)]
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    finish = asyncio.Event()
    # One connection pool for every visitor, unlimited: each socket holds its connection.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        started = time.perf_counter()
        tasks = [asyncio.create_task(
                     visitor(n, url, messages, crowd, http, gate, finish, delays[n]))
                 for n in range(visitors)]
        await crowd.all_in.wait()
        connected_in = time.perf_counter() - started
        server_established = established_on_port(port)
        rss_connected = proc_memory_kb(worker)["VmRSS"]
        cpu_client_0 = time.process_time()
        cpu_worker_0 = proc_cpu_seconds(worker)
        waited_0 = proc_runqueue_wait_seconds(worker)
        sent_from = time.perf_counter()
        while crowd.done_sending < len(crowd.connect_s):
            await asyncio.sleep(0.05)
        send_wall = time.perf_counter() - sent_from
        cpu_client = time.process_time() - cpu_client_0
        cpu_worker = proc_cpu_seconds(worker) - cpu_worker_0
        waited = proc_runqueue_wait_seconds(worker) - waited_0
        # Everyone still connected while the bot's answers come in.
        answers_by = time.perf_counter() + answer_wait
        while crowd.bot_replies < len(crowd.ack_s) and time.perf_counter() < answers_by:
            await asyncio.sleep(0.05)
        held_after = crowd.connected
        server_established_after = established_on_port(port)
        said_before_the_end = dict(client_log.seen)  # not the closes of the end
        finish.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    tracked_window = (crowd.last_ack - crowd.first_send) if crowd.ack_s else None
    return {
        "connected": len(crowd.connect_s),
        "connect_phase_s": round(connected_in, 2),
        "connect_p50_ms": _ms(_pct(crowd.connect_s, 0.50)),
        "connect_p99_ms": _ms(_pct(crowd.connect_s, 0.99)),
        "peak_connections_client": crowd.peak_connected,
        "peak_connections_server": server_established,
        "worker_rss_connected_kb": rss_connected,
        "held_after_answers": held_after,
        "server_established_after_answers": server_established_after,
        "dropped": crowd.dropped,
        "client_log": said_before_the_end,
        "messages_acked": len(crowd.ack_s),
        "messages_per_s": round(len(crowd.ack_s) / tracked_window, 1) if tracked_window else None,
        "send_phase_s": round(send_wall, 2),
        "ack_p50_ms": _ms(_pct(crowd.ack_s, 0.50)),
        "ack_p99_ms": _ms(_pct(crowd.ack_s, 0.99)),
        "ack_max_ms": _ms(max(crowd.ack_s) if crowd.ack_s else None),
        "bot_replies_received": crowd.bot_replies,
        "answered_per_s": (round(crowd.bot_replies / (crowd.last_reply - crowd.first_send), 1)
                           if crowd.last_reply and crowd.first_send else None),
        "last_answer_after_s": (round(crowd.last_reply - crowd.first_send, 2)
                                if crowd.last_reply and crowd.first_send else None),
        "errors": crowd.errors,
        "cpu_worker_share": round(cpu_worker / send_wall, 2) if send_wall else None,
        "cpu_load_generator_share": round(cpu_client / send_wall, 2) if send_wall else None,
        "worker_waiting_for_cpu_share": round(waited / send_wall, 2) if send_wall else None,
    }


def tracked_in_database(path: Path) -> dict[str, int]:
    """What the store holds afterwards: visitor messages, conversations, bot messages."""
    with sqlite3.connect(path) as db:
        return {
            "user_messages": db.execute(
                "SELECT count(*) FROM messages WHERE sender_type = 'user'").fetchone()[0],
            "bot_messages": db.execute(
                "SELECT count(*) FROM messages WHERE sender_type = 'bot'").fetchone()[0],
            "conversations": db.execute("SELECT count(*) FROM conversations").fetchone()[0],
        }


def measure(visitors: int = 500, messages: int = 3, answer_wait: float = 30.0,
            db_dir: str | None = None, spread: float = 0.0) -> dict:
    """Start one gunicorn gevent worker on SQLite, run the crowd against it, stop it.

    ``db_dir``: where the SQLite file goes (default: a new temporary directory); a tmpfs
    such as /dev/shm takes the disk's fsync (``synchronous=FULL``, every commit) out.
    """
    open_files = raise_open_files(2 * visitors + 1024)  # ours, then the server's (inherited)
    work = Path(tempfile.mkdtemp(prefix="bench-webchat-"))
    database = Path(tempfile.mkdtemp(prefix="bench-webchat-db-", dir=db_dir)) / "bench.db"
    env = {
        "HOME": str(work),
        "DATABASE_PATH": str(database),
        "SECRET_KEY": "bench",
        "RESPONDER": "faq",
        "RUN_WORKER_IN_APP": "true",
        "LOG_LEVEL": "WARNING",
        "WORKER_CONNECTIONS": str(visitors + 100 + CONNECTING_AT_ONCE),
        # One address opens every session, and a visitor's messages are few: no rate limits.
        "CHAT_SESSION_RATE_LIMIT": "1000000/minute",
        "CHAT_RATE_LIMIT": "1000000/minute",
    }
    server = LiveServer(env, log_path=work / "server.log").start()
    try:
        (worker,) = child_pids(server.proc.pid)
        started_kb = proc_memory_kb(worker)["VmHWM"]
        peak_reset = reset_peak_memory(worker)
        before = proc_memory_kb(worker)
        server_open_files = proc_open_files_limit(worker)
        with MemorySampler(worker) as sampler, ClientLogCount() as client_log:
            crowd = asyncio.run(run_crowd(server.url, server.port, worker, visitors, messages,
                                          answer_wait, client_log, spread))
        after = proc_memory_kb(worker)
        # The bot answers in the background: give it a moment to finish before counting.
        time.sleep(1.0)
        stored = tracked_in_database(database)
    finally:
        server.stop()
        shutil.rmtree(database.parent, ignore_errors=True)
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "visitors": visitors,
        "messages_per_visitor": messages,
        "spread_s": spread,
        "store": "sqlite",
        "database": str(database),
        "worker_connections": int(env["WORKER_CONNECTIONS"]),
        "open_files_limit": {"load_generator": open_files, "server_worker": server_open_files},
        **crowd,
        "stored": stored,
        "worker_rss_before_kb": before["VmRSS"],
        "worker_rss_peak_sampled_kb": max(sampler.peak_rss_kb, after["VmRSS"]),
        "worker_peak_kb": after["VmHWM"],
        "worker_peak_since_run_start": peak_reset,
        "worker_peak_at_start_up_kb": started_kb,
        "load_average": os.getloadavg(),
        "server_log": str(work / "server.log"),
    }


def print_table(r: dict) -> None:
    mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
    rows = [
        ("visitors connected / asked", f"{r['connected']} / {r['visitors']}"),
        ("connections held at peak (visitors)", r["peak_connections_client"]),
        ("connections held at peak (server TCP)", r["peak_connections_server"]),
        ("still held after the answers", r["held_after_answers"]),
        ("connect phase s (p50 / p99 ms each)",
         f"{r['connect_phase_s']} ({r['connect_p50_ms']} / {r['connect_p99_ms']})"),
        ("messages acknowledged / sent",
         f"{r['messages_acked']} / {r['connected'] * r['messages_per_visitor']}"),
        ("visitor messages in the database", r["stored"]["user_messages"]),
        ("messages tracked per second", r["messages_per_s"]),
        ("send -> ack p50 ms", r["ack_p50_ms"]),
        ("send -> ack p99 ms", r["ack_p99_ms"]),
        ("send -> ack max ms", r["ack_max_ms"]),
        ("bot answers received on the sockets", r["bot_replies_received"]),
        ("bot answers per second (first send -> last answer)", r["answered_per_s"]),
        ("worker RSS before MB", mb(r["worker_rss_before_kb"])),
        ("worker RSS all connected, idle MB", mb(r["worker_rss_connected_kb"])),
        ("worker RSS peak MB (sampled VmRSS)", mb(r["worker_rss_peak_sampled_kb"])),
        ("worker peak MB (VmHWM" + (", this run)" if r["worker_peak_since_run_start"]
                                    else ", since start-up)"), mb(r["worker_peak_kb"])),
        ("worker CPU, send phase (cores)", r["cpu_worker_share"]),
        ("worker runnable, waiting for a CPU (share)", r["worker_waiting_for_cpu_share"]),
        ("load generator CPU, send phase (cores)", r["cpu_load_generator_share"]),
        ("load average (1, 5, 15 min) at the end", " ".join(f"{x:.1f}" for x in
                                                          r["load_average"])),
        ("sockets dropped before the end", r["dropped"]),
        ("errors", r["errors"] or "none"),
        ("Engine.IO client said", r["client_log"] or "nothing"),
    ]
    width = max(len(name) for name, _ in rows)
    start = (f"starting within {r['spread_s']:g} s" if r["spread_s"] > 0
             else "all starting at once")
    print(f"web chat: {r['visitors']} visitors x {r['messages_per_visitor']} messages "
          f"({start}), one gunicorn gevent worker, SQLite at {r['database']}")
    for name, value in rows:
        print(f"  {name:<{width}} | {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=500,
                        help=f"concurrent visitors, 1 to {MAX_VISITORS} (default 500)")
    parser.add_argument("--messages", type=int, default=3, help="messages per visitor")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="each visitor starts talking at a random moment within this many"
                             " seconds after all are connected (default 0: all at once)")
    parser.add_argument("--db-dir", default=None,
                        help="directory for the SQLite file (default: a temporary one;"
                             " /dev/shm leaves the disk's fsync out)")
    parser.add_argument("--answer-wait", type=float, default=30.0,
                        help="at most this many seconds after the last ack, every socket stays"
                             " open for the bot's answers (default 30)")
    args = parser.parse_args()
    if not 1 <= args.visitors <= MAX_VISITORS:
        parser.error(f"--visitors must be between 1 and {MAX_VISITORS}")
    if args.messages < 1:
        parser.error("--messages must be at least 1")

    result = measure(args.visitors, args.messages, args.answer_wait, args.db_dir, args.spread)
    print_table(result)
    suffix = "-" + Path(args.db_dir).name if args.db_dir else ""
    suffix += f"-spread{args.spread:g}" if args.spread > 0 else ""
    out = REPO / "bench" / "results" / f"webchat-{args.visitors}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
