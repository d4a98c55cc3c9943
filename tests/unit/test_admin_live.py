"""The ``/admin`` Socket.IO namespace's handlers, through ``socketio.test_client``
(both stores): who may connect, which rooms get which events, typing, throttled stats."""

from __future__ import annotations

import threading
import time

import pytest

from admin_app.extensions import socketio
from services.events import Event
from services.models import InboundMessage, OutboundMessage
from tests.support.admin import login, make_user


def _inbound(services, user="visitor-1", content="hello", ext=None):
    return services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content=content,
        external_id=ext or f"{user}:{content}", respond=False,
    ))


def _admin_socket(app, client, **kwargs):
    return socketio.test_client(app, namespace="/admin", flask_test_client=client, **kwargs)


def _events(sock, name=None):
    received = sock.get_received("/admin")
    return [r for r in received if name is None or r["name"] == name]


@pytest.fixture
def signed_in(app, client, services):
    make_user(services)
    assert login(client, "agent@example.com").status_code == 302
    return client


def test_anonymous_socket_is_refused(app, client):
    sock = _admin_socket(app, client)
    assert not sock.is_connected("/admin")


def test_cross_origin_socket_is_refused(app, signed_in):
    foreign = _admin_socket(app, signed_in, headers={"Origin": "https://evil.example"})
    assert not foreign.is_connected("/admin")
    same = _admin_socket(app, signed_in, headers={"Origin": "http://localhost"})
    assert same.is_connected("/admin")
    # Behind a TLS-terminating proxy the page is https: the host is what counts.
    proxied = _admin_socket(app, signed_in, headers={"Origin": "https://localhost"})
    assert proxied.is_connected("/admin")
    other_port = _admin_socket(app, signed_in, headers={"Origin": "http://localhost:8080"})
    assert not other_port.is_connected("/admin")


def test_signed_out_session_is_refused(app, signed_in):
    from tests.support.admin import session_csrf

    signed_in.post("/logout", data={"csrf_token": session_csrf(signed_in)})
    assert not _admin_socket(app, signed_in).is_connected("/admin")


def test_conversation_events_go_to_every_admin(app, signed_in, services):
    sock = _admin_socket(app, signed_in)
    assert sock.is_connected("/admin")
    first = _inbound(services)
    _inbound(services, content="again")
    names = [e["name"] for e in _events(sock)]
    # The account's first page: it came online (every page hears it), then the messages.
    assert names == ["account.online", "conversation.created", "conversation.updated"]
    payload = _events(sock) or []
    assert payload == []  # get_received drains
    services.tracker.mark_needs_human(first.message.id, "asked for a person", 2)
    updated = _events(sock, "conversation.updated")
    assert updated[-1]["args"][0]["conversation"]["needs_human"] is True
    assert updated[-1]["args"][0]["conversation_id"] == first.conversation.id


def test_messages_and_typing_go_only_to_the_conversation_room(app, signed_in, services,
                                                               captured_events):
    first = _inbound(services)
    other = _inbound(services, user="visitor-2")
    watching = _admin_socket(app, signed_in)
    inbox_only = _admin_socket(app, signed_in)
    assert watching.emit("join", {"conversation_id": first.conversation.id},
                         namespace="/admin", callback=True) == {"ok": True}
    assert watching.emit("join", {"conversation_id": "x"}, namespace="/admin",
                         callback=True)["ok"] is False
    _events(watching), _events(inbox_only)

    _inbound(services, content="second")
    _inbound(services, user="visitor-2", content="second")
    watched = _events(watching, "message.created")
    assert [e["args"][0]["message"]["conversation_id"] for e in watched] == [first.conversation.id]
    assert _events(inbox_only, "message.created") == []

    # Conversation changes reach a socket in both rooms once, not twice.
    services.tracker.close(first.conversation.id)
    assert len(_events(watching, "conversation.updated")) == 1

    ack = inbox_only.emit("typing", {"conversation_id": first.conversation.id, "typing": True},
                          namespace="/admin", callback=True)
    assert ack == {"ok": True}
    typing = [e for e in captured_events if e.name == "typing"]
    assert typing[-1].data == {
        "conversation_id": first.conversation.id, "sender_type": "agent", "typing": True,
        "user_id": services.store.get_user_by_email("agent@example.com").id,
        "name": "agent@example.com", "agent_name": None,
    }
    assert [e["args"][0]["sender_type"] for e in _events(watching, "typing")] == ["agent"]
    assert _events(inbox_only, "typing") == []

    watching.emit("leave", {"conversation_id": first.conversation.id}, namespace="/admin")
    _inbound(services, content="third")
    assert _events(watching, "message.created") == []
    assert other.conversation.id != first.conversation.id


def _presence(sock):
    return [{k: e["args"][0][k] for k in ("conversation_id", "name", "viewing", "hello", "viewer")}
            for e in _events(sock, "presence")]


def test_who_has_a_conversation_open_reaches_every_page_once(app, client, services,
                                                              monkeypatch):
    import admin_app.live

    conversation = _inbound(services).conversation
    cid = conversation.id
    make_user(services, "ann@example.com")
    make_user(services, "bob@example.com")
    ann_client, bob_client = app.test_client(), app.test_client()
    assert login(ann_client, "ann@example.com").status_code == 302
    assert login(bob_client, "bob@example.com").status_code == 302
    ann, bob = _admin_socket(app, ann_client), _admin_socket(app, bob_client)
    inbox_only = _admin_socket(app, bob_client)

    # A heartbeat for a conversation the socket does not follow is refused.
    assert bob.emit("viewing", {"conversation_id": cid}, namespace="/admin",
                    callback=True) == {"ok": False, "error": "join the conversation first"}
    assert ann.emit("join", {"conversation_id": cid}, namespace="/admin", callback=True)["ok"]
    (ann_hello,) = _presence(ann)
    assert ann_hello["name"] == "ann@example.com" and ann_hello["hello"] is True
    assert ann_hello["viewing"] is True and ann_hello["conversation_id"] == cid
    assert len(ann_hello["viewer"]) == 16  # opaque: the socket's own id is never sent
    assert ann_hello["viewer"] != ann.eio_sid

    bob.emit("join", {"conversation_id": cid}, namespace="/admin")
    assert [(p["name"], p["hello"]) for p in _presence(ann)] == [("bob@example.com", True)]
    _presence(bob)
    # Ann answers the hello; a second heartbeat within PRESENCE_MIN_SECONDS is dropped.
    for _ in range(2):
        assert ann.emit("viewing", {"conversation_id": cid}, namespace="/admin",
                        callback=True) == {"ok": True}
    assert [(p["name"], p["hello"]) for p in _presence(bob)] == [("ann@example.com", False)]
    monkeypatch.setattr(admin_app.live, "PRESENCE_MIN_SECONDS", 0)
    ann.emit("viewing", {"conversation_id": cid}, namespace="/admin")
    assert [p["viewer"] for p in _presence(bob)] == [ann_hello["viewer"]]

    # Leaving, and a dropped socket, say the viewer has gone.
    ann.emit("leave", {"conversation_id": cid}, namespace="/admin")
    assert [(p["name"], p["viewing"]) for p in _presence(bob)] == [("ann@example.com", False)]
    ann.emit("join", {"conversation_id": cid}, namespace="/admin")
    _presence(bob)
    ann.disconnect(namespace="/admin")
    assert [(p["viewer"], p["viewing"]) for p in _presence(bob)] == [(ann_hello["viewer"], False)]
    # The inbox shows it too: a page following no conversation got each event once.
    assert [(p["name"], p["viewing"], p["hello"]) for p in _presence(inbox_only)] == [
        ("ann@example.com", True, True), ("bob@example.com", True, True),
        ("ann@example.com", True, False), ("ann@example.com", True, False),
        ("ann@example.com", False, False), ("ann@example.com", True, True),
        ("ann@example.com", False, False)]


def test_events_published_from_another_thread_reach_the_socket(app, signed_in, services):
    conversation = _inbound(services).conversation
    sock = _admin_socket(app, signed_in)
    sock.emit("join", {"conversation_id": conversation.id}, namespace="/admin")

    def worker():
        services.tracker.track_outbound(OutboundMessage(
            conversation_id=conversation.id, sender_type="bot", content="from the worker",
        ))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    created = _events(sock, "message.created")
    assert created[0]["args"][0]["message"]["content"] == "from the worker"


def test_stats_are_pushed_throttled(settings, store, clock):
    from admin_app import create_app
    from services.runtime import build_services

    fast = settings.model_copy(update={"admin_stats_interval_seconds": 0.3})
    services = build_services(fast, store=store, clock=clock)
    app = create_app(fast, services)
    client = app.test_client()
    make_user(services)
    login(client, "agent@example.com")
    sock = _admin_socket(app, client)
    changes = 8
    for i in range(changes):
        _inbound(services, user=f"v{i}")  # a conversation.created and a message.created each
    stats, quiet_since = [], time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
        time.sleep(0.1)
        more = _events(sock, "stats.updated")
        if more:
            stats += more
            quiet_since = time.monotonic()
    # Coalesced: far fewer computations than changes, the last one up to date, then silence.
    assert 1 <= len(stats) < changes
    assert stats[-1]["args"][0]["stats"]["total_conversations"] == changes
    time.sleep(0.6)
    assert _events(sock, "stats.updated") == []


def test_a_published_stats_event_is_forwarded(app, signed_in, services):
    sock = _admin_socket(app, signed_in)
    services.events.publish(Event("stats.updated", {"stats": {"total_conversations": 7}}))
    assert _events(sock, "stats.updated")[0]["args"][0] == {"stats": {"total_conversations": 7}}


def _relay(services):
    from admin_app.live import EventRelay

    return next(s for s in services.events._subscribers if isinstance(s, EventRelay))


@pytest.mark.parametrize("failure", ["store down", "bug"])
def test_stats_that_cannot_be_computed_are_logged_and_not_sent(app, signed_in, services,
                                                                monkeypatch, caplog, failure):
    """The store down (or closed at shutdown) is one warning line, with no traceback each
    stats interval; anything else is an error with its traceback. Nothing is emitted."""
    from services.errors import StoreUnavailable

    sock = _admin_socket(app, signed_in)
    error = (StoreUnavailable("supabase: ConnectError") if failure == "store down"
             else RuntimeError("a bug"))

    def broken():
        raise error

    monkeypatch.setattr(services.tracker, "stats", broken)
    relay = _relay(services)
    relay.stats_interval = 0
    with caplog.at_level("WARNING", logger="admin_app.live"):
        relay._emit_stats_later()
    (record,) = [r for r in caplog.records if r.name == "admin_app.live"]
    assert "could not compute stats" in record.getMessage()
    if failure == "store down":
        assert record.levelname == "WARNING" and record.exc_info is None
        assert "ConnectError" in record.getMessage()
    else:
        assert record.levelname == "ERROR" and record.exc_info is not None
    assert _events(sock, "stats.updated") == []


def test_a_read_mark_reaches_only_the_accounts_own_pages(app, client, services, clock):
    conversation = _inbound(services).conversation
    _inbound(services, content="again")
    ann_user = make_user(services, "ann@example.com")
    make_user(services, "bob@example.com")
    ann_client, ann_phone, bob_client = app.test_client(), app.test_client(), app.test_client()
    for c, email in ((ann_client, "ann@example.com"), (ann_phone, "ann@example.com"),
                     (bob_client, "bob@example.com")):
        assert login(c, email).status_code == 302
    ann, phone, bob = (_admin_socket(app, c) for c in (ann_client, ann_phone, bob_client))
    for sock in (ann, phone, bob):
        _events(sock)

    clock.advance(seconds=1)
    services.tracker.mark_read(conversation.id, 2, ann_user)
    for sock in (ann, phone):  # both of ann's devices, once each
        (event,) = _events(sock, "conversation.read")
        read = event["args"][0]["read"]
        assert (read["user_id"], read["conversation_id"], read["message_count"]) == (
            ann_user.id, conversation.id, 2)
    assert _events(bob, "conversation.read") == []
    # A mark that did not move says nothing.
    clock.advance(seconds=1)
    services.tracker.mark_read(conversation.id, 1, ann_user)
    assert _events(ann, "conversation.read") == []
    # Every conversation marked read: once, to the account's pages only.
    services.tracker.mark_all_read(ann_user)
    for sock in (ann, phone):
        assert [e["args"][0]["user_id"] for e in _events(sock, "conversations.read")] == [
            ann_user.id]
    assert _events(bob, "conversations.read") == []


def test_an_inbox_asks_who_is_where_and_every_page_hears_it(app, client, services):
    conversation = _inbound(services).conversation
    make_user(services, "ann@example.com")
    make_user(services, "bob@example.com")
    ann_client, bob_client = app.test_client(), app.test_client()
    assert login(ann_client, "ann@example.com").status_code == 302
    assert login(bob_client, "bob@example.com").status_code == 302
    page = _admin_socket(app, ann_client)
    page.emit("join", {"conversation_id": conversation.id}, namespace="/admin")
    inbox = _admin_socket(app, bob_client)
    for sock in (page, inbox):
        _events(sock)

    assert inbox.emit("who", namespace="/admin", callback=True) == {"ok": True}
    for sock in (page, inbox):  # every page hears the question (those showing one answer)
        assert [e["args"][0] for e in _events(sock, "presence.query")] == [{}]
    # Asked again at once: the answers are on their way, nothing more is sent.
    assert inbox.emit("who", {}, namespace="/admin", callback=True) == {"ok": True}
    assert _events(page, "presence.query") == []


def test_seen_rounds_say_which_accounts_have_a_page_and_rest_while_none():
    from admin_app.live_sessions import SeenRounds
    accounts: set[int] = set()
    said: list[set[int]] = []
    started: list = []
    sleeps: list[float] = []
    rounds = SeenRounds(accounts=lambda: set(accounts), seen=said.append,
                        sleep=sleeps.append, start=started.append, interval=30.0)
    assert rounds.round() == set() and said == []  # nobody: nothing is said
    accounts.update({1, 2})
    rounds.wake()
    rounds.wake()  # already running: one loop
    assert len(started) == 1
    accounts.clear()
    started[0]()  # the loop: one sleep, nobody left, it stops
    assert sleeps == [30.0] and said == []
    accounts.add(3)
    rounds.wake()  # the next connection starts it again
    assert len(started) == 2
    assert rounds.round() == {3} and said == [{3}]


def test_seen_rounds_survive_a_failing_round():
    from admin_app.live_sessions import SeenRounds
    calls = []

    def seen(ids):
        calls.append(ids)
        if len(calls) == 1:
            raise RuntimeError("store hiccup")

    alive = [True, True, False]  # two rounds with a page open, then none
    rounds = SeenRounds(accounts=lambda: {7} if alive[min(len(calls), 2)] else set(),
                        seen=seen, sleep=lambda s: None, start=lambda f: None, interval=1.0)
    rounds._run()  # the first round fails, the second runs, then the loop ends
    assert calls == [{7}, {7}]


def test_an_idle_page_stops_keeping_its_account_online(app, client, services, clock):
    make_user(services, "ann@example.com")
    make_user(services, "bob@example.com")
    ann_client, bob_client = app.test_client(), app.test_client()
    assert login(ann_client, "ann@example.com").status_code == 302
    assert login(bob_client, "bob@example.com").status_code == 302
    ann_id = services.store.get_user_by_email("ann@example.com").id
    bob_id = services.store.get_user_by_email("bob@example.com").id
    namespace = socketio.server.namespace_handlers["/admin"]
    page = _admin_socket(app, ann_client)
    assert ann_id in namespace.accounts()
    assert services.store.get_user(ann_id).last_seen_at == clock()  # seen as it connected

    assert page.emit("idle", {"idle": True}, namespace="/admin", callback=True) == {"ok": True}
    assert ann_id not in namespace.accounts()  # the rounds stop saying she is online
    for bad in ({"idle": "yes"}, {}, None, [True]):
        answer = page.emit("idle", bad, namespace="/admin", callback=True)
        assert answer == {"ok": False, "error": "idle must be true or false"}
    assert ann_id not in namespace.accounts()  # a bad message changes nothing

    # Used again once she had gone offline: online at once, and every page hears it.
    clock.advance(seconds=200)
    _events(page)
    assert page.emit("idle", {"idle": False}, namespace="/admin", callback=True) == {"ok": True}
    assert ann_id in namespace.accounts()
    assert services.store.get_user(ann_id).last_seen_at == clock()
    assert [e["args"][0] for e in _events(page, "account.online")] == [
        {"user_id": ann_id, "online": True, "last_seen_at": clock().isoformat()}]

    # A page idle as it connects (its auth says so) counts for nothing and marks nothing.
    idle = _admin_socket(app, bob_client, auth={"idle": True})
    assert idle.is_connected("/admin")
    assert bob_id not in namespace.accounts()
    assert services.store.get_user(bob_id).last_seen_at is None
    # Another page of Ann's, idle, leaves her counted by the first.
    _admin_socket(app, ann_client, auth={"idle": True})
    assert ann_id in namespace.accounts()
