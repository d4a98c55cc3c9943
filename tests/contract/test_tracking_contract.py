"""Contract: track_inbound / track_outbound, idempotency, UTC times and concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from services.errors import NotFound
from services.models import PREVIEW_LENGTH, ConversationFilter, preview
from tests.contract.helpers import MISSING_ID, inbound, outbound


def test_first_message_opens_a_conversation(store, clock):
    now = clock()
    msg = inbound("alice", "Hi there", ext="mid.1", attachments=[{"type": "image", "url": "u"}],
                  metadata={"source": "test"}, sender_id="psid-alice")
    result = store.track_inbound(msg, now)

    assert result.created is True
    assert result.conversation_created is True
    conv, m = result.conversation, result.message
    assert (conv.platform, conv.external_user_id) == ("webchat", "alice")
    assert (conv.status, conv.handled_by, conv.needs_human, conv.priority) == (
        "active", "bot", False, 5)
    assert conv.message_count == 1
    assert conv.last_message_preview == "Hi there"
    assert conv.created_at == conv.updated_at == conv.last_message_at == now
    assert conv.last_user_message_at == now
    assert conv.waiting_since is conv.escalated_at is conv.closed_at is None
    assert conv.first_human_reply_at is None

    assert m.conversation_id == conv.id
    assert (m.platform, m.sender_type, m.sender_id) == ("webchat", "user", "psid-alice")
    assert (m.content, m.external_id, m.created_at) == ("Hi there", "mid.1", now)
    assert m.attachments == [{"type": "image", "url": "u"}]
    assert m.metadata == {"source": "test"}
    assert m.delivery_status == "received"
    assert (m.requires_human, m.human_replied) == (False, False)

    assert store.get_conversation(conv.id) == conv
    assert store.get_message(m.id) == m


def test_second_message_goes_to_the_same_conversation(store, clock):
    first = store.track_inbound(inbound("bob", "one"), clock())
    later = clock.advance(minutes=5)
    long_text = "  lots   of\n\nspace " + "x" * 300
    second = store.track_inbound(inbound("bob", long_text), later)

    assert second.created is True
    assert second.conversation_created is False
    conv = second.conversation
    assert conv.id == first.conversation.id
    assert second.message.id > first.message.id
    assert conv.message_count == 2
    assert conv.created_at == first.conversation.created_at
    assert conv.updated_at == conv.last_message_at == conv.last_user_message_at == later
    assert conv.last_message_preview == preview(long_text)
    assert len(conv.last_message_preview) == PREVIEW_LENGTH
    assert conv.last_message_preview.startswith("lots of space x")
    assert store.get_conversation(conv.id) == conv


def test_same_user_on_other_platform_is_another_conversation(store, clock):
    web = store.track_inbound(inbound("carol", platform="webchat"), clock())
    fb = store.track_inbound(inbound("carol", platform="messenger"), clock())
    assert fb.conversation_created is True
    assert fb.conversation.id != web.conversation.id
    assert fb.message.platform == "messenger"


def test_messages_without_external_id_are_all_stored(store, clock):
    msg = inbound("dan", "same")
    msg.external_id = None
    a = store.track_inbound(msg, clock())
    b = store.track_inbound(msg, clock.advance(seconds=1))
    assert (a.created, b.created) == (True, True)
    assert a.message.id != b.message.id
    assert b.conversation.message_count == 2


def test_redelivered_message_changes_nothing(store, clock):
    first = store.track_inbound(inbound("erin", "original", ext="mid.dup"), clock())
    store.track_inbound(inbound("erin", "second", ext="mid.other"), clock.advance(seconds=10))
    before = store.get_conversation(first.conversation.id)

    again = store.track_inbound(
        inbound("erin", "changed text", ext="mid.dup", display_name="Someone Else"),
        clock.advance(minutes=3),
    )
    assert again.created is False
    assert again.conversation_created is False
    assert again.message == first.message
    assert again.message.content == "original"
    assert again.conversation == before
    assert store.get_conversation(first.conversation.id) == before
    assert store.get_conversation(first.conversation.id).message_count == 2


def test_same_external_id_on_another_platform_is_another_message(store, clock):
    a = store.track_inbound(inbound("fay", platform="webchat", ext="shared-id"), clock())
    b = store.track_inbound(inbound("fay", platform="messenger", ext="shared-id"), clock())
    assert b.created is True
    assert b.message.id != a.message.id


def test_idle_conversation_becomes_active_on_new_message(store, clock):
    conv = store.track_inbound(inbound("gus"), clock()).conversation
    assert store.set_status(conv.id, "idle", clock.advance(minutes=30)).status == "idle"
    result = store.track_inbound(inbound("gus", "back"), clock.advance(minutes=1))
    assert result.conversation_created is False
    assert result.conversation.id == conv.id
    assert result.conversation.status == "active"
    assert store.get_conversation(conv.id).status == "active"


def test_closed_conversation_is_never_reused(store, clock):
    old = store.track_inbound(inbound("hal", "first"), clock()).conversation
    store.set_status(old.id, "closed", clock.advance(minutes=1))
    result = store.track_inbound(inbound("hal", "new topic"), clock.advance(minutes=1))

    assert result.conversation_created is True
    assert result.conversation.id != old.id
    assert result.conversation.message_count == 1
    assert result.conversation.status == "active"
    closed = store.get_conversation(old.id)
    assert closed.status == "closed"
    assert closed.message_count == 1


def test_display_name_and_profile_are_filled_when_given(store, clock):
    conv = store.track_inbound(inbound("ivy"), clock()).conversation
    assert conv.display_name is None
    assert conv.profile == {}

    named = store.track_inbound(
        inbound("ivy", display_name="Ivy Example", profile={"locale": "fr_FR", "tz": 1}),
        clock.advance(seconds=1)).conversation
    assert named.display_name == "Ivy Example"
    assert named.profile == {"locale": "fr_FR", "tz": 1}

    kept = store.track_inbound(inbound("ivy"), clock.advance(seconds=1)).conversation
    assert kept.display_name == "Ivy Example"
    assert kept.profile == {"locale": "fr_FR", "tz": 1}

    renamed = store.track_inbound(inbound("ivy", display_name="Ivy B."), clock.advance(seconds=1))
    assert renamed.conversation.display_name == "Ivy B."
    assert store.get_conversation(conv.id).display_name == "Ivy B."


def test_inbound_from_a_non_user_sender_keeps_last_user_message_at(store, clock):
    t0 = clock()
    store.track_inbound(inbound("kai", "from the person"), t0)
    echo = store.track_inbound(inbound("kai", "page echo", sender_type="system"),
                               clock.advance(minutes=1))
    assert echo.message.sender_type == "system"
    assert echo.conversation.message_count == 2
    assert echo.conversation.last_message_at == clock()
    assert echo.conversation.last_user_message_at == t0


def test_message_time_is_the_given_now(store, clock):
    now = clock()
    result = store.track_inbound(inbound("jan", received_at=now - timedelta(hours=2)), now)
    assert result.message.created_at == now
    assert result.conversation.last_message_at == now


# -- track_outbound -------------------------------------------------------------------------

def test_bot_reply_bumps_counters_but_not_last_user_message_at(store, clock):
    t0 = clock()
    conv = store.track_inbound(inbound("kim", platform="messenger"), t0).conversation
    t1 = clock.advance(seconds=2)
    msg = store.track_outbound(outbound(conv.id, "How can I help?", confidence_score=0.75,
                                        metadata={"intent": "greet"}), t1)

    assert (msg.conversation_id, msg.platform, msg.sender_type) == (conv.id, "messenger", "bot")
    assert (msg.content, msg.created_at, msg.confidence_score) == ("How can I help?", t1, 0.75)
    assert msg.metadata == {"intent": "greet"}
    assert msg.delivery_status == "pending"
    after = store.get_conversation(conv.id)
    assert after.message_count == 2
    assert after.last_message_at == after.updated_at == t1
    assert after.last_message_preview == "How can I help?"
    assert after.last_user_message_at == t0
    assert after.first_human_reply_at is None
    assert store.get_message(msg.id) == msg


def test_first_agent_reply_sets_first_human_reply_at_once(store, clock):
    conv = store.track_inbound(inbound("lea"), clock()).conversation
    store.track_outbound(outbound(conv.id, "system note", sender_type="system"),
                         clock.advance(seconds=1))
    assert store.get_conversation(conv.id).first_human_reply_at is None

    t_agent = clock.advance(seconds=1)
    store.track_outbound(outbound(conv.id, "human here", sender_type="agent", sender_id="7"),
                         t_agent)
    store.track_outbound(outbound(conv.id, "still me", sender_type="agent"),
                         clock.advance(minutes=1))
    after = store.get_conversation(conv.id)
    assert after.first_human_reply_at == t_agent
    assert after.message_count == 4


def test_outbound_to_unknown_conversation_is_not_found(store, clock):
    with pytest.raises(NotFound):
        store.track_outbound(outbound(MISSING_ID), clock())


def test_outbound_with_repeated_external_id_returns_stored_message(store, clock):
    conv = store.track_inbound(inbound("max"), clock()).conversation
    first = store.track_outbound(outbound(conv.id, "once", external_id="out-1"), clock())
    again = store.track_outbound(outbound(conv.id, "twice", external_id="out-1"),
                                 clock.advance(seconds=5))
    assert again == first
    assert store.get_conversation(conv.id).message_count == 2


# -- times ------------------------------------------------------------------------------------

def test_times_round_trip_as_utc_with_microseconds(store):
    plus2 = timezone(timedelta(hours=2))
    minus5 = timezone(timedelta(hours=-5))
    t_in = datetime(2026, 11, 25, 14, 30, 15, 123456, tzinfo=plus2)
    result = store.track_inbound(inbound("ned"), t_in)
    t_flag = datetime(2026, 11, 25, 7, 31, 0, 654321, tzinfo=minus5)
    store.mark_needs_human(result.message.id, "help", 3, t_flag)

    conv = store.get_conversation(result.conversation.id)
    msg = store.get_message(result.message.id)
    for value in (conv.created_at, conv.last_message_at, msg.created_at):
        assert value.utcoffset() == timedelta(0)
        assert (value.hour, value.minute, value.second, value.microsecond) == (12, 30, 15, 123456)
        assert value == t_in
    assert conv.escalated_at == conv.waiting_since == t_flag
    assert conv.escalated_at.utcoffset() == timedelta(0)
    assert (conv.escalated_at.hour, conv.escalated_at.microsecond) == (12, 654321)


# -- concurrency ------------------------------------------------------------------------------

def _in_parallel(n, fn):
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_parallel_first_messages_of_one_user_open_one_conversation(store, clock):
    now = clock()
    results = _in_parallel(
        8, lambda i: store.track_inbound(inbound("crowd", f"m{i}", ext=f"crowd-{i}"), now))

    assert len({r.conversation.id for r in results}) == 1
    assert sum(r.conversation_created for r in results) == 1
    assert all(r.created for r in results)
    assert len({r.message.id for r in results}) == 8
    conv = store.get_conversation(results[0].conversation.id)
    assert conv.message_count == 8
    page = store.list_conversations(ConversationFilter(), limit=50)
    assert [c.external_user_id for c in page.conversations] == ["crowd"]
    assert len(store.list_messages(conv.id, limit=50)) == 8


def test_parallel_deliveries_of_one_message_store_it_once(store, clock):
    now = clock()
    results = _in_parallel(
        8, lambda i: store.track_inbound(inbound("echo", f"copy {i}", ext="same-mid"), now))

    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert len({r.conversation.id for r in results}) == 1
    conv = store.get_conversation(results[0].conversation.id)
    assert conv.message_count == 1
    assert len(store.list_messages(conv.id, limit=50)) == 1


def test_nul_characters_are_dropped_not_refused(store, clock):
    from services.models import InboundMessage

    result = store.track_inbound(
        InboundMessage(platform="webchat", external_user_id="v\x00-1", external_id="c\x001",
                       content="hel\x00lo", metadata={"k\x00": "v\x00"}),
        clock(),
    )
    assert result.message.content == "hello"
    assert result.conversation.external_user_id == "v-1"
    assert result.message.metadata == {"k": "v"}


def test_outbound_with_its_conversation_in_one_call(store, clock):
    conv = store.track_inbound(inbound("wcv", "hi"), clock()).conversation
    later = clock.advance(minutes=2)
    message, after, send = store.track_outbound_with_conversation(
        outbound(conv.id, "hello from the bot", external_id="bot:wcv"), later)
    # The conversation as the write left it: what a read finds now.
    assert message == store.get_message(message.id)
    assert after == store.get_conversation(conv.id)
    assert after.message_count == 2 and after.last_message_at == later
    assert after.last_message_preview == "hello from the bot"
    assert send is None  # not asked for: the send job stays queued for the worker
    # The same external id again stores nothing more.
    again, unchanged, _ = store.track_outbound_with_conversation(
        outbound(conv.id, "hello from the bot", external_id="bot:wcv"), clock.advance(minutes=1))
    assert again == message and unchanged == after
    with pytest.raises(NotFound):
        store.track_outbound_with_conversation(outbound(MISSING_ID), clock())
