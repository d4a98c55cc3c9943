"""Contract: what each account has read (both stores)."""

from __future__ import annotations

import pytest

from services.errors import InvalidInput, NotFound
from services.store.base import MAX_CONVERSATIONS_PER_READ
from tests.contract.helpers import MISSING_ID, inbound, outbound


def test_a_mark_moves_forward_only_and_is_per_account(store, clock):
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    first = store.track_inbound(inbound("u1", "one"), clock()).conversation
    store.track_outbound(outbound(first.id, "two"), clock())
    store.track_inbound(inbound("u1", "three"), clock())
    other = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    assert store.read_marks(ann.id, [first.id, other.id]) == []

    read = store.mark_read(ann.id, first.id, 2, clock.advance(seconds=5))
    assert (read.user_id, read.conversation_id, read.message_count, read.read_at) == (
        ann.id, first.id, 2, clock())
    # A page that loaded earlier says less: the mark stays, with its time.
    assert store.mark_read(ann.id, first.id, 1, clock.advance(seconds=5)) == read
    assert store.mark_read(ann.id, first.id, 2, clock.advance(seconds=5)) == read
    # More than the conversation holds is its own count (a page cannot read ahead).
    further = store.mark_read(ann.id, first.id, 99, clock.advance(seconds=5))
    assert (further.message_count, further.read_at) == (3, clock())
    assert store.mark_read(ann.id, first.id, -4, clock()).message_count == 3

    assert store.read_marks(bob.id, [first.id, other.id]) == []
    bobs = store.mark_read(bob.id, other.id, 1, clock())
    assert store.read_marks(bob.id, [first.id, other.id]) == [bobs]
    assert store.read_marks(ann.id, [first.id, other.id, MISSING_ID]) == [further]
    assert store.read_marks(ann.id, []) == []


def test_unknown_conversation_or_account(store, clock):
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    conversation = store.track_inbound(inbound("u1", "one"), clock()).conversation
    with pytest.raises(NotFound):
        store.mark_read(ann.id, MISSING_ID, 1, clock())
    with pytest.raises(NotFound):
        store.mark_read(MISSING_ID, conversation.id, 1, clock())
    assert store.read_marks(MISSING_ID, [conversation.id]) == []
    with pytest.raises(InvalidInput):
        store.read_marks(ann.id, list(range(1, MAX_CONVERSATIONS_PER_READ + 2)))


def test_a_new_message_is_past_the_mark(store, clock):
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    conversation = store.track_inbound(inbound("u1", "one"), clock()).conversation
    store.mark_read(ann.id, conversation.id, 1, clock())
    now = store.track_inbound(inbound("u1", "two"), clock()).conversation
    (mark,) = store.read_marks(ann.id, [conversation.id])
    assert now.message_count - mark.message_count == 1
