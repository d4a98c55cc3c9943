"""The OpenAI-compatible responder against a local stand-in chat-completions server."""

from __future__ import annotations

import pytest
import requests

from services.assistant import ResponderError, create_responder
from services.assistant.openai import (
    ANSWER_CONFIDENCE,
    HANDOFF_INSTRUCTION,
    OpenAIResponder,
    completions_url,
)
from services.settings import Settings, SettingsError
from tests.support.chat import bot, conversation, message, user

KEY = "sk-test-0123456789abcdef"
FALLBACK = "Sorry, could you rephrase?"


def completion(content):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
    }


@pytest.fixture
def stub():
    from tests.support.stub_http import StubHttpServer

    with StubHttpServer() as server:
        yield server


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False
    yield s
    s.close()


def responder(stub, session, key=KEY, **kw) -> OpenAIResponder:
    kw.setdefault("timeout", 2.0)
    return OpenAIResponder(
        stub.url("/v1"), api_key=key, model="test-model", system_prompt="You sell shoes.",
        session=session, backoff=0, fallback_text=FALLBACK, **kw,
    )


HISTORY = [
    user("hi"),
    bot("Hello!", 0.9),
    message("system", "A person will answer shortly."),
    message("agent", "Hi, Ann here."),
    user("", attachments=[{"type": "image", "url": "https://example.com/a.png"}]),
    user(""),
    user("do you have red shoes?"),
]


def test_the_request_and_the_answer(stub, session):
    stub.queue(json=completion("  Yes, in sizes 36 to 44.  "))
    reply = responder(stub, session).reply(conversation(), HISTORY)

    assert reply.text == "Yes, in sizes 36 to 44."
    assert (reply.confidence, reply.intent) == (ANSWER_CONFIDENCE, None)
    [request] = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.header("Authorization") == f"Bearer {KEY}"
    assert request.header("Content-Type") == "application/json"
    body = request.json()
    assert body["model"] == "test-model"
    system, *rest = body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You sell shoes.")
    assert HANDOFF_INSTRUCTION in system["content"]
    assert rest == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "assistant", "content": "A person will answer shortly."},
        {"role": "assistant", "content": "Hi, Ann here."},
        {"role": "user", "content": "[attachment]"},
        {"role": "user", "content": "do you have red shoes?"},
    ]


@pytest.mark.parametrize("answer", ["HANDOFF", " handoff. ", "`HANDOFF`", '"HANDOFF"'])
def test_handoff_becomes_the_fallback_with_zero_confidence(stub, session, answer):
    stub.queue(json=completion(answer))
    reply = responder(stub, session).reply(conversation(), HISTORY)
    assert (reply.text, reply.confidence, reply.intent) == (FALLBACK, 0.0, "handoff")


def test_an_answer_that_mentions_handoff_is_a_normal_answer(stub, session):
    stub.queue(json=completion("A HANDOFF to our team is possible."))
    assert responder(stub, session).reply(conversation(), HISTORY).intent is None


def test_no_key_sends_no_authorization_header(stub, session):
    stub.queue(json=completion("Hi"))
    responder(stub, session, key="").reply(conversation(), HISTORY)
    assert stub.requests[0].header("Authorization") is None


def test_a_500_is_retried_then_succeeds(stub, session):
    stub.queue(status=500, json={"error": {"message": "overloaded"}})
    stub.queue(json=completion("Back again."))
    assert responder(stub, session, retries=1).reply(conversation(), HISTORY).text == "Back again."
    assert len(stub.requests) == 2


def test_a_timeout_raises(stub, session):
    stub.queue(delay=2.0, json=completion("too late"))
    with pytest.raises(ResponderError, match="timed out after 0.3s") as info:
        responder(stub, session, timeout=0.3, retries=2).reply(conversation(), HISTORY)
    assert info.value.kind == "timeout"
    assert len(stub.requests) == 1


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"body": "not json"}, "not JSON"),
        ({"json": {"choices": []}}, "without 'choices'"),
        ({"json": {"object": "chat.completion"}}, "without 'choices'"),
        ({"json": completion(None)}, r"without text in choices\[0\].message"),
        ({"json": completion("   ")}, r"without text in choices\[0\].message"),
        ({"json": {"choices": [{"message": "hi"}]}}, r"without text in choices\[0\].message"),
    ],
)
def test_a_malformed_answer_raises(stub, session, answer, message):
    stub.queue(**answer)
    with pytest.raises(ResponderError, match=message) as info:
        responder(stub, session).reply(conversation(), HISTORY)
    assert info.value.kind == "malformed"


def test_the_api_key_never_appears_in_an_error(stub, session):
    # Some servers echo the key they rejected.
    stub.queue(status=401, json={"error": {"message": f"Incorrect API key provided: {KEY}."}})
    with pytest.raises(ResponderError) as info:
        responder(stub, session).reply(conversation(), HISTORY)
    text = str(info.value)
    assert "HTTP 401" in text and "Incorrect API key provided: ***." in text
    assert KEY not in text and KEY not in repr(info.value)
    assert KEY not in repr(responder(stub, session))
    assert len(stub.requests) == 1  # a 4xx is not retried


@pytest.mark.parametrize(
    "base, url",
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/", "https://api.openai.com/v1/chat/completions"),
        ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/chat/completions"),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions"),
        ("https://x.example/v1/chat/completions", "https://x.example/v1/chat/completions"),
    ],
)
def test_completions_url(base, url):
    assert completions_url(base) == url


def test_create_responder_builds_it_from_settings(settings, stub, session):
    configured = Settings(
        _env_file=None, responder="openai", bot_api_base=stub.url("/v1"), bot_api_key=KEY,
        bot_model="m1", bot_system_prompt="Be brief.",
    )
    stub.queue(json=completion("HANDOFF"))
    reply = create_responder(configured, session=session).reply(conversation(), HISTORY)
    assert (reply.text, reply.intent) == (settings.bot_fallback_text, "handoff")
    assert stub.requests[0].json()["model"] == "m1"
    with pytest.raises(SettingsError, match="^Invalid setting BOT_API_BASE: required"):
        create_responder(Settings(_env_file=None, responder="openai"))
