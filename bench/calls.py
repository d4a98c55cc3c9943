"""Store calls per answered Messenger message, from the webhook to Facebook's echo.

    .venv/bin/python bench/calls.py [--messages 50] [--store sqlite|supabase]
                                    [--echo-delay 0.25]

The app runs in this process (a threaded werkzeug server, so the Graph API stand-in can
post its echoes back to ``/webhook``) over a store wrapped in a counter. ``messages``
people each send one message; then the jobs run (the bot answers, the outbox sends through
the stand-in, which echoes each send); the figure is every store call made from the first
webhook to the last echo, divided by the messages, with the calls by method. Each store
call is one request to PostgREST on Supabase, so this is what an answered message costs
the store, whatever the machine. ``echo_delay``: seconds between a send and its echo.
Facebook's echoes come through its webhook queue, as a rule after the Send API has
answered; then the process that sent knows the message is sent and the echo costs no store
call. With 0 every echo races its send's answer, and one that wins costs a read and a write
(it settles the send itself). Last, one delivery carrying 100 people's messages (as
Facebook batches them under load): the store calls that tracked them, and its time to 200.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from channels.messenger.signature import sign  # noqa: E402
from tests.support.counting_store import CountingStore  # noqa: E402
from tests.support.graph_stub import start_graph_stub  # noqa: E402
from tests.support.webhook_load import webhook_body  # noqa: E402

SECRET = "bench-app-secret"
DELIVERY_PEOPLE = 100  # people in the one batched delivery measured last
ECHO_DELAY = 0.25  # seconds from a send to its echo (see the module docstring)


def store_calls(store: str = "sqlite", messages: int = 50, stack=None,
                echo_delay: float = ECHO_DELAY) -> dict:
    """``{"per_message", "by_method", "answered", "echoes"}`` (see the module docstring)."""
    import logging

    from werkzeug.serving import make_server

    from admin_app import create_app
    from services.runtime import build_services
    from services.settings import Settings
    from services.store import create_store

    stub, graph, _ = start_graph_stub()
    work = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    extra = {}
    if store == "supabase":
        stack.reset()
        extra = {"supabase_url": stack.url, "supabase_service_role_key": stack.service_role_key}
    settings = Settings(
        _env_file=None, database_path=work / "calls.db", secret_key="bench",
        secret_key_file=work / "secret_key", facebook_app_secret=SECRET,
        facebook_page_access_token=stub.token, facebook_verify_token="bench",
        graph_api_base=stub.base_url, graph_api_version=stub.version,
        run_worker_in_app=False, log_level="WARNING", **extra)
    counting = CountingStore(create_store(settings))
    services = build_services(settings, store=counting)
    app = create_app(settings, services)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The stand-in has no profile for these people: each lookup's 400 is expected here.
    logging.getLogger("channels.messenger.client").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        stub.echo_to(url + "/webhook", SECRET, delay=echo_delay)
        counting.calls.clear()
        run = f"calls{time.time_ns()}"
        with requests.Session() as session:
            for i in range(messages):
                body = webhook_body(f"{run}-{i}", f"m.{run}.{i}", "what are your opening hours?")
                answer = session.post(url + "/webhook", data=body, timeout=30, headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(body, SECRET)})
                answer.raise_for_status()
        services.jobs.run_until_idle()
        deadline = time.monotonic() + 60
        while stub.echoes_posted < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the last echo's own store calls
        calls = dict(counting.calls)
        answered = len(stub.sent_messages())
        echoes = stub.echoes_posted
        delivery = _one_delivery(url, counting, run, DELIVERY_PEOPLE)
    finally:
        stub.stop_echoes()
        server.shutdown()
        graph.shutdown()
        graph.server_close()
        services.close()
    return {
        "store": store, "messages": messages, "echo_delay": echo_delay,
        "answered": answered, "echoes": echoes,
        "per_message": round(sum(calls.values()) / messages, 2),
        "by_method": {k: round(v / messages, 2)
                      for k, v in sorted(calls.items(), key=lambda kv: -kv[1])},
        "delivery": delivery,
    }


def _one_delivery(url: str, counting: CountingStore, run: str, people: int) -> dict:
    """One webhook POST carrying one message from each of ``people`` people (as Facebook
    batches them under load): the store calls that tracked them, and the time to 200."""
    now_ms = int(time.time() * 1000)
    body = json.dumps({"object": "page", "entry": [{
        "id": "PAGE", "time": now_ms,
        "messaging": [{"sender": {"id": f"{run}-d{p}"}, "recipient": {"id": "PAGE"},
                       "timestamp": now_ms,
                       "message": {"mid": f"m.{run}.d{p}", "text": "hello"}}
                      for p in range(people)]}]}).encode()
    counting.calls.clear()
    started = time.perf_counter()
    answer = requests.post(url + "/webhook", data=body, timeout=60, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    tracking = {k: v for k, v in counting.calls.items() if k.startswith("track_inbound")}
    return {"people": people, "store_calls": sum(tracking.values()), "by_method": tracking,
            "ms_to_200": round(elapsed * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--store", choices=["sqlite", "supabase"], default="sqlite")
    parser.add_argument("--echo-delay", type=float, default=ECHO_DELAY,
                        help="seconds from a send to its echo (0: echoes race the answers)")
    args = parser.parse_args()
    stack = None
    if args.store == "supabase":
        from scripts import local_supabase

        stack = local_supabase.start(state_dir=REPO / ".local" / "supabase-bench", repo=REPO)
    try:
        result = store_calls(args.store, args.messages, stack, args.echo_delay)
    finally:
        if stack is not None:
            from scripts import local_supabase

            local_supabase.stop(state_dir=stack.state_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
