"""Contract: status changes, human escalation flags, delivery status."""

from __future__ import annotations

import pytest

from services.errors import Conflict, NotFound
from tests.contract.helpers import MISSING_ID, inbound, outbound


# -- set_status -------------------------------------------------------------------------------

def test_closing_clears_human_flags_but_keeps_message_history(store, clock):
    r = store.track_inbound(inbound("ada", "help"), clock())
    store.mark_needs_human(r.message.id, "asked", 2, clock.advance(minutes=1))
    t_close = clock.advance(minutes=5)
    conv = store.set_status(r.conversation.id, "closed", t_close)

    assert conv.status == "closed"
    assert conv.closed_at == conv.updated_at == t_close
    assert (conv.needs_human, conv.human_reason, conv.waiting_since) == (False, None, None)
    assert store.get_conversation(conv.id) == conv
    msg = store.get_message(r.message.id)
    assert (msg.requires_human, msg.human_reason, msg.human_replied) == (True, "asked", False)


def test_status_idle_and_back(store, clock):
    conv = store.track_inbound(inbound("bea"), clock()).conversation
    idle = store.set_status(conv.id, "idle", clock.advance(minutes=10))
    assert (idle.status, idle.updated_at) == ("idle", clock())
    active = store.set_status(conv.id, "active", clock.advance(minutes=1))
    assert (active.status, active.closed_at) == ("active", None)
    assert store.get_conversation(conv.id).status == "active"


def test_reopening_clears_closed_at(store, clock):
    conv = store.track_inbound(inbound("cal"), clock()).conversation
    store.set_status(conv.id, "closed", clock.advance(minutes=1))
    reopened = store.set_status(conv.id, "active", clock.advance(minutes=1))
    assert (reopened.status, reopened.closed_at) == ("active", None)
    assert reopened.updated_at == clock()
    # The reopened conversation is the user's open one again.
    again = store.track_inbound(inbound("cal", "back"), clock.advance(minutes=1))
    assert again.conversation.id == conv.id
    assert again.conversation_created is False


def test_reopening_conflicts_with_another_open_conversation(store, clock):
    old = store.track_inbound(inbound("dot"), clock()).conversation
    store.set_status(old.id, "closed", clock.advance(minutes=1))
    new = store.track_inbound(inbound("dot", "new"), clock.advance(minutes=1)).conversation
    assert new.id != old.id

    for status in ("active", "idle"):
        with pytest.raises(Conflict):
            store.set_status(old.id, status, clock.advance(minutes=1))
    assert store.get_conversation(old.id).status == "closed"
    # Same external user on another platform does not count.
    other = store.track_inbound(inbound("eve", platform="messenger"), clock()).conversation
    store.set_status(other.id, "closed", clock.advance(minutes=1))
    store.track_inbound(inbound("eve", platform="webchat"), clock.advance(minutes=1))
    assert store.set_status(other.id, "active", clock.advance(minutes=1)).status == "active"


def test_set_status_unknown_conversation(store, clock):
    with pytest.raises(NotFound):
        store.set_status(MISSING_ID, "closed", clock())


# -- mark_needs_human / mark_human_replied ---------------------------------------------------------

def test_mark_needs_human_flags_message_and_conversation(store, clock):
    r = store.track_inbound(inbound("fox", "I need a person"), clock())
    t1 = clock.advance(minutes=1)
    msg, conv = store.mark_needs_human(r.message.id, "asked for human", 3, t1)

    assert msg.id == r.message.id
    assert (msg.requires_human, msg.human_reason, msg.human_replied) == (
        True, "asked for human", False)
    assert (conv.needs_human, conv.human_reason, conv.priority) == (True, "asked for human", 3)
    assert conv.waiting_since == conv.escalated_at == t1
    assert store.get_message(msg.id) == msg
    assert store.get_conversation(conv.id) == conv


def test_mark_needs_human_keeps_waiting_since_escalated_at_and_lowest_priority(store, clock):
    a = store.track_inbound(inbound("gil", "first"), clock())
    t1 = clock.advance(minutes=1)
    store.mark_needs_human(a.message.id, "angry", 2, t1)
    b = store.track_inbound(inbound("gil", "second"), clock.advance(minutes=1))
    _, conv = store.mark_needs_human(b.message.id, "still angry", 4, clock.advance(minutes=1))

    assert conv.priority == 2  # min(2, 4)
    assert conv.waiting_since == t1
    assert conv.escalated_at == t1
    assert conv.human_reason == "still angry"

    _, conv = store.mark_needs_human(b.message.id, "urgent", 1, clock.advance(minutes=1))
    assert conv.priority == 1
    assert conv.escalated_at == t1


def test_human_reply_clears_conversation_only_when_nothing_waits(store, clock):
    a = store.track_inbound(inbound("hub", "one"), clock())
    b = store.track_inbound(inbound("hub", "two"), clock.advance(seconds=1))
    t_flag = clock.advance(minutes=1)
    store.mark_needs_human(a.message.id, "r1", 3, t_flag)
    store.mark_needs_human(b.message.id, "r2", 3, clock.advance(minutes=1))

    t_reply = clock.advance(minutes=1)
    msg, conv = store.mark_human_replied(a.message.id, "agent@example.com", t_reply)
    assert (msg.human_replied, msg.replied_by, msg.replied_at) == (
        True, "agent@example.com", t_reply)
    assert msg.requires_human is True  # the flag stays as history
    assert conv.needs_human is True  # b still waits
    assert conv.waiting_since == t_flag
    assert conv.human_reason == "r2"

    _, conv = store.mark_human_replied(b.message.id, "agent@example.com", clock.advance(minutes=1))
    assert (conv.needs_human, conv.human_reason, conv.waiting_since) == (False, None, None)
    assert conv.escalated_at == t_flag
    assert store.get_conversation(conv.id) == conv
    assert store.get_message(a.message.id).human_replied is True


def test_flags_of_other_conversations_do_not_keep_one_waiting(store, clock):
    mine = store.track_inbound(inbound("ian"), clock())
    theirs = store.track_inbound(inbound("jon"), clock())
    store.mark_needs_human(mine.message.id, "x", 3, clock.advance(minutes=1))
    store.mark_needs_human(theirs.message.id, "y", 3, clock.advance(minutes=1))
    _, conv = store.mark_human_replied(mine.message.id, "a", clock.advance(minutes=1))
    assert conv.needs_human is False
    assert store.get_conversation(theirs.conversation.id).needs_human is True


def test_escalation_after_a_reply_starts_a_new_wait(store, clock):
    r = store.track_inbound(inbound("kit"), clock())
    t1 = clock.advance(minutes=1)
    store.mark_needs_human(r.message.id, "x", 3, t1)
    store.mark_human_replied(r.message.id, "a", clock.advance(minutes=1))
    again = store.track_inbound(inbound("kit", "again"), clock.advance(minutes=1))
    t2 = clock.advance(minutes=1)
    msg, conv = store.mark_needs_human(again.message.id, "y", 3, t2)
    assert conv.needs_human is True
    assert conv.waiting_since == t2
    assert conv.escalated_at == t1
    # Re-flagging a replied message makes it wait again.
    msg, conv = store.mark_needs_human(r.message.id, "z", 3, clock.advance(minutes=1))
    assert (msg.requires_human, msg.human_replied) == (True, False)


def test_flag_changes_on_unknown_messages(store, clock):
    with pytest.raises(NotFound):
        store.mark_needs_human(MISSING_ID, "x", 3, clock())
    with pytest.raises(NotFound):
        store.mark_human_replied(MISSING_ID, "a", clock())
    with pytest.raises(NotFound):
        store.set_delivery_status(MISSING_ID, "sent", clock())


# -- delivery -----------------------------------------------------------------------------------

def test_delivery_status_and_platform_id(store, clock):
    conv = store.track_inbound(inbound("lou", platform="messenger"), clock()).conversation
    sent = store.track_outbound(outbound(conv.id, "hi"), clock.advance(seconds=1))
    assert (sent.delivery_status, sent.external_id) == ("pending", None)

    failed = store.set_delivery_status(sent.id, "failed", clock(), error="(#10) outside window")
    assert (failed.delivery_status, failed.delivery_error) == ("failed", "(#10) outside window")
    assert failed.external_id is None

    ok = store.set_delivery_status(sent.id, "sent", clock(), external_id="m_abc")
    assert (ok.delivery_status, ok.external_id, ok.delivery_error) == ("sent", "m_abc", None)
    read = store.set_delivery_status(sent.id, "read", clock.advance(seconds=5))
    assert (read.delivery_status, read.external_id) == ("read", "m_abc")
    assert store.get_message(sent.id) == read
    assert (read.content, read.conversation_id) == ("hi", conv.id)

    # Once its platform id is known, the message is found by it (no duplicate on echo).
    echo = store.track_outbound(outbound(conv.id, "hi", external_id="m_abc"), clock())
    assert echo.id == sent.id
    assert store.get_conversation(conv.id).message_count == 2
