"""Contract: lifecycle sweeps and handoff timeouts change each row once and return only it."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import in_parallel, inbound


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
