"""The Messenger webhook over real HTTP: the app from the ``app`` fixture served by
werkzeug on a free port, signed webhooks in, the Graph API stand-in for replies."""

import json
import threading
from pathlib import Path

import pytest
import requests
from pydantic import AnyHttpUrl, SecretStr
from werkzeug.serving import make_server

from channels.messenger.signature import sign
from services.assistant import BotReply
from services.models import ConversationFilter, InboundMessage, OutboundMessage
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messenger"
SECRET, VERIFY, APP_ID = "test-app-secret", "verify-me-please", "111222333444555"
PAGE, PSID, T = "1234567890", "24680135792468", 1795608000000


def load(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


class EchoResponder:
    """A predictable bot: repeats what the person said."""

    def reply(self, conversation, history):
        return BotReply(text=f"You said: {history[-1].content}", confidence=0.95, intent="echo")


@pytest.fixture
def settings(settings, graph_stub):  # noqa: F811
    return settings.model_copy(update={
        "facebook_app_secret": SecretStr(SECRET),
        "facebook_verify_token": SecretStr(VERIFY),
        "facebook_app_id": APP_ID,
        "facebook_page_access_token": SecretStr(graph_stub.token),
        "graph_api_base": AnyHttpUrl(graph_stub.base_url),
        "graph_api_version": graph_stub.version,
        "graph_api_timeout_seconds": 2.0,
        "webhook_max_body_bytes": 8192,
    })


@pytest.fixture
def services(settings, store, clock):
    from services.runtime import build_services

    return build_services(settings, store=store, clock=clock, responder=EchoResponder())


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def post(base, body=None, raw=None, secret=SECRET, signature=None, **kwargs):
    raw = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not False:
        headers["X-Hub-Signature-256"] = signature or sign(raw, secret)
    return requests.post(base + "/webhook", data=raw, headers=headers, timeout=10, **kwargs)


def ok(response):
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    return response


def conversations(services):
    return services.store.list_conversations(ConversationFilter(), 100).conversations


def messages(services, conversation_id=None):
    if conversation_id is None:
        (conversation,) = conversations(services)
        conversation_id = conversation.id
    return services.tracker.history(conversation_id, 100)


# -- handshake ----------------------------------------------------------------------------
def test_subscription_handshake(live):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    answer = requests.get(live + "/webhook", params=params, timeout=5)
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert answer.headers["Content-Type"].startswith("text/plain")
    for wrong in ({**params, "hub.verify_token": "nope"}, {**params, "hub.mode": "unsubscribe"}, {}):
        refused = requests.get(live + "/webhook", params=wrong, timeout=5)
        assert refused.status_code == 403 and set(refused.json()) == {"error", "detail"}


# -- refusals store nothing -----------------------------------------------------------------
@pytest.mark.parametrize("how", ["missing", "wrong_secret", "altered_body", "sha1", "garbage"])
def test_bad_signature_is_403_and_nothing_is_stored(live, services, how):
    raw = json.dumps(load("text_quick_reply")).encode()
    signature = {
        "missing": False,
        "wrong_secret": sign(raw, "not-the-secret"),
        "altered_body": sign(raw, SECRET),
        "sha1": "sha1=" + sign(raw, SECRET)[7:],
        "garbage": "sha256=zz",
    }[how]
    sent = raw.replace(b"hello, world!", b"hello, w0rld!") if how == "altered_body" else raw
    answer = post(live, raw=sent, signature=signature)
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden" and "X-Hub-Signature-256" in answer.json()["detail"]
    assert conversations(services) == [] and services.store.count_jobs() == 0


def test_oversized_body_is_413_and_nothing_is_stored(live, services):
    body = load("text_quick_reply")
    body["entry"][0]["messaging"][0]["message"]["text"] = "x" * 9000
    raw = json.dumps(body).encode()
    answer = post(live, raw=raw)
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"
    chunked = requests.post(live + "/webhook", data=iter([raw[:5000], raw[5000:]]), timeout=10,
                            headers={"X-Hub-Signature-256": sign(raw, SECRET)})
    assert chunked.status_code == 413
    assert conversations(services) == []


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b'{"object": "instagram", "entry": []}',
                                 b"[]", b'{"object": "page"}', b"[" * 4000 + b"]" * 4000])
def test_not_json_or_not_a_page_webhook_is_400(live, services, raw):
    answer = post(live, raw=raw)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert conversations(services) == []


# -- messages -------------------------------------------------------------------------------
def test_signed_message_is_tracked_with_its_respond_job(live, services):
    ok(post(live, load("text_quick_reply")))
    (conversation,) = conversations(services)
    assert (conversation.platform, conversation.external_user_id) == ("messenger", PSID)
    (message,) = messages(services, conversation.id)
    assert (message.sender_type, message.content, message.external_id) == (
        "user", "hello, world!", "m_text_qr_1")
    assert message.metadata["quick_reply_payload"] == "PICK_RED"
    assert services.store.count_jobs("queued") == 1


def test_redelivered_batch_creates_nothing_new(live, services):
    for _ in range(2):
        ok(post(live, load("batch")))
    stored = messages(services)
    assert [m.external_id for m in stored] == [f"m_batch_{i}" for i in range(5)]
    assert services.store.count_jobs() == 4  # the standby message is not answered


def test_attachments_reply_to_and_postback(live, services):
    ok(post(live, load("attachments")))
    ok(post(live, load("reply_to")))
    ok(post(live, load("postback")))
    stored = {m.external_id: m for m in messages(services)}
    assert stored["m_att_image"].attachments == [
        {"type": "image", "url": "https://scontent.example/image.jpg"}]
    assert stored["m_att_location"].attachments[0]["coordinates"] == {"lat": 48.8584, "long": 2.2945}
    assert stored["m_att_fallback"].attachments[0]["url"] == "https://example.com/article"
    assert stored["m_reply_1"].metadata["reply_to"] == "m_original_1"
    postback = stored["m_postback_1"]
    assert (postback.sender_type, postback.content) == ("user", "Talk to sales")
    assert postback.metadata["postback_payload"] == "SALES_PAYLOAD"
    assert postback.metadata["referral"]["ref"] == "spring-ad"


def test_echoes_ours_skipped_page_inbox_tracked_as_agent(live, services):
    ok(post(live, load("text_quick_reply")))
    ok(post(live, load("echo_own")))
    assert len(messages(services)) == 1
    ok(post(live, load("echo_page_inbox")))
    ok(post(live, load("echo_page_inbox")))  # redelivered
    user, agent = messages(services)
    assert (agent.sender_type, agent.sender_id, agent.external_id) == (
        "agent", "page_inbox", "m_echo_inbox_1")
    assert agent.content == "Hi, this is Sam from the shop."
    assert agent.conversation_id == user.conversation_id
    assert services.store.count_jobs() == 1  # only the user's message gets an answer


def test_standby_message_is_tracked_but_not_answered(live, services):
    ok(post(live, load("standby")))
    (message,) = messages(services)
    assert message.content == "are you there?" and message.metadata["standby"] is True
    assert services.store.count_jobs() == 0


def test_reaction_is_kept_in_metadata(live, services):
    ok(post(live, load("text_quick_reply")))
    ok(post(live, load("reaction")))
    (message,) = messages(services)
    assert message.metadata["reaction"]["emoji"] == "\u2764\ufe0f"
    assert message.metadata["reaction"]["reaction"] == "love"
    ok(post(live, load("unreaction")))
    assert "reaction" not in messages(services)[0].metadata


def test_delivery_and_read_watermarks(live, services):
    ok(post(live, load("text_quick_reply")))
    conversation_id = conversations(services)[0].id
    out = services.tracker.track_outbound(OutboundMessage(
        conversation_id=conversation_id, sender_type="bot", content="Hi there"))
    services.tracker.set_delivery_status(out.id, "sent", external_id="m_out_1")
    ok(post(live, load("delivery")))
    assert services.tracker.get_message(out.id).delivery_status == "delivered"
    ok(post(live, load("read")))
    assert services.tracker.get_message(out.id).delivery_status == "read"
    ok(post(live, load("delivery")))  # late redelivery never moves it back
    assert services.tracker.get_message(out.id).delivery_status == "read"


def test_unknown_kinds_and_malformed_pieces_are_acknowledged(live, services):
    ok(post(live, load("unknown")))
    assert conversations(services) == []
    ok(post(live, load("malformed")))
    assert [m.content for m in messages(services)] == ["still here", "Get Started"]


def test_lone_surrogate_escapes_are_stored_not_a_500(live, services):
    """Found by the fuzz tests: ``"\\ud800"`` in a text made both stores fail (500)."""
    raw = (b'{"object": "page", "entry": [{"id": "%s", "messaging": [{"sender": {"id": "%s"},'
           b' "recipient": {"id": "%s"}, "timestamp": %d, "message": {"mid": "m_sur\\udc00",'
           b' "text": "caf\\u00e9 \\ud83d!", "quick_reply": {"payload": "\\udfff"}}}]}]}'
           % (PAGE.encode(), PSID.encode(), PAGE.encode(), T))
    ok(post(live, raw=raw))
    (message,) = messages(services)
    assert (message.external_id, message.content) == ("m_sur\ufffd", "caf\u00e9 \ufffd!")
    assert message.metadata["quick_reply_payload"] == "\ufffd"
    assert services.store.count_jobs("queued") == 1


# -- end to end -------------------------------------------------------------------------------
def test_end_to_end_reply_reaches_the_graph_api_and_receipts_come_back(
        live, services, graph_stub):  # noqa: F811
    graph_stub.profiles[PSID] = {"first_name": "Ada", "last_name": "Lovelace",
                                 "profile_pic": "https://pics.example/ada.jpg"}
    ok(post(live, load("text_quick_reply")))
    assert graph_stub.requests == []  # nothing reached Facebook inside the request
    services.jobs.run_until_idle()

    (sent,) = graph_stub.sent_messages()
    assert sent["recipient"] == {"id": PSID} and sent["messaging_type"] == "RESPONSE"
    assert sent["message"]["text"] == "You said: hello, world!"
    assert "tag" not in sent
    user, bot = messages(services)
    assert (bot.sender_type, bot.delivery_status, bot.external_id) == ("bot", "sent", "m_stub1")

    echo = load("echo_own")
    echo["entry"][0]["messaging"][0]["message"].update(
        mid="m_stub1", metadata=sent["message"]["metadata"], text=sent["message"]["text"])
    ok(post(live, echo))
    assert len(messages(services)) == 2

    ok(post(live, load("delivery")))
    assert services.tracker.get_message(bot.id).delivery_status == "delivered"
    ok(post(live, load("read")))
    assert services.tracker.get_message(bot.id).delivery_status == "read"


def test_profile_hook_names_the_conversation(live, services, graph_stub):  # noqa: F811
    graph_stub.profiles[PSID] = {"first_name": "Ada", "last_name": "Lovelace",
                                 "profile_pic": "https://pics.example/ada.jpg"}
    ok(post(live, load("text_quick_reply")))
    hook = services.profile_hooks["messenger"]  # registered by channels.messenger.init_app
    hook(conversations(services)[0])
    conversation = conversations(services)[0]
    assert conversation.display_name == "Ada Lovelace"
    assert conversation.profile["profile_pic"] == "https://pics.example/ada.jpg"


def test_bot_turn_sees_the_messenger_profile_hook(app, services):
    assert services.bot.profile_hooks.get("messenger") is not None


# -- "How did we do?" after an account closes the conversation --------------------------
def _tap(live, mid, payload, text="4"):
    """The person taps a quick reply: a message event carrying its payload."""
    body = load("text_quick_reply")
    message = body["entry"][0]["messaging"][0]["message"]
    message.update(mid=mid, text=text, quick_reply={"payload": payload})
    return ok(post(live, body))


def test_closing_asks_for_a_rating_and_a_tap_rates_the_closed_conversation(
        live, services, graph_stub, clock):  # noqa: F811
    agent = services.store.create_user("ann@example.com", "agent", "hash", clock())
    ok(post(live, load("text_quick_reply")))
    services.jobs.run_until_idle()
    (conversation,) = conversations(services)
    services.tracker.close(conversation.id, by=agent)
    services.jobs.run_until_idle()

    request = graph_stub.sent_messages()[-1]
    assert request["messaging_type"] == "RESPONSE" and "tag" not in request
    assert request["message"]["text"] == services.settings.rating_request_message
    assert [(q["content_type"], q["title"], q["payload"])
            for q in request["message"]["quick_replies"]] == [
        ("text", str(n), f"switchboard-rating:{conversation.id}:{n}") for n in range(1, 6)]
    asked = messages(services, conversation.id)[-1]
    assert (asked.sender_type, asked.metadata["kind"]) == ("system", "rating_request")
    assert asked.delivery_status == "sent"

    _tap(live, "m_tap_1", f"switchboard-rating:{conversation.id}:4")
    (still,) = conversations(services)  # the tap opened no new conversation
    assert (still.id, still.status, still.rating) == (conversation.id, "closed", 4)
    _tap(live, "m_tap_1", f"switchboard-rating:{conversation.id}:4")  # redelivered
    _tap(live, "m_tap_2", f"switchboard-rating:{conversation.id}:2", text="2")  # thought again
    assert services.store.get_conversation(conversation.id).rating == 2
    assert len(conversations(services)) == 1


def test_a_tap_that_cannot_rate_is_kept_as_a_message(live, services, graph_stub, clock):  # noqa: F811
    ok(post(live, load("text_quick_reply")))
    (conversation,) = conversations(services)
    # Still open, someone else's, or no conversation at all: the tap is a message like any.
    _tap(live, "m_tap_open", f"switchboard-rating:{conversation.id}:5", text="5")
    other = services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="someone-else", external_id="m_else",
        content="hi", respond=False)).conversation
    services.tracker.close(other.id)
    _tap(live, "m_tap_else", f"switchboard-rating:{other.id}:1", text="1")
    _tap(live, "m_tap_none", "switchboard-rating:987654321:3", text="3")
    assert services.store.get_conversation(other.id).rating is None
    assert services.store.get_conversation(conversation.id).rating is None
    assert [m.content for m in messages(services, conversation.id)
            if m.sender_type == "user"] == ["hello, world!", "5", "1", "3"]


def test_no_rating_request_after_a_sweep_or_outside_the_window(
        live, services, graph_stub, clock):  # noqa: F811
    agent = services.store.create_user("ann@example.com", "agent", "hash", clock())
    ok(post(live, load("text_quick_reply")))
    services.jobs.run_until_idle()
    (conversation,) = conversations(services)
    before = len(graph_stub.sent_messages())
    services.tracker.close(conversation.id)  # no account: as the lifecycle sweep closes
    services.tracker.reopen(conversation.id)
    clock.advance(hours=25)  # the person wrote more than a day ago
    services.tracker.close(conversation.id, by=agent)
    services.jobs.run_until_idle()
    assert len(graph_stub.sent_messages()) == before
    assert not [m for m in messages(services, conversation.id)
                if m.metadata.get("kind") == "rating_request"]
