"""The tracker over both real stores: what it stores and which events it publishes."""

import pytest

from services.errors import InvalidInput, NotFound
from services.models import ConversationFilter, InboundMessage, OutboundMessage


def inbound(user="psid-1", mid="m-1", text="hello", platform="messenger"):
    return InboundMessage(
        platform=platform, external_user_id=user, external_id=mid, content=text
    )


def names(events):
    return [e.name for e in events]


def test_first_message_publishes_conversation_and_message(services, captured_events):
    result = services.tracker.track_inbound(inbound())
    assert result.created and result.conversation_created
    assert names(captured_events) == ["conversation.created", "message.created"]
    assert captured_events[1].data["message"]["content"] == "hello"
    assert captured_events[1].conversation_id == result.conversation.id


def test_second_message_publishes_message_and_update(services, captured_events):
    services.tracker.track_inbound(inbound(mid="m-1"))
    captured_events.clear()
    result = services.tracker.track_inbound(inbound(mid="m-2", text="again"))
    assert names(captured_events) == ["message.created", "conversation.updated"]
    assert captured_events[1].data["conversation"]["message_count"] == 2
    assert result.conversation.message_count == 2


def test_redelivery_publishes_nothing(services, captured_events):
    first = services.tracker.track_inbound(inbound())
    captured_events.clear()
    again = services.tracker.track_inbound(inbound())
    assert not again.created and again.message.id == first.message.id
    assert captured_events == []


def test_outbound_and_flags_publish_updates(services, captured_events, clock):
    result = services.tracker.track_inbound(inbound())
    conversation_id = result.conversation.id
    captured_events.clear()

    services.tracker.mark_needs_human(result.message.id, "asked for a person", priority=1)
    assert names(captured_events) == ["message.updated", "conversation.updated"]
    flagged = captured_events[1].data["conversation"]
    assert flagged["needs_human"] is True and flagged["priority"] == 1
    assert flagged["waiting_since"].startswith("2026-11-25T12:00:00")

    captured_events.clear()
    clock.advance(minutes=3)
    reply = services.tracker.track_outbound(
        OutboundMessage(conversation_id=conversation_id, sender_type="agent", content="Hi!", sender_id="ann")
    )
    assert reply.delivery_status == "pending"
    # The reply answered the flagged message (the store marked it in the same write).
    assert names(captured_events) == ["message.created", "conversation.updated",
                                      "message.updated"]
    answered = captured_events[2].data["message"]
    assert answered["id"] == result.message.id and answered["human_replied"] is True

    captured_events.clear()
    services.tracker.mark_human_replied(result.message.id, "ann")
    assert captured_events[1].data["conversation"]["needs_human"] is False

    captured_events.clear()
    closed = services.tracker.close(conversation_id)
    assert closed.status == "closed" and closed.closed_at == clock()
    assert names(captured_events) == ["conversation.updated"]


def test_unknown_ids_raise_not_found(services):
    with pytest.raises(NotFound):
        services.tracker.get(999999)
    with pytest.raises(NotFound):
        services.tracker.get_message(999999)
    with pytest.raises(NotFound):
        services.tracker.mark_needs_human(999999, "x")
    with pytest.raises(NotFound):
        services.tracker.close(999999)


def test_cursor_for_another_sort_is_refused(services):
    for i in range(3):
        services.tracker.track_inbound(inbound(user=f"u{i}", mid=f"m{i}"))
    page = services.tracker.list(ConversationFilter(sort="last_activity"), limit=2)
    assert page.next_cursor
    with pytest.raises(InvalidInput):
        services.tracker.list(ConversationFilter(sort="priority"), 2, page.next_cursor)
    with pytest.raises(ValueError):
        services.tracker.list(ConversationFilter(), 2, "not-a-cursor")


def test_stats_use_the_clock(services, clock):
    services.tracker.track_inbound(inbound())
    stats = services.tracker.stats()
    assert stats.timestamp == clock()
    assert stats.total_messages == 1
    assert stats.messages_per_hour[-1].hour == clock().replace(minute=0)
    assert stats.messages_per_hour[-1].messages == 1


def test_an_account_coming_online_is_marked_seen_and_handed_what_waits(settings, store,
                                                                        clock):
    from services.runtime import build_services
    on = settings.model_copy(update={"auto_assign": True, "offline_after_seconds": 90})
    services = build_services(on, store=store, clock=clock)
    tracker = services.tracker
    ann = store.set_user_available(store.create_user("ann@example.com", "agent", "h",
                                                     clock()).id, True)
    tracked = tracker.track_inbound(inbound(mid="m-1"))
    tracker.mark_needs_human(tracked.message.id, "asked")
    assert store.get_conversation(tracked.conversation.id).assigned_to is None  # offline
    assert not tracker.is_online(ann)

    events = []
    services.events.subscribe(events.append)
    tracker.came_online(ann)  # her first page: seen now, and what waited is hers
    ann = store.get_user(ann.id)
    assert ann.last_seen_at == clock() and tracker.is_online(ann)
    assert store.get_conversation(tracked.conversation.id).assigned_to == ann.id
    assert [(e.name, e.data) for e in events][:2] == [
        ("account.online", {"user_id": ann.id, "online": True,
                            "last_seen_at": clock().isoformat()}),
        ("conversation.updated", events[1].data)]

    # Another page of hers a moment later: no store write at all.
    clock.advance(seconds=10)
    store.set_user_available(ann.id, True)
    tracker.came_online(ann)
    assert store.get_user(ann.id).last_seen_at == ann.last_seen_at
    # Past a third of OFFLINE_AFTER_SECONDS, a page says so again.
    clock.advance(seconds=25)
    tracker.came_online(ann)
    assert store.get_user(ann.id).last_seen_at == clock()
    assert [e.name for e in events].count("account.online") == 1  # she was online all along
    # The rounds (seen) keep her online; 90 s after the last, she is offline.
    clock.advance(seconds=30)
    tracker.seen([ann.id, ann.id])
    assert tracker.is_online(store.get_user(ann.id))
    clock.advance(seconds=90)
    assert tracker.is_online(store.get_user(ann.id))  # exactly 90 s: still
    assert services.sweeper.sweep()["offline"] == 0
    clock.advance(seconds=1)
    assert not tracker.is_online(store.get_user(ann.id))
    # The next sweep says so to every page, once.
    seen_last = store.get_user(ann.id).last_seen_at
    del events[:]
    assert services.sweeper.sweep()["offline"] == 1
    assert [(e.name, e.data) for e in events] == [("account.online", {
        "user_id": ann.id, "online": False, "last_seen_at": seen_last.isoformat()})]
    assert services.sweeper.sweep()["offline"] == 0
    # Back, then gone again: said again.
    tracker.came_online(store.get_user(ann.id))
    assert [e.data["online"] for e in events if e.name == "account.online"] == [False, True]
    clock.advance(seconds=91)
    assert services.sweeper.sweep()["offline"] == 1


def test_an_account_closing_what_is_closed_writes_and_says_nothing(services, captured_events,
                                                                   clock):
    ann = services.store.create_user("ann@example.com", "agent", "h", clock())
    conversation_id = services.tracker.track_inbound(inbound()).conversation.id
    services.tracker.reopen(conversation_id, by=ann)  # open already: nothing
    captured_events.clear()
    closed = services.tracker.close(conversation_id, by=ann)
    assert closed.status == "closed" and closed.closed_at == clock()
    assert names(captured_events) == ["conversation.updated"]
    assert [line["kind"] for line in captured_events[0].data["activity"]] == ["closed"]

    captured_events.clear()
    clock.advance(minutes=5)
    again = services.tracker.close(conversation_id, by=ann)  # a second click, another tab
    assert again == closed == services.store.get_conversation(conversation_id)
    assert captured_events == []
    assert [a.kind for a in services.tracker.activity(conversation_id, 10)] == ["closed"]

    reopened = services.tracker.reopen(conversation_id, by=ann)
    assert reopened.status == "active" and reopened.closed_at is None
    assert [a.kind for a in services.tracker.activity(conversation_id, 10)] == [
        "closed", "reopened"]


def test_a_note_naming_teammates_tells_them(services, captured_events, clock):
    store = services.store
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    other_bob = store.create_user("bob@other.org", "agent", "h", clock())  # "@bob": two
    carl = store.create_user("Carl@Example.com", "admin", "h", clock())
    dan = store.create_user("dan@example.com", "agent", "h", clock())
    store.set_user_disabled(dan.id, True)
    conversation_id = services.tracker.track_inbound(inbound()).conversation.id

    captured_events.clear()
    services.tracker.add_note(conversation_id, "no one named: mail x@carl.com", ann)
    assert names(captured_events) == ["conversation.updated"]

    captured_events.clear()
    services.tracker.add_note(conversation_id, "@bob, which one of you?", ann)  # ambiguous
    assert names(captured_events) == ["conversation.updated"]

    captured_events.clear()
    note = services.tracker.add_note(
        conversation_id, "@carl, refund? cc @bob@Other.org @bob @dan @ann @CARL.", ann)
    assert names(captured_events) == ["conversation.updated", "note.mentioned"]
    told = captured_events[1]
    assert told.conversation_id == conversation_id
    assert told.data["user_ids"] == [carl.id, other_bob.id]
    assert bob.id not in told.data["user_ids"]
    assert told.data["by"] == "ann@example.com"
    assert told.data["note"]["id"] == note.id
    assert told.data["conversation"]["id"] == conversation_id


def test_an_edit_tells_only_the_teammates_it_names_anew(services, captured_events, clock):
    store = services.store
    ann = store.create_user("ann@example.com", "agent", "h", clock())
    bob = store.create_user("bob@example.com", "agent", "h", clock())
    carl = store.create_user("carl@example.com", "agent", "h", clock())
    conversation_id = services.tracker.track_inbound(inbound()).conversation.id
    note = services.tracker.add_note(conversation_id, "@bob can you check the refund?", ann)

    captured_events.clear()
    services.tracker.edit_note(note.id, "@bob can you check the refund? cc @carl", ann)
    assert names(captured_events) == ["conversation.updated", "note.mentioned"]
    told = captured_events[1]
    assert told.data["user_ids"] == [carl.id]  # Bob was told when the note was added
    assert told.data["note"]["detail"]["text"].endswith("cc @carl")
    assert told.data["note"]["detail"]["edited_at"]

    # A fix of a typo that names nobody new tells nobody; naming Bob again neither.
    for text in ("@bob can you check the refund? cc @carl!", "@bob @carl refund?"):
        captured_events.clear()
        services.tracker.edit_note(note.id, text, ann)
        assert names(captured_events) == ["conversation.updated"], text
    # Dropped, then named again: told again, as a new mention.
    services.tracker.edit_note(note.id, "@carl refund?", ann)
    captured_events.clear()
    services.tracker.edit_note(note.id, "@carl @bob refund?", ann)
    assert [e.data["user_ids"] for e in captured_events if e.name == "note.mentioned"] == [
        [bob.id]]


def test_a_note_stands_when_its_mentions_cannot_be_told(services, captured_events, clock,
                                                        monkeypatch):
    from services.errors import StoreUnavailable

    ann = services.store.create_user("ann@example.com", "agent", "h", clock())
    services.store.create_user("bob@example.com", "agent", "h", clock())
    conversation_id = services.tracker.track_inbound(inbound()).conversation.id

    def down():
        raise StoreUnavailable("the store is down")

    monkeypatch.setattr(services.store, "list_users", down)
    captured_events.clear()
    note = services.tracker.add_note(conversation_id, "@bob over to you", ann)
    assert names(captured_events) == ["conversation.updated"]
    assert [a.id for a in services.tracker.activity(conversation_id, 10)] == [note.id]
