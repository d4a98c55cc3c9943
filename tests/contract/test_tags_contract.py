"""Contract: conversation tags (both stores)."""

from __future__ import annotations

import pytest

from services.errors import Conflict, InvalidInput, NotFound
from services.models import (
    MAX_TAGS,
    ConversationCursor,
    ConversationFilter,
    TagCount,
    normalize_tag,
)
from tests.contract.helpers import MISSING_ID, in_parallel, inbound


def _ids(store, **filters) -> list[int]:
    page = store.list_conversations(ConversationFilter(**filters), 50)
    return [c.id for c in page.conversations]


def test_tags_are_added_and_removed_sorted_and_once(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    assert conversation.tags == []

    tagged, changed = store.add_tag(conversation.id, "vip", clock.advance(seconds=5))
    assert changed and tagged.tags == ["vip"] and tagged.updated_at == clock()
    tagged, changed = store.add_tag(conversation.id, "billing", clock())
    assert changed and tagged.tags == ["billing", "vip"]
    # In code-point order, as Python sorts: both stores sort the same way.
    typed = ("über", "zebra", "a-b", "a b", "a_b", "2fa", normalize_tag("\u0130stanbul"))
    for tag in typed:
        tagged, _ = store.add_tag(conversation.id, tag, clock())
    assert tagged.tags == sorted(["vip", "billing", *typed])

    again, changed = store.add_tag(conversation.id, "vip", clock.advance(seconds=5))
    assert not changed and again.tags == tagged.tags
    assert again.updated_at == tagged.updated_at  # nothing changed, nothing written
    assert store.get_conversation(conversation.id).tags == tagged.tags

    removed, changed = store.remove_tag(conversation.id, "vip", clock())
    assert changed and "vip" not in removed.tags and len(removed.tags) == 8
    same, changed = store.remove_tag(conversation.id, "vip", clock())
    assert not changed and same.tags == removed.tags


def test_closed_conversations_are_tagged_and_messages_keep_the_tags(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    store.add_tag(conversation.id, "refund", clock())
    assert store.track_inbound(inbound("u1", "again"), clock()).conversation.tags == ["refund"]
    closed = store.set_status(conversation.id, "closed", clock())
    assert closed.tags == ["refund"]
    assert store.add_tag(conversation.id, "done", clock())[0].tags == ["done", "refund"]
    # The person's next message opens a new conversation, untagged.
    fresh = store.track_inbound(inbound("u1", "new question"), clock()).conversation
    assert fresh.id != conversation.id and fresh.tags == []


def test_at_most_max_tags_and_only_normalised_ones(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    for i in range(MAX_TAGS):
        store.add_tag(conversation.id, f"tag {i:02d}", clock())
    with pytest.raises(Conflict):
        store.add_tag(conversation.id, "one more", clock())
    # Having it already is no change, even when full.
    assert store.add_tag(conversation.id, "tag 00", clock())[1] is False
    assert len(store.get_conversation(conversation.id).tags) == MAX_TAGS

    other = store.track_inbound(inbound("u2", "hi"), clock()).conversation
    for bad in ("", " vip", "vip ", "VIP", "two  spaces", "x" * 33, "semi;colon", "a/b"):
        with pytest.raises(InvalidInput):
            store.add_tag(other.id, bad, clock())
        with pytest.raises(InvalidInput):
            store.remove_tag(other.id, bad, clock())
    assert store.get_conversation(other.id).tags == []


def test_unknown_conversation(store, clock):
    with pytest.raises(NotFound):
        store.add_tag(MISSING_ID, "vip", clock())
    with pytest.raises(NotFound):
        store.remove_tag(MISSING_ID, "vip", clock())


def test_two_agents_tagging_at_once_both_keep_theirs(store, clock):
    conversation = store.track_inbound(inbound("u1", "hi"), clock()).conversation
    tags = [f"t{i}" for i in range(8)]
    results = in_parallel(8, lambda i: store.add_tag(conversation.id, tags[i], clock()))
    assert all(changed for _, changed in results)
    assert store.get_conversation(conversation.id).tags == sorted(tags)
    results = in_parallel(8, lambda i: store.remove_tag(conversation.id, tags[i], clock()))
    assert all(changed for _, changed in results)
    assert store.get_conversation(conversation.id).tags == []
    assert store.list_tags(10) == []
    # The same tag at once: exactly one of them adds it.
    results = in_parallel(4, lambda _: store.add_tag(conversation.id, "vip", clock()))
    assert sorted(changed for _, changed in results) == [False, False, False, True]


@pytest.fixture(params=["sorted", "walked"])
def tag_plan(request, monkeypatch):
    """The SQLite store lists a rare tag's conversations by sorting them and a common tag's
    by walking the page's order: each test of the filter runs both ways (on Supabase the
    planner chooses, and both runs check the same answers)."""
    from services.store import sqlite

    if request.param == "walked":
        monkeypatch.setattr(sqlite, "MAX_TAGGED_SORTED", 0)
    return request.param


def test_the_tag_filter(store, clock, tag_plan):
    a = store.track_inbound(inbound("a", "hi"), clock.advance(seconds=1)).conversation
    b = store.track_inbound(inbound("b", "hi"), clock.advance(seconds=1)).conversation
    c = store.track_inbound(inbound("c", "hi"), clock.advance(seconds=1)).conversation
    store.add_tag(a.id, "billing", clock())
    store.add_tag(c.id, "billing", clock())
    store.add_tag(c.id, "vip", clock())
    store.add_tag(b.id, "bill", clock())  # a prefix of another tag is another tag

    assert _ids(store, tag="billing") == [c.id, a.id]
    assert _ids(store, tag="vip") == [c.id]
    assert _ids(store, tag="bill") == [b.id]
    assert _ids(store, tag="nobody has it") == []
    # It combines with the others, in every order.
    store.set_status(a.id, "closed", clock())
    assert _ids(store, tag="billing", status="closed") == [a.id]
    assert _ids(store, tag="billing", sort="priority") == [c.id, a.id]
    assert _ids(store, tag="billing", sort="waiting") == [c.id, a.id]
    assert _ids(store, tag="billing", search="hi") == [c.id, a.id]
    # The filter takes a tag as typed, normalised ("Billing " is "billing").
    assert ConversationFilter(tag=" Billing ").tag == "billing"
    with pytest.raises(ValueError):
        ConversationFilter(tag="not;a tag")
    # A removed tag leaves the list.
    store.remove_tag(c.id, "billing", clock())
    assert _ids(store, tag="billing") == [a.id]


def test_the_tag_filter_pages(store, clock, tag_plan):
    ids = []
    for i in range(7):
        conversation = store.track_inbound(inbound(f"u{i}", "hi"), clock.advance(seconds=1)
                                           ).conversation
        ids.append(conversation.id)
        if i % 2 == 0:
            store.add_tag(conversation.id, "even", clock())
    seen, cursor = [], None
    while True:
        page = store.list_conversations(ConversationFilter(tag="even"), 2, cursor)
        seen += [c.id for c in page.conversations]
        if page.next_cursor is None:
            break
        cursor = ConversationCursor.decode(page.next_cursor)
    assert seen == [ids[6], ids[4], ids[2], ids[0]]


def test_tags_in_use_are_counted(store, clock):
    assert store.list_tags(10) == []
    a = store.track_inbound(inbound("a", "hi"), clock()).conversation
    b = store.track_inbound(inbound("b", "hi"), clock()).conversation
    c = store.track_inbound(inbound("c", "hi"), clock()).conversation
    for conversation, tags in ((a, ["billing", "vip"]), (b, ["billing"]), (c, ["billing", "zz"])):
        for tag in tags:
            store.add_tag(conversation.id, tag, clock())
    store.set_status(b.id, "closed", clock())
    assert store.list_tags(10) == [
        TagCount(tag="billing", conversations=3, open=2),
        TagCount(tag="vip", conversations=1, open=1),  # ties: by tag
        TagCount(tag="zz", conversations=1, open=1),
    ]
    assert store.list_tags(1) == [TagCount(tag="billing", conversations=3, open=2)]
    store.remove_tag(a.id, "vip", clock())
    assert [t.tag for t in store.list_tags(10)] == ["billing", "zz"]
    with pytest.raises(InvalidInput):
        store.list_tags(0)


def test_a_tag_is_renamed_everywhere_and_merged_where_both_are(store, clock):
    a = store.track_inbound(inbound("a", "hi"), clock()).conversation
    b = store.track_inbound(inbound("b", "hi"), clock()).conversation
    c = store.track_inbound(inbound("c", "hi"), clock()).conversation
    store.add_tag(a.id, "bilin", clock())
    store.add_tag(a.id, "vip", clock())
    store.add_tag(b.id, "bilin", clock())
    store.add_tag(b.id, "billing", clock())  # has both: keeps one
    store.add_tag(c.id, "billing", clock())

    changed = store.rename_tag("bilin", "billing", clock.advance(seconds=5))
    assert [(x.id, x.tags, x.updated_at) for x in changed] == [
        (a.id, ["billing", "vip"], clock()), (b.id, ["billing"], clock())]
    assert store.get_conversation(c.id).updated_at != clock()  # not touched
    assert _ids(store, tag="bilin") == []
    assert sorted(_ids(store, tag="billing")) == sorted([a.id, b.id, c.id])
    assert store.list_tags(10) == [TagCount(tag="billing", conversations=3, open=3),
                                   TagCount(tag="vip", conversations=1, open=1)]
    # A renamed tag takes its place in the order.
    store.rename_tag("vip", "zz top", clock())
    assert store.get_conversation(a.id).tags == ["billing", "zz top"]
    store.rename_tag("billing", "a-team", clock())
    assert store.get_conversation(a.id).tags == ["a-team", "zz top"]

    assert store.rename_tag("nobody has it", "other", clock()) == []
    for old, new in (("a-team", "a-team"), ("A-team", "b"), ("a-team", "Bad;")):
        with pytest.raises(InvalidInput):
            store.rename_tag(old, new, clock())


def test_a_tag_is_deleted_everywhere(store, clock):
    a = store.track_inbound(inbound("a", "hi"), clock()).conversation
    b = store.track_inbound(inbound("b", "hi"), clock()).conversation
    store.add_tag(a.id, "spam", clock())
    store.add_tag(a.id, "vip", clock())
    store.add_tag(b.id, "spam", clock())
    changed = store.delete_tag("spam", clock.advance(seconds=5))
    assert [(x.id, x.tags, x.updated_at) for x in changed] == [
        (a.id, ["vip"], clock()), (b.id, [], clock())]
    assert _ids(store, tag="spam") == []
    assert store.list_tags(10) == [TagCount(tag="vip", conversations=1, open=1)]
    assert store.delete_tag("spam", clock()) == []
    with pytest.raises(InvalidInput):
        store.delete_tag("Spam", clock())


def test_a_tag_is_normalised_as_typed():
    assert normalize_tag("  Billing   Issue ") == "billing issue"
    assert normalize_tag("Cafe\u0301") == "caf\u00e9"  # an accent typed apart: one letter
    assert normalize_tag("\u0130stanbul") == "i\u0307stanbul"  # Turkish capital I with dot
    assert normalize_tag("\u00dcber-Team_2") == "\u00fcber-team_2"
    assert normalize_tag("\u8acb\u6c42") == "\u8acb\u6c42"  # any script's letters
    for bad, says in (("", "blank"), (" \t\n", "blank"), ("x" * 33, "at most 32"),
                      ("a,b", "only letters"), ("emoji \U0001f600", "only letters"),
                      ("tab\u200bhidden", "only letters")):
        with pytest.raises(ValueError, match=says):
            normalize_tag(bad)
