"""Messenger's typing and seen indicators (``channels.messenger.sender_actions``), over each
real store and the local Graph API stand-in: what an agent's typing and reading, and a slow
bot's typing, send to the person, and what they never send."""

from __future__ import annotations

import time

import pytest

from channels.messenger.client import MessengerClient
from channels.messenger.sender_actions import TYPING_EVERY_SECONDS, SenderActions
from services.events import Event
from tests.contract.helpers import inbound, outbound
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)


class _Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def actions(services, graph_stub):  # noqa: F811
    client = MessengerClient(graph_stub.token, graph_stub.base_url + "/", graph_stub.version, 2)
    ticks = _Ticks()
    subscriber = SenderActions(client, services.tracker, services.clock, monotonic=ticks)
    subscriber.ticks = ticks
    services.events.subscribe(subscriber)
    yield subscriber
    client.close()


def _agent(services):
    from admin_app.security import hash_password

    return services.store.create_user("agent@example.com", "agent",
                                      hash_password("correct horse battery"), services.clock())


def _typing(services, conversation_id: int, typing: bool = True) -> None:
    """What the conversation page's socket publishes (``admin_app.live``)."""
    services.events.publish(Event("typing", {
        "conversation_id": conversation_id, "sender_type": "agent", "typing": typing,
        "user_id": 1, "name": "agent@example.com"}, conversation_id))


def _settle(actions: SenderActions, handled: int, timeout: float = 10.0) -> None:
    """Until the background thread has handled ``handled`` actions (sent or skipped)."""
    deadline = time.monotonic() + timeout
    while actions.sent + actions.skipped < handled:
        assert time.monotonic() < deadline, (actions.sent, actions.skipped, handled)
        time.sleep(0.01)
    time.sleep(0.05)  # nothing more comes
    assert actions.sent + actions.skipped == handled


def _sent(stub) -> list[tuple[str, str]]:
    return [(r.json["recipient"]["id"], r.json["sender_action"]) for r in stub.requests
            if r.json and "sender_action" in r.json]


def test_an_agent_typing_shows_typing_once_then_stops_it(services, actions, graph_stub):  # noqa: F811
    conversation = services.tracker.track_inbound(
        inbound("psid-7", "I need help", platform="messenger")).conversation
    _typing(services, conversation.id)
    _typing(services, conversation.id)  # the page says it again 2.5 s later: nothing new
    actions.ticks.now += TYPING_EVERY_SECONDS - 1
    _typing(services, conversation.id)
    _settle(actions, 1)
    assert _sent(graph_stub) == [("psid-7", "typing_on")]

    actions.ticks.now += 2  # past TYPING_EVERY_SECONDS: Messenger's indicator is renewed
    _typing(services, conversation.id)
    _typing(services, conversation.id, typing=False)
    _typing(services, conversation.id, typing=False)  # stopped already: nothing
    _settle(actions, 3)
    assert _sent(graph_stub) == [("psid-7", "typing_on"), ("psid-7", "typing_on"),
                                 ("psid-7", "typing_off")]


def test_the_agents_reply_ends_the_indicator_so_the_next_typing_shows_again(
        services, actions, graph_stub):  # noqa: F811
    conversation = services.tracker.track_inbound(
        inbound("psid-8", "hello?", platform="messenger")).conversation
    _typing(services, conversation.id)
    services.tracker.track_outbound(outbound(conversation.id, "Hi! How can I help?",
                                             sender_type="agent"))
    _typing(services, conversation.id, typing=False)  # Messenger ended it: no typing_off
    _typing(services, conversation.id)  # a second reply, a moment later
    _settle(actions, 2)
    assert _sent(graph_stub) == [("psid-8", "typing_on"), ("psid-8", "typing_on")]


def test_a_slow_bot_shows_typing_until_its_answer_or_until_it_stops(
        services, actions, graph_stub):  # noqa: F811
    answered = services.tracker.track_inbound(
        inbound("psid-10", "what does it cost?", platform="messenger")).conversation
    silent = services.tracker.track_inbound(
        inbound("psid-11", "and shipping?", platform="messenger")).conversation
    # What the bot turn publishes (services/bot_turn.py): typing once the responder is
    # slow, its answer, then "stopped", which Messenger's indicator no longer needs.
    services.tracker.typing(answered.id, "bot")
    services.tracker.track_outbound(outbound(answered.id, "It is 10 euros."))
    services.tracker.typing(answered.id, "bot", False)
    # A turn that sent the person nothing takes its indicator down.
    services.tracker.typing(silent.id, "bot")
    services.tracker.typing(silent.id, "bot", False)
    _settle(actions, 3)
    assert _sent(graph_stub) == [("psid-10", "typing_on"), ("psid-11", "typing_on"),
                                 ("psid-11", "typing_off")]


def test_reading_the_persons_message_marks_it_seen_once_per_message(
        services, actions, graph_stub):  # noqa: F811
    agent = _agent(services)
    first = services.tracker.track_inbound(
        inbound("psid-9", "where is my order?", platform="messenger")).conversation
    services.tracker.mark_read(first.id, 1, agent)
    services.tracker.mark_read(first.id, 1, agent)  # the same again: the mark did not move
    _settle(actions, 1)
    assert _sent(graph_stub) == [("psid-9", "mark_seen")]

    services.tracker.track_inbound(inbound("psid-9", "hello??", platform="messenger"))
    services.tracker.mark_read(first.id, 2, agent)
    _settle(actions, 2)
    assert _sent(graph_stub) == [("psid-9", "mark_seen"), ("psid-9", "mark_seen")]


def test_nothing_goes_to_web_chat_outside_the_window_or_to_a_closed_conversation(
        services, actions, graph_stub, clock):  # noqa: F811
    agent = _agent(services)
    webchat = services.tracker.track_inbound(inbound("visitor-1", "hi")).conversation
    _typing(services, webchat.id)
    services.tracker.mark_read(webchat.id, 1, agent)

    closed = services.tracker.track_inbound(
        inbound("psid-10", "thanks, bye", platform="messenger")).conversation
    services.tracker.close(closed.id, by=agent)
    _typing(services, closed.id)

    old = services.tracker.track_inbound(
        inbound("psid-11", "are you there?", platform="messenger")).conversation
    clock.advance(hours=25)  # past the 24-hour standard window
    _typing(services, old.id)
    services.tracker.mark_read(old.id, 1, agent)
    _typing(services, 999_999)  # a conversation deleted meanwhile
    _settle(actions, 6)
    assert _sent(graph_stub) == []
    assert actions.skipped == 6


def test_a_refused_call_is_dropped_and_the_next_still_goes(services, actions, graph_stub):  # noqa: F811
    conversation = services.tracker.track_inbound(
        inbound("psid-12", "hi", platform="messenger")).conversation
    graph_stub.fail(10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
    _typing(services, conversation.id)
    _settle(actions, 1)
    assert (actions.sent, actions.skipped) == (0, 1)
    actions.ticks.now += TYPING_EVERY_SECONDS
    _typing(services, conversation.id)
    _settle(actions, 2)
    assert actions.sent == 1
    assert _sent(graph_stub)[-1] == ("psid-12", "typing_on")


def test_switched_off_by_the_setting(tmp_path, clock, graph_stub):  # noqa: F811
    """``MESSENGER_SENDER_ACTIONS=false``: the app subscribes nothing that sends them."""
    from channels.messenger import register_services
    from services.runtime import build_services
    from services.settings import Settings
    from services.store.sqlite import SqliteStore

    def subscribers(enabled: bool):
        settings = Settings(_env_file=None, database_path=tmp_path / f"{enabled}.db",
                            secret_key="k", facebook_page_access_token=graph_stub.token,
                            graph_api_base=graph_stub.base_url,
                            messenger_sender_actions=enabled)
        services = build_services(settings, store=SqliteStore(tmp_path / f"{enabled}.db"),
                                  clock=clock)
        register_services(services)
        return [s for s in services.events._subscribers if isinstance(s, SenderActions)]

    assert len(subscribers(True)) == 1
    assert subscribers(False) == []
