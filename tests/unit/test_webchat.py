"""The web chat's small parts: visitor tokens, origins, visitor-facing views, settings."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from channels.webchat.chat import public_message, visitor_state
from channels.webchat.identity import (
    VISITOR_ID,
    InvalidToken,
    Visitor,
    VisitorTokens,
    bearer_token,
    clean_display_name,
    new_visitor_id,
    user_visitor_id,
)
from channels.webchat.live import VisitorEvents
from channels.webchat.origins import OriginPolicy
from services.errors import StoreUnavailable
from services.events import Event
from services.models import InboundMessage
from services.settings import SettingsError, load_settings
from tests.support.chat import conversation, message


def test_tokens_bind_the_visitor_and_expire():
    tokens = VisitorTokens("secret", max_age_seconds=60)
    visitor = Visitor(new_visitor_id(), "Ada")
    assert tokens.verify(tokens.issue(visitor)) == visitor
    with pytest.raises(InvalidToken):
        VisitorTokens("another secret", 60).verify(tokens.issue(visitor))
    with pytest.raises(InvalidToken):
        tokens.verify(tokens.issue(visitor)[:-2] + "xx")
    # Signed by the same key for another purpose (another salt): not a visitor token.
    other = URLSafeTimedSerializer("secret", salt="something-else").dumps({"v": visitor.id})
    with pytest.raises(InvalidToken):
        tokens.verify(other)
    expired = VisitorTokens("secret", max_age_seconds=1)
    token = expired.issue(visitor)
    time.sleep(2.1)
    with pytest.raises(InvalidToken):
        expired.verify(token)
    for bad in (None, "", 42, "x" * 2000):
        with pytest.raises(InvalidToken):
            tokens.verify(bad)


def test_visitor_ids_names_and_bearer_headers():
    ids = {new_visitor_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("v_") and len(i) >= 18 for i in ids)
    assert clean_display_name("  Ada \n Lovelace\x00 ") == "Ada Lovelace"
    assert clean_display_name("x" * 200) == "x" * 80
    assert clean_display_name("   ") is None and clean_display_name(3) is None
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token(None) is None


def test_origin_policy():
    same_only = OriginPolicy([])
    assert same_only.allows(None, "chat.example")  # no Origin: not a cross-origin browser call
    assert same_only.allows("https://chat.example", "chat.example")
    assert not same_only.allows("https://shop.example", "chat.example")
    assert not same_only.allows("null", "chat.example")
    listed = OriginPolicy(["https://shop.example", "http://localhost:8080"])
    assert listed.cross_origin
    assert listed.allows("https://SHOP.example", "chat.example")
    assert listed.allows("http://localhost:8080", "chat.example")
    assert not listed.allows("http://shop.example", "chat.example")  # another scheme
    assert not listed.allows("https://shop.example.evil.com", "chat.example")
    environ = {"HTTP_HOST": "internal:5000", "HTTP_X_FORWARDED_HOST": "chat.example"}
    assert listed.allows_environ("https://chat.example", environ)
    assert OriginPolicy(["*"]).allows("https://anything.example", "chat.example")


@pytest.mark.parametrize(
    "fields, state",
    [
        ({}, "bot"),
        ({"needs_human": True}, "escalated"),  # flagged, the bot still answers
        ({"needs_human": True, "handled_by": "human"}, "escalated"),  # waiting for a person
        ({"needs_human": True, "handled_by": "human", "assigned_to": 3}, "human"),
        ({"handled_by": "human"}, "human"),  # an agent answered: the flag is cleared
        ({"status": "closed", "handled_by": "human"}, "closed"),
    ],
)
def test_visitor_state(fields, state):
    assert visitor_state(conversation(**fields)) == state


def test_public_message_hides_internals_and_gives_back_the_client_id():
    mine = message("user", "hi", external_id="visitor-1:abc", metadata={"escalate": True,
                                                                       "reason": "x"})
    view = public_message(mine, "visitor-1")
    assert view["client_id"] == "abc" and view["kind"] == "escalation"
    assert public_message(mine, "visitor-2")["client_id"] is None
    reply = message("bot", "hello", confidence_score=0.3, requires_human=True,
                    human_reason="low confidence", metadata={"intent": "greeting"})
    view = public_message(reply, "visitor-1")
    assert set(view) == {"id", "conversation_id", "sender_type", "content", "attachments",
                         "created_at", "client_id", "kind", "sender_name"}
    assert view["sender_name"] is None
    # An agent's reply: the name they chose, never their e-mail or account id.
    agent = message("agent", "on it", sender_id="sam@example.com",
                    metadata={"agent_id": 4, "agent_name": "Sam"})
    shown = public_message(agent, "visitor-1")
    assert shown["sender_name"] == "Sam" and "sam@example.com" not in str(shown)
    assert "agent_id" not in str(shown)
    # A bot that put an agent_name in its metadata is still the bot.
    assert public_message(message("bot", "x", metadata={"agent_name": "Fake"}),
                          "visitor-1")["sender_name"] is None


class FakeSocketIO:
    def __init__(self):
        self.emitted = []

    def emit(self, event, data, **kwargs):
        self.emitted.append((event, data, kwargs))


class SeenTracker:
    """``seen_message_id`` as the tracker answers it: an id, None, or the store down."""

    def __init__(self, answer):
        self.answer = answer

    def seen_message_id(self, conversation_id):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_visitor_events_relay_status_and_agent_typing_only():
    socketio = FakeSocketIO()
    events = VisitorEvents(socketio, SeenTracker(None))
    webchat = conversation(needs_human=True, handled_by="human").model_dump(mode="json")
    messenger = {**webchat, "platform": "messenger"}
    events(Event("conversation.updated", {"conversation": webchat}, 7))
    events(Event("conversation.updated", {"conversation": messenger}, 7))
    agent = {"conversation_id": 7, "sender_type": "agent", "typing": True, "user_id": 1,
             "name": "sam@example.com", "agent_name": "Sam"}
    events(Event("typing", agent, 7))
    events(Event("typing", {"conversation_id": 7, "sender_type": "user"}, 7))
    assert [(e, kw["to"], kw["namespace"]) for e, _, kw in socketio.emitted] == [
        ("status", ["conversation:7", "visitor:visitor-1"], "/chat"),  # and the visitor's room
        ("typing", "conversation:7", "/chat")]
    status, typing = socketio.emitted[0][1], socketio.emitted[1][1]
    assert status["state"] == "escalated" and "human_reason" not in status["conversation"]
    # The agent's chosen name goes to the visitor, never their e-mail or account id.
    assert typing == {"conversation_id": 7, "sender_type": "agent", "typing": True,
                      "sender_name": "Sam"}


def test_visitor_events_tell_the_conversation_what_the_team_has_seen():
    socketio = FakeSocketIO()
    read = {"read": {"user_id": 1, "conversation_id": 7, "message_count": 3}}
    VisitorEvents(socketio, SeenTracker(42))(Event("conversation.read", read, 7))
    VisitorEvents(socketio, SeenTracker(None))(Event("conversation.read", read, 7))
    # The store down: nothing is said (the widget's next history brings it).
    VisitorEvents(socketio, SeenTracker(StoreUnavailable("down")))(
        Event("conversation.read", read, 7))
    # "Mark all read" on the inbox is not a reading.
    VisitorEvents(socketio, SeenTracker(42))(Event("conversations.read", {"user_id": 1}))
    assert [(e, d, kw["to"]) for e, d, kw in socketio.emitted] == [
        ("seen", {"conversation_id": 7, "message_id": 42}, "conversation:7"),
        ("seen", {"conversation_id": 7, "message_id": None}, "conversation:7")]


def test_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.chat_max_message_length == 1000 and settings.chat_history_limit == 50
    assert settings.chat_allowed_origins == [] and settings.chat_rate_limit == "20/minute"
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", "https://Shop.example/, http://localhost:8080")
    assert load_settings().chat_allowed_origins == ["https://shop.example",
                                                     "http://localhost:8080"]
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", '["https://a.example"]')
    assert load_settings().chat_allowed_origins == ["https://a.example"]
    assert settings.chat_reply_time == "auto"
    monkeypatch.setenv("CHAT_REPLY_TIME", "30")
    assert load_settings().chat_reply_time == "30"
    monkeypatch.delenv("CHAT_REPLY_TIME")
    for name, value in [("CHAT_ALLOWED_ORIGINS", "shop.example"),
                        ("CHAT_REPLY_TIME", "soon"), ("CHAT_REPLY_TIME", "0"),
                        ("CHAT_ALLOWED_ORIGINS", "https://shop.example/path"),
                        ("CHAT_RATE_LIMIT", "lots"),
                        ("CHAT_MAX_MESSAGE_LENGTH", "0")]:
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=f"Invalid setting {name}"):
            load_settings()
        monkeypatch.delenv(name)


class _ListingRecorder:
    """A store that records what ``list_conversations`` was asked and whose rows it gave."""

    def __init__(self, store) -> None:
        self._store = store
        self.calls: list[tuple[object, list[str]]] = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def list_conversations(self, filters, limit, cursor=None):
        page = self._store.list_conversations(filters, limit, cursor)
        self.calls.append((filters, [c.external_user_id for c in page.conversations]))
        return page


def test_a_visitors_conversations_are_read_through_the_person_filter(services, settings, clock):
    from channels.webchat.chat import WebchatChannel
    from services.models import InboundMessage
    from services.tracking import ConversationTracker

    alice, bob = Visitor(new_visitor_id()), Visitor(new_visitor_id())
    sent = iter(range(1000))

    def say(user: str, platform: str = "webchat"):
        clock.advance(seconds=1)
        return services.tracker.track_inbound(InboundMessage(
            platform=platform, external_user_id=user, external_id=f"m{next(sent)}",
            content="hi")).conversation

    old = say(alice.id)
    services.tracker.close(old.id)
    bobs = say(bob.id)
    say(alice.id, platform="messenger")  # the same id on another platform is someone else
    new = say(alice.id)
    say(bob.id)

    recorder = _ListingRecorder(services.store)
    channel = WebchatChannel(ConversationTracker(recorder, services.events, clock), settings)
    assert [c.id for c in channel.conversations(alice)] == [new.id, old.id]
    assert [c.id for c in channel.conversations(bob)] == [bobs.id]
    assert channel.conversations(Visitor(new_visitor_id())) == []
    # The store was asked for that one person, and handed out no one else's rows.
    assert [(f.platform, f.external_user_id) for f, _ in recorder.calls][:2] == [
        ("webchat", alice.id), ("webchat", bob.id)]
    assert [set(owners) for _, owners in recorder.calls[:2]] == [{alice.id}, {bob.id}]


class _UnmovingStore:
    """A store whose database lacks ``move_person`` (a Supabase project before its
    migration: PostgREST's PGRST202, which the store raises as unavailable)."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def move_person(self, *args):
        raise StoreUnavailable("supabase: Could not find the function public.move_person"
                               " (PGRST202)")


def test_a_visitor_signing_in_takes_their_chat_unless_the_store_cannot(
        services, settings, clock, caplog):
    from channels.webchat.chat import WebchatChannel
    from services.tracking import ConversationTracker

    anonymous = Visitor(new_visitor_id())
    customer = Visitor(user_visitor_id("server-key", "42"), None, "42", "ann@shop.example")
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=anonymous.id, external_id="m1",
        content="hi")).conversation

    unable = WebchatChannel(
        ConversationTracker(_UnmovingStore(services.store), services.events, clock), settings)
    assert unable.sign_in(anonymous, customer) == []  # the session goes on
    assert "keeps their chat anonymous" in caplog.text and "PGRST202" in caplog.text
    assert services.store.get_conversation(conversation.id).external_user_id == anonymous.id

    moved = WebchatChannel(services.tracker, settings).sign_in(anonymous, customer)
    assert [(c.id, c.external_user_id, c.profile) for c in moved] == [
        (conversation.id, customer.id, customer.profile())]


def test_hostile_input_found_by_the_fuzz_tests_is_a_clear_4xx_or_stored_cleanly(client):
    """tests/reliability/test_widget_fuzz.py found these 500s: a lone surrogate escape in a
    message or a display name (no encoder or store takes it), ids beyond 64 bits in a URL or
    body (SQLite cannot bind them), JSON's 1e400 as an id; and a client id ending in a
    newline passed the check."""
    start = client.post("/chat/session", data=b'{"display_name": "Ad\\ud800a"}',
                        content_type="application/json")
    assert start.status_code == 200 and start.get_json()["display_name"] == "Ad\ufffda"
    auth = {"Authorization": f"Bearer {start.get_json()['token']}"}
    sent = client.post("/chat/messages", data=b'{"content": "x\\udc00y", "client_id": "c-1"}',
                       content_type="application/json", headers=auth)
    assert sent.status_code == 201 and sent.get_json()["message"]["content"] == "x\ufffdy"
    huge = str(10**30)
    for method, path, body in [
        ("POST", f"/chat/{huge}/messages", {"content": "hi"}),
        ("GET", f"/chat/{huge}/history", None),
        ("GET", f"/chat/1/history?before={huge}", None),
        ("POST", "/chat/session", {"conversation_id": 10**30}),
        ("POST", "/chat/messages", {"content": "hi", "client_id": "c-2\n"}),
    ]:
        answer = client.open(path, method=method, json=body, headers=auth)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert set(answer.get_json()) == {"error", "detail", "status"}
    infinite = client.post("/chat/session", data=b'{"conversation_id": 1e400}',
                           content_type="application/json", headers=auth)
    assert infinite.status_code == 400


def test_the_session_says_whether_the_team_is_in_and_when_it_is_back(client, settings, store,
                                                                      clock):
    from admin_app import create_app
    from services.runtime import build_services

    assert client.post("/chat/session", json={}).get_json()["hours"] is None  # always open

    hours = settings.model_copy(update={"business_hours": "mon-fri 09:00-12:00",
                                        "business_timezone": "Europe/Paris"})
    app = create_app(hours, build_services(hours, store=store, clock=clock))
    app.config["TESTING"] = True
    chat = app.test_client()
    # The clock starts on Wednesday at 13:00 in Paris: closed until Thursday 09:00.
    assert chat.post("/chat/session", json={}).get_json()["hours"] == {
        "open": False, "closes_at": None, "next_open": "2026-11-26T08:00:00+00:00",
        "next_open_text": "tomorrow at 09:00 CET", "timezone": "Europe/Paris"}
    clock.advance(hours=20)  # Thursday 09:00
    assert chat.post("/chat/session", json={}).get_json()["hours"] == {
        "open": True, "closes_at": "2026-11-26T11:00:00+00:00", "next_open": None,
        "next_open_text": None, "timezone": "Europe/Paris"}


def test_a_visitor_rates_their_closed_conversation(client, services):
    seen = []
    services.events.subscribe(seen.append)

    def session():
        token = client.post("/chat/session", json={}).get_json()["token"]
        return {"Authorization": f"Bearer {token}"}

    ada, bob = session(), session()
    sent = client.post("/chat/messages", json={"content": "hi", "client_id": "c-1"},
                       headers=ada).get_json()
    cid = sent["conversation"]["id"]
    assert sent["conversation"]["rating"] is None

    def rate(body, headers=ada, conversation=cid):
        return client.post(f"/chat/{conversation}/rating", json=body, headers=headers)

    early = rate({"score": 5})
    assert early.status_code == 409 and early.get_json()["error"] == "conflict"
    services.tracker.close(cid)
    for bad in ({}, {"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.5},
                {"score": True}, {"score": 5, "comment": 3}):
        answer = rate(bad)
        assert answer.status_code == 400, bad
        assert set(answer.get_json()) == {"error", "detail", "status"}
    long = rate({"score": 5, "comment": "x" * 501})
    assert (long.status_code, long.get_json()["error"], long.get_json()["limit"]) == (
        413, "too_large", 500)
    assert rate({"score": 5}, headers=bob).status_code == 403
    assert rate({"score": 5}, conversation=987654321).status_code == 404
    assert rate({"score": 5}, headers={}).status_code == 401
    assert services.store.get_conversation(cid).rating is None  # nothing was kept

    seen.clear()
    answer = rate({"score": 4, "comment": "  Quick\x00 and kind \ud800 "})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["rating"] == 4
    stored = services.store.get_conversation(cid)
    assert (stored.rating, stored.rating_comment) == (4, "Quick and kind \ufffd")
    assert [e.name for e in seen] == ["conversation.updated"]  # admin pages follow
    assert rate({"score": 2, "comment": "   "}).status_code == 200  # a blank comment is none
    stored = services.store.get_conversation(cid)
    assert (stored.rating, stored.rating_comment) == (2, None)
    history = client.get(f"/chat/{cid}/history", headers=ada).get_json()
    assert history["conversation"]["rating"] == 2
    assert "rating_comment" not in history["conversation"]


def test_a_visitor_back_after_a_closing_is_asked_about_it_for_a_day(client, services, clock):
    start = client.post("/chat/session", json={}).get_json()
    auth = {"Authorization": f"Bearer {start['token']}"}
    cid = client.post("/chat/messages", json={"content": "hi", "client_id": "c-1"},
                      headers=auth).get_json()["conversation"]["id"]

    def back():
        return client.post("/chat/session", json={"conversation_id": cid},
                           headers=auth).get_json()

    still = back()
    assert still["conversation_id"] == cid and still["to_rate"] is None  # open: nothing to rate
    services.tracker.close(cid)
    clock.advance(hours=23)
    later = back()
    assert later["conversation_id"] is None and later["conversation"] is None
    assert later["to_rate"]["id"] == cid and later["to_rate"]["state"] == "closed"
    assert later["to_rate"]["rating"] is None
    assert client.post(f"/chat/{cid}/rating", json={"score": 3}, headers=auth).status_code == 200
    assert back()["to_rate"] is None  # rated: not asked again
    other = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=start["visitor_id"], external_id="m-2",
        content="again", respond=False)).conversation
    services.tracker.close(other.id)
    clock.advance(hours=25)  # closed more than a day ago: not asked any more
    answer = client.post("/chat/session", json={"conversation_id": other.id},
                         headers=auth).get_json()
    assert answer["to_rate"] is None and answer["conversation"] is None
    assert answer["deleted_conversation_id"] is None  # closed, not deleted: it stays shown
    assert later["deleted_conversation_id"] is None and still["deleted_conversation_id"] is None


def test_a_visitor_back_after_a_deletion_is_told_which_conversation_went(client, services):
    start = client.post("/chat/session", json={}).get_json()
    auth = {"Authorization": f"Bearer {start['token']}"}
    cid = client.post("/chat/messages", json={"content": "hi", "client_id": "c-1"},
                      headers=auth).get_json()["conversation"]["id"]
    admin = services.store.create_user("boss@example.com", "admin", "hash", services.clock())
    services.tracker.delete(cid, by=admin)
    answer = client.post("/chat/session", json={"conversation_id": cid},
                         headers=auth).get_json()
    assert (answer["conversation_id"], answer["to_rate"], answer["deleted_conversation_id"]) \
        == (None, None, cid)
    assert answer["visitor_id"] == start["visitor_id"]  # the same visitor, starting afresh


@pytest.mark.parametrize("given, kept", [
    (None, None),
    ({"url": "https://shop.example/lamps?colour=red", "title": " Lamps "},
     {"url": "https://shop.example/lamps?colour=red", "title": "Lamps"}),
    ({"url": "http://127.0.0.1:5000/chat/demo"}, {"url": "http://127.0.0.1:5000/chat/demo",
                                                 "title": ""}),
    # Too long: the query goes, then the rest is cut; a long title is cut with an ellipsis.
    ({"url": "https://shop.example/p?" + "q" * 3000, "title": "t" * 300},
     {"url": "https://shop.example/p", "title": "t" * 199 + "…"}),
    ({"url": "https://shop.example/" + "p" * 3000},
     {"url": ("https://shop.example/" + "p" * 3000)[:2000], "title": ""}),
])
def test_the_page_a_visitor_writes_from(given, kept):
    from channels.webchat.chat import WebchatChannel

    assert WebchatChannel(None, None).page(given) == kept


@pytest.mark.parametrize("given", [
    "https://shop.example/", {"url": "javascript:alert(1)"}, {"url": "ftp://x/y"},
    {"url": "https://"}, {"url": "https://shop.example/a b"}, {"url": 7}, {},
    {"url": "https://shop.example/", "title": ["x"]},
])
def test_a_page_that_is_not_one_is_refused(given):
    from channels.webchat.chat import ChatError, WebchatChannel

    with pytest.raises(ChatError) as refused:
        WebchatChannel(None, None).page(given)
    assert refused.value.status == 400


def test_a_customer_the_site_vouches_for():
    import hashlib
    import hmac

    from channels.webchat.identity import IdentityError, verified_identity

    digest = hmac.new(b"site-secret", b"42", hashlib.sha256).hexdigest()
    assert verified_identity("site-secret", "42", digest, " ann@shop.example ") == (
        "42", "ann@shop.example")
    assert verified_identity("site-secret", "42", digest.upper(), "not a mail") == ("42", None)
    for user_id, user_hash, secret in (("42", "0" * 64, "site-secret"),
                                       ("43", digest, "site-secret"),
                                       ("42", digest, "another-secret"),
                                       ("42", None, "site-secret"), (42, digest, "site-secret"),
                                       ("", digest, "site-secret"), ("42", digest, "")):
        with pytest.raises(IdentityError):
            verified_identity(secret, user_id, user_hash, None)
    # One visitor id per customer and server: stable, valid, and not the customer's id.
    first = user_visitor_id("server-key", "42")
    assert first == user_visitor_id("server-key", "42") != user_visitor_id("server-key", "43")
    assert first != user_visitor_id("other-key", "42")
    assert VISITOR_ID.match(first)


def test_a_customers_token_keeps_who_they_are():
    tokens = VisitorTokens("k", 60)
    customer = Visitor("v_" + "a" * 22, "Ann", "42", "ann@shop.example")
    assert tokens.verify(tokens.issue(customer)) == customer
    assert customer.profile() == {"user_id": "42", "verified": True, "email": "ann@shop.example"}
    anonymous = Visitor("v_" + "b" * 22, "Bo")
    assert tokens.verify(tokens.issue(anonymous)) == anonymous and anonymous.profile() is None


@pytest.mark.parametrize("zone, kept", [
    ("Europe/Paris", "Europe/Paris"), ("America/Argentina/Buenos_Aires",
                                       "America/Argentina/Buenos_Aires"), ("UTC", "UTC"),
    ("Mars/Olympus", None), ("../../etc/passwd", None), ("", None), (42, None),
    ("Europe/" + "x" * 80, None),
])
def test_a_browsers_time_zone_is_kept_only_when_the_server_knows_it(zone, kept):
    from channels.webchat.identity import clean_time_zone

    assert clean_time_zone(zone) == kept


@pytest.mark.parametrize("language, kept", [
    ("de-AT", "de-AT"), ("fr", "fr"), ("zh-Hans-CN", "zh-Hans-CN"), ("en--US", None),
    ("<script>", None), ("e", None), ("de_AT", None), (None, None), ("de-" + "A" * 40, None),
])
def test_a_browsers_language_is_kept_only_as_a_language_tag(language, kept):
    from channels.webchat.identity import clean_language

    assert clean_language(language) == kept


def test_the_browsers_time_zone_and_language_go_with_every_message(client, services):
    """Given at the session's start, kept in the token: each message puts them in the
    conversation's profile, for the agent's "Local time"; a zone or tag the server will not
    take is left out, not refused, and a later session without them keeps the token's."""
    start = client.post("/chat/session", json={"time_zone": "Asia/Tokyo",
                                               "language": "ja-JP"}).get_json()
    auth = {"Authorization": f"Bearer {start['token']}"}
    sent = client.post("/chat/messages", json={"content": "hi", "client_id": "c-1"},
                       headers=auth).get_json()
    cid = sent["conversation"]["id"]
    assert services.tracker.get(cid).profile == {"time_zone": "Asia/Tokyo",
                                                 "language": "ja-JP"}

    again = client.post("/chat/session", json={"time_zone": "Nowhere/Land", "language": "??"},
                        headers=auth)
    assert again.status_code == 200  # not refused: left out
    auth = {"Authorization": f"Bearer {again.get_json()['token']}"}
    client.post("/chat/messages", json={"content": "still here", "client_id": "c-2"},
                headers=auth)
    assert services.tracker.get(cid).profile == {"time_zone": "Asia/Tokyo",
                                                 "language": "ja-JP"}


def test_a_visitors_token_keeps_their_time_zone_and_language():
    tokens = VisitorTokens("k", 60)
    visitor = Visitor("v_" + "c" * 22, None, None, None, "Europe/Lisbon", "pt-PT")
    assert tokens.verify(tokens.issue(visitor)) == visitor
    assert visitor.profile() == {"time_zone": "Europe/Lisbon", "language": "pt-PT"}
    customer = Visitor("v_" + "d" * 22, "Ann", "42", None, "Europe/Lisbon")
    assert customer.profile() == {"user_id": "42", "verified": True,
                                  "time_zone": "Europe/Lisbon"}
