"""Contract: delivery/read watermarks, finding messages by platform id, message metadata."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import Conflict, InvalidInput, NotFound
from tests.contract.helpers import MISSING_ID, in_parallel, inbound, outbound


def _sent(store, conv_id, text, when, sender_type="bot"):
    msg = store.track_outbound(outbound(conv_id, text, sender_type=sender_type), when)
    return store.set_delivery_status(msg.id, "sent", when, external_id=f"m_{msg.id}")


def test_watermarks_move_messages_forward_only(store, clock):
    t0 = clock()
    first = store.track_inbound(inbound("pia", platform="messenger"), t0).conversation
    old = _sent(store, first.id, "from an old conversation", t0 + timedelta(seconds=1))
    store.set_status(first.id, "closed", t0 + timedelta(seconds=2))
    conv = store.track_inbound(inbound("pia", "again", platform="messenger"),
                               t0 + timedelta(seconds=3)).conversation
    bot = _sent(store, conv.id, "bot", t0 + timedelta(seconds=4))
    agent = _sent(store, conv.id, "agent", t0 + timedelta(seconds=5), sender_type="agent")
    pending = store.track_outbound(outbound(conv.id, "not sent yet"), t0 + timedelta(seconds=6))
    failed = store.track_outbound(outbound(conv.id, "refused"), t0 + timedelta(seconds=7))
    store.set_delivery_status(failed.id, "failed", t0, error="(#10)")
    user = store.track_inbound(inbound("pia", "hi", platform="messenger"),
                               t0 + timedelta(seconds=8)).message
    after = _sent(store, conv.id, "after the watermark", t0 + timedelta(seconds=20))
    # Someone else, and the same id on the other platform: never touched.
    other = store.track_inbound(inbound("quo", platform="messenger"), t0).conversation
    other_msg = _sent(store, other.id, "to quo", t0 + timedelta(seconds=1))
    web = store.track_inbound(inbound("pia", platform="webchat"), t0).conversation
    web_msg = _sent(store, web.id, "on the widget", t0 + timedelta(seconds=1))

    now = clock.advance(minutes=1)
    watermark = t0 + timedelta(seconds=10)
    changed = store.mark_delivered_until("messenger", "pia", watermark, "delivered", now)
    assert [m.id for m in changed] == [old.id, bot.id, agent.id]  # id order, closed ones too
    assert all(m.delivery_status == "delivered" for m in changed)
    assert store.get_message(bot.id) == changed[1]
    assert store.get_message(pending.id).delivery_status == "pending"
    assert store.get_message(failed.id).delivery_status == "failed"
    assert store.get_message(user.id).delivery_status == "received"
    assert store.get_message(after.id).delivery_status == "sent"
    assert store.get_message(other_msg.id).delivery_status == "sent"
    assert store.get_message(web_msg.id).delivery_status == "sent"
    # Only what changed comes back.
    assert store.mark_delivered_until("messenger", "pia", watermark, "delivered", now) == []

    # At or before: a message created exactly at the watermark counts.
    read = store.mark_delivered_until("messenger", "pia", after.created_at, "read", now)
    assert [(m.id, m.delivery_status) for m in read] == [
        (old.id, "read"), (bot.id, "read"), (agent.id, "read"), (after.id, "read")]
    # Never backwards.
    assert store.mark_delivered_until("messenger", "pia", after.created_at, "delivered",
                                      now) == []
    assert store.get_message(bot.id).delivery_status == "read"
    assert store.get_message(pending.id).delivery_status == "pending"

    with pytest.raises(InvalidInput):
        store.mark_delivered_until("messenger", "pia", now, "sent", now)
    assert store.mark_delivered_until("messenger", "nobody", now, "read", now) == []


def test_find_message_by_external_id(store, clock):
    r = store.track_inbound(inbound("ray", platform="messenger", ext="mid.in.1"), clock())
    assert store.find_message_by_external_id("messenger", "mid.in.1") == r.message
    assert store.find_message_by_external_id("webchat", "mid.in.1") is None
    assert store.find_message_by_external_id("messenger", "mid.nope") is None

    out = store.track_outbound(outbound(r.conversation.id, "reply"), clock())
    assert store.find_message_by_external_id("messenger", "mid.out.1") is None
    sent = store.set_delivery_status(out.id, "sent", clock(), external_id="mid.out.1")
    assert store.find_message_by_external_id("messenger", "mid.out.1") == sent


def test_update_message_metadata_merges_top_level_keys(store, clock):
    msg = store.track_inbound(inbound("sue", metadata={"a": 1, "keep": {"x": 1}, "gone": True}),
                              clock()).message
    updated = store.update_message_metadata(
        msg.id, {"a": 2, "keep": {"y": 2}, "gone": None, "new": [1, "two"], "absent": None},
        clock.advance(seconds=1))
    # Top-level merge: "keep" is replaced, not merged; None deletes (absent keys are fine).
    assert updated.metadata == {"a": 2, "keep": {"y": 2}, "new": [1, "two"]}
    assert updated.id == msg.id and updated.content == msg.content
    assert store.get_message(msg.id) == updated
    assert store.update_message_metadata(msg.id, {}, clock()).metadata == updated.metadata
    nested_null = store.update_message_metadata(msg.id, {"reaction": {"emoji": None}}, clock())
    assert nested_null.metadata["reaction"] == {"emoji": None}  # only top-level None deletes
    with pytest.raises(NotFound):
        store.update_message_metadata(MISSING_ID, {"a": 1}, clock())


def test_update_message_metadata_only_if_it_still_holds_what_was_read(store, clock):
    msg = store.track_inbound(inbound("cas", metadata={"r": {"at": "1"}, "n": 0}),
                              clock()).message
    # Each expected key must hold that value (None: absent); other keys do not matter.
    ok = store.update_message_metadata(msg.id, {"r": {"at": "2"}, "x": True}, clock(),
                                       expect={"r": {"at": "1"}, "gone": None})
    assert ok.metadata == {"r": {"at": "2"}, "n": 0, "x": True}
    for stale in ({"r": {"at": "1"}}, {"x": None}, {"r": None}, {"n": 0, "r": {"at": "3"}}):
        with pytest.raises(Conflict):
            store.update_message_metadata(msg.id, {"r": None}, clock(), expect=stale)
    assert store.get_message(msg.id) == ok  # nothing changed
    with pytest.raises(NotFound):
        store.update_message_metadata(MISSING_ID, {"a": 1}, clock(), expect={"a": None})


def test_compare_and_set_loses_no_write_under_contention(store, clock):
    msg = store.track_inbound(inbound("cas-n", metadata={"n": 0}), clock()).message

    def increment(_: int) -> None:
        for _try in range(200):
            n = store.get_message(msg.id).metadata["n"]
            try:
                store.update_message_metadata(msg.id, {"n": n + 1}, clock(), expect={"n": n})
                return
            except Conflict:
                continue
        raise AssertionError("never got through")

    in_parallel(8, increment)
    assert store.get_message(msg.id).metadata["n"] == 8  # every increment, none lost
