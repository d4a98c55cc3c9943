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


def test_the_unread_filter_lists_what_the_account_has_not_read(store, clock):
    from services.models import ConversationCursor, ConversationFilter

    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    read = store.track_inbound(inbound("u1", "one"), clock.advance(seconds=1)).conversation
    store.track_outbound(outbound(read.id, "two"), clock.advance(seconds=1))
    never = store.track_inbound(inbound("u2", "hi"), clock.advance(seconds=1)).conversation
    partly = store.track_inbound(inbound("u3", "a"), clock.advance(seconds=1)).conversation
    store.track_inbound(inbound("u3", "b"), clock.advance(seconds=1))
    store.mark_read(ann.id, read.id, 2, clock())
    store.mark_read(ann.id, partly.id, 1, clock())

    def unread(user, sort="last_activity", limit=100):
        ids, cursor = [], None
        while True:  # page by page: the filter holds across the keyset's pages
            page = store.list_conversations(
                ConversationFilter(unread_by=user.id, sort=sort), limit, cursor)
            ids += [c.id for c in page.conversations]
            if page.next_cursor is None:
                return ids
            cursor = ConversationCursor.decode(page.next_cursor)

    for sort in ("last_activity", "priority", "waiting"):
        assert unread(ann, sort) == unread(ann, sort, limit=1) == [partly.id, never.id]
    assert set(unread(bob)) == {read.id, never.id, partly.id}
    store.track_inbound(inbound("u1", "three"), clock.advance(seconds=1))  # new past the mark
    assert unread(ann) == [read.id, partly.id, never.id]
    store.mark_read(ann.id, never.id, 1, clock())
    assert unread(ann, limit=1) == [read.id, partly.id]
    # With another filter: both hold.
    page = store.list_conversations(ConversationFilter(unread_by=ann.id, platform="messenger"), 10)
    assert page.conversations == []


def test_marking_unread_moves_the_mark_back_before_the_newest_message(store, clock):
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    conversation = store.track_inbound(inbound("u1", "one"), clock()).conversation
    store.track_inbound(inbound("u1", "two"), clock())
    store.track_inbound(inbound("u1", "three"), clock())
    store.mark_read(ann.id, conversation.id, 3, clock())
    back = store.mark_unread(ann.id, conversation.id, clock.advance(seconds=5))
    assert (back.message_count, back.read_at) == (2, clock())
    assert store.read_marks(ann.id, [conversation.id]) == [back]
    assert store.mark_read(ann.id, conversation.id, 3, clock()).message_count == 3  # on again
    # Never opened: it becomes a mark just before the newest message all the same.
    other = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    assert store.mark_unread(ann.id, other.id, clock()).message_count == 0
    with pytest.raises(NotFound):
        store.mark_unread(ann.id, MISSING_ID, clock())
    with pytest.raises(NotFound):
        store.mark_unread(MISSING_ID, conversation.id, clock())


def test_mark_all_read_moves_every_mark_forward(store, clock):
    from services.models import ConversationFilter

    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    first = store.track_inbound(inbound("u1", "one"), clock()).conversation
    store.track_inbound(inbound("u1", "two"), clock())
    second = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    store.mark_read(ann.id, first.id, 2, clock())  # already read: its mark does not move
    assert store.mark_all_read(ann.id, clock.advance(seconds=5)) == 1
    marks = {m.conversation_id: m for m in store.read_marks(ann.id, [first.id, second.id])}
    assert {cid: m.message_count for cid, m in marks.items()} == {first.id: 2, second.id: 1}
    assert marks[second.id].read_at == clock() and marks[first.id].read_at < clock()
    assert store.list_conversations(ConversationFilter(unread_by=ann.id), 10).conversations == []
    assert store.read_marks(bob.id, [first.id, second.id]) == []
    assert store.mark_all_read(ann.id, clock()) == 0
    with pytest.raises(NotFound):
        store.mark_all_read(MISSING_ID, clock())


def test_seen_message_is_the_furthest_read_of_any_account(store, clock):
    """The web chat's "Seen": the newest message some account has read, as an id."""
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    first = store.track_inbound(inbound("u1", "one"), clock())
    conversation = first.conversation
    second = store.track_outbound(outbound(conversation.id, "two"), clock())
    third = store.track_inbound(inbound("u1", "three"), clock()).message
    other = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    assert store.seen_message_id(conversation.id) is None  # no one has read it
    store.mark_read(ann.id, other.id, 1, clock())  # another conversation's mark says nothing
    assert store.seen_message_id(conversation.id) is None

    store.mark_read(ann.id, conversation.id, 1, clock())
    assert store.seen_message_id(conversation.id) == first.message.id
    store.mark_read(bob.id, conversation.id, 2, clock())  # the furthest of the two
    assert store.seen_message_id(conversation.id) == second.id
    store.track_inbound(inbound("u1", "four"), clock())  # not read yet
    assert store.seen_message_id(conversation.id) == second.id
    store.mark_read(ann.id, conversation.id, 3, clock())
    assert store.seen_message_id(conversation.id) == third.id
    store.mark_unread(ann.id, conversation.id, clock())  # ann: back to 3 of 4 (no change)
    store.mark_unread(bob.id, conversation.id, clock())
    assert store.seen_message_id(conversation.id) == third.id
    (other_first,) = store.list_messages(other.id, 10)
    assert store.seen_message_id(other.id) == other_first.id
    store.mark_unread(ann.id, other.id, clock())  # back to a count of 0: nothing read
    assert store.seen_message_id(other.id) is None
    assert store.seen_message_id(MISSING_ID) is None


def test_the_questions_the_bot_could_not_answer(store, clock):
    """Bot answers below the threshold, newest first, with the person's message each
    answered; a bounded walk of ids, continued from where it stopped."""
    conversation = store.track_inbound(inbound("u1", "where is my parcel"), clock())
    asked = conversation.message

    def answer(text, confidence, question, intent="fallback"):
        metadata = {"in_reply_to": question.id, "intent": intent}
        return store.track_outbound(outbound(conversation.conversation.id, text,
                                             confidence_score=confidence, metadata=metadata),
                                    clock())

    low = answer("Sorry, could you rephrase?", 0.2, asked)
    again = store.track_inbound(inbound("u1", "my PARCEL!"), clock()).message
    good = answer("It ships tomorrow.", 0.9, again, intent="shipping")
    store.track_outbound(outbound(conversation.conversation.id, "agent here",
                                  sender_type="agent"), clock())
    third = store.track_inbound(inbound("u1", "asdf"), clock()).message
    lower = answer("Sorry?", 0.1, third)
    orphan = store.track_outbound(outbound(conversation.conversation.id, "Hm?",
                                           confidence_score=0.3), clock())  # no in_reply_to

    page = store.unanswered_questions(0.5, None, 10, 1000)
    assert [(q.answer_id, q.question_id, q.question, q.intent) for q in page.questions] == [
        (orphan.id, None, None, None),
        (lower.id, third.id, "asdf", "fallback"),
        (low.id, asked.id, "where is my parcel", "fallback")]
    assert page.questions[1].confidence == 0.1
    assert page.questions[1].conversation_id == conversation.conversation.id
    assert page.next_before is None  # the walk reached the first message
    assert good.id not in [q.answer_id for q in page.questions]

    # Two at a time: the next page starts below the last one found.
    first = store.unanswered_questions(0.5, None, 2, 1000)
    assert [q.answer_id for q in first.questions] == [orphan.id, lower.id]
    assert first.next_before == lower.id
    rest = store.unanswered_questions(0.5, first.next_before, 2, 1000)
    assert [q.answer_id for q in rest.questions] == [low.id] and rest.next_before is None
    # A short walk: only the ids just below, and where to go on.
    short = store.unanswered_questions(0.5, orphan.id, 10, 2)
    assert [q.answer_id for q in short.questions] == [lower.id]
    assert short.next_before == orphan.id - 2
    assert store.unanswered_questions(0.05, None, 10, 1000).questions == []
