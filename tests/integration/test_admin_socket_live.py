"""``/admin`` over a live gunicorn server with real python-socketio clients (both stores):
anonymous refused, a signed-in admin receives what the channels track as it happens."""

from __future__ import annotations

import queue
import time

import pytest
import requests
import socketio

from scripts.simulate import MessengerUser, Server, WebchatVisitor
from tests.support.admin import PASSWORD, login_requests
from tests.support.live_server import LiveServer

APP_SECRET = "live-test-app-secret"


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def server(request, tmp_path):
    env = {
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "admin.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "RESPONDER": "faq",
        "ADMIN_STATS_INTERVAL_SECONDS": "0.5",
    }
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)
    live = LiveServer(env, log_path=tmp_path / "server.log").start()
    made = live.flask("users", "create", "ann@example.com", "--role", "admin",
                      "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    yield live
    live.stop()


def _client(received: queue.Queue) -> socketio.Client:
    sio = socketio.Client(reconnection=False)
    for name in ("conversation.created", "conversation.updated", "message.created",
                 "message.updated", "stats.updated", "typing"):
        sio.on(name, (lambda n: lambda data: received.put((n, data)))(name), namespace="/admin")
    return sio


def _cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _wait_for(received: queue.Queue, name: str, predicate=lambda d: True, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event, data = received.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event == name and predicate(data):
            return data
    raise AssertionError(f"no {name} event within {timeout}s")


def test_anonymous_client_is_refused(server):
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, namespaces=["/admin"], wait_timeout=5)
    sio.disconnect()


def test_foreign_origin_is_refused_even_when_signed_in(server):
    browser = requests.Session()
    login_requests(browser, server.url, "ann@example.com")
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, namespaces=["/admin"], wait_timeout=5,
                    headers={"Cookie": _cookie_header(browser), "Origin": "https://evil.example"})
    sio.disconnect()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_signed_in_admin_receives_tracked_traffic_live(server, transport):
    browser = requests.Session()
    csrf = login_requests(browser, server.url, "ann@example.com")
    received: queue.Queue = queue.Queue()
    sio = _client(received)
    sio.connect(server.url, namespaces=["/admin"], transports=[transport], wait_timeout=10,
                headers={"Cookie": _cookie_header(browser)})
    try:
        # A web-chat visitor writes: the inbox hears of the new conversation.
        visitor = WebchatVisitor(Server(server.url), "Ada")
        visitor.say("What are your opening hours?")
        created = _wait_for(received, "conversation.created")
        conversation_id = created["conversation"]["id"]
        assert created["conversation"]["display_name"] == "Ada"

        # The bot answers (its message makes the conversation change for the inbox).
        _wait_for(received, "conversation.updated",
                  lambda d: d["conversation"]["id"] == conversation_id
                  and d["conversation"]["message_count"] >= 2)

        # Following the conversation brings its messages as they are tracked.
        assert sio.call("join", {"conversation_id": conversation_id}, namespace="/admin",
                        timeout=5) == {"ok": True}
        visitor.say("thanks")
        thanks = _wait_for(received, "message.created",
                           lambda d: d["message"]["content"] == "thanks")
        assert thanks["message"]["conversation_id"] == conversation_id
        assert thanks["message"]["sender_type"] == "user"

        # A signed Messenger webhook from someone asking for a person.
        MessengerUser(Server(server.url, APP_SECRET), "psid-live-1").say(
            "I want to talk to a human please")
        flagged = _wait_for(received, "conversation.updated",
                            lambda d: d["conversation"]["platform"] == "messenger"
                            and d["conversation"]["needs_human"])
        assert flagged["conversation"]["human_reason"]

        # The agent's reply, made with the session (and its CSRF token), is sent by the
        # worker over the visitor's socket: pending, then sent.
        reply = browser.post(f"{server.url}/admin/conversations/{conversation_id}/messages",
                             json={"content": "Hello from Ann"}, headers={"X-CSRFToken": csrf},
                             timeout=10)
        assert reply.status_code == 201, reply.text
        reply_id = reply.json()["message"]["id"]
        _wait_for(received, "message.updated",
                  lambda d: d["message"]["id"] == reply_id
                  and d["message"]["delivery_status"] == "sent")
        _wait_for(received, "stats.updated")
    finally:
        sio.disconnect()


def test_session_json_change_without_csrf_is_refused_over_http(server):
    browser = requests.Session()
    login_requests(browser, server.url, "ann@example.com")
    response = browser.post(f"{server.url}/admin/conversations/1/take-over", timeout=10)
    assert response.status_code == 400 and "CSRF" in response.json()["error"]


def test_behind_a_proxy_the_forwarded_host_is_the_origin(tmp_path):
    live = LiveServer({
        "HOME": str(tmp_path), "DATABASE_PATH": str(tmp_path / "proxy.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"), "TRUSTED_PROXY_HOPS": "1",
    }, log_path=tmp_path / "server.log").start()
    try:
        made = live.flask("users", "create", "ann@example.com", "--password-stdin",
                          stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        browser = requests.Session()
        login_requests(browser, live.url, "ann@example.com")
        forwarded = {"Cookie": _cookie_header(browser), "X-Forwarded-Proto": "https",
                     "X-Forwarded-Host": "desk.example.com"}
        sio = socketio.Client(reconnection=False)
        # Long-polling: the websocket client would add an Origin of its own to ours.
        sio.connect(live.url, namespaces=["/admin"], transports=["polling"], wait_timeout=5,
                    headers={**forwarded, "Origin": "https://desk.example.com"})
        assert sio.connected
        sio.disconnect()
        foreign = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            foreign.connect(live.url, namespaces=["/admin"], transports=["polling"],
                            wait_timeout=5, headers={**forwarded, "Origin": f"http://127.0.0.1:{live.port}"})
        foreign.disconnect()
    finally:
        live.stop()
