"""The admin panel's JSON actions over both stores: reply, retry, take over, hand back,
assign, who the users are, the Messenger window, and the streamed export."""

from __future__ import annotations

import csv
import io
import json

import pytest

from services.models import ConversationFilter, InboundMessage, OutboundMessage
from services.outbox import SendError

NEW_ENDPOINTS = [
    ("get", "/admin/me"),
    ("get", "/admin/users"),
    ("post", "/admin/conversations/1/messages"),
    ("post", "/admin/messages/1/retry"),
    ("post", "/admin/conversations/1/take-over"),
    ("post", "/admin/conversations/1/hand-back"),
    ("post", "/admin/conversations/1/assign"),
    ("get", "/admin/export"),
]


class ScriptedSender:
    """A channel sender that records what it sends, or fails with ``fail`` as the reason."""

    def __init__(self, platform: str = "webchat") -> None:
        self.platform = platform
        self.fail: str | None = None
        self.sent: list[int] = []

    def send(self, conversation, message):
        if self.fail:
            raise SendError(self.fail, retryable=False)
        self.sent.append(message.id)
        return None


@pytest.fixture
def sender(services):
    scripted = ScriptedSender()
    services.senders["webchat"] = scripted
    return scripted


def track(services, user="visitor-1", content="hello", platform="webchat", **fields):
    return services.tracker.track_inbound(InboundMessage(
        platform=platform, external_user_id=user, content=content,
        external_id=f"{user}-{content}", respond=False, **fields,
    ))


@pytest.mark.parametrize("method,path", NEW_ENDPOINTS)
def test_new_endpoints_refuse_anonymous(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.get_json()["success"] is False


def test_me_and_users_never_show_secrets(client, make_token):
    headers = make_token("ann@example.com", "admin")
    make_token("bob@example.com", "agent")
    me = client.get("/admin/me", headers=headers).get_json()["user"]
    assert me["email"] == "ann@example.com" and me["role"] == "admin"
    body = client.get("/admin/users", headers=headers).get_json()
    assert {u["email"] for u in body["users"]} == {"ann@example.com", "bob@example.com"}
    assert "password_hash" not in json.dumps(body)


def test_reply_is_stored_pending_then_sent_by_the_worker(client, services, make_token, sender,
                                                         captured_events):
    headers = make_token("ann@example.com")
    conversation = track(services).conversation
    response = client.post(f"/admin/conversations/{conversation.id}/messages",
                           json={"content": "Hi, Ann here."}, headers=headers)
    assert response.status_code == 201
    message = response.get_json()["message"]
    assert message["sender_type"] == "agent" and message["sender_id"] == "ann@example.com"
    assert message["delivery_status"] == "pending"
    # Replying takes the conversation from the bot, assigned to whoever replied.
    after = services.tracker.get(conversation.id)
    me = services.store.get_user_by_email("ann@example.com")
    assert after.handled_by == "human" and after.assigned_to == me.id
    assert any(e.name == "message.created" and e.data["message"]["id"] == message["id"]
               for e in captured_events)

    services.jobs.run_until_idle()
    assert sender.sent == [message["id"]]
    assert services.tracker.get_message(message["id"]).delivery_status == "sent"


def test_first_reply_to_an_escalated_conversation_assigns_the_replier(client, services,
                                                                      make_token, sender):
    """An escalation hands the conversation to humans with nobody assigned; whoever answers
    first gets it (so "Mine" and "Unassigned" stay true). An assignee is never replaced."""
    ann = make_token("ann@example.com")
    bob = make_token("bob@example.com")
    waiting = track(services, user="visitor-a").conversation
    services.tracker.set_handling(waiting.id, "human")  # what an escalation does
    assert services.tracker.get(waiting.id).assigned_to is None
    client.post(f"/admin/conversations/{waiting.id}/messages", json={"content": "Ann here"},
                headers=ann)
    ann_id = services.store.get_user_by_email("ann@example.com").id
    assert services.tracker.get(waiting.id).assigned_to == ann_id
    client.post(f"/admin/conversations/{waiting.id}/messages", json={"content": "Bob too"},
                headers=bob)
    assert services.tracker.get(waiting.id).assigned_to == ann_id


@pytest.mark.parametrize("body", [{}, {"content": "   "}, {"content": "x" * 4001}, []])
def test_bad_replies_are_400(client, services, make_token, body):
    conversation = track(services).conversation
    response = client.post(f"/admin/conversations/{conversation.id}/messages", json=body,
                           headers=make_token())
    assert response.status_code == 400


def test_reply_to_closed_conversation_is_409_and_unknown_is_404(client, services, make_token):
    headers = make_token()
    conversation = track(services).conversation
    services.tracker.close(conversation.id)
    closed = client.post(f"/admin/conversations/{conversation.id}/messages",
                         json={"content": "hi"}, headers=headers)
    assert closed.status_code == 409
    missing = client.post("/admin/conversations/987654/messages", json={"content": "hi"},
                          headers=headers)
    assert missing.status_code == 404


def test_failed_reply_shows_the_reason_and_retry_sends_it(client, services, make_token, sender):
    headers = make_token()
    conversation = track(services).conversation
    message = client.post(f"/admin/conversations/{conversation.id}/messages",
                          json={"content": "are you there?"}, headers=headers).get_json()["message"]
    sender.fail = "The person blocked the page"
    services.jobs.run_until_idle()
    failed = services.tracker.get_message(message["id"])
    assert failed.delivery_status == "failed"
    assert failed.delivery_error == "The person blocked the page"

    sender.fail = None
    retried = client.post(f"/admin/messages/{message['id']}/retry", headers=headers)
    assert retried.status_code == 200
    assert retried.get_json()["message"]["delivery_status"] == "pending"
    assert retried.get_json()["message"]["delivery_error"] is None
    services.jobs.run_until_idle()
    assert sender.sent == [message["id"]]
    assert services.tracker.get_message(message["id"]).delivery_status == "sent"
    # Only failed outbound messages can be retried.
    assert client.post(f"/admin/messages/{message['id']}/retry",
                       headers=headers).status_code == 409
    user_message = services.tracker.history(conversation.id, 10)[0]
    assert client.post(f"/admin/messages/{user_message.id}/retry",
                       headers=headers).status_code == 409
    assert client.post("/admin/messages/987654/retry", headers=headers).status_code == 404


def test_take_over_and_hand_back(client, services, make_token):
    headers = make_token("ann@example.com")
    ann = services.store.get_user_by_email("ann@example.com")
    conversation = track(services).conversation
    services.tracker.mark_needs_human(services.tracker.history(conversation.id, 1)[0].id, "help")
    taken = client.post(f"/admin/conversations/{conversation.id}/take-over", headers=headers)
    body = taken.get_json()
    assert taken.status_code == 200 and body["changed"] is True
    assert body["conversation"]["handled_by"] == "human"
    assert body["conversation"]["assigned_to"] == ann.id
    again = client.post(f"/admin/conversations/{conversation.id}/take-over", headers=headers)
    assert again.get_json()["changed"] is False
    back = client.post(f"/admin/conversations/{conversation.id}/hand-back", headers=headers)
    c = back.get_json()["conversation"]
    assert c["handled_by"] == "bot" and c["assigned_to"] is None and c["needs_human"] is False
    assert client.post("/admin/conversations/987654/take-over",
                       headers=headers).status_code == 404


def test_assign_and_unassign(client, services, make_token):
    headers = make_token("ann@example.com")
    make_token("bob@example.com")
    bob = services.store.get_user_by_email("bob@example.com")
    conversation = track(services).conversation
    path = f"/admin/conversations/{conversation.id}/assign"
    assigned = client.post(path, json={"user_id": bob.id}, headers=headers).get_json()
    assert assigned["conversation"]["assigned_to"] == bob.id
    mine = client.get(f"/admin/conversations?assigned_to={bob.id}", headers=headers).get_json()
    assert [c["id"] for c in mine["conversations"]] == [conversation.id]
    cleared = client.post(path, json={"user_id": None}, headers=headers).get_json()
    assert cleared["conversation"]["assigned_to"] is None
    assert client.post(path, json={"user_id": 987654}, headers=headers).status_code == 400
    assert client.post(path, json={"user_id": "bob"}, headers=headers).status_code == 400


def test_messenger_conversations_show_the_reply_window(client, services, make_token):
    headers = make_token()
    messenger = track(services, user="psid-1", platform="messenger").conversation
    webchat = track(services, user="visitor-2").conversation
    window = client.get(f"/admin/conversations/{messenger.id}", headers=headers).get_json()["window"]
    assert window["state"] == "open" and window["until"].startswith("2026-11-26T12:00:00")
    assert "reply window open" in window["label"]
    assert client.get(f"/admin/conversations/{webchat.id}",
                      headers=headers).get_json()["window"] is None


# -- export ------------------------------------------------------------------------------
def _seed_export(services, clock):
    track(services, user="old", content="last month")
    clock.advance(days=20)
    track(services, user="ada", content="=HYPERLINK(\"http://evil\")", display_name="Ada")
    track(services, user="ada", content="second, with \"quotes\"\nand a newline")
    track(services, user="bob", content="hello from bob", platform="messenger")


def test_export_csv_streams_the_range(client, services, make_token, clock):
    headers = make_token()
    _seed_export(services, clock)
    bob = services.store.get_conversation(services.store.list_conversations(
        ConversationFilter(search="hello from bob"), 1).conversations[0].id)
    services.tracker.add_tag(bob.id, "vip")
    services.tracker.add_tag(bob.id, "-lead")  # a spreadsheet formula's first character
    services.tracker.close(bob.id)
    services.tracker.rate(bob.id, 2, "=cmd|' /C calc'!A0")  # the person's text is data too
    response = client.get("/admin/export?from=2026-12-10&to=2026-12-20&format=csv",
                          headers=headers)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(r["content"] for r in rows) == [
        "'=HYPERLINK(\"http://evil\")", "hello from bob", "second, with \"quotes\"\nand a newline",
    ]
    assert {r["platform"] for r in rows} == {"webchat", "messenger"}
    assert {r["external_user_id"]: r["conversation_tags"] for r in rows} == {
        "ada": "", "bob": "'-lead, vip"}
    assert {r["external_user_id"]: (r["conversation_rating"], r["conversation_rating_comment"])
            for r in rows} == {"ada": ("", ""), "bob": ("2", "'=cmd|' /C calc'!A0")}
    assert list(rows[0])[-3:] == ["conversation_tags", "conversation_rating",
                                  "conversation_rating_comment"]
    everything = client.get("/admin/export?from=2026-11-01&to=2026-12-31", headers=headers)
    assert len(list(csv.DictReader(io.StringIO(everything.get_data(as_text=True))))) == 4


def test_export_json_groups_messages_by_conversation(client, services, make_token, clock):
    headers = make_token()
    _seed_export(services, clock)
    response = client.get("/admin/export?from=2026-12-10&to=2026-12-20&format=json",
                          headers=headers)
    body = json.loads(response.get_data(as_text=True))
    assert body["success"] is True
    by_user = {c["external_user_id"]: c for c in body["conversations"]}
    assert set(by_user) == {"ada", "bob"}
    assert by_user["ada"]["tags"] == [] and by_user["bob"]["tags"] == []

    # One tag's conversations (as typed; an empty tag, as a form's "any tag" sends, is all).
    ada = services.store.list_conversations(ConversationFilter(search="Ada"), 1).conversations[0]
    services.tracker.add_tag(ada.id, "vip")
    for query, users in (("tag=VIP", {"ada"}), ("tag=", {"ada", "bob"}),
                         ("tag=nobody", set())):
        tagged = json.loads(client.get(
            f"/admin/export?from=2026-12-10&to=2026-12-20&format=json&{query}",
            headers=headers).get_data(as_text=True))
        assert {c["external_user_id"] for c in tagged["conversations"]} == users, query
    rows = list(csv.DictReader(io.StringIO(client.get(
        "/admin/export?from=2026-12-10&to=2026-12-20&tag=vip", headers=headers
    ).get_data(as_text=True))))
    assert {r["external_user_id"] for r in rows} == {"ada"} and len(rows) == 2
    bad = client.get("/admin/export?tag=a;b", headers=headers)
    assert bad.status_code == 400 and "letters, digits" in bad.get_json()["error"]
    assert [m["content"] for m in by_user["ada"]["messages"]] == [
        "=HYPERLINK(\"http://evil\")", "second, with \"quotes\"\nand a newline",
    ]


def test_export_pages_through_many_conversations(client, services, make_token, monkeypatch,
                                                 clock):
    from admin_app import export

    monkeypatch.setattr(export, "CONVERSATION_PAGE", 2)
    monkeypatch.setattr(export, "MESSAGE_PAGE", 2)
    headers = make_token()
    for j in range(3):  # messages of the five conversations interleave (ids and times)
        for i in range(5):
            clock.advance(seconds=1)
            track(services, user=f"u{(i * 2 + j) % 5}", content=f"m{j}")
    body = json.loads(client.get("/admin/export?format=json", headers=headers).get_data())
    conversations = body["conversations"]
    # Newest activity first, each conversation once, with its messages in order.
    # The last round wrote to u2, u4, u1, u3, u0 in that order.
    assert [c["external_user_id"] for c in conversations] == ["u0", "u3", "u1", "u4", "u2"]
    assert all([m["content"] for m in c["messages"]] == ["m0", "m1", "m2"]
               for c in conversations)
    csv_rows = list(csv.DictReader(io.StringIO(
        client.get("/admin/export?format=csv", headers=headers).get_data(as_text=True))))
    assert [(r["external_user_id"], r["content"]) for r in csv_rows] == [
        (c["external_user_id"], m["content"]) for c in conversations for m in c["messages"]]


def test_export_reads_a_page_of_conversations_messages_in_one_call(
        client, services, make_token, clock, monkeypatch):
    """Not one store call per conversation: over Supabase each is a round trip."""
    calls = {"messages_in": 0, "history": 0}
    for name in calls:
        method = getattr(services.tracker, name)

        def counted(*args, _method=method, _name=name, **kwargs):
            calls[_name] += 1
            return _method(*args, **kwargs)
        monkeypatch.setattr(services.tracker, name, counted)
    headers = make_token()
    for i in range(40):
        clock.advance(seconds=1)
        track(services, user=f"v{i}", content="hi")
        track(services, user=f"v{i}", content="again")
    body = json.loads(client.get("/admin/export?format=json", headers=headers).get_data())
    assert len(body["conversations"]) == 40
    assert sum(len(c["messages"]) for c in body["conversations"]) == 80
    assert calls == {"messages_in": 1, "history": 0}


@pytest.mark.parametrize("query", ["format=xml", "from=yesterday", "from=2026-12-02&to=2026-12-01"])
def test_export_bad_parameters_are_400(client, make_token, query):
    response = client.get(f"/admin/export?{query}", headers=make_token())
    assert response.status_code == 400 and response.get_json()["success"] is False


# Found by schemathesis: ids past the 64-bit range reached the store and were a 500.
@pytest.mark.parametrize("method,path", [(m, p.replace("/1/", f"/{2**63}/"))
                                         for m, p in NEW_ENDPOINTS if "/1/" in p])
def test_action_ids_past_the_64_bit_range_are_404(client, make_token, method, path):
    response = getattr(client, method)(path, headers=make_token(), json={"content": "hi"})
    assert response.status_code == 404, response.get_data(as_text=True)


def test_assign_to_an_account_id_past_the_64_bit_range_is_400(client, services, make_token):
    conversation = track(services).conversation
    response = client.post(f"/admin/conversations/{conversation.id}/assign",
                           json={"user_id": 2**63}, headers=make_token())
    assert response.status_code == 400 and "user_id" in response.get_json()["error"]


# Found by reading what the fuzzer sent: a range edge at the first or last representable day
# overflowed Python's date arithmetic and was a 500.
@pytest.mark.parametrize("query", ["to=0001-01-01", "to=9999-12-31", "to=0001-01-10T00:00:00",
                                   "from=9999-12-31T23:59:59&to=9999-12-31"])
def test_export_range_at_the_edges_of_the_calendar_is_400(client, make_token, query):
    response = client.get(f"/admin/export?{query}&format=json", headers=make_token())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["success"] is False


def test_export_from_the_first_day_of_the_calendar_works(client, services, make_token):
    track(services)
    response = client.get("/admin/export?from=0001-01-01&format=json", headers=make_token())
    assert response.status_code == 200
    assert len(json.loads(response.get_data())["conversations"]) == 1


# Found by schemathesis: {"user_id": true} assigned the conversation to account 1 (pydantic's
# lax mode read true as 1). JSON bodies are now read strictly, as the document types them.
@pytest.mark.parametrize("value", [True, "1", 1.0])
def test_assign_refuses_a_user_id_that_is_not_an_integer(client, services, make_token, value):
    headers = make_token()
    conversation = track(services).conversation
    response = client.post(f"/admin/conversations/{conversation.id}/assign",
                           json={"user_id": value}, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert services.store.get_conversation(conversation.id).assigned_to is None


def test_only_the_persons_and_the_bots_messages_can_be_flagged(client, services, make_token):
    headers = make_token()
    conversation = track(services).conversation
    for sender_type in ("agent", "system"):
        sent = services.tracker.track_outbound(OutboundMessage(
            conversation_id=conversation.id, sender_type=sender_type, content="hello"))
        response = client.post(f"/admin/messages/{sent.id}/mark-human", json={},
                               headers=headers)
        assert response.status_code == 409, response.get_data(as_text=True)
        assert "can need a human" in response.get_json()["error"]
        assert services.store.get_message(sent.id).requires_human is False
    bot = services.tracker.track_outbound(OutboundMessage(
        conversation_id=conversation.id, sender_type="bot", content="a wrong answer"))
    flagged = client.post(f"/admin/messages/{bot.id}/mark-human", json={}, headers=headers)
    assert flagged.status_code == 200
    assert services.store.get_message(bot.id).requires_human is True
    missing = client.post("/admin/messages/987654/mark-human", json={}, headers=headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("body", [{"priority": True}, {"priority": "1"}, {"reason": 5}])
def test_mark_human_refuses_mistyped_fields(client, services, make_token, body):
    message = track(services).message
    response = client.post(f"/admin/messages/{message.id}/mark-human", json=body,
                           headers=make_token())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert services.store.get_message(message.id).requires_human is False


def test_export_with_empty_bounds_uses_the_defaults(client, services, make_token):
    track(services)
    response = client.get("/admin/export?from=&to=&format=json", headers=make_token())
    assert response.status_code == 200
    assert len(json.loads(response.get_data())["conversations"]) == 1
