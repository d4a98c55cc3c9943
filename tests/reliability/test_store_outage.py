"""Store outage (issue 8): the store goes away in the middle of a stream of messages.

A live gunicorn app over the local Supabase stack gets 1,000 messages -- signed Messenger
webhooks, web-chat messages over the HTTP fallback and over Socket.IO, mixed -- in ten
rounds (each person sends one message per round, so each person's order is known). While
they flow, PostgREST is stopped and later started again (a second case stops PostgreSQL
itself). Every message must be acknowledged (2xx / a queued ack); the bot keeps answering
through the Graph API stand-in and the visitors' sockets; an admin socket sees the
``store.status`` banner go on and off; afterwards every message is in Supabase exactly
once, in order per conversation, with exactly one bot reply each.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
import socketio

from channels.messenger.signature import sign
from tests.support.admin import PASSWORD, login_requests
from tests.support.chat_client import ChatVisitor
from tests.support.graph_stub import start_graph_stub
from tests.support.live_server import LiveServer
from tests.support.webhook_load import webhook_body

pytestmark = [pytest.mark.supabase, pytest.mark.timeout(300)]

APP_SECRET = "outage-test-app-secret"
ADMIN = "outage-admin@example.com"
QUESTION = "what are your opening hours?"
ROUNDS = 10


@pytest.fixture
def graph():
    stub, server, thread = start_graph_stub()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def app_server(supabase_stack, graph, tmp_path):
    supabase_stack.reset()
    server = LiveServer({
        "SUPABASE_URL": supabase_stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": supabase_stack.service_role_key,
        "SUPABASE_TIMEOUT_SECONDS": "3",
        "DATABASE_PATH": str(tmp_path / "unused.db"),
        "SPOOL_PATH": str(tmp_path / "spool.db"),
        "SECRET_KEY": "outage-test-secret-key",
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": graph.token,
        "GRAPH_API_BASE": graph.base_url,
        "GRAPH_API_VERSION": graph.version,
        "RESPONDER": "faq",
        "CHAT_RATE_LIMIT": "1000/minute",
        "CHAT_SESSION_RATE_LIMIT": "1000/minute",
        "LOG_LEVEL": "WARNING",
        # Jobs that were running when the store went away cannot be marked done; they are
        # claimed again when their lease ends: keep that short (a bot call + a send fit).
        "JOB_LEASE_SECONDS": "12",
        "BOT_TIMEOUT_SECONDS": "3",
        "BOT_RETRIES": "0",
        "GRAPH_API_TIMEOUT_SECONDS": "5",
        # A send whose success the store could not record waits this long for Facebook's
        # echo before it is tried again (channels/messenger/marks.py).
        "MESSENGER_ECHO_GRACE_SECONDS": "8",
    }, log_path=tmp_path / "app.log")
    server.start(timeout=60)
    # Like Facebook: every message sent is echoed to the webhook (redelivered while the
    # app answers 5xx), which is how a send the store never heard of is settled.
    graph.echo_to(server.url + "/webhook", APP_SECRET)
    try:
        yield server
    finally:
        # The stack is shared by the session: whatever happened, leave it running.
        supabase_stack.start_postgres()
        supabase_stack.start_postgrest()
        server.stop()


@dataclass
class Stream:
    """What was sent and what came back."""

    expected: dict[str, tuple[str, int]] = field(default_factory=dict)  # ext id -> (person, k)
    acks: list[tuple[str, object]] = field(default_factory=list)  # (ext id, status or ack)
    queued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, external_id: str, person: str, k: int, ok: bool, answer: object,
               queued: bool) -> None:
        with self.lock:
            self.expected[external_id] = (person, k)
            self.acks.append((external_id, answer if not ok else "ok"))
            self.queued += queued

    @property
    def refused(self) -> list[tuple[str, object]]:
        return [a for a in self.acks if a[1] != "ok"]


class AdminWatch:
    """A signed-in admin's real Socket.IO client on ``/admin``, recording ``store.status``."""

    def __init__(self, server: LiveServer) -> None:
        made = server.flask("users", "create", ADMIN, "--role", "admin", "--password-stdin",
                            stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr[-1500:]
        self.session = requests.Session()
        login_requests(self.session, server.url, ADMIN)
        self.statuses: list[dict] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("store.status", self.statuses.append, namespace="/admin")
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        self.client.connect(server.url, namespaces=["/admin"], transports=["websocket"],
                            headers={"Cookie": cookie}, wait_timeout=10)

    def close(self) -> None:
        self.client.disconnect()


class People:
    """Messenger users, HTTP-fallback visitors and socket visitors, each sending in order."""

    def __init__(self, server: LiveServer, stream: Stream, tag: str, messenger: int,
                 http_visitors: int, socket_visitors: int) -> None:
        self.server, self.stream, self.tag = server, stream, tag
        self.psids = [f"psid-{tag}-{n:03d}" for n in range(messenger)]
        self.http: list[ChatVisitor] = []
        self.sockets: list[tuple[ChatVisitor, object]] = []
        for n in range(http_visitors + socket_visitors):
            visitor = ChatVisitor(server.url)
            visitor.start(display_name=f"visitor {tag} {n}")
            if n < http_visitors:
                self.http.append(visitor)
            else:
                self.sockets.append((visitor, visitor.connect()))
        self.local = threading.local()

    @property
    def count(self) -> int:
        return len(self.psids) + len(self.http) + len(self.sockets)

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def send_round(self, k: int, pool: ThreadPoolExecutor, progress: list[int]) -> None:
        """Everyone sends message ``k``; returns once every one was answered."""
        jobs = [(self._messenger, p) for p in self.psids]
        jobs += [(self._http, v) for v in self.http]
        jobs += [(self._socket, s) for s in self.sockets]

        def run(job):
            send, who = job
            send(who, k)
            with self.stream.lock:
                progress[0] += 1

        list(pool.map(run, jobs))

    def _messenger(self, psid: str, k: int) -> None:
        mid = f"mid.{psid}.k{k:02d}"
        body = webhook_body(psid, mid, QUESTION)
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": sign(body, APP_SECRET)}
        try:
            response = self._session().post(self.server.url + "/webhook", data=body,
                                            headers=headers, timeout=20)
            status = response.status_code
        except requests.RequestException as exc:
            status = repr(exc)
        self.stream.record(mid, psid, k, status == 200, status, False)

    def _http(self, visitor: ChatVisitor, k: int) -> None:
        client_id = f"{self.tag}-k{k:02d}"
        try:
            response = self._session().post(
                self.server.url + "/chat/messages", json={"content": QUESTION,
                                                          "client_id": client_id},
                headers=visitor.headers(), timeout=20)
            status = response.status_code
            queued = status == 202 and response.json().get("status") == "queued"
        except requests.RequestException as exc:
            status, queued = repr(exc), False
        self.stream.record(f"{visitor.visitor_id}:{client_id}", visitor.visitor_id, k,
                           status in (200, 201, 202), status, queued)

    def _socket(self, pair, k: int) -> None:
        visitor, live = pair
        client_id = f"{self.tag}-k{k:02d}"
        try:
            ack = live.call("message", {"content": QUESTION, "client_id": client_id},
                            timeout=20)
        except Exception as exc:  # a timeout: not acknowledged
            ack = {"error": repr(exc)}
        queued = isinstance(ack, dict) and ack.get("status") == "queued"
        stored = isinstance(ack, dict) and isinstance(ack.get("id"), int)
        self.stream.record(f"{visitor.visitor_id}:{client_id}", visitor.visitor_id, k,
                           queued or stored, ack, queued)

    def close(self) -> None:
        for visitor, _ in self.sockets:
            visitor.close()


def _sql(stack, query: str) -> list[list[str]]:
    return [line.split("|") for line in stack.psql(query).splitlines() if line]


def _wait_drained(server: LiveServer, stack, graph, timeout: float = 180.0) -> None:
    """Until the spool is empty, the store is back, no job is pending and the stand-in has
    heard nothing new for a second."""
    deadline = time.monotonic() + timeout
    last, quiet_since = -1, time.monotonic()
    while True:
        health = requests.get(server.url + "/healthz", timeout=5).json()
        pending = int(_sql(stack, "select count(*) from jobs where status in "
                                  "('queued', 'running')")[0][0])
        seen = len(graph.requests)
        if seen != last:
            last, quiet_since = seen, time.monotonic()
        if health["spooled"] == 0 and health["store_available"] and pending == 0 \
                and time.monotonic() - quiet_since >= 1.0:
            return
        assert time.monotonic() < deadline, f"not drained: {health}, {pending} jobs pending"
        time.sleep(0.25)


def _check_store(stack, stream: Stream) -> tuple[int, int, list[str]]:
    """(lost, duplicates, problems) of the stored messages against what was sent."""
    rows = _sql(stack, "select external_id, conversation_id, id from messages "
                       "where sender_type = 'user' order by id")
    seen: dict[str, int] = {}
    order: dict[str, list[int]] = {}
    conversations: dict[str, set[str]] = {}
    ids: dict[str, int] = {}
    for external_id, conversation_id, message_id in rows:
        if external_id not in stream.expected:
            continue
        seen[external_id] = seen.get(external_id, 0) + 1
        person, k = stream.expected[external_id]
        order.setdefault(person, []).append(k)
        conversations.setdefault(person, set()).add(conversation_id)
        ids[external_id] = int(message_id)
    lost = sum(1 for e in stream.expected if e not in seen)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    problems = [f"{p}: order {ks}" for p, ks in order.items() if ks != sorted(ks)]
    problems += [f"{p}: {len(c)} conversations" for p, c in conversations.items() if len(c) != 1]
    replies = dict(
        (int(r[0]), int(r[1])) for r in _sql(
            stack, "select (metadata ->> 'in_reply_to')::bigint, count(*) from messages "
                   "where sender_type = 'bot' group by 1"))
    wrong = {e: i for e, i in ids.items() if replies.get(i, 0) != 1}
    problems += [f"{e}: {replies.get(i, 0)} bot replies" for e, i in wrong.items()]
    if wrong:  # say what they were, for the failure message
        problems += [stack.psql(
            "select id, external_id, delivery_status, created_at, metadata from messages "
            f"where (metadata ->> 'in_reply_to')::bigint in ({', '.join(map(str, wrong.values()))})"
            f" or id in ({', '.join(map(str, wrong.values()))}) order by id")]
    return lost, duplicates, problems


def _messenger_sends(graph) -> list[tuple[str, str]]:
    """(psid, metadata) of every Send API message the stand-in received."""
    return [(body["recipient"]["id"], body["message"].get("metadata") or "")
            for body in graph.sent_messages()]


def _run_outage(server, stack, graph, ledger, stop, start, tag: str, messenger: int,
                http_visitors: int, socket_visitors: int, stop_after: int, start_after: int):
    watch = AdminWatch(server)
    stream = Stream()
    people = People(server, stream, tag, messenger, http_visitors, socket_visitors)
    progress = [0]
    outage: dict[str, object] = {}

    def inject() -> None:
        while progress[0] < stop_after:
            time.sleep(0.01)
        stop()
        outage["stopped_at"] = progress[0]
        outage["sends_at_stop"] = len(graph.sent_messages())
        while progress[0] < start_after:
            time.sleep(0.01)
        try:
            outage["sends_before_start"] = len(graph.sent_messages())
            # A new connection (the session's pooled one may have idled out): the page as
            # a signed-in admin loads it now.
            outage["page"] = requests.get(server.url + "/", cookies=watch.session.cookies,
                                          timeout=20).text
            outage["health"] = requests.get(server.url + "/healthz", timeout=5).json()
        finally:
            start()
        outage["started_at"] = progress[0]

    injector = threading.Thread(target=inject, name="fault-injector")
    injector.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for k in range(ROUNDS):
                people.send_round(k, pool, progress)
        injector.join(120)
        assert not injector.is_alive(), "the store was never started again"
        assert {"page", "health", "started_at"} <= outage.keys(), f"the injector failed: {outage}"
        ledger.fault(1)
        ledger.payloads(len(stream.acks))

        # Every message was acknowledged, many of them as queued while the store was down.
        assert len(stream.acks) == ROUNDS * people.count
        assert stream.refused == [], stream.refused[:5]
        assert stream.queued > 0
        # The bot kept answering during the outage, straight to Messenger...
        assert outage["sends_before_start"] > outage["sends_at_stop"]
        assert any(meta.startswith("switchboard:spool-") for _, meta in _messenger_sends(graph))
        # ...and to the web-chat sockets (provisional replies without an id).
        provisional = [
            live.wait_for("message", lambda m: m.get("provisional") is not None, timeout=20)
            for _, live in people.sockets[:1]
        ]
        assert provisional and provisional[0]["sender_type"] == "bot"
        # The banner: on the page while the store was down, on and off on the socket.
        assert re.search(r'id="store-banner" role="alert">', outage["page"]), \
            outage["page"][-800:]
        assert outage["health"]["store_available"] is False
        assert outage["health"]["spooled"] > 0

        _wait_drained(server, stack, graph)
        lost, duplicates, problems = _check_store(stack, stream)
        ledger.lost(lost)
        ledger.duplicates(duplicates)
        assert lost == 0 and duplicates == 0
        assert problems == [], problems[:10]
        # At the Graph stand-in: one distinct reply per Messenger message (the metadata names
        # the stored reply, or the spool entry of an outage reply), each delivered once: a
        # send whose success the store could not record is settled by its echo, not resent.
        sends = [(psid, meta) for psid, meta in _messenger_sends(graph)
                 if psid.startswith(f"psid-{tag}-")]
        per_psid: dict[str, set[str]] = {}
        for psid, meta in sends:
            per_psid.setdefault(psid, set()).add(meta)
        wrong = {p: sorted(m) for p, m in per_psid.items() if len(m) != ROUNDS}
        assert set(per_psid) == set(people.psids) and wrong == {}, wrong
        outage["resent"] = len(sends) - sum(len(m) for m in per_psid.values())
        ledger.duplicates(outage["resent"])
        assert outage["resent"] == 0, f"{outage['resent']} replies sent twice"
        deadline = time.monotonic() + 15
        while not (watch.statuses and watch.statuses[-1]["available"]):
            assert time.monotonic() < deadline, f"no banner-off event: {watch.statuses[-3:]}"
            time.sleep(0.1)
        assert any(s["available"] is False and s["spooled"] > 0 for s in watch.statuses)
        assert watch.statuses[-1] == {"available": True, "spooled": 0}
        page = watch.session.get(server.url + "/", timeout=20).text
        assert 'id="store-banner" role="alert" hidden' in page
        ledger.survived(1)
        return stream, outage
    finally:
        injector.join(1)
        people.close()
        watch.close()


def test_postgrest_stopped_mid_stream_of_1000_messages(app_server, supabase_stack, graph,
                                                        ledger):
    # 70 Messenger users, 20 HTTP-fallback and 10 socket visitors, 10 messages each.
    stream, outage = _run_outage(
        app_server, supabase_stack, graph, ledger,
        supabase_stack.stop_postgrest, supabase_stack.start_postgrest, "pgrst",
        messenger=70, http_visitors=20, socket_visitors=10, stop_after=200, start_after=600,
    )
    assert len(stream.expected) == 1000
    print(json.dumps({"queued": stream.queued, **{k: v for k, v in outage.items()
                                                  if k != "page"}}))


def test_postgres_stopped_mid_stream(app_server, supabase_stack, graph, ledger):
    # PostgreSQL itself goes: PostgREST stays up and answers 503 until it reconnects.
    stream, outage = _run_outage(
        app_server, supabase_stack, graph, ledger,
        supabase_stack.stop_postgres, supabase_stack.start_postgres, "pg",
        messenger=16, http_visitors=2, socket_visitors=2, stop_after=50, start_after=120,
    )
    assert len(stream.expected) == 200
    print(json.dumps({"queued": stream.queued, **{k: v for k, v in outage.items()
                                                  if k != "page"}}))


def test_widget_in_a_browser_shows_queued_then_saved(app_server, supabase_stack, ledger):
    """The widget as a visitor sees it (Chromium): during the outage the message shows as
    sent/queued -- never failed -- with the bot's answer; once the store is back it becomes
    the stored message."""
    # Playwright's sync API refuses to start where an asyncio loop is running, which an
    # earlier test's plugin may leave on the main thread: drive the browser from its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_widget_through_an_outage, app_server, supabase_stack, ledger).result()
    stored = {k: int(v) for k, v in _sql(
        supabase_stack, "select sender_type, count(*) from messages group by 1")}
    ledger.lost(max(0, 2 - stored.get("user", 0)))
    ledger.duplicates(max(0, stored.get("user", 0) - 2))
    assert stored == {"bot": 2, "user": 2}  # both messages, each with its one answer
    ledger.survived(1)


def _widget_through_an_outage(app_server, supabase_stack, ledger) -> None:
    """The browser half of the widget test: send, stop PostgREST, send, start it again."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page()
            page.goto(app_server.url + "/chat/demo")
            page.locator(".sb-bubble").click()
            expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected",
                                                                 timeout=15000)
            page.locator(".sb-input").fill(QUESTION)
            page.locator(".sb-input").press("Enter")
            expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=20000)

            supabase_stack.stop_postgrest()
            ledger.fault(1)
            page.locator(".sb-input").fill("and on sundays? " + QUESTION)
            page.locator(".sb-input").press("Enter")
            queued = page.locator(".sb-from-user.sb-queued")
            expect(queued).to_have_count(1, timeout=20000)
            expect(queued.locator(".sb-meta")).to_have_text("Sent — saving shortly")
            # The bot's answer arrives while the store is still down (no id yet).
            expect(page.locator(".sb-from-bot.sb-provisional")).to_have_count(1, timeout=20000)
            assert page.locator(".sb-failed").count() == 0

            supabase_stack.start_postgrest()
            # Replayed: the queued bubble becomes the stored message.
            expect(page.locator(".sb-from-user[data-id]")).to_have_count(2, timeout=30000)
            expect(page.locator(".sb-queued")).to_have_count(0)
            assert page.locator(".sb-failed").count() == 0
        finally:
            browser.close()
