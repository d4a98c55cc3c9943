"""Contract: who handles a conversation, assignment, profile, and an agent's reply."""

from __future__ import annotations

import pytest

from services.errors import InvalidInput, NotFound
from tests.contract.helpers import MISSING_ID, in_parallel, inbound, outbound


@pytest.fixture
def agent(store, clock):
    return store.create_user("agent@example.com", "agent", "hash", clock())


def _waiting(store, clock, user="wai"):
    """A conversation with one flagged, unreplied message; returns (track result, flag time)."""
    r = store.track_inbound(inbound(user, "I want a person"), clock())
    t_flag = clock.advance(minutes=1)
    store.mark_needs_human(r.message.id, "asked", 2, t_flag)
    return r, t_flag


# -- set_handling -------------------------------------------------------------------------------

def test_take_over_then_hand_back(store, clock, agent):
    r, t_flag = _waiting(store, clock)
    conv_id = r.conversation.id

    t1 = clock.advance(minutes=1)
    conv, changed = store.set_handling(conv_id, "human", agent.id, t1)
    assert changed is True
    assert (conv.handled_by, conv.assigned_to, conv.updated_at) == ("human", agent.id, t1)
    assert (conv.needs_human, conv.waiting_since) == (True, t_flag)  # taking over keeps the wait
    assert store.get_conversation(conv_id) == conv

    conv, changed = store.set_handling(conv_id, "human", None, clock.advance(minutes=1))
    assert changed is False
    assert conv.assigned_to == agent.id  # None keeps the assignee

    store.claim_handoff_timeouts(clock(), clock())  # sets handoff_timeout_notified_at
    assert store.get_conversation(conv_id).handoff_timeout_notified_at == clock()
    t3 = clock.advance(minutes=1)
    conv, changed = store.set_handling(conv_id, "bot", agent.id, t3)
    assert changed is True
    assert (conv.handled_by, conv.assigned_to, conv.updated_at) == ("bot", None, t3)
    assert (conv.needs_human, conv.human_reason, conv.waiting_since) == (False, None, None)
    assert conv.handoff_timeout_notified_at is None
    assert conv.escalated_at == t_flag  # history stays
    msg = store.get_message(r.message.id)
    assert (msg.requires_human, msg.human_replied) == (True, False)  # message flags stay
    assert store.get_conversation(conv_id) == conv

    _, changed = store.set_handling(conv_id, "bot", None, clock())
    assert changed is False


def test_two_concurrent_take_overs_one_wins(store, clock, agent):
    for i in range(5):
        conv = store.track_inbound(inbound(f"race-{i}"), clock()).conversation
        results = in_parallel(2, lambda _: store.set_handling(conv.id, "human", agent.id, clock()))
        assert sorted(changed for _, changed in results) == [False, True]
        assert all(c.handled_by == "human" for c, _ in results)


def test_set_handling_unknowns(store, clock, agent):
    conv = store.track_inbound(inbound("unk"), clock()).conversation
    with pytest.raises(NotFound):
        store.set_handling(MISSING_ID, "human", None, clock())
    with pytest.raises(NotFound):
        store.set_handling(conv.id, "human", MISSING_ID, clock())
    with pytest.raises(InvalidInput):
        store.set_handling(conv.id, "robot", None, clock())
    assert store.get_conversation(conv.id).handled_by == "bot"


# -- assign / set_profile -------------------------------------------------------------------------

def test_assign_and_unassign(store, clock, agent):
    conv = store.track_inbound(inbound("asa"), clock()).conversation
    t1 = clock.advance(minutes=1)
    assigned = store.assign(conv.id, agent.id, t1)
    assert (assigned.assigned_to, assigned.updated_at) == (agent.id, t1)
    assert assigned.handled_by == "bot"  # assigning is not taking over
    assert store.get_conversation(conv.id) == assigned
    assert store.assign(conv.id, None, clock.advance(minutes=1)).assigned_to is None

    with pytest.raises(NotFound):
        store.assign(conv.id, MISSING_ID, clock())
    with pytest.raises(NotFound):
        store.assign(MISSING_ID, agent.id, clock())
    assert store.get_conversation(conv.id).assigned_to is None


def test_set_profile(store, clock):
    conv = store.track_inbound(inbound("pro", display_name="Old", profile={"a": 1}),
                               clock()).conversation
    t1 = clock.advance(minutes=1)
    updated = store.set_profile(conv.id, "Pat Example", {"locale": "en_GB", "pic": "u"}, t1)
    assert (updated.display_name, updated.profile, updated.updated_at) == (
        "Pat Example", {"locale": "en_GB", "pic": "u"}, t1)  # the profile is replaced
    assert store.get_conversation(conv.id) == updated
    kept = store.set_profile(conv.id, None, {}, clock.advance(minutes=1))
    assert (kept.display_name, kept.profile) == ("Pat Example", {})
    with pytest.raises(NotFound):
        store.set_profile(MISSING_ID, "x", {}, clock())


# -- move_person (a web chat visitor who signs in) -----------------------------------------------

def _closed_then_open(store, clock, user):
    """A closed conversation of ``user`` and an open one after it: (closed, open)."""
    first = store.track_inbound(inbound(user, "before"), clock()).conversation
    closed = store.set_status(first.id, "closed", clock.advance(minutes=1))
    opened = store.track_inbound(inbound(user, "again"), clock.advance(minutes=1)).conversation
    assert opened.id != closed.id
    return closed, opened


def test_move_person_takes_every_conversation_to_a_person_with_none_open(store, clock):
    closed, opened = _closed_then_open(store, clock, "anon-1")
    bystander = store.track_inbound(inbound("anon-1", platform="messenger"), clock()).conversation
    t1 = clock.advance(minutes=1)
    profile = {"user_id": "c-42", "email": "pat@example.com", "verified": True}
    moved = store.move_person("webchat", "anon-1", "cust-1", "Pat", profile, t1)
    assert [c.id for c in moved] == [opened.id, closed.id]  # newest first
    for conv in moved:
        assert (conv.external_user_id, conv.display_name, conv.profile, conv.updated_at) == (
            "cust-1", "Pat", profile, t1)
        assert store.get_conversation(conv.id) == conv
    assert moved[0].status != "closed" and moved[1].status == "closed"
    assert store.get_conversation(bystander.id).external_user_id == "anon-1"  # other platform
    # The customer's next message goes on in the conversation moved; the visitor has none.
    again = store.track_inbound(inbound("cust-1", "signed in now"), clock())
    assert (again.conversation.id, again.conversation_created) == (opened.id, False)
    fresh = store.track_inbound(inbound("anon-1", "someone else"), clock())
    assert fresh.conversation_created is True and fresh.conversation.id not in {opened.id, closed.id}
    # Nothing left to move; a None name keeps each conversation's.
    assert store.move_person("webchat", "nobody", "cust-1", "X", {}, clock()) == []
    kept = store.move_person("webchat", "anon-1", "cust-2", None, {}, clock())
    assert [(c.id, c.display_name, c.profile) for c in kept] == [
        (fresh.conversation.id, None, {})]


def test_move_person_leaves_the_open_one_when_the_person_has_one_open(store, clock):
    closed, opened = _closed_then_open(store, clock, "anon-2")
    theirs = store.track_inbound(inbound("cust-3", "on my phone"), clock()).conversation
    moved = store.move_person("webchat", "anon-2", "cust-3", None, {"verified": True},
                              clock.advance(minutes=1))
    assert [c.id for c in moved] == [closed.id]  # one open conversation a person
    assert store.get_conversation(opened.id).external_user_id == "anon-2"
    assert store.get_conversation(theirs.id).external_user_id == "cust-3"
    with pytest.raises(InvalidInput):
        store.move_person("webchat", "cust-3", "cust-3", None, {}, clock())


def test_two_visitors_signing_in_at_once_leave_the_person_one_open(store, clock):
    opened = [store.track_inbound(inbound(f"anon-r{i}"), clock()).conversation
              for i in range(4)]
    moved = in_parallel(4, lambda i: store.move_person(
        "webchat", f"anon-r{i}", "cust-r", None, {}, clock()))
    assert sum(len(m) for m in moved) == 1
    still = [store.get_conversation(c.id).external_user_id for c in opened]
    assert sorted(still).count("cust-r") == 1


# -- an agent's message answers what waited -------------------------------------------------------

def test_agent_reply_marks_flagged_messages_replied_and_clears_flags(store, clock):
    r1, t_flag = _waiting(store, clock, "ann")
    conv_id = r1.conversation.id
    r2 = store.track_inbound(inbound("ann", "hello??"), clock.advance(minutes=1))
    store.mark_needs_human(r2.message.id, "again", 1, clock())
    plain = store.track_inbound(inbound("ann", "ok"), clock.advance(seconds=1)).message
    other, _ = _waiting(store, clock, "bea")  # another conversation waits too
    store.claim_handoff_timeouts(clock.advance(minutes=30), clock())

    # A bot message answers nothing.
    store.track_outbound(outbound(conv_id, "a bot line"), clock.advance(seconds=1))
    assert store.get_conversation(conv_id).needs_human is True

    t_reply = clock.advance(minutes=1)
    store.track_outbound(outbound(conv_id, "Hi, Sam here", sender_type="agent", sender_id="7"),
                         t_reply)
    conv = store.get_conversation(conv_id)
    assert (conv.needs_human, conv.human_reason, conv.waiting_since) == (False, None, None)
    assert conv.handoff_timeout_notified_at is None
    assert (conv.escalated_at, conv.first_human_reply_at, conv.priority) == (t_flag, t_reply, 1)
    for msg_id in (r1.message.id, r2.message.id):
        m = store.get_message(msg_id)
        assert (m.requires_human, m.human_replied, m.replied_by, m.replied_at) == (
            True, True, "7", t_reply)
    untouched = store.get_message(plain.id)
    assert (untouched.human_replied, untouched.replied_by, untouched.replied_at) == (
        False, None, None)
    assert store.get_conversation(other.conversation.id).needs_human is True
    assert store.get_message(other.message.id).human_replied is False
    assert store.stats(clock()).messages_requiring_human == 1  # only the other conversation


def test_inbound_agent_message_also_answers(store, clock):
    r, _ = _waiting(store, clock, "cat")
    t_reply = clock.advance(minutes=1)
    echo = store.track_inbound(inbound("cat", "typed in the page inbox", sender_type="agent",
                                       sender_id="page-admin"), t_reply)
    assert (echo.conversation.needs_human, echo.conversation.waiting_since) == (False, None)
    assert echo.conversation.first_human_reply_at == t_reply
    m = store.get_message(r.message.id)
    assert (m.human_replied, m.replied_by, m.replied_at) == (True, "page-admin", t_reply)


# -- handoff_timeout_notified_at belongs to the current wait ------------------------------------

def test_notice_is_kept_while_waiting_and_cleared_by_a_new_wait_or_closing(store, clock):
    r, _ = _waiting(store, clock, "dee")
    conv_id = r.conversation.id
    t_notice = clock.advance(minutes=20)
    assert [c.id for c in store.claim_handoff_timeouts(t_notice, t_notice)] == [conv_id]

    # Another flag in the same wait keeps the notice (no second one for this wait).
    more = store.track_inbound(inbound("dee", "hello?"), clock.advance(minutes=1))
    _, conv = store.mark_needs_human(more.message.id, "again", 2, clock())
    assert conv.handoff_timeout_notified_at == t_notice

    # The wait ends (every flagged message replied); a new flag starts a new wait, no notice.
    store.mark_human_replied(r.message.id, "a", clock.advance(minutes=1))
    _, conv = store.mark_human_replied(more.message.id, "a", clock.advance(minutes=1))
    assert (conv.needs_human, conv.handoff_timeout_notified_at) == (False, None)
    third = store.track_inbound(inbound("dee", "still there?"), clock.advance(minutes=1))
    t_wait = clock.advance(seconds=1)
    _, conv = store.mark_needs_human(third.message.id, "again", 2, t_wait)
    assert (conv.waiting_since, conv.handoff_timeout_notified_at) == (t_wait, None)

    t_notice2 = clock.advance(minutes=20)
    assert [c.id for c in store.claim_handoff_timeouts(t_notice2, t_notice2)] == [conv_id]
    closed = store.set_status(conv_id, "closed", clock.advance(minutes=1))
    assert closed.handoff_timeout_notified_at is None
