"""The webhook responder against a local stand-in HTTP server: the JSON contract both ways."""

from __future__ import annotations

import time

import pytest
import requests

from services.assistant import BotReply, ResponderError, create_responder
from services.assistant.webhook import WebhookResponder
from services.settings import Settings, SettingsError
from tests.support.chat import bot, conversation, user
from tests.support.stub_http import StubHttpServer

SECRET_PATH = "/hooks/s3cr3t-path?token=t0ps3cret"


@pytest.fixture
def stub():
    with StubHttpServer() as server:
        yield server


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False  # no proxy from the environment between the test and 127.0.0.1
    yield s
    s.close()


def responder(stub, session, path="/bot", **kw) -> WebhookResponder:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("retries", 2)
    return WebhookResponder(stub.url(path), session=session, backoff=0, **kw)


HISTORY = [user("hi"), bot("Hello! How can I help?", 0.95), user("where is my order?")]


def test_the_request_follows_the_contract(stub, session):
    stub.queue(json={"text": "It ships today.", "confidence": 0.8, "intent": "order_status"})
    reply = responder(stub, session).reply(conversation(), HISTORY)

    assert reply == BotReply(text="It ships today.", confidence=0.8, intent="order_status")
    [request] = stub.requests
    assert (request.method, request.path) == ("POST", "/bot")
    assert request.header("Content-Type") == "application/json"
    body = request.json()
    assert set(body) == {"conversation", "messages", "message"}
    assert body["conversation"] == conversation().model_dump(mode="json")
    assert body["conversation"]["id"] == 7 and body["conversation"]["platform"] == "webchat"
    assert [m["content"] for m in body["messages"]] == [m.content for m in HISTORY]
    assert [m["sender_type"] for m in body["messages"]] == ["user", "bot", "user"]
    assert body["messages"][1]["confidence_score"] == 0.95
    assert body["message"] == HISTORY[-1].model_dump(mode="json")
    assert body["message"]["created_at"].endswith("Z")


def test_a_verified_customer_and_their_page_reach_the_bot(stub, session):
    """What the bot needs to look a web chat customer up: the conversation's profile of a
    customer the site vouched for, and the page each message was written on."""
    stub.queue(json={"text": "Your order 1234 ships today."})
    customer = conversation(profile={"user_id": "42", "email": "ann@shop.example",
                                     "verified": True})
    page = {"url": "https://shop.example/orders/1234", "title": "Order 1234"}
    responder(stub, session).reply(customer, [user("where is it?", metadata={"page": page})])
    body = stub.requests[0].json()
    assert body["conversation"]["profile"] == {"user_id": "42", "email": "ann@shop.example",
                                               "verified": True}
    assert body["message"]["metadata"]["page"] == page


def test_message_is_null_without_a_user_message(stub, session):
    stub.queue(json={"text": "Hi!"})
    responder(stub, session).reply(conversation(), [bot("Welcome!")])
    assert stub.requests[0].json()["message"] is None


def test_confidence_and_intent_are_optional(stub, session):
    stub.queue(json={"text": "Sure.", "extra": "ignored"})
    assert responder(stub, session).reply(conversation(), HISTORY) == BotReply(
        text="Sure.", confidence=1.0, intent=None
    )


def test_tags_are_taken_normalised_and_once(stub, session):
    stub.queue(json={"text": "Refunds take 5 days.", "intent": "refunds",
                     "tags": ["Refund", " billing  issue", "refund"]})
    stub.queue(json={"text": "Sure.", "tags": None})
    ask = responder(stub, session)
    assert ask.reply(conversation(), HISTORY).tags == ("refund", "billing issue")
    assert ask.reply(conversation(), HISTORY).tags == ()


@pytest.mark.parametrize(
    "answer", [{"status": 204}, {"json": {"text": None}}, {"json": {"text": "  "}}]
)
def test_no_answer_gives_none(stub, session, answer):
    stub.queue(**answer)
    assert responder(stub, session).reply(conversation(), HISTORY) is None


def test_a_500_is_retried_then_succeeds(stub, session):
    stub.queue(status=500, json={"error": "boom"})
    stub.queue(status=503)
    stub.queue(json={"text": "Third time lucky.", "confidence": 0.7})
    reply = responder(stub, session, retries=2).reply(conversation(), HISTORY)
    assert reply.text == "Third time lucky."
    assert len(stub.requests) == 3
    assert stub.requests[0].body == stub.requests[2].body


def test_retries_run_out_on_5xx(stub, session):
    for _ in range(3):
        stub.queue(status=502, body="bad gateway")
    with pytest.raises(ResponderError, match=r"HTTP 502") as info:
        responder(stub, session, retries=1).reply(conversation(), HISTORY)
    assert info.value.kind == "http"
    assert len(stub.requests) == 2  # the first attempt and one retry


def test_a_4xx_is_not_retried(stub, session):
    stub.queue(status=404, json={"error": "no such bot"})
    with pytest.raises(ResponderError, match=r"HTTP 404 .*: no such bot") as info:
        responder(stub, session).reply(conversation(), HISTORY)
    assert info.value.kind == "http"
    assert len(stub.requests) == 1


def test_a_redirect_is_an_error_not_a_get(stub, session):
    stub.queue(status=302, headers={"Location": "/elsewhere"})
    with pytest.raises(ResponderError, match="HTTP 302"):
        responder(stub, session).reply(conversation(), HISTORY)
    assert [r.method for r in stub.requests] == ["POST"]


def test_a_timeout_raises_and_is_not_retried(stub, session):
    stub.queue(delay=2.0, json={"text": "too late"})
    started = time.monotonic()
    with pytest.raises(ResponderError, match=r"timed out after 0.3s") as info:
        responder(stub, session, timeout=0.3).reply(conversation(), HISTORY)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 1.5
    assert len(stub.requests) == 1


def test_a_connection_failure_is_retried_then_raises(session):
    with StubHttpServer() as gone:
        url = gone.url("/bot")
    with pytest.raises(ResponderError, match="could not be reached") as info:
        WebhookResponder(url, timeout=1, retries=1, session=session, backoff=0).reply(
            conversation(), HISTORY
        )
    assert info.value.kind == "connection"


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"body": "<html>oops</html>"}, "not JSON"),
        ({"body": ""}, "not JSON"),
        ({"json": ["a", "list"]}, "not an object"),
        ({"json": {"text": 42}}, "'text' that is not a string"),
        ({"json": {"text": "ok", "confidence": "high"}}, "'confidence' that is not a number"),
        ({"json": {"text": "ok", "confidence": True}}, "'confidence' that is not a number"),
        ({"json": {"text": "ok", "confidence": 1.5}}, r"'confidence' outside 0..1 \(1.5\)"),
        ({"json": {"text": "ok", "intent": 3}}, "'intent' that is not a string"),
        ({"json": {"text": "ok", "tags": "refund"}}, "'tags' .*: must be a list of strings"),
        ({"json": {"text": "ok", "tags": ["ok", 7]}}, "'tags' .*: must be a list of strings"),
        ({"json": {"text": "ok", "tags": ["fine", "no;way"]}},
         r"'tags' .*: item 2 \('no;way'\): a tag holds only letters"),
        ({"json": {"text": "ok", "tags": [f"t{n}" for n in range(21)]}},
         "'tags' .*: holds more than 20 tags"),
    ],
)
def test_a_malformed_answer_raises(stub, session, answer, message):
    stub.queue(**answer)
    with pytest.raises(ResponderError, match=message) as info:
        responder(stub, session).reply(conversation(), HISTORY)
    assert info.value.kind == "malformed"


def test_errors_never_show_the_url_path_or_query(stub, session):
    stub.queue(status=500)
    stub.queue(status=500)
    with pytest.raises(ResponderError) as info:
        responder(stub, session, path=SECRET_PATH, retries=1).reply(conversation(), HISTORY)
    assert "s3cr3t" not in str(info.value) and "t0ps3cret" not in str(info.value)
    assert stub.base_url in str(info.value)
    assert stub.requests[0].path == SECRET_PATH


def test_create_responder_builds_the_webhook_from_settings(stub, session):
    configured = Settings(
        _env_file=None, responder="webhook", bot_webhook_url=stub.url("/bot"), bot_retries=0
    )
    stub.queue(json={"text": "From settings."})
    assert create_responder(configured, session=session).reply(conversation(), HISTORY).text == (
        "From settings."
    )
    with pytest.raises(SettingsError, match="^Invalid setting BOT_WEBHOOK_URL: required"):
        create_responder(Settings(_env_file=None, responder="webhook"))
