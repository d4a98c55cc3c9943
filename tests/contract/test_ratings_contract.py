"""Contract: the person's rating of a closed conversation, and the satisfaction stats
(both stores)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import Conflict, InvalidInput, NotFound
from services.models import RECENT_RATING_COMMENTS
from tests.contract.helpers import MISSING_ID, in_parallel, inbound


def _closed(store, clock, user: str, assigned_to: int | None = None):
    conversation = store.track_inbound(inbound(user, "hi"), clock()).conversation
    if assigned_to is not None:
        store.set_handling(conversation.id, "human", assigned_to, clock())
    return store.set_status(conversation.id, "closed", clock())


def test_a_closed_conversation_is_rated_and_a_new_rating_replaces_the_last(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    assert conversation.rating is None and conversation.rated_at is None
    with pytest.raises(Conflict):  # open: nothing to rate yet
        store.rate_conversation(conversation.id, 5, None, clock())
    store.set_status(conversation.id, "closed", clock())

    rated = store.rate_conversation(conversation.id, 4, "Quick and kind",
                                    clock.advance(seconds=5))
    assert (rated.rating, rated.rating_comment) == (4, "Quick and kind")
    assert rated.rated_at == clock() and rated.updated_at == clock()
    assert rated.status == "closed" and rated.message_count == 1
    again = store.rate_conversation(conversation.id, 2, None, clock.advance(seconds=5))
    assert (again.rating, again.rating_comment, again.rated_at) == (2, None, clock())
    stored = store.get_conversation(conversation.id)
    assert (stored.rating, stored.rating_comment, stored.rated_at) == (2, None, clock())

    # Reopened, it cannot be rated; the rating it had stays.
    store.set_status(conversation.id, "active", clock())
    with pytest.raises(Conflict):
        store.rate_conversation(conversation.id, 5, None, clock())
    assert store.get_conversation(conversation.id).rating == 2
    with pytest.raises(NotFound):
        store.rate_conversation(MISSING_ID, 5, None, clock())


@pytest.mark.parametrize("score, comment", [
    (0, None), (6, None), (True, None), (4.5, None), ("5", None), (None, None),
    (5, ""), (5, " padded"), (5, "x" * 501), (5, "a\x00b"), (5, 7),
])
def test_a_bad_rating_is_refused_and_changes_nothing(store, clock, score, comment):
    conversation = _closed(store, clock, "u1")
    with pytest.raises(InvalidInput):
        store.rate_conversation(conversation.id, score, comment, clock())
    assert store.get_conversation(conversation.id).rating is None


def test_the_longest_comment_is_kept_whole(store, clock):
    conversation = _closed(store, clock, "u1")
    text = "é" * 499 + "🙂"  # 500 characters, more bytes
    assert store.rate_conversation(conversation.id, 5, text, clock()).rating_comment == text


def test_two_ratings_at_once_leave_one_of_them(store, clock):
    conversation = _closed(store, clock, "u1")
    in_parallel(6, lambda i: store.rate_conversation(conversation.id, i % 5 + 1,
                                                     f"try {i}", clock()))
    stored = store.get_conversation(conversation.id)
    assert stored.rating_comment in {f"try {i}" for i in range(6)}
    assert stored.rating == int(stored.rating_comment.split()[1]) % 5 + 1


def test_the_satisfaction_of_a_period(store, clock):
    ann = store.create_user("ann@example.com", "agent", "hash", clock())
    bob = store.create_user("bob@example.com", "agent", "hash", clock())
    empty = store.satisfaction(None, clock())
    assert (empty.rated, empty.average, empty.satisfied) == (0, None, 0)
    assert empty.by_score == [0] * 5 and empty.by_agent == [] and empty.comments == []

    start = clock()
    old = _closed(store, clock, "old", ann.id)
    store.rate_conversation(old.id, 1, "Too slow", clock.advance(hours=1))
    since = clock.advance(hours=1)
    ratings = [(ann.id, 5, "Great"), (ann.id, 4, None), (bob.id, 3, "Fine"),
               (bob.id, 5, None), (bob.id, 2, "Meh"), (None, 5, "The bot was enough")]
    rated_ids = []
    for n, (agent, score, comment) in enumerate(ratings):
        conversation = _closed(store, clock, f"p{n}", agent)
        store.rate_conversation(conversation.id, score, comment, clock.advance(minutes=1))
        rated_ids.append(conversation.id)
    _closed(store, clock, "unrated", ann.id)  # closed, never rated: not counted
    clock.advance(minutes=1)

    period = store.satisfaction(since, clock())
    assert period.rated == 6 and period.satisfied == 4
    assert period.average == pytest.approx(24 / 6)
    assert period.by_score == [0, 1, 1, 1, 3]
    assert [(a.user_id, a.rated, a.satisfied) for a in period.by_agent] == [
        (bob.id, 3, 1), (ann.id, 2, 2), (None, 1, 1)]
    assert [a.average for a in period.by_agent] == pytest.approx([10 / 3, 4.5, 5.0])
    # The comments, newest first, with who had the conversation.
    assert [(c.conversation_id, c.rating, c.comment, c.assigned_to)
            for c in period.comments] == [
        (rated_ids[5], 5, "The bot was enough", None), (rated_ids[4], 2, "Meh", bob.id),
        (rated_ids[2], 3, "Fine", bob.id), (rated_ids[0], 5, "Great", ann.id)]
    assert period.comments[0].platform == "webchat"

    everything = store.satisfaction(None, clock())
    assert everything.rated == 7 and everything.by_score == [1, 1, 1, 1, 3]
    # Three each: by id then.
    assert [(a.user_id, a.rated) for a in everything.by_agent] == [
        (ann.id, 3), (bob.id, 3), (None, 1)]
    # [since, until): a rating at `until` is not in, one at `since` is.
    assert store.satisfaction(start, start + timedelta(hours=1)).rated == 0
    assert store.satisfaction(start + timedelta(hours=1), since).rated == 1

    # A new rating moves the conversation into the period of its new time.
    store.rate_conversation(old.id, 5, None, clock.advance(minutes=1))
    assert store.satisfaction(since, clock.advance(seconds=1)).rated == 7


def test_only_the_newest_comments_are_listed(store, clock):
    for n in range(RECENT_RATING_COMMENTS + 2):
        conversation = _closed(store, clock, f"p{n}")
        store.rate_conversation(conversation.id, 3, f"comment {n}", clock.advance(seconds=1))
    comments = store.satisfaction(None, clock.advance(seconds=1)).comments
    assert [c.comment for c in comments] == [
        f"comment {n}" for n in range(RECENT_RATING_COMMENTS + 1, 1, -1)]
