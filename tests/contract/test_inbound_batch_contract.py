"""Contract: ``track_inbound_many`` -- several inbound messages in one transaction, with the
same outcome as ``track_inbound`` one by one."""

from __future__ import annotations

import threading

import pytest

from services.models import InboundMessage
from tests.contract.helpers import inbound


def _scenario(prefix: str, run: str) -> list[InboundMessage]:
    """Messages that exercise every branch of track_inbound: new people, a second message
    of one person, the same message twice in one batch, an agent's message, a message the
    bot must not answer, a display name and a profile, another platform."""
    p = f"{prefix}-"
    return [
        inbound(p + "ann", "hello", ext=f"{run}{p}1"),
        inbound(p + "bob", "hi", ext=f"{run}{p}2", display_name="Bob", profile={"locale": "fr"}),
        inbound(p + "ann", "are you there?", ext=f"{run}{p}3"),
        inbound(p + "ann", "are you there?", ext=f"{run}{p}3"),  # redelivered at once
        inbound(p + "cat", "standby", ext=f"{run}{p}4", respond=False),
        inbound(p + "bob", "from the page inbox", ext=f"{run}{p}5", sender_type="agent",
                sender_id="page_inbox", respond=False),
        inbound(p + "ann", "on messenger", ext=f"{run}{p}6", platform="messenger"),
        InboundMessage(platform="webchat", external_user_id=p + "dan", content="no id"),
    ]


def _shape(result, prefix: str) -> tuple:
    """A result without its ids and its people's names, to compare two runs."""
    conv, msg = result.conversation, result.message
    return (
        result.created, result.conversation_created,
        conv.platform, conv.external_user_id.removeprefix(prefix), conv.message_count,
        conv.display_name, conv.profile, conv.status, conv.last_message_preview,
        conv.first_human_reply_at is not None,
        msg.sender_type, msg.content, msg.delivery_status,
    )


def test_a_batch_ends_like_the_same_messages_one_by_one(store, clock):
    run = f"b{id(store)}"
    one_by_one = [store.track_inbound(m, clock()) for m in _scenario("seq", run)]
    jobs_before = store.count_jobs("queued")
    scenario = _scenario("bat", run)
    batched = store.track_inbound_many([(m, clock()) for m in scenario])

    assert [_shape(r, "bat-") for r in batched] == [_shape(r, "seq-") for r in one_by_one]
    assert store.count_jobs("queued") - jobs_before == jobs_before  # the same respond jobs
    # Each result is its own item's, in the items' order.
    assert [r.message.external_id for r in batched] == [m.external_id for m in scenario]
    # The second delivery in the batch got the first one's message, stored once.
    assert batched[3].message.id == batched[2].message.id and not batched[3].created
    # One person's messages keep their order.
    assert batched[0].message.id < batched[2].message.id
    # What was stored is what a read finds.
    for result in batched:
        assert store.get_message(result.message.id) == result.message


def test_a_redelivery_of_a_stored_message_in_a_batch_changes_nothing(store, clock):
    first = store.track_inbound(inbound("eve", "one", ext="again-1"), clock())
    later = clock.advance(minutes=1)
    results = store.track_inbound_many([(inbound("eve", "one", ext="again-1"), later),
                                        (inbound("eve", "two", ext="again-2"), later)])
    assert not results[0].created and results[0].message == first.message
    assert results[1].created and results[1].conversation.message_count == 2


def test_an_empty_batch_stores_nothing(store):
    assert store.track_inbound_many([]) == []


def test_a_refused_item_rolls_the_whole_batch_back(store, clock):
    good = inbound("fay", "kept?", ext="rollback-1")
    # Built without validation: a platform the schema refuses (CHECK constraint).
    bad = InboundMessage.model_construct(**{**inbound("fay", "x", ext="rollback-2").__dict__,
                                            "platform": "fax"})
    with pytest.raises(Exception):
        store.track_inbound_many([(good, clock()), (bad, clock())])
    assert store.find_message_by_external_id("webchat", "rollback-1") is None
    assert store.track_inbound(good, clock()).created  # nothing of it was left behind


def test_batches_in_opposite_orders_at_once_do_not_deadlock(store, clock):
    # Two writers each send batches naming the same ten people, one forwards and one
    # backwards: without one lock order their transactions would wait on each other.
    people = [f"lock-{n}" for n in range(10)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def write(tag: str, order: list[str]) -> None:
        try:
            barrier.wait()
            for round_ in range(8):
                store.track_inbound_many(
                    [(inbound(who, f"{tag}{round_}", ext=f"{tag}-{round_}-{who}"), clock())
                     for who in order])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=("fwd", people)),
               threading.Thread(target=write, args=("bwd", people[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for who in people:
        page = store.list_conversations(_filter(who), limit=5)
        assert [c.message_count for c in page.conversations] == [16]


def _filter(who: str):
    from services.models import ConversationFilter

    return ConversationFilter(platform="webchat", external_user_id=who)
