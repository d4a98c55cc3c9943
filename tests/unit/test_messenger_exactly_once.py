"""Exactly-once Messenger sends: which failures are ambiguous (client, against the real
stand-in), how the outbox waits for an echo (fixed clock, both stores), how an echo settles
a send (inbox), and the setting that bounds the wait."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from channels.messenger.client import MessengerClient
from channels.messenger.inbox import MessengerInbox
from channels.messenger.marks import PROGRESS_KEY, own_metadata, parse_own_metadata
from channels.messenger.parser import MessageEvent, ReactionEvent
from services.models import InboundMessage, OutboundMessage
from services.outbox import ATTEMPT_KEY, SendError
from services.runtime import build_services
from services.settings import SettingsError, load_settings
from tests.support.counting_store import CountingStore
from tests.support.graph_stub import error_body, graph_stub  # noqa: F401  (fixture)


# -- which failures are ambiguous ----------------------------------------------------------
@pytest.fixture
def client(graph_stub):  # noqa: F811
    c = MessengerClient(graph_stub.token, graph_stub.base_url, graph_stub.version, 0.5)
    yield c
    c.close()


def failure(client, psid="psid-1") -> SendError:
    with pytest.raises(SendError) as caught:
        client.send_message(psid, "hi", metadata=own_metadata(7))
    return caught.value


def test_lost_answers_are_ambiguous_and_refusals_are_not(client, graph_stub):  # noqa: F811
    graph_stub.deliver_then(delay=1.0)  # sent, answered after the 0.5 s timeout
    late = failure(client)
    graph_stub.deliver_then(drop=True)  # sent, connection closed unanswered
    dropped = failure(client)
    graph_stub.fail_sends(1, status=502)  # a proxy's bare 5xx
    proxy = failure(client)
    graph_stub.fail_sends(1, status=500, body=error_body(2, "An unexpected error has occurred."))
    unexpected = failure(client)
    graph_stub.fail_sends(1, status=400, body=error_body(
        613, "Calls to this api have exceeded the rate limit."))
    limited = failure(client)
    graph_stub.fail_sends(1, status=400, body=error_body(1200, "Temporary send message failure."))
    temporary = failure(client)
    graph_stub.fail_for("psid-gone", 551, "This person isn't available right now.", 1545041)
    gone = failure(client, "psid-gone")

    for exc in (late, dropped, proxy, unexpected):
        assert exc.retryable and exc.ambiguous, (exc.code, exc.detail)
    assert (late.code, dropped.code, proxy.code, unexpected.code) == (
        "timeout", "connection_lost", "http_502", "2")
    for exc in (limited, temporary):
        assert exc.retryable and not exc.ambiguous, exc.code
    assert not gone.retryable and not gone.ambiguous and gone.code == "551/1545041"
    # The lost answers did reach "Facebook" (the person got both); the refusals did not.
    assert [d.mid for d in graph_stub.delivered["psid-1"]] == ["m_stub1", "m_stub2"]


def test_connection_refused_is_not_ambiguous():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = MessengerClient("t", f"http://127.0.0.1:{port}", "v24.0", 0.5)
    exc = failure(c)
    assert exc.retryable and not exc.ambiguous and exc.code == "connection"


def test_marks_round_trip():
    assert own_metadata(42) == "switchboard:42"
    assert parse_own_metadata("switchboard:42").message_id == 42
    mark = parse_own_metadata(own_metadata(42, 1, 3))
    assert (mark.message_id, mark.part, mark.parts, mark.is_last_part) == (42, 1, 3, False)
    for other in (None, "", "switchboard:", "switchboard:x", "switchboard:4:3/3", "other:4"):
        assert parse_own_metadata(other) is None


# -- the outbox waits for the echo ----------------------------------------------------------
class EchoingSender:
    """A Messenger-like sender with an echo grace that fails as scripted."""

    platform = "webchat"
    echo_grace_seconds = 30.0

    def __init__(self):
        self.calls = 0
        self.failures: list[SendError] = []

    def send(self, conversation, message):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return f"wc-{message.id}"


@pytest.fixture
def setup(settings, store, clock):
    services = build_services(settings, store=store, clock=clock)
    sender = EchoingSender()
    services.senders["webchat"] = sender
    user = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="v-1", external_id="c-1", content="hi",
        respond=False))
    reply = services.tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="agent", content="hello"))
    return services, sender, reply


def job_of(services, message_id):
    (job,) = [j for j in services.store.claim_jobs(services.clock(), 10, 60)
              if j.message_id == message_id]
    return job


def test_ambiguous_failure_waits_the_grace_and_an_echoed_message_is_not_sent_again(setup, clock):
    services, sender, reply = setup
    sender.failures = [SendError("timed out", retryable=True, code="timeout", ambiguous=True)]
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 1
    stored = services.store.get_message(reply.id)
    assert stored.delivery_status == "pending" and stored.metadata[ATTEMPT_KEY]
    clock.advance(seconds=29)  # backoff alone (2 s) would retry by now; the grace holds it
    assert services.store.claim_jobs(clock(), 10, 60) == []
    # The echo arrives (what the Messenger inbox does), then the retry finds it settled.
    services.tracker.set_delivery_status(reply.id, "sent", external_id="m_echoed")
    clock.advance(seconds=1)
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 1 and services.store.count_jobs("done") == 1


def test_a_bot_reply_is_sent_from_its_turn_with_the_attempt_marked_in_its_write(
        settings, store, clock):
    counting = CountingStore(store)
    services = build_services(settings, store=counting, clock=clock)
    sender = EchoingSender()
    services.senders["webchat"] = sender
    user = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="v-2", external_id="c-2",
        content="what are your opening hours?"))
    (respond,) = store.claim_jobs(clock(), 10, 60)
    counting.calls.clear()
    sender.failures = [SendError("timed out", retryable=True, code="timeout", ambiguous=True)]
    services.bot.run(respond)
    # The reply's write claimed its send job and marked the attempt; the send went out
    # from the turn: no claim, no marker write of its own.
    assert sender.calls == 1
    assert "claim_jobs" not in counting.calls and "update_message_metadata" not in counting.calls
    (reply,) = [m for m in store.list_messages(user.conversation.id, 10)
                if m.sender_type == "bot"]
    assert reply.delivery_status == "pending" and reply.metadata[ATTEMPT_KEY]
    # Its answer was lost: as for any send, the retry waits for the echo's grace ...
    clock.advance(seconds=29)
    assert store.claim_jobs(clock(), 10, 60) == []
    # ... and sends again only then, once (no echo came).
    clock.advance(seconds=2)
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 2
    assert store.get_message(reply.id).delivery_status == "sent"


def test_unambiguous_failure_clears_the_mark_and_retries_on_the_backoff(setup, clock):
    services, sender, reply = setup
    sender.failures = [SendError("rate limit", retryable=True, code="613")]
    services.outbox.run(job_of(services, reply.id))
    assert ATTEMPT_KEY not in services.store.get_message(reply.id).metadata
    clock.advance(seconds=3)  # more than the first backoff (1-2 s), far less than the grace
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 2
    assert services.store.get_message(reply.id).delivery_status == "sent"


def test_an_attempt_nobody_settled_waits_for_its_echo_before_sending_again(setup, clock):
    services, sender, reply = setup
    # A worker wrote its mark and died mid-send (or is still running past its lease).
    clock.advance(seconds=60)
    services.store.update_message_metadata(reply.id, {ATTEMPT_KEY: clock().isoformat()}, clock())
    clock.advance(seconds=10)
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 0  # deferred, not sent
    assert services.store.claim_jobs(clock() + timedelta(seconds=19), 10, 60) == []
    clock.advance(seconds=20)  # the attempt is 30 s old and no echo came: send
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 1
    assert services.store.get_message(reply.id).delivery_status == "sent"


def test_a_fresh_process_waits_the_grace_from_its_start(settings, store, clock):
    # The mark is old, but this process just started: echoes could not reach it before.
    services = build_services(settings, store=store, clock=clock)
    sender = EchoingSender()
    services.senders["webchat"] = sender
    user = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="v-1", external_id="c-1", content="hi",
        respond=False))
    reply = services.tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="agent", content="hello"))
    services.store.update_message_metadata(
        reply.id, {ATTEMPT_KEY: (clock() - timedelta(minutes=5)).isoformat()}, clock())
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 0
    clock.advance(seconds=30)
    services.outbox.run(job_of(services, reply.id))
    assert sender.calls == 1


# -- the echo settles the send --------------------------------------------------------------
def echo(message_id, mid, part=0, parts=1, app_id="999", **fields):
    return MessageEvent(sender_id="PAGE", recipient_id="psid-1", timestamp=fields.pop("at"),
                        timestamp_ms=0, mid=mid, text="bot", is_echo=True, app_id=app_id,
                        metadata=own_metadata(message_id, part, parts), **fields)


@pytest.fixture
def pending_reply(services):
    user = services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi",
        respond=False))
    return services.tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="bot", content="x" * 4500))


def test_echo_settles_a_pending_send_once_and_is_never_tracked(services, pending_reply, clock,
                                                               captured_events):
    inbox = MessengerInbox(services.tracker, app_id="999")
    reply = pending_reply
    before = services.store.list_messages(reply.conversation_id, 50)
    # A long message: three parts. The echo of part 0 is recorded, part 2's (out of order
    # with part 1 missing) is the proof that all went out.
    assert inbox.handle(echo(reply.id, "m_p0", 0, 3, at=clock())) == "echo:part"
    assert inbox.handle(echo(reply.id, "m_p0", 0, 3, at=clock())) == "echo"
    assert services.store.get_message(reply.id).metadata[PROGRESS_KEY] == ["m_p0"]
    assert inbox.handle(echo(reply.id, "m_p2", 2, 3, at=clock())) == "echo:sent"
    stored = services.store.get_message(reply.id)
    assert (stored.delivery_status, stored.external_id) == ("sent", "m_p0")
    assert any(e.name == "message.updated" for e in captured_events)  # admins see it
    services.tracker.mark_delivered_until("messenger", "psid-1", clock(), "delivered")
    assert inbox.handle(echo(reply.id, "m_p2", 2, 3, at=clock())) == "echo"  # a redelivery
    assert services.store.get_message(reply.id).delivery_status == "delivered"
    assert inbox.handle(echo(987654, "m_other", at=clock())) == "skipped"  # unknown id
    after = services.store.list_messages(reply.conversation_id, 50)
    assert [m.id for m in after] == [m.id for m in before]  # no echo became a message


def test_echo_of_a_send_the_outbox_gave_up_on_marks_it_sent(services, pending_reply, clock):
    inbox = MessengerInbox(services.tracker, app_id="")
    services.tracker.set_delivery_status(pending_reply.id, "failed", error="timed out")
    assert inbox.handle(echo(pending_reply.id, "m_late", 2, 3, app_id=None, at=clock())) \
        == "echo:sent"
    assert services.store.get_message(pending_reply.id).delivery_status == "sent"


def _bot_reply(tracker, content="hello"):
    """psid-1's message (not to be answered) and a bot message to psid-1, pending."""
    user = tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi",
        respond=False))
    return user, tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="bot", content=content))


def test_echo_of_a_send_this_process_marked_sent_reads_nothing(settings, store, clock):
    # The usual order: the Send API answers, the outbox marks the message sent, then the
    # echo comes. This process knows the send is settled: no store call for the echo.
    counting = CountingStore(store)
    services = build_services(settings, store=counting, clock=clock)
    inbox = MessengerInbox(services.tracker, app_id="999")
    user, reply = _bot_reply(services.tracker)
    services.tracker.set_delivery_status(reply.id, "sent", external_id="m_sent")
    counting.calls.clear()
    assert inbox.handle(echo(reply.id, "m_sent", at=clock())) == "echo"
    assert counting.calls == {}
    # An outbox that gave up afterwards cannot make it failed: it stays sent, and known.
    assert services.tracker.set_delivery_status(
        reply.id, "failed", error="timed out").delivery_status == "sent"
    counting.calls.clear()
    assert inbox.handle(echo(reply.id, "m_sent", at=clock())) == "echo"
    assert counting.calls == {}
    assert store.get_message(reply.id).delivery_status == "sent"
    # A message whose send has not gone out is not known: its echo is checked in the store.
    other = services.tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="bot", content="later"))
    services.tracker.set_delivery_status(other.id, "failed", error="timed out")
    assert not services.tracker.settled_send(other.id)
    assert inbox.handle(echo(other.id, "m_other", at=clock())) == "echo:sent"
    assert store.get_message(other.id).delivery_status == "sent"


def test_echo_of_a_send_another_process_settled_is_read_from_the_store(settings, store, clock):
    # Another process (its own tracker) marked it sent: this one reads the store, finds it
    # settled, and changes nothing.
    here = build_services(settings, store=store, clock=clock)
    there = build_services(settings, store=store, clock=clock)
    user, reply = _bot_reply(there.tracker)
    there.tracker.set_delivery_status(reply.id, "sent", external_id="m_sent")
    assert not here.tracker.settled_send(reply.id)
    assert there.tracker.settled_send(reply.id)
    assert MessengerInbox(here.tracker, app_id="999").handle(
        echo(reply.id, "m_sent", at=clock())) == "echo"
    assert store.get_message(reply.id).delivery_status == "sent"


def test_the_tracker_remembers_a_bounded_number_of_settled_sends(settings, store, clock,
                                                                 monkeypatch):
    import services.tracking as tracking

    monkeypatch.setattr(tracking, "SETTLED_SENDS_KEPT", 3)
    services = build_services(settings, store=store, clock=clock)
    user = services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi",
        respond=False))
    replies = [services.tracker.track_outbound(OutboundMessage(
        conversation_id=user.conversation.id, sender_type="bot", content=f"r{n}"))
        for n in range(5)]
    for n, reply in enumerate(replies):
        services.tracker.set_delivery_status(reply.id, "sent", external_id=f"m_{n}")
    assert [services.tracker.settled_send(r.id) for r in replies] == [False, False, True, True,
                                                                     True]
    assert not services.tracker.settled_send(user.message.id)  # an inbound message


def test_older_reactions_arriving_late_change_nothing(services, clock):
    inbox = MessengerInbox(services.tracker, app_id="")
    services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi",
        respond=False))

    def reaction(action, kind, seconds):
        return ReactionEvent(sender_id="psid-1", recipient_id="PAGE", mid="m_in", action=action,
                             reaction=kind, timestamp=clock() + timedelta(seconds=seconds),
                             timestamp_ms=0)

    assert inbox.handle(reaction("react", "love", 2)) == "reaction"
    assert inbox.handle(reaction("react", "like", 1)) == "stale"
    assert inbox.handle(reaction("unreact", "love", 3)) == "reaction"
    assert inbox.handle(reaction("react", "love", 2)) == "stale"
    metadata = services.tracker.find_message("messenger", "m_in").metadata
    assert "reaction" not in metadata and metadata["reaction_removed_at"]
    assert inbox.handle(reaction("react", "wow", 4)) == "reaction"
    assert services.tracker.find_message("messenger", "m_in").metadata["reaction"]["reaction"] \
        == "wow"


def _before_the_first_write(services, monkeypatch, meanwhile):
    """Run ``meanwhile()`` once, just before the first metadata write goes to the store: as
    if another delivery, handled at the same time, wrote between this one's read and write."""
    original = services.tracker.update_message_metadata
    pending = [meanwhile]

    def update(message_id, patch, expect=None):
        if pending:
            pending.pop()()
        return original(message_id, patch, expect=expect)

    monkeypatch.setattr(services.tracker, "update_message_metadata", update)


def test_an_older_react_handled_with_a_newer_unreact_never_lands_after_it(services, clock,
                                                                          monkeypatch):
    inbox = MessengerInbox(services.tracker, app_id="")
    services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", external_id="m_in", content="hi",
        respond=False))

    def reaction(action, seconds):
        return ReactionEvent(sender_id="psid-1", recipient_id="PAGE", mid="m_in", action=action,
                             reaction="wow", timestamp=clock() + timedelta(seconds=seconds),
                             timestamp_ms=0)

    # The react (older) has read the message; the unreact (newer) writes before it does.
    outcomes = []
    _before_the_first_write(services, monkeypatch,
                            lambda: outcomes.append(inbox.handle(reaction("unreact", 2))))
    assert inbox.handle(reaction("react", 1)) == "stale"  # read again, found older: dropped
    assert outcomes == ["reaction"]
    metadata = services.store.find_message_by_external_id("messenger", "m_in").metadata
    assert "reaction" not in metadata and metadata["reaction_removed_at"]


def test_an_echoed_part_never_cuts_back_the_progress_the_sender_wrote(services, pending_reply,
                                                                       clock, monkeypatch):
    inbox = MessengerInbox(services.tracker, app_id="999")
    reply = pending_reply
    # Part 0's echo has read no progress; meanwhile the sender records parts 0 and 1.
    _before_the_first_write(services, monkeypatch, lambda: services.store.update_message_metadata(
        reply.id, {PROGRESS_KEY: ["m_p0", "m_p1"]}, clock()))
    assert inbox.handle(echo(reply.id, "m_p0", 0, 3, at=clock())) == "echo"
    assert services.store.get_message(reply.id).metadata[PROGRESS_KEY] == ["m_p0", "m_p1"]


# -- the setting ----------------------------------------------------------------------------
def test_echo_grace_setting_must_cover_a_send_call(tmp_path):
    base = dict(_env_file=None, database_path=tmp_path / "a.db", secret_key="k")
    assert load_settings(**base).messenger_echo_grace_seconds == 30
    assert load_settings(**base, messenger_echo_grace_seconds=0).messenger_echo_grace_seconds == 0
    with pytest.raises(SettingsError, match="MESSENGER_ECHO_GRACE_SECONDS"):
        load_settings(**base, messenger_echo_grace_seconds=5, graph_api_timeout_seconds=10)
