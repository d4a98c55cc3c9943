"""Contract: a conversation's activity trail (who answered it, who had it, its state)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.errors import InvalidInput, NotFound
from services.models import NewActivity
from tests.contract.helpers import MISSING_ID, inbound


@pytest.fixture
def agent(store, clock):
    return store.create_user("agent@example.com", "agent", "hash", clock())


def _line(conversation_id, kind, actor=None, **detail):
    return NewActivity(conversation_id=conversation_id, kind=kind,
                       actor_id=actor.id if actor else None,
                       actor=actor.email if actor else None, detail=detail)


def test_lines_are_stored_in_the_order_given_and_listed_in_id_order(store, clock, agent):
    conv = store.track_inbound(inbound("act-1"), clock()).conversation
    t1 = clock.advance(minutes=1)
    first = store.add_activity([_line(conv.id, "escalated", reason="asked for a person",
                                      message_id=7),
                                _line(conv.id, "taken_over", agent)], t1)
    assert [(a.kind, a.actor_id, a.actor, a.created_at) for a in first] == [
        ("escalated", None, None, t1), ("taken_over", agent.id, agent.email, t1)]
    assert first[0].detail == {"reason": "asked for a person", "message_id": 7}
    assert first[0].id < first[1].id
    t2 = clock.advance(minutes=1)
    (handed_back,) = store.add_activity([_line(conv.id, "handed_back", agent)], t2)
    assert handed_back.conversation_id == conv.id

    assert store.list_activity(conv.id, 10) == [*first, handed_back]
    assert store.list_activity(conv.id, 2) == [first[1], handed_back]  # the newest, id order
    assert store.list_activity(conv.id, 10, before=handed_back.id) == first
    assert store.list_activity(conv.id, 1, before=first[1].id) == [first[0]]
    assert store.list_activity(conv.id, 10, before=first[0].id) == []


def test_a_conversation_lists_its_own_lines_only(store, clock, agent):
    a = store.track_inbound(inbound("act-a"), clock()).conversation
    b = store.track_inbound(inbound("act-b"), clock()).conversation
    store.add_activity([_line(a.id, "closed"), _line(b.id, "assigned", agent, to_id=agent.id,
                                                     to=agent.email)], clock())
    assert [x.kind for x in store.list_activity(a.id, 10)] == ["closed"]
    (line,) = store.list_activity(b.id, 10)
    assert (line.kind, line.detail) == ("assigned", {"to_id": agent.id, "to": agent.email})
    assert store.list_activity(MISSING_ID, 10) == []


def test_nothing_to_add_adds_nothing(store, clock):
    assert store.add_activity([], clock()) == []


def test_an_unknown_conversation_or_account_stores_no_line_of_the_batch(store, clock, agent):
    conv = store.track_inbound(inbound("act-unknown"), clock()).conversation
    with pytest.raises(NotFound):
        store.add_activity([_line(conv.id, "reopened"), _line(MISSING_ID, "closed")], clock())
    ghost = NewActivity(conversation_id=conv.id, kind="taken_over", actor_id=MISSING_ID,
                        actor="ghost@example.com")
    with pytest.raises(NotFound):
        store.add_activity([_line(conv.id, "reopened"), ghost], clock())
    assert store.list_activity(conv.id, 10) == []


def test_a_limit_below_one_is_refused(store, clock):
    conv = store.track_inbound(inbound("act-limit"), clock()).conversation
    with pytest.raises(InvalidInput):
        store.list_activity(conv.id, 0)


def test_text_from_people_is_kept_as_given(store, clock):
    """A reason is a rule's or an agent's text: quotes, markup and emoji come back as given."""
    conv = store.track_inbound(inbound("act-text"), clock()).conversation
    reason = "said \"refund\" <b>twice</b> 😡 \\ ' ; --"
    store.add_activity([_line(conv.id, "escalated", reason=reason)], clock())
    assert store.list_activity(conv.id, 1)[0].detail == {"reason": reason}


def test_an_unknown_kind_is_refused_before_the_store():
    with pytest.raises(ValidationError):
        NewActivity(conversation_id=1, kind="deleted")


# -- list_activity_in: many conversations' lines in one call (an export) ----------------------

def test_lines_of_many_conversations_in_a_range_page_in_conversation_order(store, clock, agent):
    a = store.track_inbound(inbound("many-a"), clock()).conversation
    b = store.track_inbound(inbound("many-b"), clock()).conversation
    c = store.track_inbound(inbound("many-c"), clock()).conversation
    t0 = clock()
    early = store.add_activity([_line(b.id, "escalated", reason="early")], t0)
    t1 = clock.advance(hours=1)
    in_range = store.add_activity([_line(b.id, "taken_over", agent), _line(a.id, "note", agent,
                                                                             text="n"),
                                   _line(c.id, "closed"), _line(b.id, "closed", agent)], t1)
    t2 = clock.advance(hours=1)
    store.add_activity([_line(a.id, "reopened", agent)], t2)  # at the range's end: left out

    ids = [c.id, a.id, b.id, MISSING_ID]  # any order; unknown ids have no lines
    expected = sorted(in_range, key=lambda x: (x.conversation_id, x.id))
    assert store.list_activity_in(ids, t1, t2, 10) == expected
    assert store.list_activity_in(ids, t0, t2, 10) == sorted(
        [*early, *in_range], key=lambda x: (x.conversation_id, x.id))

    pages, after = [], None
    while True:
        page = store.list_activity_in(ids, t1, t2, 2, after)
        pages.append(page)
        if len(page) < 2:
            break
        after = (page[-1].conversation_id, page[-1].id)
    assert [x for p in pages for x in p] == expected and len(pages) == 3
    assert store.list_activity_in([a.id], t1, t2, 10) == [x for x in expected
                                                           if x.conversation_id == a.id]
    assert store.list_activity_in([], t0, t2, 10) == []


def test_a_read_of_many_conversations_refuses_what_no_store_answers(store, clock):
    with pytest.raises(InvalidInput):
        store.list_activity_in([1], clock(), clock.advance(hours=1), 0)
    with pytest.raises(InvalidInput):
        store.list_activity_in(list(range(1, 1002)), clock(), clock.advance(hours=1), 10)


def test_one_write_takes_at_most_max_activity_per_write_lines(store, clock):
    from services.store.base import MAX_ACTIVITY_PER_WRITE

    conv = store.track_inbound(inbound("act-max"), clock()).conversation
    lines = [_line(conv.id, "note", text=f"n{i}") for i in range(MAX_ACTIVITY_PER_WRITE + 1)]
    with pytest.raises(InvalidInput):
        store.add_activity(lines, clock())
    assert store.list_activity(conv.id, 10) == []
    written = store.add_activity(lines[:MAX_ACTIVITY_PER_WRITE], clock())
    assert [a.detail["text"] for a in written] == [f"n{i}" for i in range(MAX_ACTIVITY_PER_WRITE)]


def test_a_note_is_rewritten_and_stays_deleted(store, clock, agent):
    from services.errors import Conflict

    conv = store.track_inbound(inbound("act-note"), clock()).conversation
    note, other = store.add_activity([_line(conv.id, "note", agent, text="typo hre"),
                                      _line(conv.id, "taken_over", agent)], clock())
    assert store.get_activity(note.id) == note
    assert store.get_activity(MISSING_ID) is None

    edited = store.rewrite_note(note.id, {"text": "typo here",
                                          "edited_at": "2026-12-05T10:00:00+00:00"})
    assert (edited.id, edited.kind, edited.actor_id, edited.created_at) == (
        note.id, "note", agent.id, note.created_at)
    assert edited.detail == {"text": "typo here", "edited_at": "2026-12-05T10:00:00+00:00"}
    assert store.get_activity(note.id) == edited
    assert store.list_activity(conv.id, 10) == [edited, other]

    gone = store.rewrite_note(note.id, {"deleted_at": "2026-12-05T10:01:00+00:00",
                                        "deleted_by_id": agent.id, "deleted_by": agent.email})
    assert "text" not in gone.detail and gone.detail["deleted_by_id"] == agent.id
    # Deleted, it stays so: an edit racing the deletion cannot bring the text back.
    with pytest.raises(Conflict):
        store.rewrite_note(note.id, {"text": "back again"})
    assert store.get_activity(note.id) == gone
    # No other line is a note to rewrite.
    with pytest.raises(NotFound):
        store.rewrite_note(other.id, {"text": "not a note"})
    with pytest.raises(NotFound):
        store.rewrite_note(MISSING_ID, {"text": "nothing"})
    assert store.get_activity(other.id) == other
