"""Contract: deleting conversations with everything of theirs, for an admin's erasure and
the retention sweep (both stores)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import InvalidInput
from services.models import MAX_DELETE, ConversationFilter, NewActivity
from tests.contract.helpers import MISSING_ID, in_parallel, inbound, outbound


def _stats(store, clock):
    return store.stats(clock()).model_dump(exclude={"timestamp"})


def _full(store, clock, user: str, text: str, agent_id: int):
    """A conversation with something in every table: messages (one waiting for a human,
    one pending send), a trail line, a note, a read mark, tags, a rating, a profile."""
    first = store.track_inbound(inbound(user, text, display_name="Zed Quux", respond=True),
                                clock())
    conversation = first.conversation
    store.mark_needs_human(first.message.id, "asked for a person", 2, clock())
    store.track_outbound(outbound(conversation.id, f"answer to {text}",
                                  delivery_status="pending"), clock())
    store.add_activity([
        NewActivity(conversation_id=conversation.id, kind="taken_over", actor_id=agent_id),
        NewActivity(conversation_id=conversation.id, kind="note", actor_id=agent_id,
                    detail={"text": f"note about {text}"}),
    ], clock())
    store.mark_read(agent_id, conversation.id, 1, clock())
    store.add_tag(conversation.id, "doomed", clock())
    store.set_status(conversation.id, "closed", clock())
    store.rate_conversation(conversation.id, 2, f"comment on {text}", clock())
    return store.get_conversation(conversation.id), store.get_message(first.message.id)


def test_a_deleted_conversation_leaves_nothing_behind(store, clock):
    agent = store.create_user("ann@example.com", "agent", "hash", clock())
    keep, kept_message = _full(store, clock, "keeper", "kiwi", agent.id)
    before = _stats(store, clock)
    jobs_before = store.count_jobs()
    tags_before = store.list_tags(10)
    satisfaction_before = store.satisfaction(None, clock() + timedelta(seconds=1))

    doomed, message = _full(store, clock, "leaver", "quokka", agent.id)
    assert store.count_jobs() > jobs_before and _stats(store, clock) != before

    deleted = store.delete_conversations([doomed.id])
    assert [c.id for c in deleted] == [doomed.id]
    assert deleted[0].display_name == "Zed Quux" and deleted[0].rating == 2

    assert store.get_conversation(doomed.id) is None
    assert store.get_message(message.id) is None
    assert store.find_message_by_external_id("webchat", message.external_id) is None
    assert store.list_activity(doomed.id, 50) == []
    assert store.read_marks(agent.id, [doomed.id, keep.id])[0].conversation_id == keep.id
    assert len(store.read_marks(agent.id, [doomed.id, keep.id])) == 1
    assert store.count_jobs() == jobs_before
    # The roll-ups, the tag counts and the ratings drop what it contributed.
    assert _stats(store, clock) == before
    assert store.list_tags(10) == tags_before
    after = store.satisfaction(None, clock() + timedelta(seconds=1))
    assert after.model_dump() == satisfaction_before.model_dump()
    # Search finds the kept one only.
    for text, expected in (("quokka", []), ("Zed Quux", [keep.id]), ("kiwi", [keep.id])):
        found = store.list_conversations(ConversationFilter(search=text), limit=10)
        assert [c.id for c in found.conversations] == expected
    # The other conversation is whole.
    assert store.get_conversation(keep.id) == keep
    assert store.get_message(kept_message.id) == kept_message
    assert len(store.list_activity(keep.id, 50)) == 2


def test_deleting_again_or_an_unknown_id_deletes_nothing_more(store, clock):
    one = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    two = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    assert [c.id for c in store.delete_conversations([two.id, MISSING_ID, two.id])] == [two.id]
    assert store.delete_conversations([two.id]) == []
    assert store.delete_conversations([]) == []
    assert store.get_conversation(one.id) is not None


def test_a_person_who_writes_again_starts_a_new_conversation(store, clock):
    first = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    store.delete_conversations([first.id])
    again = store.track_inbound(inbound("u1", "hello again"), clock())
    assert again.conversation_created and again.conversation.id != first.id
    assert again.conversation.message_count == 1


def test_a_deletion_takes_at_most_max_delete_ids(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    with pytest.raises(InvalidInput):
        store.delete_conversations(list(range(1, MAX_DELETE + 2)))
    assert store.get_conversation(conversation.id) is not None
    for bad in (0, MAX_DELETE + 1):
        with pytest.raises(InvalidInput):
            store.delete_closed_before(clock(), bad)


def test_two_deletions_at_once_delete_once(store, clock):
    ids = [store.track_inbound(inbound(f"u{i}", "hi"), clock()).conversation.id
           for i in range(5)]
    results = in_parallel(4, lambda _: store.delete_conversations(ids))
    assert sorted(c.id for r in results for c in r) == ids
    assert _stats(store, clock)["total_conversations"] == 0


def test_retention_deletes_old_closed_conversations_oldest_first(store, clock):
    start = clock()
    old_closed = []
    for i in range(3):
        c = store.track_inbound(inbound(f"old{i}", "hi"), clock.advance(minutes=1)).conversation
        old_closed.append(store.set_status(c.id, "closed", clock()))
    old_open = store.track_inbound(inbound("open", "hi"), clock.advance(minutes=1)).conversation
    touched = store.track_inbound(inbound("touched", "hi"), clock.advance(minutes=1)).conversation
    store.set_status(touched.id, "closed", clock())
    cut = clock.advance(days=1)
    store.add_tag(touched.id, "vip", clock.advance(minutes=1))  # changed after the cut
    noted = store.track_inbound(inbound("noted", "hi"), start - timedelta(hours=1)).conversation
    store.set_status(noted.id, "closed", start - timedelta(hours=1))
    store.add_activity([NewActivity(conversation_id=noted.id, kind="note",
                                    detail={"text": "refund approved"})], clock())
    recent = store.track_inbound(inbound("recent", "hi"), clock.advance(minutes=1)).conversation
    store.set_status(recent.id, "closed", clock())

    first = store.delete_closed_before(cut, 2)
    assert [c.id for c in first] == [old_closed[0].id, old_closed[1].id]
    assert [c.id for c in store.delete_closed_before(cut, 10)] == [old_closed[2].id]
    assert store.delete_closed_before(cut, 10) == []
    left = store.list_conversations(ConversationFilter(), limit=10).conversations
    # The note written after the cut keeps its conversation, though no column changed.
    assert store.get_conversation(noted.id).updated_at < cut
    assert sorted(c.id for c in left) == sorted([old_open.id, touched.id, recent.id, noted.id])
    assert start < cut


def test_two_retention_sweeps_at_once_delete_each_conversation_once(store, clock):
    for i in range(12):
        c = store.track_inbound(inbound(f"u{i}", "hi"), clock.advance(seconds=1)).conversation
        store.set_status(c.id, "closed", clock())
    cut = clock.advance(days=1)
    results = in_parallel(3, lambda _: store.delete_closed_before(cut, 5))
    deleted = [c.id for r in results for c in r]
    assert len(deleted) == len(set(deleted)) <= 12
    rest = store.delete_closed_before(cut, MAX_DELETE)
    assert len(deleted) + len(rest) == 12
