"""Messenger's typing and seen indicators end to end: a gunicorn server (gevent), a
person's signed webhook, an agent's real Socket.IO client and session (or a slow bot behind
``RESPONDER=webhook``), and the Graph API stand-in receiving ``typing_on``, ``typing_off``
and ``mark_seen`` for that person."""

from __future__ import annotations

import time

import requests
import socketio

from scripts.simulate import MessengerUser, Server
from tests.support.admin import PASSWORD, login_requests
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)
from tests.support.live_server import LiveServer
from tests.support.stub_http import StubHttpServer, StubResponse

APP_SECRET = "sender-actions-app-secret"


def _actions(stub, psid: str) -> list[str]:
    return [r.json["sender_action"] for r in list(stub.requests)
            if r.json and "sender_action" in r.json and r.json["recipient"]["id"] == psid]


def _wait_for_actions(stub, psid: str, expected: list[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _actions(stub, psid) != expected:
        assert time.monotonic() < deadline, (_actions(stub, psid), expected)
        time.sleep(0.05)


def _server(tmp_path, graph_stub, **settings: str) -> LiveServer:  # noqa: F811
    """The product on gunicorn, SQLite and the Graph API stand-in; ``settings`` besides."""
    return LiveServer({
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "actions.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": graph_stub.token,
        "GRAPH_API_BASE": graph_stub.base_url,
        "GRAPH_API_VERSION": graph_stub.version,
        **settings,
    }, log_path=tmp_path / "server.log").start()


def test_an_agents_typing_and_reading_reach_the_person(tmp_path, graph_stub):  # noqa: F811
    live = _server(tmp_path, graph_stub, RESPONDER="faq")
    try:
        made = live.flask("users", "create", "ann@example.com", "--role", "agent",
                          "--password-stdin", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        browser = requests.Session()
        csrf = login_requests(browser, live.url, "ann@example.com")

        psid = "psid-actions-1"
        MessengerUser(Server(live.url, APP_SECRET), psid).say("I want to talk to a human")
        deadline = time.monotonic() + 15
        while True:
            listed = browser.get(f"{live.url}/admin/conversations?platform=messenger",
                                 timeout=10).json()["conversations"]
            if listed:
                break
            assert time.monotonic() < deadline, "the webhook's conversation never appeared"
            time.sleep(0.1)
        conversation = listed[0]
        assert conversation["external_user_id"] == psid

        sio = socketio.Client(reconnection=False)
        sio.connect(live.url, namespaces=["/admin"], transports=["websocket"], wait_timeout=10,
                    headers={"Cookie": "; ".join(f"{c.name}={c.value}"
                                                 for c in browser.cookies)})
        try:
            for typing in (True, True, False):  # the second within 10 s: nothing new
                assert sio.call("typing", {"conversation_id": conversation["id"],
                                           "typing": typing},
                                namespace="/admin", timeout=5) == {"ok": True}
            _wait_for_actions(graph_stub, psid, ["typing_on", "typing_off"])
        finally:
            sio.disconnect()

        read = browser.put(f"{live.url}/admin/conversations/{conversation['id']}/read",
                           json={"message_count": conversation["message_count"]},
                           headers={"X-CSRFToken": csrf}, timeout=10)
        assert read.status_code == 200, read.text
        _wait_for_actions(graph_stub, psid, ["typing_on", "typing_off", "mark_seen"])
    finally:
        live.stop()


def test_a_slow_bot_shows_typing_before_its_answer(tmp_path, graph_stub):  # noqa: F811
    """A bot behind RESPONDER=webhook that takes a second: the person sees the Page typing
    (BOT_TYPING_AFTER_SECONDS), then the answer, which ends the indicator on its own."""
    answer = {"text": "Shipping is free over 50 euros.", "confidence": 0.95}
    with StubHttpServer(default=StubResponse(json=answer, delay=1.0)) as bot:
        live = _server(tmp_path, graph_stub, RESPONDER="webhook",
                       BOT_WEBHOOK_URL=bot.url("/bot"), BOT_TYPING_AFTER_SECONDS="0.3")
        try:
            psid = "psid-slow-bot"
            MessengerUser(Server(live.url, APP_SECRET), psid).say("what does shipping cost?")
            deadline = time.monotonic() + 20
            while True:
                to_person = [r.json for r in list(graph_stub.requests)
                             if r.json and r.json.get("recipient", {}).get("id") == psid]
                if any("message" in body for body in to_person):
                    break
                assert time.monotonic() < deadline, to_person
                time.sleep(0.05)
            time.sleep(1.0)  # a typing_off, were one coming, would be here by now
            to_person = [r.json for r in list(graph_stub.requests)
                         if r.json and r.json.get("recipient", {}).get("id") == psid]
            assert [body.get("sender_action") or body["message"]["text"]
                    for body in to_person] == ["typing_on", answer["text"]]
            assert len(bot.requests) == 1
        finally:
            live.stop()
