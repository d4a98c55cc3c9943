"""Contract: lifecycle sweeps, handoff timeouts and priority raises change each row once and
return only it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import in_parallel, inbound, outbound


def _conversation_at(store, user, when):
    return store.track_inbound(inbound(user), when).conversation


def test_sweep_idle(store, clock):
    t0 = clock()
    old = _conversation_at(store, "old", t0)
    edge = _conversation_at(store, "edge", t0 + timedelta(minutes=10))
    fresh = _conversation_at(store, "fresh", t0 + timedelta(minutes=20))
    closed = _conversation_at(store, "closed", t0)
    store.set_status(closed.id, "closed", t0 + timedelta(minutes=1))

    now = clock.advance(minutes=40)
    idle_before = t0 + timedelta(minutes=10)
    swept = store.sweep_idle(idle_before, now)
    assert [c.id for c in swept] == [old.id]  # last_message_at < idle_before, strictly
    assert (swept[0].status, swept[0].updated_at) == ("idle", now)
    assert swept[0].last_message_at == t0  # a sweep is not activity
    assert store.get_conversation(old.id) == swept[0]
    assert store.sweep_idle(idle_before, clock.advance(minutes=1)) == []  # only what changed

    swept = store.sweep_idle(t0 + timedelta(minutes=30), clock())
    assert [c.id for c in swept] == [edge.id, fresh.id]  # id order
    assert store.get_conversation(closed.id).status == "closed"

    # A new message makes an idle conversation active again.
    back = store.track_inbound(inbound("old", "back"), clock.advance(minutes=1))
    assert (back.conversation.id, back.conversation.status) == (old.id, "active")


def test_sweep_closed(store, clock):
    t0 = clock()
    waiting = store.track_inbound(inbound("wait"), t0)
    store.mark_needs_human(waiting.message.id, "x", 2, t0 + timedelta(seconds=1))
    idle = _conversation_at(store, "idle", t0)
    store.set_status(idle.id, "idle", t0 + timedelta(minutes=1))
    recent = _conversation_at(store, "recent", t0 + timedelta(hours=2))
    done = _conversation_at(store, "done", t0)
    store.set_status(done.id, "closed", t0 + timedelta(minutes=5))
    store.claim_handoff_timeouts(t0 + timedelta(minutes=30), t0 + timedelta(minutes=30))

    now = clock.advance(hours=3)
    swept = store.sweep_closed(t0 + timedelta(hours=1), now)
    assert [c.id for c in swept] == [waiting.conversation.id, idle.id]
    for conv in swept:
        assert (conv.status, conv.closed_at, conv.updated_at) == ("closed", now, now)
        assert (conv.needs_human, conv.human_reason, conv.waiting_since) == (False, None, None)
        assert conv.handoff_timeout_notified_at is None
        assert store.get_conversation(conv.id) == conv
    assert store.get_message(waiting.message.id).requires_human is True  # history stays
    assert store.get_conversation(done.id).closed_at == t0 + timedelta(minutes=5)
    assert store.get_conversation(recent.id).status == "active"
    assert store.sweep_closed(t0 + timedelta(hours=1), clock.advance(minutes=1)) == []

    # The person's next message opens a new conversation.
    again = store.track_inbound(inbound("idle", "new topic"), clock.advance(minutes=1))
    assert again.conversation_created and again.conversation.id != idle.id


def test_concurrent_sweeps_change_each_conversation_once(store, clock):
    t0 = clock()
    ids = [_conversation_at(store, f"c{i}", t0).id for i in range(30)]
    now = clock.advance(hours=2)

    idled = in_parallel(2, lambda _: store.sweep_idle(now, now))
    got = [c.id for batch in idled for c in batch]
    assert sorted(got) == ids  # each once, none missed

    closed = in_parallel(2, lambda _: store.sweep_closed(now, now))
    got = [c.id for batch in closed for c in batch]
    assert sorted(got) == ids
    assert all(c.status == "closed" for batch in closed for c in batch)


def test_handoff_timeouts_are_claimed_once(store, clock):
    t0 = clock()
    long_wait = store.track_inbound(inbound("long"), t0)
    store.mark_needs_human(long_wait.message.id, "x", 3, t0)
    short_wait = store.track_inbound(inbound("short"), t0)
    store.mark_needs_human(short_wait.message.id, "x", 3, t0 + timedelta(minutes=8))
    store.track_inbound(inbound("calm"), t0)

    now = clock.advance(minutes=10)
    waiting_before = now - timedelta(minutes=5)
    claimed = store.claim_handoff_timeouts(waiting_before, now)
    assert [c.id for c in claimed] == [long_wait.conversation.id]
    assert (claimed[0].handoff_timeout_notified_at, claimed[0].updated_at) == (now, now)
    assert claimed[0].needs_human is True and claimed[0].waiting_since == t0
    assert store.get_conversation(claimed[0].id) == claimed[0]
    assert store.claim_handoff_timeouts(waiting_before, clock.advance(minutes=1)) == []

    later = clock.advance(minutes=10)
    assert [c.id for c in store.claim_handoff_timeouts(later - timedelta(minutes=5), later)] == [
        short_wait.conversation.id]


def test_concurrent_handoff_timeout_claims_are_disjoint(store, clock):
    t0 = clock()
    ids = []
    for i in range(20):
        r = store.track_inbound(inbound(f"w{i}"), t0)
        store.mark_needs_human(r.message.id, "x", 3, t0)
        ids.append(r.conversation.id)
    now = clock.advance(minutes=30)
    batches = in_parallel(2, lambda _: store.claim_handoff_timeouts(now, now))
    assert sorted(c.id for batch in batches for c in batch) == ids


# -- priority raise (once per wait) -------------------------------------------------------------

def _flagged(store, user, when, priority):
    """A conversation whose first message is flagged for a human at ``when``."""
    r = store.track_inbound(inbound(user), when)
    conv = store.mark_needs_human(r.message.id, "x", priority, when)[1]
    return r.message, conv


def test_raise_waiting_priority_raises_each_long_wait_once(store, clock):
    t0 = clock()
    _, long_wait = _flagged(store, "long", t0, 3)
    _, short_wait = _flagged(store, "short", t0 + timedelta(minutes=8), 4)
    _, urgent = _flagged(store, "urgent", t0, 1)  # already at the top: nothing to raise
    _, lowest = _flagged(store, "lowest", t0, 5)
    calm = _conversation_at(store, "calm", t0)

    now = clock.advance(minutes=10)
    raised = store.raise_waiting_priority(now - timedelta(minutes=5), now)
    assert [c.id for c in raised] == [long_wait.id, lowest.id]  # id order
    assert [c.priority for c in raised] == [2, 4]
    for conv in raised:
        assert (conv.priority_raised_at, conv.updated_at) == (now, now)
        assert conv.needs_human and conv.waiting_since == t0  # still the same wait
        assert store.get_conversation(conv.id) == conv
    for untouched in (short_wait, urgent, calm):
        assert store.get_conversation(untouched.id) == untouched
    assert store.get_conversation(calm.id).priority_raised_at is None

    # Once per wait: later calls leave them alone, however long they keep waiting.
    assert store.raise_waiting_priority(now - timedelta(minutes=5), clock.advance(minutes=1)) == []
    later = clock.advance(hours=2)
    (only,) = store.raise_waiting_priority(later, later)
    assert (only.id, only.priority, only.priority_raised_at) == (short_wait.id, 3, later)
    assert store.get_conversation(long_wait.id).priority == 2


def test_raise_waiting_priority_boundary_is_strict(store, clock):
    t0 = clock()
    _, conv = _flagged(store, "edge", t0, 3)
    assert store.raise_waiting_priority(t0, clock.advance(minutes=1)) == []  # == is not before
    (raised,) = store.raise_waiting_priority(t0 + timedelta(microseconds=1), clock())
    assert raised.id == conv.id


def _agent_outbound(store, msg, conv, when):
    store.track_outbound(outbound(conv.id, "here", sender_type="agent", sender_id="7"), when)


def _agent_inbound(store, msg, conv, when):
    store.track_inbound(inbound(conv.external_user_id, "echo", sender_type="agent",
                                sender_id="7"), when)


def _replied(store, msg, conv, when):
    store.mark_human_replied(msg.id, "agent", when)


def _handed_back(store, msg, conv, when):
    store.set_handling(conv.id, "bot", None, when)


def _closed(store, msg, conv, when):
    store.set_status(conv.id, "closed", when)


def _swept(store, msg, conv, when):
    assert [c.id for c in store.sweep_closed(when, when)] == [conv.id]


@pytest.mark.parametrize("end_wait", [_agent_outbound, _agent_inbound, _replied, _handed_back,
                                      _closed, _swept])
def test_a_new_wait_can_be_raised_again(store, clock, end_wait):
    t0 = clock()
    msg, conv = _flagged(store, "again", t0, 4)
    now = clock.advance(minutes=30)
    assert [c.priority for c in store.raise_waiting_priority(now, now)] == [3]

    end_wait(store, msg, conv, clock.advance(minutes=1))
    ended = store.get_conversation(conv.id)
    assert (ended.needs_human, ended.waiting_since, ended.priority_raised_at) == (
        False, None, None)
    assert ended.priority == 3  # the priority itself stays
    if ended.status == "closed":
        store.set_status(conv.id, "active", clock())

    # A flag starts a new wait: nothing raised yet, so it is raised once more in time.
    t_new = clock.advance(minutes=1)
    store.mark_needs_human(msg.id, "again", 4, t_new)
    assert store.get_conversation(conv.id).priority_raised_at is None
    assert store.raise_waiting_priority(t_new, clock.advance(minutes=30)) == []
    (raised,) = store.raise_waiting_priority(clock(), clock())
    assert (raised.priority, raised.waiting_since, raised.priority_raised_at) == (2, t_new, clock())


def test_another_flag_during_the_same_wait_keeps_the_raise(store, clock):
    t0 = clock()
    msg, conv = _flagged(store, "same", t0, 4)
    now = clock.advance(minutes=30)
    store.raise_waiting_priority(now, now)
    second = store.track_inbound(inbound("same", "hello??"), clock.advance(minutes=1)).message
    _, still = store.mark_needs_human(second.id, "again", 5, clock())
    assert (still.waiting_since, still.priority_raised_at, still.priority) == (t0, now, 3)
    assert store.raise_waiting_priority(clock(), clock()) == []
    store.mark_human_replied(msg.id, "agent", clock())  # one flag answered, one still waits
    assert store.get_conversation(conv.id).priority_raised_at == now


def test_concurrent_priority_raises_raise_each_conversation_once(store, clock):
    t0 = clock()
    ids = [_flagged(store, f"r{i}", t0, 4)[1].id for i in range(30)]
    now = clock.advance(minutes=30)
    batches = in_parallel(2, lambda _: store.raise_waiting_priority(now, now))
    got = [c.id for batch in batches for c in batch]
    assert sorted(got) == ids  # each once, none missed
    assert all(store.get_conversation(i).priority == 3 for i in ids)
