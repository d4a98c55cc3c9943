"""MessengerSender (window, splitting, attachments, partial failure) and ProfileFetcher,
against the Graph API stand-in."""

from datetime import timedelta

import pytest

from channels.messenger.client import MessengerClient
from channels.messenger.profiles import ProfileFetcher
from channels.messenger.sender import PROGRESS_KEY, MessengerSender
from services.models import Conversation, InboundMessage, Message, OutboundMessage
from services.outbox import SendError
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)


@pytest.fixture
def client(graph_stub):  # noqa: F811
    c = MessengerClient(graph_stub.token, graph_stub.base_url, graph_stub.version, 0.5)
    yield c
    c.close()


def conversation(clock, **fields):
    now = clock()
    return Conversation(id=1, platform="messenger", external_user_id="psid-1", created_at=now,
                        updated_at=now, last_message_at=now, last_user_message_at=now, **fields)


def message(clock, sender_type="bot", content="Hello", **fields):
    return Message(id=10, conversation_id=1, platform="messenger", sender_type=sender_type,
                   content=content, created_at=clock(), delivery_status="pending", **fields)


def test_reply_within_24_hours(client, graph_stub, clock):  # noqa: F811
    sender = MessengerSender(client, clock)
    conv = conversation(clock)
    clock.advance(hours=2)
    message_id = sender.send(conv, message(clock))
    body = graph_stub.requests[-1].json
    assert message_id == "m_stub1"
    assert body == {"recipient": {"id": "psid-1"}, "messaging_type": "RESPONSE",
                    "message": {"text": "Hello", "metadata": "switchboard:10"}}


def test_after_24_hours_agent_is_tagged_bot_is_refused(client, graph_stub, clock):  # noqa: F811
    sender = MessengerSender(client, clock)
    conv = conversation(clock)
    clock.advance(hours=24, minutes=1)
    sender.send(conv, message(clock, "agent", "Sorry for the wait"))
    body = graph_stub.requests[-1].json
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    for sender_type in ("bot", "system"):
        with pytest.raises(SendError) as caught:
            sender.send(conv, message(clock, sender_type))
        assert not caught.value.retryable and caught.value.code == "outside_window"
        assert "24-hour reply window closed" in caught.value.detail
    assert len(graph_stub.requests) == 1  # refused before Facebook was called


def test_after_7_days_nobody_is_sent(client, graph_stub, clock):  # noqa: F811
    conv = conversation(clock)
    clock.advance(days=7, minutes=1)
    with pytest.raises(SendError):
        MessengerSender(client, clock).send(conv, message(clock, "agent"))
    assert graph_stub.requests == []


def test_long_text_is_split_and_sent_in_order(client, graph_stub, clock):  # noqa: F811
    text = "\n\n".join(c * 1500 for c in "abc")
    message_id = MessengerSender(client, clock).send(conversation(clock), message(clock, content=text))
    texts = [b["message"]["text"] for b in graph_stub.sent_messages()]
    assert texts == ["a" * 1500, "b" * 1500, "c" * 1500]
    assert message_id == "m_stub1"


def test_attachments_follow_the_text(client, graph_stub, clock):  # noqa: F811
    msg = message(clock, content="Here you go", attachments=[
        {"type": "image", "url": "https://cdn.example/p.png"},
        {"type": "location", "coordinates": {"lat": 1, "long": 2}},  # cannot be sent: left out
    ])
    MessengerSender(client, clock).send(conversation(clock), msg)
    sent = [b["message"] for b in graph_stub.sent_messages()]
    assert sent[0]["text"] == "Here you go"
    assert sent[1]["attachment"] == {"type": "image", "payload": {
        "url": "https://cdn.example/p.png", "is_reusable": True}}
    assert len(sent) == 2


def test_nothing_to_send_is_permanent(client, clock):
    with pytest.raises(SendError) as caught:
        MessengerSender(client, clock).send(conversation(clock), message(clock, content="  "))
    assert not caught.value.retryable


def test_partial_failure_resumes_without_duplicates(client, graph_stub, services, clock):  # noqa: F811
    tracker = services.tracker
    first = tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi"))
    text = "\n\n".join(c * 1500 for c in "abc")
    stored = tracker.track_outbound(OutboundMessage(
        conversation_id=first.conversation.id, sender_type="bot", content=text))
    conv = tracker.get(first.conversation.id)
    sender = MessengerSender(client, clock, tracker)

    graph_stub.fail(1200, "(#1200) Temporary send message failure", after=1)
    with pytest.raises(SendError) as caught:
        sender.send(conv, stored)
    assert caught.value.retryable
    reloaded = tracker.get_message(stored.id)
    assert reloaded.metadata[PROGRESS_KEY] == ["m_stub1"]

    assert sender.send(conv, reloaded) == "m_stub1"
    texts = [b["message"]["text"][0] for b in graph_stub.sent_messages()]
    assert texts == ["a", "b", "b", "c"]  # b failed once, a was never sent twice


# -- profiles ---------------------------------------------------------------------------
def _conversation_for(services, psid):
    return services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id=psid, external_id=f"m_{psid}", content="hi",
    )).conversation


def test_profile_is_stored_and_cached(client, graph_stub, services):  # noqa: F811
    graph_stub.profiles["psid-ada"] = {"first_name": "Ada", "last_name": "Lovelace",
                                       "profile_pic": "https://pics.example/ada.jpg"}
    fetcher = ProfileFetcher(client, services.tracker)
    conv = fetcher.ensure_profile(_conversation_for(services, "psid-ada"))
    assert conv.display_name == "Ada Lovelace"
    assert conv.profile == {"first_name": "Ada", "last_name": "Lovelace",
                            "profile_pic": "https://pics.example/ada.jpg"}
    assert services.tracker.get(conv.id).display_name == "Ada Lovelace"
    assert fetcher.ensure_profile(conv) is conv  # has a name: nothing to do
    assert fetcher.lookup("psid-ada")["first_name"] == "Ada"
    assert len(graph_stub.requests) == 1  # the second lookup came from the cache


def test_unavailable_profile_keeps_the_psid(client, graph_stub, services):  # noqa: F811
    fetcher = ProfileFetcher(client, services.tracker)
    conv = _conversation_for(services, "psid-phone")
    assert fetcher.ensure_profile(conv).display_name is None  # error 2018218
    assert fetcher.ensure_profile(conv).display_name is None
    assert len(graph_stub.requests) == 1  # "no profile" is cached too


def test_transient_profile_failure_is_not_cached(client, graph_stub, services):  # noqa: F811
    times = iter([0.0, 0.0, 10.0, 10.0, 10.0])
    fetcher = ProfileFetcher(client, services.tracker, ttl_seconds=5, monotonic=lambda: next(times))
    graph_stub.profiles["psid-x"] = {"first_name": "Xu"}
    graph_stub.fail_status(503)
    conv = _conversation_for(services, "psid-x")
    assert fetcher.ensure_profile(conv).display_name is None  # never raises
    assert fetcher.ensure_profile(conv).display_name == "Xu"
    assert len(graph_stub.requests) == 2
