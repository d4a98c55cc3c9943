"""The web chat over a live gunicorn server: real Socket.IO clients, real HTTP, both stores."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
import socketio

from tests.support.admin import login_requests
from tests.support.chat_client import ChatVisitor, admin_token
from tests.support.live_server import LiveServer

HOURS = "What are your opening hours?"


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def store_env(request, tmp_path):
    env = {
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "chat.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "RESPONDER": "faq",
    }
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)
    return env


@pytest.fixture
def start_server(store_env, tmp_path):
    servers: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        server = LiveServer({**store_env, **settings}, log_path=tmp_path / "server.log")
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture
def visitors(server):
    made: list[ChatVisitor] = []

    def make(**kwargs) -> ChatVisitor:
        visitor = ChatVisitor(server.url, **kwargs)
        made.append(visitor)
        return visitor

    yield make
    for visitor in made:
        visitor.close()


def _agent_reply(server, token: str, conversation_id: int, content: str) -> dict:
    response = requests.post(
        f"{server.url}/admin/conversations/{conversation_id}/messages",
        json={"content": content}, headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def test_visitor_chats_live_and_catches_up_after_reconnecting(server, visitors):
    visitor = visitors()
    session = visitor.start(display_name="Ada")
    assert session["conversation_id"] is None  # opened by the first message, not by a visit

    live = visitor.connect()
    ack = live.call("message", {"content": HOURS, "client_id": "first-1"})
    assert ack["content"] == HOURS and ack["sender_type"] == "user"
    assert ack["client_id"] == "first-1" and isinstance(ack["id"], int)
    conversation_id = ack["conversation_id"]

    reply = live.wait_for("message", lambda m: m["sender_type"] == "bot")
    assert "Monday to Friday" in reply["content"]
    assert reply["conversation_id"] == conversation_id
    assert set(reply) >= {"id", "content", "created_at", "sender_type"}
    assert "confidence_score" not in reply and "metadata" not in reply  # internals stay inside
    live.wait_for("typing", lambda t: t["sender_type"] == "bot")

    # A resend of the same client id is a no-op that returns the stored message.
    again = live.call("message", {"content": HOURS, "client_id": "first-1"})
    assert again["id"] == ack["id"]
    last_seen = reply["id"]
    live.disconnect()

    # Meanwhile an agent answers through the admin API; the visitor is offline.
    token = admin_token(server)
    agent = _agent_reply(server, token, conversation_id, "Hi Ada, Sam here. Anything else?")

    # The visitor comes back: a fresh session resumes the same conversation…
    resumed = visitor.start(conversation_id=conversation_id)
    assert resumed["visitor_id"] == session["visitor_id"]
    assert resumed["conversation_id"] == conversation_id
    live = visitor.connect(conversation_id=conversation_id)
    # … and the history after the last message seen brings what was missed.
    missed = visitor.wait_history(
        lambda ms: any(m["id"] == agent["id"] for m in ms), after=last_seen
    )
    assert [m["sender_type"] for m in missed] == ["agent"]
    assert missed[0]["content"] == "Hi Ada, Sam here. Anything else?"
    body = visitor.history(after=last_seen).json()
    assert body["conversation"]["state"] == "human"  # the agent took the conversation

    # Now online: the agent's next reply arrives live, and the transcript has it all once.
    _agent_reply(server, token, conversation_id, "Still there?")
    live_reply = live.wait_for("message", lambda m: m["content"] == "Still there?")
    assert live_reply["sender_type"] == "agent"
    contents = [m["content"] for m in visitor.history().json()["messages"]]
    assert contents.count(HOURS) == 1 and contents[-1] == "Still there?"

    # Admins see the visitor's name and the conversation on the web chat platform.
    admin = requests.get(f"{server.url}/admin/conversations/{conversation_id}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert admin["conversation"]["platform"] == "webchat"
    assert admin["conversation"]["display_name"] == "Ada"


def test_another_visitor_can_neither_join_nor_read_nor_write(server, visitors):
    alice, mallory = visitors(), visitors()
    alice.start()
    ack = alice.connect().call("message", {"content": "hello", "client_id": "a1"})
    cid = ack["conversation_id"]
    mallory.start()

    with pytest.raises(socketio.exceptions.ConnectionError):
        mallory.connect(conversation_id=cid)
    with pytest.raises(socketio.exceptions.ConnectionError):
        mallory.connect(token="forged.token.value")
    with pytest.raises(socketio.exceptions.ConnectionError):
        ChatVisitor(server.url).connect(token="")

    assert mallory.history(cid).status_code == 403
    assert mallory.history(cid).json()["error"] == "forbidden"
    assert mallory.request("POST", f"/chat/{cid}/messages",
                           json={"content": "hi", "client_id": "m1"}).status_code == 403
    assert mallory.request("POST", f"/chat/{cid}/escalate", json={}).status_code == 403
    assert mallory.request("GET", f"/chat/{cid}/escalations").status_code == 403
    assert mallory.request(
        "GET", f"/chat/user/{alice.visitor_id}/conversations").status_code == 403
    assert mallory.history(cid + 1000).status_code == 404
    assert requests.get(f"{server.url}/chat/{cid}/history", timeout=10).status_code == 401
    # A visitor id is never taken on its word.
    claim = mallory.request("POST", "/chat/session", json={"visitor_id": alice.visitor_id})
    assert claim.status_code == 403

    # Connected on its own, over long-polling, Mallory still cannot follow Alice's room…
    live = mallory.connect(transports=["polling"])
    refused = live.call("join", {"conversation_id": cid})
    assert refused["status"] == 403 and refused["error"] == "forbidden"
    # … so Alice's next message and its answer never reach Mallory's socket.
    alice_live = alice.connect(conversation_id=cid)
    alice_live.call("message", {"content": HOURS, "client_id": "a2"})
    alice_live.wait_for("message", lambda m: m["sender_type"] == "bot")
    mine = live.call("message", {"content": "hello", "client_id": "a1"})  # Alice's client id
    assert mine["conversation_id"] != cid  # ids are per visitor: no collision, no leak
    assert all(data.get("conversation_id") != cid for _, data in live.seen)
    while not live.events.empty():
        assert live.events.get()[1].get("conversation_id") != cid


def test_http_fallback_gives_the_same_results(server, visitors):
    visitor = visitors()
    visitor.start()
    first = visitor.request("POST", "/chat/messages", json={"content": HOURS, "client_id": "h1"})
    assert first.status_code == 201, first.text
    stored = first.json()["message"]
    visitor.conversation_id = cid = stored["conversation_id"]
    assert first.json()["conversation"]["state"] == "bot"

    resend = visitor.request("POST", f"/chat/{cid}/messages",
                             json={"content": HOURS, "client_id": "h1"})
    assert resend.status_code == 200 and resend.json()["message"]["id"] == stored["id"]

    messages = visitor.wait_history(lambda ms: any(m["sender_type"] == "bot" for m in ms))
    assert [m["sender_type"] for m in messages] == ["user", "bot"]
    assert messages[0]["client_id"] == "h1" and "Monday to Friday" in messages[1]["content"]

    second = visitor.request("POST", f"/chat/{cid}/messages",
                             json={"content": "How long does shipping take?"})
    assert second.status_code == 201 and second.json()["message"]["client_id"]
    visitor.wait_history(lambda ms: len(ms) == 4)
    assert [m["id"] for m in visitor.history(limit=2).json()["messages"]] == \
        [m["id"] for m in visitor.history().json()["messages"]][-2:]
    older = visitor.history(before=messages[1]["id"]).json()["messages"]
    assert [m["id"] for m in older] == [stored["id"]]

    assert visitor.request("GET", f"/chat/{cid}/escalations").json()["escalations"] == []
    listed = visitor.request("GET", f"/chat/user/{visitor.visitor_id}/conversations").json()
    assert [c["id"] for c in listed["conversations"]] == [cid]

    # The same errors as the socket, as JSON.
    bad = visitor.request("POST", f"/chat/{cid}/messages", json={"content": "  "})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    bad_id = visitor.request("POST", f"/chat/{cid}/messages",
                             json={"content": "x", "client_id": "no spaces allowed"})
    assert bad_id.status_code == 400
    not_json = visitor.request("POST", f"/chat/{cid}/messages", data="content=hi",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 400
    assert visitor.history(limit="many").status_code == 400


def test_length_and_rate_limits(start_server):
    server = start_server(CHAT_RATE_LIMIT="4/minute", CHAT_MAX_MESSAGE_LENGTH="40")
    visitor, other = ChatVisitor(server.url), ChatVisitor(server.url)
    try:
        visitor.start()
        live = visitor.connect()
        too_long = live.call("message", {"content": "x" * 41, "client_id": "long"})
        assert too_long["status"] == 413 and too_long["error"] == "too_long"
        # With the limit, for the widget to say in the visitor's language (detail: English).
        assert (too_long["limit"], too_long["detail"]) == (40, "a message has at most 40 "
                                                                "characters")
        long_reason = live.call("escalate", {"reason": "r" * 501, "client_id": "why"})
        assert (long_reason["status"], long_reason["error"], long_reason["limit"]) == (
            413, "too_long", 500)
        acks = [live.call("message", {"content": f"message {i}", "client_id": f"m{i}"})
                for i in range(4)]
        assert all("id" in ack for ack in acks)
        limited = live.call("message", {"content": "one more", "client_id": "m4"})
        assert limited["status"] == 429 and limited["error"] == "rate_limited"

        # The HTTP fallback counts in the same per-visitor bucket.
        cid = acks[0]["conversation_id"]
        http = visitor.request("POST", f"/chat/{cid}/messages", json={"content": "via http"})
        assert http.status_code == 429 and http.json()["error"] == "rate_limited"
        assert "Retry-After" in http.headers

        stored = visitor.history(cid).json()["messages"]
        user_messages = [m["content"] for m in stored if m["sender_type"] == "user"]
        assert user_messages == [f"message {i}" for i in range(4)]  # nothing else, nothing twice

        # Another visitor has an allowance of their own; the length limit holds over HTTP too.
        other.start()
        long_http = other.request("POST", "/chat/messages", json={"content": "y" * 41})
        assert long_http.status_code == 413 and long_http.json()["error"] == "too_long"
        assert long_http.json()["limit"] == 40
        long_reason = other.request("POST", "/chat/escalate", json={"reason": "r" * 501})
        assert (long_reason.status_code, long_reason.json()["limit"]) == (413, 500)
        ok = other.request("POST", "/chat/messages", json={"content": "fits"})
        assert ok.status_code == 201
    finally:
        visitor.close()
        other.close()


def test_talk_to_a_human(server, visitors):
    visitor = visitors()
    visitor.start()
    live = visitor.connect()
    first = live.call("message", {"content": "hello", "client_id": "g1"})
    cid = first["conversation_id"]
    live.wait_for("message", lambda m: m["sender_type"] == "bot")

    ack = live.call("escalate", {"client_id": "esc-1", "reason": "My order never arrived"})
    assert ack["kind"] == "escalation" and ack["content"] == "My order never arrived"
    status = live.wait_for("status", lambda s: s["state"] == "escalated")
    assert status["conversation_id"] == cid and status["conversation"]["needs_human"] is True
    handoff = live.wait_for("message", lambda m: m["sender_type"] == "system")
    assert handoff["kind"] == "handoff"
    assert live.call("escalate", {"client_id": "esc-1"})["id"] == ack["id"]  # no double

    token = admin_token(server)
    admin = requests.get(f"{server.url}/admin/conversations/{cid}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert admin["conversation"]["needs_human"] is True
    assert admin["conversation"]["handled_by"] == "human"

    escalations = visitor.request("GET", f"/chat/{cid}/escalations").json()["escalations"]
    assert [(e["message_id"], e["requested_by_visitor"], e["reason"], e["answered"])
            for e in escalations] == [(ack["id"], True, "My order never arrived", False)]

    # A person joins (the agent replies), then hands back to the bot, then closes.
    _agent_reply(server, token, cid, "Sorry about that! Let me check.")
    live.wait_for("status", lambda s: s["state"] == "human")
    headers = {"Authorization": f"Bearer {token}"}
    requests.post(f"{server.url}/admin/conversations/{cid}/hand-back", headers=headers, timeout=10)
    live.wait_for("status", lambda s: s["state"] == "bot" and not s["conversation"]["needs_human"])
    requests.post(f"{server.url}/admin/conversations/{cid}/close", headers=headers, timeout=10)
    live.wait_for("status", lambda s: s["state"] == "closed")
    answered = visitor.request("GET", f"/chat/{cid}/escalations").json()["escalations"]
    assert answered[0]["answered"] is True

    # Over HTTP, before any message: the button opens the conversation itself.
    other = visitors()
    other.start()
    asked = other.request("POST", "/chat/escalate", json={"client_id": uuid.uuid4().hex})
    assert asked.status_code == 201
    assert asked.json()["message"]["content"] == "I'd like to talk to a person, please."
    other.conversation_id = asked.json()["conversation"]["id"]
    other.wait_history(lambda ms: any(m["sender_type"] == "system" for m in ms))
    assert other.history().json()["conversation"]["state"] == "escalated"


def test_a_note_for_the_team_never_reaches_the_visitor(server, visitors):
    """A note is published with its conversation's update, which the widget also follows:
    the visitor's socket and history get the conversation's public view, never the note;
    nor who on the team has the conversation open, nor who read it when (the visitor is
    told only which message was seen: the next test)."""
    visitor = visitors()
    visitor.start()
    live = visitor.connect()
    cid = live.call("message", {"content": HOURS, "client_id": "n1"})["conversation_id"]
    live.wait_for("message", lambda m: m["sender_type"] == "bot")
    headers = {"Authorization": f"Bearer {admin_token(server)}"}
    browser = requests.Session()
    login_requests(browser, server.url, "agent@example.com", "a long password")
    watching = socketio.Client(reconnection=False)
    presence = []
    watching.on("presence", presence.append, namespace="/admin")
    watching.connect(server.url, namespaces=["/admin"], transports=["websocket"], wait_timeout=10,
                     headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)})
    assert watching.call("join", {"conversation_id": cid}, namespace="/admin",
                         timeout=10) == {"ok": True}
    watching.disconnect()
    # It was published (once, or twice when the "stopped viewing" of the disconnect still
    # reaches the closing socket), and only ever as the team's account.
    assert presence and {p["name"] for p in presence} == {"agent@example.com"}
    secret = "internal-note-7f3a: refund fraud suspected"
    noted = requests.post(f"{server.url}/admin/conversations/{cid}/notes",
                          json={"text": secret}, headers=headers, timeout=10)
    assert noted.status_code == 201, noted.text
    edited = requests.put(f"{server.url}/admin/notes/{noted.json()['activity']['id']}",
                          json={"text": secret + " (edit-9b1c)"}, headers=headers, timeout=10)
    assert edited.status_code == 200, edited.text
    read = requests.put(f"{server.url}/admin/conversations/{cid}/read",
                        json={"message_count": 2}, headers=headers, timeout=10)
    assert read.status_code == 200 and read.json()["read"]["message_count"] == 2, read.text
    # Then a change the visitor does see, so that everything before it has arrived.
    requests.post(f"{server.url}/admin/conversations/{cid}/take-over", headers=headers,
                  timeout=10)
    live.wait_for("status", lambda s: s["state"] == "human")
    while not live.events.empty():
        live.seen.append(live.events.get())
    assert live.seen and "internal-note-7f3a" not in json.dumps(live.seen)
    assert "agent@example.com" not in json.dumps(live.seen)
    assert "read_at" not in json.dumps(live.seen) and "edit-9b1c" not in json.dumps(live.seen)
    assert "internal-note-7f3a" not in visitor.history().text


def test_the_team_sees_whether_the_person_is_on_the_site(server, visitors):
    """An agent's page joining the conversation asks the person's widget (``presence_check``,
    to that conversation's widgets only); its ``here`` reaches the page as
    ``visitor.presence`` (an opaque id, never the visitor's), the same said twice within a
    second once unless it answers a question, two within 0.25 s once whatever they say, a
    bad page refused, and the widget's going as ``online: false``."""
    import queue

    visitor, other = visitors(), visitors()
    visitor.start()
    other.start()
    live, elsewhere = visitor.connect(), other.connect()
    cid = live.call("message", {"content": HOURS, "client_id": "h1"})["conversation_id"]
    elsewhere.call("message", {"content": HOURS, "client_id": "o1"})
    admin_token(server)  # the account the page signs in as
    browser = requests.Session()
    login_requests(browser, server.url, "agent@example.com", "a long password")
    page = socketio.Client(reconnection=False)
    heard: queue.Queue = queue.Queue()
    page.on("visitor.presence", heard.put, namespace="/admin")
    page.connect(server.url, namespaces=["/admin"], transports=["websocket"], wait_timeout=10,
                 headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)})
    try:
        assert page.call("join", {"conversation_id": cid}, namespace="/admin",
                         timeout=10) == {"ok": True}
        assert live.wait_for("presence_check") == {"conversation_id": cid}
        shop = {"url": "https://shop.example/checkout", "title": "Checkout"}
        assert live.call("here", {"open": True, "visible": True, "page": shop}) == {"ok": True}
        said = heard.get(timeout=10)
        assert said == {"conversation_id": cid, "visitor": said["visitor"], "online": True,
                        "open": True, "visible": True, "page": shop}
        assert said["visitor"] and said["visitor"] not in (visitor.visitor_id, live.client.sid)
        assert live.call("here", {"open": True, "visible": True, "page": shop}) == {"ok": True}
        refused = live.call("here", {"open": True, "page": "javascript:alert(1)"})
        assert refused["error"] == "bad_request"
        # An answer to a page's question is said, however recently the same was; but not
        # closer than a widget says anything (a flood).
        time.sleep(0.3)
        for _ in range(2):
            assert live.call("here", {"open": True, "visible": True, "page": shop,
                                      "asked": True}) == {"ok": True}
        assert heard.get(timeout=10) == said  # (not the repeats around it: see below)
        live.disconnect()
        # The next thing heard is the widget's going: the repeat was not said again.
        assert heard.get(timeout=10) == {"conversation_id": cid, "visitor": said["visitor"],
                                         "online": False}
        elsewhere.wait_for("message", lambda m: m["sender_type"] == "bot")
        assert ("presence_check" not in [name for name, _ in elsewhere.seen]
                and all(n != "presence_check" for n, _ in list(elsewhere.events.queue)))
    finally:
        page.disconnect()


def test_the_visitor_sees_the_name_the_agent_chose(server, visitors):
    """PUT /admin/me names the caller for the people it answers: its replies carry the name
    to the widget (socket and history), never its e-mail; a reply before the name, or after
    it is taken off, says none; a bad name is refused with the reason."""
    token = admin_token(server)
    headers = {"Authorization": f"Bearer {token}"}
    visitor = visitors()
    visitor.start()
    live = visitor.connect()
    cid = live.call("message", {"content": HOURS, "client_id": "n1"})["conversation_id"]
    live.wait_for("message", lambda m: m["sender_type"] == "bot")

    def set_name(value):
        return requests.put(f"{server.url}/admin/me", json={"display_name": value},
                            headers=headers, timeout=10)

    _agent_reply(server, token, cid, "before the name")
    named = set_name("  Sam   the  agent ")
    assert named.status_code == 200 and named.json()["user"]["display_name"] == "Sam the agent"
    reply = _agent_reply(server, token, cid, "with the name")
    assert reply["metadata"]["agent_name"] == "Sam the agent"
    heard = live.wait_for("message", lambda m: m["content"] == "with the name")
    assert heard["sender_name"] == "Sam the agent"
    for bad, why in (("x" * 61, "at most 60"), ("Sam\u0007", "control"), (7, "string")):
        refused = set_name(bad)
        assert refused.status_code == 400 and why in refused.text, refused.text
    assert set_name("   ").json()["user"]["display_name"] is None
    _agent_reply(server, token, cid, "after the name")
    names = {m["content"]: m["sender_name"] for m in visitor.history(cid).json()["messages"]
             if m["sender_type"] == "agent"}
    assert names == {"before the name": None, "with the name": "Sam the agent",
                     "after the name": None}
    assert "agent@example.com" not in json.dumps(visitor.history(cid).json())
    assert requests.get(f"{server.url}/admin/me", headers=headers,
                        timeout=10).json()["user"]["display_name"] is None


def test_the_visitor_sees_when_a_person_has_read_their_message(server, visitors):
    """An account's read mark moving is the visitor's "Seen": live on their socket, and in
    the history a widget loads; another visitor hears nothing of it."""
    visitor, stranger = visitors(), visitors()
    visitor.start()
    stranger.start()
    live = visitor.connect()
    other = stranger.connect()
    mine = live.call("message", {"content": HOURS, "client_id": "s1"})
    cid = mine["conversation_id"]
    reply = live.wait_for("message", lambda m: m["sender_type"] == "bot")
    theirs = other.call("message", {"content": HOURS, "client_id": "t1"})
    assert visitor.history(cid).json()["seen_message_id"] is None  # no one has read it yet
    headers = {"Authorization": f"Bearer {admin_token(server)}"}

    def read(count: int) -> None:
        answer = requests.put(f"{server.url}/admin/conversations/{cid}/read",
                              json={"message_count": count}, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    read(1)
    first = {"conversation_id": cid, "message_id": mine["id"]}
    assert live.wait_for("seen") == first
    assert visitor.history(cid).json()["seen_message_id"] == mine["id"]
    read(2)
    second = {"conversation_id": cid, "message_id": reply["id"]}
    assert live.wait_for("seen", lambda s: s["message_id"] == reply["id"]) == second
    read(2)  # a mark that did not move says nothing again
    assert visitor.history(cid).json()["seen_message_id"] == reply["id"]
    # The stranger's own conversation, unread, and a change they do hear: nothing of the
    # other conversation's reads came before it.
    assert stranger.history(theirs["conversation_id"]).json()["seen_message_id"] is None
    requests.post(f"{server.url}/admin/conversations/{theirs['conversation_id']}/take-over",
                  headers=headers, timeout=10)
    other.wait_for("status", lambda s: s["state"] == "human")
    while not other.events.empty():
        other.seen.append(other.events.get())
    assert not [e for e in other.seen if e[0] == "seen"], other.seen
    # The visitor's own socket heard one "seen" a mark that moved, in order.
    requests.post(f"{server.url}/admin/conversations/{cid}/take-over", headers=headers,
                  timeout=10)
    live.wait_for("status", lambda s: s["state"] == "human")
    while not live.events.empty():
        live.seen.append(live.events.get())
    assert [d for name, d in live.seen if name == "seen"] == [first, second]


def _statuses(server, headers, conversation_id: int) -> dict[str, str]:
    """The team's messages of the conversation, by content: their delivery status."""
    body = requests.get(f"{server.url}/admin/conversations/{conversation_id}", headers=headers,
                        timeout=10).json()
    return {m["content"]: m["delivery_status"] for m in body["messages"]
            if m["sender_type"] != "user"}


def _until(read, expected, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while (value := read()) != expected:
        assert time.monotonic() < deadline, value
        time.sleep(0.05)


def test_the_agent_sees_when_the_visitor_has_received_and_read_a_reply(server, visitors):
    """The widget's receipts are the web chat's delivery and read watermarks: the team's
    messages up to the one reported move sent -> delivered -> read (never back), over the
    socket and over HTTP; another visitor's message, a bad status or id are refused."""
    visitor, stranger = visitors(), visitors()
    visitor.start()
    stranger.start()
    live = visitor.connect()
    mine = live.call("message", {"content": HOURS, "client_id": "r1"})
    cid = mine["conversation_id"]
    bot = live.wait_for("message", lambda m: m["sender_type"] == "bot")
    headers = {"Authorization": f"Bearer {admin_token(server)}"}
    agent = _agent_reply(server, headers["Authorization"][7:], cid, "Sam here: anything else?")
    live.wait_for("message", lambda m: m["id"] == agent["id"])
    _until(lambda: set(_statuses(server, headers, cid).values()), {"sent"})

    # Received while the panel was closed: up to the bot's answer only.
    assert live.call("receipt", {"message_id": bot["id"], "status": "delivered"}) == \
        {"ok": True, "changed": 1}
    assert _statuses(server, headers, cid) == {bot["content"]: "delivered",
                                               "Sam here: anything else?": "sent"}
    # Shown: everything up to the agent's reply is read.
    assert live.call("receipt", {"message_id": agent["id"], "status": "read",
                                 "conversation_id": cid}) == {"ok": True, "changed": 2}
    assert _statuses(server, headers, cid) == {bot["content"]: "read",
                                               "Sam here: anything else?": "read"}
    # Never back, and a repeat is answered without a change.
    assert live.call("receipt", {"message_id": agent["id"], "status": "delivered"}) == \
        {"ok": True, "changed": 0}
    assert set(_statuses(server, headers, cid).values()) == {"read"}

    # Refused with the reason.
    other = stranger.connect()
    theirs = other.call("message", {"content": HOURS, "client_id": "t1"})
    for data, status in (({"message_id": agent["id"], "status": "seen"}, 400),
                         ({"message_id": "x", "status": "read"}, 400),
                         ({"status": "read"}, 400),
                         ("read", 400),
                         ({"message_id": theirs["id"], "status": "read"}, 404),
                         ({"message_id": 987654321, "status": "read"}, 404),
                         ({"message_id": agent["id"], "status": "read",
                           "conversation_id": theirs["conversation_id"]}, 403)):
        answer = live.call("receipt", data)
        assert answer.get("status") == status, (data, answer)
    # The stranger cannot mark the visitor's messages read from their own conversation.
    assert other.call("receipt", {"message_id": agent["id"], "status": "read"})["status"] == 404

    # Over HTTP, the same (a widget without Socket.IO).
    later = _agent_reply(server, headers["Authorization"][7:], cid, "Still there?")
    _until(lambda: _statuses(server, headers, cid)["Still there?"], "sent")
    answer = visitor.request("POST", f"/chat/{cid}/receipts",
                             json={"message_id": later["id"], "status": "read"})
    assert answer.status_code == 200 and answer.json() == {"ok": True, "changed": 1}
    assert _statuses(server, headers, cid)["Still there?"] == "read"
    for body, status in (({"message_id": later["id"], "status": "opened"}, 400),
                         ({"message_id": theirs["id"], "status": "read"}, 404)):
        assert visitor.request("POST", f"/chat/{cid}/receipts", json=body).status_code == status
    assert stranger.request("POST", f"/chat/{cid}/receipts",
                            json={"message_id": later["id"], "status": "read"}
                            ).status_code == 403


def test_the_team_sees_the_page_a_visitor_wrote_from(server, visitors):
    """The widget's ``page`` ({url, title}) goes with a message, over the socket and over
    HTTP, a "talk to a person" and a file too, into the message's metadata for the team;
    one that is not an http(s) page is refused with the reason, and nothing is stored."""
    visitor = visitors()
    visitor.start()
    live = visitor.connect()
    lamps = {"url": "https://shop.example/lamps?colour=red", "title": "Lamps — Lumen & Co."}
    first = live.call("message", {"content": HOURS, "client_id": "p1", "page": lamps})
    cid = first["conversation_id"]
    assert "page" not in first  # the visitor's view of their message is as before
    refused = live.call("message", {"content": "hi", "client_id": "p2",
                                    "page": {"url": "javascript:alert(1)"}})
    assert refused["status"] == 400 and "page" in refused["detail"]
    visitor.conversation_id = cid
    checkout = {"url": "https://shop.example/checkout", "title": "Checkout"}
    sent = visitor.request("POST", f"/chat/{cid}/messages",
                           json={"content": "Can I pay later?", "client_id": "p3",
                                 "page": checkout})
    assert sent.status_code == 201, sent.text
    bad = visitor.request("POST", f"/chat/{cid}/messages",
                          json={"content": "x", "client_id": "p4", "page": "checkout"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    asked = visitor.request("POST", f"/chat/{cid}/escalate",
                            json={"client_id": "p5", "page": checkout})
    assert asked.status_code == 201, asked.text
    filed = visitor.request("POST", f"/chat/{cid}/files", files={"file": ("a.txt", b"abc")},
                            data={"client_id": "p6", "page_url": checkout["url"],
                                  "page_title": "Checkout"})
    assert filed.status_code == 201, filed.text

    headers = {"Authorization": f"Bearer {admin_token(server)}"}
    messages = requests.get(f"{server.url}/admin/conversations/{cid}", headers=headers,
                            timeout=10).json()["messages"]
    pages = {m["external_id"].split(":", 1)[1]: m["metadata"].get("page")
             for m in messages if m["sender_type"] == "user"}
    assert pages == {"p1": lamps, "p3": checkout, "p5": checkout, "p6": checkout}


def _signed(user_id: str, secret: str = "site-secret") -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def test_a_customer_the_site_vouches_for_finds_their_conversations_anywhere(start_server):
    """CHAT_IDENTITY_SECRET: a session with the site's customer id and its HMAC is theirs on
    any device (the same visitor, their conversations, their id and e-mail shown to the
    team as verified); a wrong HMAC is refused; their token without their identity (signed
    out) is a new anonymous visitor; without the secret the identity is not taken."""
    server = start_server(CHAT_IDENTITY_SECRET="site-secret")
    customer = {"user_id": "cust-42", "user_hash": _signed("cust-42"),
                "email": "ann@shop.example", "display_name": "Ann"}
    laptop, phone = ChatVisitor(server.url), ChatVisitor(server.url)
    try:
        first = laptop.start(**customer)
        assert first["verified"] is True and first["display_name"] == "Ann"
        live = laptop.connect()
        ack = live.call("message", {"content": HOURS, "client_id": "c1"})
        cid = ack["conversation_id"]
        live.wait_for("message", lambda m: m["sender_type"] == "bot")

        # Another device, the same customer: the same visitor, their open conversation.
        other = phone.start(**customer)
        assert other["visitor_id"] == first["visitor_id"] and other["conversation_id"] == cid
        assert [m["content"] for m in phone.history(cid).json()["messages"]][0] == HOURS

        headers = {"Authorization": f"Bearer {admin_token(server)}"}
        shown = requests.get(f"{server.url}/admin/conversations/{cid}", headers=headers,
                             timeout=10).json()["conversation"]
        assert shown["profile"] == {"user_id": "cust-42", "verified": True,
                                    "email": "ann@shop.example"}
        assert shown["display_name"] == "Ann"

        # A forged or mistaken signature: refused, with the reason for the site's developer.
        forged = phone.request("POST", "/chat/session",
                               json={**customer, "user_hash": _signed("cust-42", "guess")})
        assert forged.status_code == 403 and forged.json()["error"] == "identity_refused"
        other_customer = phone.request("POST", "/chat/session",
                                       json={**customer, "user_id": "cust-43"})
        assert other_customer.status_code == 403

        # Signed out on the site: the customer's token alone starts an anonymous visitor.
        out = phone.start()
        assert out["verified"] is False and out["visitor_id"] != first["visitor_id"]
        assert out["conversation_id"] is None
        assert phone.history(cid).status_code == 403
    finally:
        laptop.close()
        phone.close()


def test_signing_in_on_the_site_takes_the_anonymous_chat_along(start_server):
    """A visitor who chats, then signs in on the site: the same conversation goes on as
    the customer's (verified for the team, found from their other devices, no longer the
    anonymous token's), with their earlier closed ones. When the customer already has a
    conversation open elsewhere, that one is theirs and the anonymous one stays as it was."""
    server = start_server(CHAT_IDENTITY_SECRET="site-secret")
    customer = {"user_id": "cust-7", "user_hash": _signed("cust-7"), "email": "bo@shop.example"}
    laptop, phone, tablet = (ChatVisitor(server.url) for _ in range(3))
    headers = {"Authorization": f"Bearer {admin_token(server)}"}

    def shown(cid):
        return requests.get(f"{server.url}/admin/conversations/{cid}", headers=headers,
                            timeout=10).json()["conversation"]

    try:
        anonymous = laptop.start()
        anonymous_token = laptop.token
        asked = laptop.request("POST", "/chat/messages",
                               json={"content": "Do you ship to Oslo?", "client_id": "a1"})
        assert asked.status_code == 201, asked.text
        cid = asked.json()["conversation"]["id"]
        assert shown(cid)["profile"] == {}

        signed_in = laptop.start(conversation_id=cid, **customer)
        assert signed_in["verified"] is True and signed_in["conversation_id"] == cid
        assert signed_in["visitor_id"] != anonymous["visitor_id"]
        assert shown(cid)["profile"] == {"user_id": "cust-7", "verified": True,
                                         "email": "bo@shop.example"}
        assert shown(cid)["external_user_id"] == signed_in["visitor_id"]
        more = laptop.request("POST", f"/chat/{cid}/messages",
                              json={"content": "And to Bergen?", "client_id": "a2"})
        assert more.status_code == 201 and more.json()["conversation"]["id"] == cid
        assert [m["content"] for m in laptop.history(cid).json()["messages"]
                if m["sender_type"] == "user"] == ["Do you ship to Oslo?", "And to Bergen?"]
        # Their phone finds it; the anonymous token no longer reads it.
        assert phone.start(**customer)["conversation_id"] == cid
        assert laptop.request("GET", f"/chat/{cid}/history",
                              token=anonymous_token).status_code == 403

        # Someone anonymous on a tablet while the customer has that conversation open:
        # signing in gives them the customer's open one; the tablet's stays anonymous.
        tablet.start()
        own = tablet.request("POST", "/chat/messages",
                             json={"content": "Hello from the tablet", "client_id": "t1"})
        tablet_cid = own.json()["conversation"]["id"]
        assert tablet.start(conversation_id=tablet_cid, **customer)["conversation_id"] == cid
        assert shown(tablet_cid)["profile"] == {}
        assert shown(tablet_cid)["external_user_id"] != signed_in["visitor_id"]
    finally:
        for visitor in (laptop, phone, tablet):
            visitor.close()


def test_without_the_secret_the_sites_identity_is_not_taken(server, visitors):
    visitor = visitors()
    session = visitor.start(user_id="cust-42", user_hash=_signed("cust-42"))
    assert session["verified"] is False and session["visitor_id"].startswith("v_")
    again = visitors().start(user_id="cust-42", user_hash=_signed("cust-42"))
    assert again["visitor_id"] != session["visitor_id"]


def test_only_allowed_origins_may_use_the_chat(start_server):
    server = start_server(CHAT_ALLOWED_ORIGINS="https://shop.example")
    shop = ChatVisitor(server.url, origin="https://shop.example")
    evil = ChatVisitor(server.url, origin="https://evil.example")
    try:
        preflight = requests.options(
            f"{server.url}/chat/session", timeout=10,
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"},
        )
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

        shop.start()
        live = shop.connect()
        assert live.call("message", {"content": "hi from the shop", "client_id": "s1"})["id"]
        refused = evil.request("POST", "/chat/session", json={})
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_origin"
        assert "Access-Control-Allow-Origin" not in refused.headers
        evil.token = shop.token  # even with a valid token, the socket refuses that page
        with pytest.raises(socketio.exceptions.ConnectionError):
            evil.connect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            evil.connect(transports=["polling"])
        polling = shop.connect(conversation_id=live.call(
            "message", {"content": "again", "client_id": "s2"})["conversation_id"],
            transports=["polling"])
        assert polling.call("typing", {"typing": True}) == {"ok": True}
        # The widget script itself is public: any page may load it.
        script = requests.get(f"{server.url}/chat/widget.js", timeout=10,
                              headers={"Origin": "https://evil.example"})
        assert script.status_code == 200 and "text/javascript" in script.headers["Content-Type"]
    finally:
        shop.close()
        evil.close()
