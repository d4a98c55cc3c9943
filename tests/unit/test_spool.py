"""The inbound spool (services/spool.py): the journal itself, and the tracker, the degraded
bot turn and the replay over both real stores while the store is made unavailable."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import datetime, timezone

import pytest

from services.assistant import BotReply
from services.errors import StoreUnavailable
from services.models import InboundMessage, SpooledResult, TrackResult
from services.spool import TURN_ANSWERED, TURN_PENDING, TURN_UNANSWERED, InboundSpool

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def inbound(n: int, user: str = "psid-1", text: str | None = None, platform="messenger",
            **extra) -> InboundMessage:
    return InboundMessage(platform=platform, external_user_id=user, external_id=f"mid-{n}",
                          content=text if text is not None else f"message {n}", **extra)


# -- the journal ---------------------------------------------------------------------------
def test_append_peek_delete_count_oldest_first(tmp_path):
    spool = InboundSpool(tmp_path / "spool.db")
    assert spool.is_empty() and spool.count() == 0
    seqs = [spool.append(inbound(n), T0)[0] for n in range(5)]
    assert seqs == sorted(seqs) and spool.count() == 5
    entries = spool.peek(3)
    assert [e.message.external_id for e in entries] == ["mid-0", "mid-1", "mid-2"]
    assert entries[0].received_at == T0 and entries[0].message == inbound(0)
    spool.delete(entries[0].seq)
    assert [e.message.external_id for e in spool.peek()] == [f"mid-{n}" for n in range(1, 5)]
    assert spool.count() == 4


def test_a_redelivery_is_spooled_once(tmp_path):
    spool = InboundSpool(tmp_path / "spool.db")
    first, created = spool.append(inbound(1), T0)
    again, created_again = spool.append(inbound(1, text="changed"), T0)
    assert created and not created_again and again == first and spool.count() == 1
    # The same id on another platform is another message.
    assert spool.append(inbound(1, platform="webchat"), T0)[1]


def test_entries_survive_a_new_spool_object_on_the_same_file(tmp_path):
    InboundSpool(tmp_path / "spool.db").append(inbound(7), T0)
    reopened = InboundSpool(tmp_path / "spool.db")
    assert [e.message.external_id for e in reopened.peek()] == ["mid-7"]


def test_threads_append_concurrently_without_loss(tmp_path):
    spool = InboundSpool(tmp_path / "spool.db")

    def write(start: int) -> None:
        for n in range(start, start + 50):
            spool.append(inbound(n), T0)

    threads = [threading.Thread(target=write, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [e.message.external_id for e in spool.peek(1000)]
    assert len(ids) == len(set(ids)) == 200
    for k in range(4):  # each writer's messages keep their order
        mine = [i for i in ids if int(i.split("-")[1]) // 1000 == k]
        assert mine == sorted(mine, key=lambda i: int(i.split("-")[1]))


def _append_many(path: str, start: int) -> None:
    spool = InboundSpool(path)
    for n in range(start, start + 100):
        spool.append(inbound(n), T0)


def test_processes_share_one_file(tmp_path):
    path = str(tmp_path / "spool.db")
    InboundSpool(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, k * 1000)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert InboundSpool(path).count() == 200


def _delete_all(path: str) -> None:
    spool = InboundSpool(path)
    for entry in spool.peek(1000):
        spool.delete(entry.seq)


def test_is_empty_sees_what_other_processes_append_and_delete(tmp_path):
    # is_empty() keeps its connection open between calls: it must still see every change
    # another process commits, both ways.
    path = str(tmp_path / "spool.db")
    spool = InboundSpool(path)
    assert spool.is_empty()
    ctx = multiprocessing.get_context("spawn")
    for target, args, empty_after in ((_append_many, (path, 0), False),
                                      (_delete_all, (path,), True)):
        proc = ctx.Process(target=target, args=args)
        proc.start()
        proc.join(60)
        assert proc.exitcode == 0
        assert spool.is_empty() is empty_after
        assert spool.count() == (0 if empty_after else 100)


def test_one_replayer_holds_the_lease(tmp_path):
    spool = InboundSpool(tmp_path / "spool.db")
    assert spool.take_lease("a", 30)
    assert not spool.take_lease("b", 30)
    assert spool.take_lease("a", 30)  # renewed by its owner
    spool.release_lease("a")
    assert spool.take_lease("b", 30)
    assert spool.take_lease("b", -1) and spool.take_lease("a", 30)  # an expired lease is free


# -- the tracker, the degraded turn and replay over both stores -------------------------
class SwitchableStore:
    """Our store protocol around a real store, with an outage switch: while ``down`` every
    call raises ``StoreUnavailable``, as the real stores do when their backend is gone."""

    def __init__(self, store) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.down:
                raise StoreUnavailable("the store is switched off by the test")
            return attr(*args, **kwargs)

        return call


class EchoResponder:
    def reply(self, conversation, history):
        return BotReply(text=f"echo: {history[-1].content}", confidence=0.9, intent="echo")


class RecordingSender:
    """A degraded sender that records what it sends (or fails when told to)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail = False

    def __call__(self, message, text, key):
        if self.fail:
            raise ConnectionError("platform unreachable")
        self.sent.append((message.external_id, text, key))
        return f"platform-{len(self.sent)}"


@pytest.fixture
def switch(store):
    return SwitchableStore(store)


@pytest.fixture
def services(settings, switch, clock):
    from services.runtime import build_services

    built = build_services(settings, store=switch, clock=clock, responder=EchoResponder())
    built.degraded_senders["messenger"] = RecordingSender()
    yield built
    built.degraded.close()


def settled(spool, timeout: float = 10.0) -> None:
    """Until no degraded turn is running."""
    deadline = time.monotonic() + timeout
    while any(e.turn == TURN_PENDING for e in spool.peek(1000)):
        assert time.monotonic() < deadline, "a degraded turn never finished"
        time.sleep(0.02)


def drain(services, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not services.spool.is_empty():
        assert time.monotonic() < deadline, "the spool was never drained"
        services.replayer._next_try = 0.0  # no backoff wait in a unit test
        services.replayer.run_once()


def status_events(events):
    return [e.data for e in events if e.name == "store.status"]


def test_store_up_tracks_directly(services):
    result = services.tracker.track_inbound(inbound(1))
    assert isinstance(result, TrackResult) and not result.spooled and result.created
    assert services.spool.is_empty()


def test_outage_spools_in_order_and_replay_stores_each_once(services, switch, captured_events):
    tracker = services.tracker
    tracker.track_inbound(inbound(0))  # a conversation exists before the outage
    switch.down = True
    results = [tracker.track_inbound(inbound(n)) for n in range(1, 4)]
    assert all(isinstance(r, SpooledResult) and r.spooled and r.created for r in results)
    again = tracker.track_inbound(inbound(2))  # Facebook redelivers one
    assert again.spooled and not again.created and again.seq == results[1].seq
    assert status_events(captured_events)[0] == {"available": False, "spooled": 1}

    switch.down = False
    # The store is back, but three messages wait: a new one must not overtake them.
    late = tracker.track_inbound(inbound(4))
    assert late.spooled
    settled(services.spool)
    captured_events.clear()
    drain(services)

    conversation = switch.find_message_by_external_id("messenger", "mid-0").conversation_id
    messages = [m for m in switch.list_messages(conversation, 100) if m.sender_type == "user"]
    assert [m.external_id for m in messages] == [f"mid-{n}" for n in range(5)]
    replayed = [e for e in captured_events if e.name == "message.created"
                and e.data.get("replayed")]
    assert [e.data["message"]["external_id"] for e in replayed] == [
        f"mid-{n}" for n in range(1, 5)]
    assert status_events(captured_events)[-1] == {"available": True, "spooled": 0}
    assert tracker.store_available


def test_degraded_turn_answers_once_and_replay_keeps_the_reply(services, switch, clock):
    sender = services.degraded_senders["messenger"]
    switch.down = True
    spooled = services.tracker.track_inbound(inbound(1, text="hello there"))
    settled(services.spool)
    assert sender.sent == [("mid-1", "echo: hello there", f"spool-{spooled.seq}")]
    assert services.spool.peek()[0].turn == TURN_ANSWERED

    switch.down = False
    drain(services)
    message = switch.find_message_by_external_id("messenger", "mid-1")
    transcript = switch.list_messages(message.conversation_id, 10)
    assert [(m.sender_type, m.content) for m in transcript] == [
        ("user", "hello there"), ("bot", "echo: hello there")]
    bot = transcript[1]
    assert bot.delivery_status == "sent" and bot.metadata["in_reply_to"] == message.id
    assert bot.metadata["platform_message_id"] == "platform-1"
    # No respond job (the bot already answered) and no send job (already sent).
    assert switch.claim_jobs(clock(), 10, 60) == []
    assert len(sender.sent) == 1


def test_the_bots_tags_of_a_degraded_turn_go_on_at_replay(settings, switch, clock):
    from services.runtime import build_services

    class TaggingResponder:
        def reply(self, conversation, history):
            return BotReply(text="Refunds take 5 days.", confidence=0.9,
                            tags=("refund", "billing"))

    built = build_services(settings, store=switch, clock=clock, responder=TaggingResponder())
    built.degraded_senders["messenger"] = RecordingSender()
    try:
        switch.down = True
        built.tracker.track_inbound(inbound(1, text="my money back?"))
        settled(built.spool)
        assert built.spool.peek()[0].reply["tags"] == ["refund", "billing"]
        switch.down = False
        drain(built)
        message = switch.find_message_by_external_id("messenger", "mid-1")
        assert switch.get_conversation(message.conversation_id).tags == ["billing", "refund"]
        lines = switch.list_activity(message.conversation_id, 10)
        assert [(a.kind, a.actor_id, a.detail["tag"]) for a in lines] == [
            ("tagged", None, "refund"), ("tagged", None, "billing")]
    finally:
        built.degraded.close()


def test_failed_degraded_send_leaves_the_answer_to_the_normal_job(services, switch, clock):
    services.degraded_senders["messenger"].fail = True
    switch.down = True
    services.tracker.track_inbound(inbound(1))
    settled(services.spool)
    assert services.spool.peek()[0].turn == TURN_UNANSWERED
    switch.down = False
    drain(services)
    jobs = switch.claim_jobs(clock(), 10, 60)
    assert [j.kind for j in jobs] == ["respond"]
    services.bot.run(jobs[0])
    replies = [m for m in switch.list_messages(jobs[0].conversation_id, 10)
               if m.sender_type == "bot"]
    assert len(replies) == 1 and replies[0].content == "echo: message 1"


def test_a_request_for_a_person_waits_for_the_normal_turn(services, switch, clock):
    switch.down = True
    services.tracker.track_inbound(inbound(1, text="I want to talk to a human agent"))
    services.tracker.track_inbound(inbound(2, respond=False))  # e.g. Messenger standby
    settled(services.spool)
    assert services.degraded_senders["messenger"].sent == []
    switch.down = False
    drain(services)
    jobs = switch.claim_jobs(clock(), 10, 60)
    respond_for = {switch.get_message(j.message_id).external_id for j in jobs
                   if j.kind == "respond"}
    assert respond_for == {"mid-1"}


def test_replay_stops_while_the_store_is_still_down_and_resumes(services, switch):
    switch.down = True
    for n in range(3):
        services.tracker.track_inbound(inbound(n))
    settled(services.spool)
    assert services.replayer.run_once() == 0
    assert services.spool.count() == 3 and not services.tracker.store_available
    switch.down = False
    drain(services)
    assert services.spool.is_empty()
    assert switch.find_message_by_external_id("messenger", "mid-2") is not None


def test_an_entry_the_store_already_has_is_replayed_as_a_no_op(services, switch):
    services.tracker.track_inbound(inbound(1))
    # As after a crash between the store accepting an entry and the spool deleting it.
    services.spool.append(inbound(1), T0)
    drain(services)
    conversation = switch.find_message_by_external_id("messenger", "mid-1").conversation_id
    assert [m.external_id for m in switch.list_messages(conversation, 10)] == ["mid-1"]


def test_without_a_spool_the_error_still_propagates(switch, clock):
    from services.events import EventBus
    from services.tracking import ConversationTracker

    tracker = ConversationTracker(switch, EventBus(), clock)
    switch.down = True
    with pytest.raises(StoreUnavailable):
        tracker.track_inbound(inbound(1))


def test_a_job_retried_late_after_an_outage_does_not_answer_twice(services, switch, clock):
    # A respond job whose "done" could not be recorded (the store went away) runs again
    # after its lease, when the conversation has moved on and the reply was sent (a send
    # replaces the reply's external id with the platform's).
    first = services.tracker.track_inbound(inbound(0))
    job = next(j for j in switch.claim_jobs(clock(), 10, 60) if j.kind == "respond")
    services.bot.run(job)
    reply = next(m for m in switch.list_messages(first.conversation.id, 10)
                 if m.sender_type == "bot")
    services.tracker.set_delivery_status(reply.id, "sent", external_id="m_platform_1")
    for n in range(1, 25):
        services.tracker.track_inbound(inbound(n))
    services.bot.respond(switch.get_conversation(first.conversation.id), first.message)
    replies = [m for m in switch.list_messages(first.conversation.id, 200)
               if m.metadata.get("in_reply_to") == first.message.id]
    assert len(replies) == 1
