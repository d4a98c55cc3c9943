"""MessengerInbox: which tracker call each event becomes (in process, both stores)."""

import time
from datetime import datetime, timezone

import pytest

from channels.messenger.inbox import MessengerInbox
from channels.messenger.parser import MessageEvent, PostbackEvent, UnknownEvent
from services.models import ConversationFilter

WHEN = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def event(cls=MessageEvent, **fields):
    base = dict(sender_id="psid-1", recipient_id="page-1", timestamp=WHEN,
                timestamp_ms=1795608000000)
    return cls(**{**base, **fields})


def stored(services):
    page = services.store.list_conversations(ConversationFilter(), 10)
    return [m for c in page.conversations for m in services.tracker.history(c.id, 50)]


def test_own_echo_is_recognised_by_metadata_without_an_app_id(services):
    inbox = MessengerInbox(services.tracker, app_id="")
    echo = event(sender_id="page-1", recipient_id="psid-1", mid="m_1", text="bot text",
                 is_echo=True, app_id="999", metadata="switchboard:42")
    assert inbox.handle(echo) == "skipped"
    human = event(sender_id="page-1", recipient_id="psid-1", mid="m_2", text="typed by Sam",
                  is_echo=True, app_id="263902037430900")
    assert inbox.handle(human) == "tracked"
    (message,) = stored(services)
    assert (message.sender_type, message.sender_id) == ("agent", "page_inbox")
    assert message.metadata["app_id"] == "263902037430900"


def test_postback_without_mid_still_dedupes(services):
    inbox = MessengerInbox(services.tracker, app_id="1")
    tap = event(PostbackEvent, title="Get Started", payload="GET_STARTED")
    assert inbox.handle(tap) == "tracked"
    assert inbox.handle(tap) == "duplicate"
    (message,) = stored(services)
    assert message.external_id == "postback:psid-1:1795608000000"
    assert message.content == "Get Started"


def test_event_that_does_not_fit_a_message_is_skipped(services):
    inbox = MessengerInbox(services.tracker, app_id="1")
    assert inbox.handle(event(sender_id="p" * 300, mid="m_long", text="hi")) == "skipped"
    assert stored(services) == []


def test_reaction_to_an_unknown_message_and_unknown_kinds_are_ignored(services):
    from channels.messenger.parser import ReactionEvent

    inbox = MessengerInbox(services.tracker, app_id="1")
    assert inbox.handle(event(ReactionEvent, mid="m_nowhere", action="react")) == "ignored"
    assert inbox.handle(event(UnknownEvent, fields=["optin"])) == "ignored"
    counts = inbox.handle_all([event(mid="m_a", text="a"), event(mid="m_a", text="a")])
    assert counts == {"tracked": 1, "duplicate": 1}


class _Slow:
    """A store whose tracking calls each take ``delay`` seconds longer."""

    def __init__(self, store, delay: float):
        self._store, self._delay = store, delay

    def __getattr__(self, name):
        return getattr(self._store, name)

    def track_inbound(self, *args):
        time.sleep(self._delay)
        return self._store.track_inbound(*args)

    def track_inbound_many(self, *args):
        time.sleep(self._delay)
        return self._store.track_inbound_many(*args)


def test_a_delivery_of_many_people_shares_store_calls_and_keeps_each_persons_order(services):
    """Facebook batches many people's messages into one delivery under load: they go side
    by side through the group commit, each person's in order."""
    # Each store call takes 20 ms, as a round trip to a remote store does: whether calls
    # overlap then depends on the inbox, not on how fast this machine's threads start.
    services.tracker.batcher.store = _Slow(services.tracker.batcher.store, 0.02)
    inbox = MessengerInbox(services.tracker, app_id="1")
    people, each = 40, 3
    events = [event(sender_id=f"psid-{p}", mid=f"m_{p}_{n}", text=f"{p}:{n}",
                    timestamp_ms=1795608000000 + n)
              for n in range(each) for p in range(people)]
    calls_before = services.tracker.batcher.calls
    assert inbox.handle_all(events) == {"tracked": people * each}
    calls = services.tracker.batcher.calls - calls_before
    assert calls < people * each / 2, calls  # one by one it would be 120
    for p in range(people):
        (conversation,) = [c for c in services.store.list_conversations(
            ConversationFilter(), 100).conversations if c.external_user_id == f"psid-{p}"]
        history = services.tracker.history(conversation.id, 10)
        assert [m.content for m in history] == [f"{p}:{n}" for n in range(each)]
        assert [m.id for m in history] == sorted(m.id for m in history)


def test_a_failing_person_does_not_stop_the_others_and_the_error_is_raised(services):
    from services.errors import StoreUnavailable

    inbox = MessengerInbox(services.tracker, app_id="1")
    real = inbox.handle

    def handle(ev):
        if ev.sender_id == "psid-bad":
            raise StoreUnavailable("the store went away")
        return real(ev)

    inbox.handle = handle
    events = [event(sender_id=s, mid=f"m_{s}", text=s) for s in ("psid-a", "psid-bad", "psid-b")]
    with pytest.raises(StoreUnavailable):
        inbox.handle_all(events)
    assert sorted(m.content for m in stored(services)) == ["psid-a", "psid-b"]
