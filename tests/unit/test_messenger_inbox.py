"""MessengerInbox: which tracker call each event becomes (in process, both stores)."""

from datetime import datetime, timezone

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
