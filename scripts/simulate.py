#!/usr/bin/env python3
"""Drive a running Switchboard with realistic traffic, so the admin panel comes alive.

People arrive one after another, on Messenger (signed webhooks, ``POST /webhook``) and on
the web chat (``POST /chat/session`` then ``/chat/<id>/messages``). They greet, ask the
shop's usual questions, get annoyed, ask for a human — at a human's pace.

    .venv/bin/python scripts/simulate.py                      # web chat, plus Messenger if
                                                              # FACEBOOK_APP_SECRET is known
    .venv/bin/python scripts/simulate.py --graph-stub 5099    # also answer the server's Send
                                                              # API calls (GRAPH_API_BASE)

With ``--graph-stub PORT`` the simulator serves a tiny stand-in for the Graph API on that
port: start the server with ``GRAPH_API_BASE=http://127.0.0.1:PORT`` and any
``FACEBOOK_PAGE_ACCESS_TOKEN``, and the replies agents and the bot send to Messenger users
are accepted, then reported delivered and read by webhooks, as Facebook does.

It stops after ``--duration`` seconds (0: until Ctrl-C) or ``--users`` people.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import requests

PAGE_ID = "100000000000001"

FIRST_NAMES = ["Ada", "Bruno", "Chloé", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ines",
               "Jonas", "Kemal", "Lea", "Mateo", "Noor", "Olga", "Pablo", "Quinn", "Rosa",
               "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoë"]
LAST_NAMES = ["Lovelace", "Meyer", "Dubois", "Ivanov", "Yilmaz", "Haddad", "Berg", "Sato",
              "Costa", "Weber", "Demir", "Rossi", "García", "Khan", "Novak", "Silva"]

# What people write, in order; each conversation follows one of these at random.
SCRIPTS: list[tuple[str, list[str]]] = [
    ("hours", ["hi", "what are your opening hours?", "thanks!"]),
    ("shipping", ["hello", "how long does shipping take to Germany?",
                  "and is it free over 50 euros?", "great, thanks"]),
    ("returns", ["I want to send something back", "how long do refunds take?"]),
    ("order", ["where is my order? it's #48213", "it was supposed to arrive yesterday",
               "can I talk to a human please"]),
    ("frustrated", ["my package arrived broken", "this is not helpful",
                    "useless bot, I want a real person"]),
    ("payment", ["can I pay with PayPal?", "ok thanks"]),
    ("human-now", ["I need to speak to a human agent about an invoice"]),
    ("chit-chat", ["hey there", "do you sell gift cards?", "what colours does the rain jacket come in?"]),
    ("html", ["is <b>this</b> shown as text? <img src=x onerror=alert(1)>", "ok, just checking"]),
]


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header Facebook puts on a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Server:
    """The Switchboard under test."""

    url: str
    app_secret: str = ""
    http: requests.Session = field(default_factory=requests.Session)

    def webhook(self, messaging: list[dict]) -> requests.Response:
        """POST one signed Page webhook carrying ``messaging`` events."""
        body = json.dumps({
            "object": "page",
            "entry": [{"id": PAGE_ID, "time": now_ms(), "messaging": messaging}],
        }).encode()
        return self.http.post(
            self.url + "/webhook", data=body, timeout=10,
            headers={"Content-Type": "application/json",
                     "X-Hub-Signature-256": sign(body, self.app_secret)},
        )


class MessengerUser:
    """A person writing to the Page on Messenger."""

    def __init__(self, server: Server, psid: str | None = None) -> None:
        self.server = server
        self.psid = psid or str(random.randint(10**15, 10**16 - 1))

    def say(self, text: str) -> requests.Response:
        event = {
            "sender": {"id": self.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
            "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
        }
        response = self.server.webhook([event])
        response.raise_for_status()
        return response

    def receipts(self, mids: list[str], read: bool) -> None:
        """Tell the server the Page's messages reached this person (and were read)."""
        base = {"sender": {"id": self.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms()}
        events = [{**base, "delivery": {"mids": mids, "watermark": now_ms()}}]
        if read:
            events.append({**base, "read": {"watermark": now_ms()}})
        self.server.webhook(events)


class WebchatVisitor:
    """A visitor of the shop's web site, using the chat widget's HTTP API."""

    def __init__(self, server: Server, name: str | None = None) -> None:
        self.server = server
        self.http = requests.Session()
        body = {"display_name": name} if name else {}
        answer = self.http.post(server.url + "/chat/session", json=body, timeout=10)
        answer.raise_for_status()
        data = answer.json()
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        self.conversation_id: int | None = data.get("conversation_id")

    def say(self, text: str) -> dict:
        path = (f"/chat/{self.conversation_id}/messages" if self.conversation_id
                else "/chat/messages")
        answer = self.http.post(self.server.url + path, timeout=10,
                                json={"content": text, "client_id": uuid.uuid4().hex})
        answer.raise_for_status()
        data = answer.json()
        self.conversation_id = data["conversation"]["id"]
        return data

    def send_file(self, name: str, data: bytes, content_type: str, caption: str = "") -> dict:
        """A message carrying a file, as the widget's paperclip sends it."""
        path = (f"/chat/{self.conversation_id}/files" if self.conversation_id
                else "/chat/files")
        answer = self.http.post(self.server.url + path, timeout=30,
                                data={"client_id": uuid.uuid4().hex, "content": caption},
                                files={"file": (name, data, content_type)})
        answer.raise_for_status()
        data = answer.json()
        self.conversation_id = data["conversation"]["id"]
        return data

    def ask_for_human(self, reason: str = "asked from the widget") -> dict:
        path = (f"/chat/{self.conversation_id}/escalate" if self.conversation_id
                else "/chat/escalate")
        answer = self.http.post(self.server.url + path, timeout=10,
                                json={"reason": reason, "client_id": uuid.uuid4().hex})
        answer.raise_for_status()
        return answer.json()


# -- the Graph API stand-in -------------------------------------------------------------------
class GraphStub:
    """Accepts the server's Send API calls and reports them delivered, then read."""

    def __init__(self, port: int, server: Server, receipts: bool = True) -> None:
        self.server = server
        self.receipts = receipts
        self.sent = 0
        self._ids = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                psid = str((body.get("recipient") or {}).get("id", ""))
                if not urlsplit(self.path).path.endswith("/messages") or not psid:
                    return self._answer(400, {"error": {"message": "unsupported", "code": 100}})
                if "message" not in body:  # a sender action (typing_on, mark_seen)
                    return self._answer(200, {"recipient_id": psid})
                mid = f"m_stub_{next(stub._ids)}_{uuid.uuid4().hex[:8]}"
                stub.sent += 1
                self._answer(200, {"recipient_id": psid, "message_id": mid})
                if stub.receipts:
                    threading.Thread(target=stub._receipts, args=(psid, mid), daemon=True).start()

            def do_GET(self):
                psid = urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1]
                rng = random.Random(psid)
                self._answer(200, {"id": psid, "first_name": rng.choice(FIRST_NAMES),
                                   "last_name": rng.choice(LAST_NAMES)})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _receipts(self, psid: str, mid: str) -> None:
        time.sleep(random.uniform(0.5, 1.5))
        try:
            MessengerUser(self.server, psid).receipts([mid], read=False)
            time.sleep(random.uniform(1.0, 3.0))
            MessengerUser(self.server, psid).receipts([mid], read=True)
        except requests.RequestException:
            pass

    def start(self) -> "GraphStub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- traffic --------------------------------------------------------------------------------
class Simulation:
    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        self.server = server
        self.args = args
        self.stop = threading.Event()
        self.counts = {"messenger": 0, "webchat": 0, "messages": 0, "errors": 0}
        self.lock = threading.Lock()
        self.rng = random.Random(args.seed)

    def pause(self, low: float, high: float) -> bool:
        """Sleep like a person typing; False once the simulation is stopping."""
        return not self.stop.wait(self.rng.uniform(low, high) / self.args.speed)

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def person(self, platform: str) -> None:
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        kind, lines = self.rng.choice(SCRIPTS)
        try:
            if platform == "messenger":
                who: MessengerUser | WebchatVisitor = MessengerUser(self.server)
            else:
                who = WebchatVisitor(self.server, name)
            self.count(platform)
            log(f"{platform:9} {name:22} ({kind})")
            for i, line in enumerate(lines):
                if i and not self.pause(2, 6):
                    return
                who.say(line)
                self.count("messages")
            if platform == "webchat" and kind == "order" and self.pause(2, 4):
                who.ask_for_human("wants to talk about a late order")  # the widget's button
        except requests.RequestException as exc:
            self.count("errors")
            log(f"{platform}: {exc}")

    def run(self) -> None:
        platforms = [p for p in ("messenger", "webchat") if p in self.args.platforms]
        threads: list[threading.Thread] = []
        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        started = 0
        while not self.stop.is_set():
            if self.args.users and started >= self.args.users:
                break
            if deadline and time.monotonic() >= deadline:
                break
            thread = threading.Thread(
                target=self.person, args=(self.rng.choice(platforms),), daemon=True
            )
            thread.start()
            threads.append(thread)
            started += 1
            self.stop.wait(self.rng.expovariate(self.args.rate) / self.args.speed)
        for thread in threads:
            thread.join(timeout=30)


def log(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


def _app_secret(explicit: str | None) -> str:
    if explicit is not None:
        return explicit
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from services.settings import load_settings

        return load_settings().facebook_app_secret.get_secret_value()
    except BaseException:  # settings unreadable here: Messenger is simply left out
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the running server")
    parser.add_argument("--duration", type=float, default=120,
                        help="seconds to run (0: until Ctrl-C)")
    parser.add_argument("--users", type=int, default=0, help="stop after this many people")
    parser.add_argument("--rate", type=float, default=0.3, help="new people per second")
    parser.add_argument("--speed", type=float, default=1.0, help="2 = twice as fast")
    parser.add_argument("--platforms", default="messenger,webchat",
                        help="comma-separated: messenger, webchat")
    parser.add_argument("--app-secret", default=None,
                        help="FACEBOOK_APP_SECRET of the server (default: from the "
                             "environment or .env); Messenger traffic needs it")
    parser.add_argument("--graph-stub", type=int, metavar="PORT",
                        help="serve a Graph API stand-in on this port (the server's "
                             "GRAPH_API_BASE) that reports replies delivered and read")
    parser.add_argument("--seed", type=int, default=None, help="repeatable randomness")
    args = parser.parse_args(argv)
    args.platforms = {p.strip() for p in args.platforms.split(",") if p.strip()}

    server = Server(args.url.rstrip("/"), _app_secret(args.app_secret))
    try:
        health = requests.get(server.url + "/healthz", timeout=5).json()
    except (requests.RequestException, ValueError) as exc:
        print(f"no Switchboard answers at {server.url}: {exc}", file=sys.stderr)
        return 2
    if "messenger" in args.platforms and not server.app_secret:
        print("FACEBOOK_APP_SECRET unknown: simulating web-chat visitors only "
              "(pass --app-secret to add Messenger users)", file=sys.stderr)
        args.platforms.discard("messenger")
    if not args.platforms:
        print("nothing to simulate", file=sys.stderr)
        return 2
    stub = GraphStub(args.graph_stub, server).start() if args.graph_stub else None
    log(f"simulating {', '.join(sorted(args.platforms))} traffic against {server.url} "
        f"(store: {health.get('store')})" + (f"; Graph API stand-in on :{stub.port}" if stub else ""))
    simulation = Simulation(server, args)
    try:
        simulation.run()
    except KeyboardInterrupt:
        simulation.stop.set()
    finally:
        if stub:
            time.sleep(0 if simulation.stop.is_set() else 4)  # let the last receipts go out
            stub.stop()
    c = simulation.counts
    log(f"done: {c['messenger']} Messenger users, {c['webchat']} web-chat visitors, "
        f"{c['messages']} messages, {c['errors']} errors"
        + (f", {stub.sent} replies through the Graph API stand-in" if stub else ""))
    return 0 if not c["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
