"""The bot's turn, the handoff, the outbox and the lifecycle sweep, over both real stores.

The responders are real (the sample FAQ, or a small scripted one); the channel sender is
a recording one, since channels have their own tests.
"""

from __future__ import annotations

import pytest

from services.assistant import BotReply, ResponderError
from services.models import InboundMessage, Message, OutboundMessage
from services.outbox import SendError
from services.runtime import build_services
from tests.support.counting_store import CountingStore


class RecordingSender:
    """A channel that records what it was asked to send, or fails as scripted."""

    platform = "webchat"

    def __init__(self):
        self.sent = []
        self.failures: list[SendError] = []

    def send(self, conversation, message):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"wc-{message.id}"


class ScriptedResponder:
    """Answers with the queued replies, or raises the queued errors, in order."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.calls = 0

    def reply(self, conversation, history):
        self.calls += 1
        step = self.steps.pop(0) if self.steps else BotReply(text="ok", confidence=0.9)
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def make(settings, store, clock):
    def make(responder=None, **overrides):
        s = settings.model_copy(update=overrides)
        services = build_services(s, store=store, clock=clock, responder=responder)
        sender = RecordingSender()
        services.senders["webchat"] = sender
        services.sender_for_test = sender
        return services

    return make


def say(services, text, user="visitor-1", cid=None, **metadata):
    n = services.store.count_jobs() + len(text) + services.clock().microsecond
    return services.tracker.track_inbound(
        InboundMessage(platform="webchat", external_user_id=user,
                       external_id=cid or f"c-{user}-{n}-{text[:10]}", content=text,
                       metadata=metadata)
    )


def contents(services, conversation_id, sender_type=None):
    return [m.content for m in services.tracker.history(conversation_id, 100)
            if sender_type is None or m.sender_type == sender_type]


def test_bot_answers_from_the_knowledge_file_and_the_reply_is_sent(make):
    services = make()
    result = say(services, "What are your opening hours?")
    # One job claimed: the turn's; its reply's send job came back claimed from the reply's
    # write and ran in the same turn.
    assert services.jobs.run_until_idle() == 1
    bot = [m for m in services.tracker.history(result.conversation.id, 10) if m.sender_type == "bot"]
    assert len(bot) == 1 and bot[0].confidence_score >= 0.5
    assert bot[0].metadata["intent"] == "opening_hours"
    assert bot[0].delivery_status == "sent" and bot[0].external_id == f"wc-{bot[0].id}"
    assert services.sender_for_test.sent[0].id == bot[0].id
    assert services.store.count_jobs("done") == 2
    assert services.store.get_conversation(result.conversation.id).needs_human is False


def test_the_bots_tags_are_put_on_the_conversation_after_its_answer(make):
    """Tags the bot answers with go on the conversation, each with a trail line of the
    bot's (no account), published; a tag the store cannot take never fails the turn."""
    bot = ScriptedResponder(
        BotReply(text="Refunds take 5 days.", confidence=0.9, tags=("refund", "billing")),
        BotReply(text="Not sure.", confidence=0.1, tags=("unsure",)),  # flagged: still tagged
        BotReply(text="Again.", confidence=0.9, tags=("refund",)),  # has it: nothing new
        BotReply(text="One more.", confidence=0.9, tags=("one more",)),
    )
    services = make(bot)
    published = []
    services.events.subscribe(lambda e: published.append(e)
                              if e.name == "conversation.updated" and "activity" in e.data
                              else None)
    first = say(services, "I want my money back")
    services.jobs.run_until_idle()
    cid = first.conversation.id
    assert contents(services, cid, "bot") == ["Refunds take 5 days."]
    assert services.tracker.get(cid).tags == ["billing", "refund"]
    lines = services.tracker.activity(cid, 10)
    assert [(a.kind, a.actor_id, a.detail) for a in lines] == [
        ("tagged", None, {"tag": "refund"}), ("tagged", None, {"tag": "billing"})]
    assert [e.data["activity"][0]["detail"]["tag"] for e in published] == ["refund", "billing"]

    say(services, "hmm?")
    services.jobs.run_until_idle()
    assert services.tracker.get(cid).needs_human  # a low confidence flags it...
    assert services.tracker.get(cid).tags == ["billing", "refund", "unsure"]  # ...and tags it

    for n in range(17):  # now 20 tags: the bot's next one cannot go on
        services.tracker.add_tag(cid, f"full {n}")
    say(services, "and?")
    say(services, "and again?")
    services.jobs.run_until_idle()
    assert contents(services, cid, "bot")[-2:] == ["Again.", "One more."]
    assert "one more" not in services.tracker.get(cid).tags
    assert services.store.count_jobs("failed") == 0 and not bot.steps


def test_asking_for_a_person_hands_over_once_and_the_bot_falls_silent(make):
    services = make()
    first = say(services, "I want to talk to a human please")
    services.jobs.run_until_idle()
    conversation = services.tracker.get(first.conversation.id)
    assert conversation.needs_human and conversation.handled_by == "human"
    assert conversation.priority == 2
    flagged = services.tracker.get_message(first.message.id)
    assert flagged.requires_human and "Asked for a person" in flagged.human_reason
    assert contents(services, conversation.id, "system") == [services.settings.handoff_message]
    assert contents(services, conversation.id, "bot") == []

    say(services, "hello? what are your opening hours")
    services.jobs.run_until_idle()
    assert contents(services, conversation.id, "bot") == []  # a person has it now
    assert len(contents(services, conversation.id, "system")) == 1  # told once


def test_agent_reply_then_hand_back(make, clock):
    services = make()
    first = say(services, "talk to a human")
    services.jobs.run_until_idle()
    cid = first.conversation.id
    clock.advance(minutes=4)
    services.tracker.track_outbound(
        OutboundMessage(conversation_id=cid, sender_type="agent", sender_id="ann@example.com",
                        content="Hi, Ann here.")
    )
    services.jobs.run_until_idle()
    conversation = services.tracker.get(cid)
    assert conversation.needs_human is False and conversation.first_human_reply_at == clock()
    replied = services.tracker.get_message(first.message.id)
    assert replied.human_replied and replied.replied_by == "ann@example.com"
    assert services.tracker.stats().avg_first_human_response_seconds == pytest.approx(240)
    assert services.sender_for_test.sent[-1].content == "Hi, Ann here."

    services.tracker.set_handling(cid, "bot")
    say(services, "what are your opening hours?")
    services.jobs.run_until_idle()
    assert len(contents(services, cid, "bot")) == 1


def test_agent_reply_announces_the_messages_it_answered(make, clock):
    """The store marks what waited for a human as answered in the agent's write; the
    tracker announces each such message (open pages stop showing it as waiting), and
    nothing else."""
    services = make()
    first = say(services, "talk to a human")
    services.jobs.run_until_idle()
    cid = first.conversation.id
    second = say(services, "anyone there? I still want a real person")
    services.tracker.mark_needs_human(second.message.id, "asked again")
    other = say(services, "talk to a human", user="visitor-2")  # someone else waits on
    assert other.conversation.id != cid
    events = []
    services.events.subscribe(events.append)
    clock.advance(minutes=2)
    reply = services.tracker.track_outbound(
        OutboundMessage(conversation_id=cid, sender_type="agent", sender_id="ann@example.com",
                        content="Ann here, how can I help?"))
    updated = [e.data["message"] for e in events if e.name == "message.updated"]
    assert sorted(m["id"] for m in updated) == sorted([first.message.id, second.message.id])
    for m in map(Message.model_validate, updated):
        assert m.human_replied and m.replied_by == "ann@example.com"
        assert m.replied_at == reply.created_at

    # A later reply answers nothing new, and announces nothing.
    events.clear()
    clock.advance(seconds=30)
    services.tracker.track_outbound(
        OutboundMessage(conversation_id=cid, sender_type="agent", sender_id="ann@example.com",
                        content="Still there?"))
    assert [e for e in events if e.name == "message.updated"] == []


def test_responder_failure_flags_for_a_human_and_loses_nothing(make):
    services = make(ScriptedResponder(ResponderError("timed out after 10s", "timeout")))
    result = say(services, "where is my order 1234?")
    services.jobs.run_until_idle()
    message = services.tracker.get_message(result.message.id)
    assert message.content == "where is my order 1234?"
    assert message.requires_human and "The bot failed: timed out" in message.human_reason
    assert services.tracker.get(result.conversation.id).handled_by == "human"


def test_low_confidence_flags_but_the_bot_keeps_answering_until_repeated(make):
    low = lambda: BotReply(text="Sorry, could you rephrase?", confidence=0.2, intent="fallback")  # noqa: E731
    services = make(ScriptedResponder(low(), low(), low()), escalation_max_fallbacks=3)
    cid = None
    for i, text in enumerate(["blorp", "zzzt", "qwfp"]):
        result = say(services, text)
        cid = result.conversation.id
        services.jobs.run_until_idle()
        conversation = services.tracker.get(cid)
        if i < 2:
            assert conversation.needs_human and conversation.handled_by == "bot"
            assert conversation.priority == 4
            assert len(contents(services, cid, "bot")) == i + 1
    conversation = services.tracker.get(cid)
    assert conversation.handled_by == "human" and conversation.priority == 3
    assert len(contents(services, cid, "bot")) == 2  # the third unsure answer is not sent


def test_responder_off_every_message_waits(make):
    from services.assistant import OffResponder

    services = make(OffResponder())
    result = say(services, "hi")
    services.jobs.run_until_idle()
    conversation = services.tracker.get(result.conversation.id)
    assert conversation.needs_human and conversation.handled_by == "human"
    assert contents(services, conversation.id, "bot") == []


def test_a_respond_job_run_twice_answers_once(make):
    services = make()
    result = say(services, "What are your opening hours?")
    job = services.store.claim_jobs(services.clock(), 10, 60)[0]
    services.bot.run(job)
    services.bot.run(job)  # a worker that crashed after answering, claimed again
    assert len(contents(services, result.conversation.id, "bot")) == 1


def test_the_button_hands_over(make):
    services = make()
    result = say(services, "", escalate=True, reason="billing question")
    services.jobs.run_until_idle()
    message = services.tracker.get_message(result.message.id)
    assert message.requires_human and "billing question" in message.human_reason
    # The conversation's trail says the bot handed it over, and why.
    (line,) = services.tracker.activity(result.conversation.id, 10)
    assert (line.kind, line.actor_id, line.actor) == ("escalated", None, None)
    assert line.detail == {"reason": message.human_reason}


def test_a_photo_alone_goes_to_a_person_when_the_bot_reads_only_text(make):
    services = make()  # the FAQ bot: it reads text only
    files = [{"type": "image", "url": "http://x/files/1/lamp.png", "name": "lamp.png"},
             {"type": "file", "url": "http://x/files/2/order.pdf", "name": "order.pdf"}]
    result = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-photo", external_id="photo-1",
        content="  ", attachments=files))
    services.jobs.run_until_idle()
    message = services.tracker.get_message(result.message.id)
    assert message.requires_human
    assert message.human_reason == "Sent a file the bot cannot read: lamp.png and 1 more"
    conversation = services.tracker.get(result.conversation.id)
    assert (conversation.handled_by, conversation.priority) == ("human", 3)
    assert contents(services, conversation.id, "bot") == []  # never "could you rephrase?"
    # With words, the bot answers them as always.
    worded = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-photo2", external_id="photo-2",
        content="What are your opening hours?", attachments=files[:1]))
    services.jobs.run_until_idle()
    assert len(contents(services, worded.conversation.id, "bot")) == 1
    assert not services.tracker.get(worded.conversation.id).needs_human


def test_a_bot_that_reads_files_is_asked_about_a_photo(make):
    bot = ScriptedResponder(BotReply(text="Thanks, I can see the scratch.", confidence=0.9))
    services = make(bot)  # a responder that does not say it reads text only
    result = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-photo3", external_id="photo-3",
        content="", attachments=[{"type": "image", "url": "http://x/files/3/a.png"}]))
    services.jobs.run_until_idle()
    assert bot.calls == 1
    assert contents(services, result.conversation.id, "bot") == ["Thanks, I can see the scratch."]
    assert not services.tracker.get_message(result.message.id).requires_human


def test_send_retries_with_backoff_then_succeeds(make, clock):
    services = make()
    sender = services.sender_for_test
    sender.failures = [SendError("HTTP 500", retryable=True), SendError("613 rate limit", retryable=True, code="613")]
    result = say(services, "What are your opening hours?")
    services.jobs.run_until_idle()
    bot = [m for m in services.tracker.history(result.conversation.id, 10) if m.sender_type == "bot"][0]
    assert services.tracker.get_message(bot.id).delivery_status == "pending"
    for _ in range(2):
        clock.advance(minutes=10)
        services.jobs.run_until_idle()
    assert services.tracker.get_message(bot.id).delivery_status == "sent"
    assert [m.id for m in sender.sent] == [bot.id]


def test_permanent_send_failure_is_recorded(make):
    services = make()
    services.sender_for_test.failures = [SendError("(#551) This person isn't available", retryable=False, code="551")]
    result = say(services, "What are your opening hours?")
    services.jobs.run_until_idle()
    bot = [m for m in services.tracker.history(result.conversation.id, 10) if m.sender_type == "bot"][0]
    assert bot.delivery_status == "failed" and "551" in bot.delivery_error
    assert services.store.count_jobs("failed") == 1


def test_retryable_failures_give_up_after_max_attempts(make, clock):
    services = make(send_max_attempts=2)
    services.sender_for_test.failures = [SendError("HTTP 503", retryable=True)] * 5
    result = say(services, "What are your opening hours?")
    for _ in range(4):
        services.jobs.run_until_idle()
        clock.advance(minutes=10)
    bot = [m for m in services.tracker.history(result.conversation.id, 10) if m.sender_type == "bot"][0]
    assert bot.delivery_status == "failed" and "503" in bot.delivery_error


def test_work_acknowledged_before_a_crash_is_done_by_the_next_process(make, settings, store, clock):
    first = make()
    result = say(first, "What are your opening hours?")
    claimed = first.store.claim_jobs(clock(), 10, 60)  # the process dies holding the job
    assert len(claimed) == 1
    clock.advance(seconds=61)  # its lease runs out
    second = make()
    second.jobs.run_until_idle()
    assert len(contents(second, result.conversation.id, "bot")) == 1
    assert second.sender_for_test.sent


# Business hours for the tests below: the clock starts on Wednesday 25 November 2026 at
# 12:00 UTC, which is 13:00 in Paris.
PARIS_HOURS = {"business_hours": "mon-fri 09:00-18:00", "business_timezone": "Europe/Paris"}


def test_outside_business_hours_the_person_is_told_when_the_team_is_back(make, clock):
    services = make(**PARIS_HOURS, away_message="Away; back {next_open}.")
    clock.advance(hours=6)  # 19:00 in Paris: closed until Thursday 09:00
    night = say(services, "talk to a human", user="night")
    services.jobs.run_until_idle()
    assert contents(services, night.conversation.id, "system") == [
        "Away; back tomorrow at 09:00 CET."]
    told = [m for m in services.tracker.history(night.conversation.id, 10)
            if m.sender_type == "system"][0]
    assert told.metadata["kind"] == "away"
    assert services.sender_for_test.sent[-1].content == "Away; back tomorrow at 09:00 CET."

    clock.advance(days=2)  # Friday 19:00: back on Monday
    weekend = say(services, "talk to a human", user="weekend")
    services.jobs.run_until_idle()
    assert contents(services, weekend.conversation.id, "system") == [
        "Away; back on Monday at 09:00 CET."]

    clock.advance(days=3, hours=-5)  # Monday 14:00 in Paris: open, told a person will answer
    day = say(services, "talk to a human", user="day")
    services.jobs.run_until_idle()
    assert contents(services, day.conversation.id, "system") == [
        services.settings.handoff_message]


def test_hours_set_on_settings_hold_over_the_environments_at_once(make, clock):
    services = make(**PARIS_HOURS, away_message="Away; back {next_open}.")
    # 13:00 in Paris, open by the environment; an admin sets Saturdays only (Settings).
    services.hours.save("sat 10:00-14:00", "Europe/Paris", [], None, clock())
    weekday = say(services, "talk to a human", user="weekday")
    services.jobs.run_until_idle()
    assert contents(services, weekday.conversation.id, "system") == [
        "Away; back on Saturday at 10:00 CET."]
    # ...and their own text for it, then none (the handoff message at any hour).
    services.hours.save("sat 10:00-14:00", "Europe/Paris", [], None, clock(),
                        away_message="Closed today, back {next_open}.")
    own = say(services, "talk to a human", user="own")
    services.jobs.run_until_idle()
    assert contents(services, own.conversation.id, "system") == [
        "Closed today, back on Saturday at 10:00 CET."]
    services.hours.save("sat 10:00-14:00", "Europe/Paris", [], None, clock(), away_message="")
    plain = say(services, "talk to a human", user="plain")
    services.jobs.run_until_idle()
    assert contents(services, plain.conversation.id, "system") == [
        services.settings.handoff_message]
    # Open now, with the team's own handoff text.
    services.hours.save("mon-fri 09:00-18:00", "Europe/Paris", [], None, clock(),
                        handoff_message="Someone from the team will answer.")
    handed = say(services, "talk to a human", user="handed")
    services.jobs.run_until_idle()
    assert contents(services, handed.conversation.id, "system") == [
        "Someone from the team will answer."]
    # Forgotten: the environment's hours again, open now.
    services.hours.reset(clock())
    again = say(services, "talk to a human", user="again")
    services.jobs.run_until_idle()
    assert contents(services, again.conversation.id, "system") == [
        services.settings.handoff_message]


def test_a_closed_date_is_away_all_day(make, clock):
    from datetime import date

    services = make(**PARIS_HOURS, business_closed_dates=[date(2026, 11, 25)])
    result = say(services, "talk to a human")  # Wednesday 13:00, but a day off
    services.jobs.run_until_idle()
    told = contents(services, result.conversation.id, "system")
    assert len(told) == 1 and "tomorrow at 09:00 CET" in told[0]
    assert told[0] != services.settings.handoff_message


def test_the_handoff_message_may_say_how_long_the_team_usually_takes(make, clock):
    """HANDOFF_MESSAGE's {reply_time}: the stats' median first response in words, "as soon
    as we can" before anyone was answered, or CHAT_REPLY_TIME's fixed promise."""
    from services.models import OutboundMessage

    template = "A person will answer you {reply_time}."
    services = make(handoff_message=template)
    first = say(services, "talk to a human", user="first")
    services.jobs.run_until_idle()
    assert contents(services, first.conversation.id, "system") == [
        "A person will answer you as soon as we can."]
    clock.advance(minutes=12)  # answered 12 minutes after asking
    services.tracker.track_outbound(OutboundMessage(
        conversation_id=first.conversation.id, sender_type="agent", content="Hi, Sam here"))

    services = make(handoff_message=template)  # a process that has not read it yet
    second = say(services, "talk to a human", user="second")
    services.jobs.run_until_idle()
    assert contents(services, second.conversation.id, "system") == [
        "A person will answer you within about 15 minutes."]

    fixed = make(handoff_message=template, chat_reply_time="30")
    third = say(fixed, "talk to a human", user="third")
    fixed.jobs.run_until_idle()
    assert contents(fixed, third.conversation.id, "system") == [
        "A person will answer you within about 30 minutes."]
    off = make(handoff_message="Someone will answer.", chat_reply_time="off")
    fourth = say(off, "talk to a human", user="fourth")
    off.jobs.run_until_idle()
    assert contents(off, fourth.conversation.id, "system") == ["Someone will answer."]


def test_without_an_away_message_the_handoff_message_goes_at_any_hour(make, clock):
    services = make(**PARIS_HOURS, away_message="")
    clock.advance(hours=10)  # 23:00 in Paris
    result = say(services, "talk to a human")
    services.jobs.run_until_idle()
    assert contents(services, result.conversation.id, "system") == [
        services.settings.handoff_message]


def test_the_handoff_timeout_counts_only_open_hours(make, clock):
    services = make(**PARIS_HOURS, handoff_timeout_minutes=10, idle_timeout_minutes=60 * 24,
                    close_after_hours=72, priority_raise_after_minutes=60 * 48)
    clock.advance(hours=6)  # 19:00 in Paris, closed
    waiting = say(services, "talk to a human", user="waiting")
    services.jobs.run_until_idle()
    clock.advance(hours=2)  # two hours waiting, at night: no "sorry for the wait"
    assert services.sweeper.sweep()["handoff_timeouts"] == 0
    clock.advance(hours=11, minutes=59)  # Thursday 08:59 in Paris
    assert services.sweeper.sweep()["handoff_timeouts"] == 0
    clock.advance(minutes=6)  # 09:05: open five minutes
    assert services.sweeper.sweep()["handoff_timeouts"] == 0
    clock.advance(minutes=5)  # 09:10: ten minutes of open hours and nobody answered
    assert services.sweeper.sweep()["handoff_timeouts"] == 1
    assert contents(services, waiting.conversation.id, "system")[-1] == \
        services.settings.handoff_timeout_message
    assert services.sweeper.sweep()["handoff_timeouts"] == 0  # once


def test_lifecycle_sweep(make, clock):
    services = make(idle_timeout_minutes=30, close_after_hours=24, handoff_timeout_minutes=10)
    quiet = say(services, "What are your opening hours?", user="quiet")
    waiting = say(services, "talk to a human", user="waiting")
    services.jobs.run_until_idle()

    clock.advance(minutes=11)
    counts = services.sweeper.sweep()
    assert counts["handoff_timeouts"] == 1 and counts["priority_raised"] == 0
    assert contents(services, waiting.conversation.id, "system")[-1] == services.settings.handoff_timeout_message
    assert services.sweeper.sweep()["handoff_timeouts"] == 0  # once

    clock.advance(minutes=20)  # 31 min after the last message of "quiet"; 20 after the notice
    counts = services.sweeper.sweep()
    assert counts["idle"] == 1
    assert counts["priority_raised"] == 1  # waited 31 min > 15: from 2 up to 1, once
    assert services.tracker.get(waiting.conversation.id).priority == 1
    assert services.sweeper.sweep()["priority_raised"] == 0
    assert services.tracker.get(quiet.conversation.id).status == "idle"
    assert services.tracker.get(waiting.conversation.id).status == "active"
    say(services, "are you there?", user="quiet")
    assert services.tracker.get(quiet.conversation.id).status == "active"

    clock.advance(hours=25)
    services.sweeper.sweep()
    closed = services.tracker.get(waiting.conversation.id)
    assert closed.status == "closed" and closed.needs_human is False
    again = say(services, "hello again", user="waiting")
    assert again.conversation.id != waiting.conversation.id and again.conversation_created

    # What the sweeps did is in each conversation's trail, once (idle is not a line).
    trail = [(a.kind, a.actor_id, a.detail)
             for a in services.tracker.activity(waiting.conversation.id, 10)]
    assert trail == [
        ("escalated", None, {"reason": trail[0][2]["reason"]}),
        ("handoff_timed_out", None, {"after_seconds": 600}),
        ("priority_raised", None, {"priority": 1}),
        ("closed", None, {"after_seconds": 24 * 3600}),
    ]
    assert [a.kind for a in services.tracker.activity(quiet.conversation.id, 10)] == ["closed"]


@pytest.mark.parametrize("message", ["We'll get back to you soon.", ""])
def test_a_handoff_timeout_is_announced_once_with_its_trail_line(make, clock, message):
    """Open pages hear of a timed-out wait once: with the "we'll get back to you" message's
    own update when one is configured, on its own when not; the trail line rides on it."""
    services = make(handoff_timeout_minutes=10, handoff_timeout_message=message)
    waiting = say(services, "talk to a human", user="waiting")
    services.jobs.run_until_idle()
    seen = []
    services.events.subscribe(seen.append)
    clock.advance(minutes=11)
    assert services.sweeper.sweep()["handoff_timeouts"] == 1
    updates = [e for e in seen if e.name == "conversation.updated"
               and e.data["conversation"]["id"] == waiting.conversation.id]
    assert len(updates) == 1
    assert [a["kind"] for a in updates[0].data["activity"]] == ["handoff_timed_out"]
    assert updates[0].data["conversation"]["handoff_timeout_notified_at"] is not None
    system = [e.data["message"]["content"] for e in seen if e.name == "message.created"]
    assert system == ([message] if message else [])


def test_a_sweep_that_closes_more_than_one_write_takes_writes_every_line(make, clock,
                                                                         monkeypatch):
    """A sweep may close thousands of conversations at once (a backlog after a deploy): their
    lines go in several writes of at most MAX_ACTIVITY_PER_WRITE (2 here, 5 conversations)."""
    import services.tracking

    monkeypatch.setattr(services.tracking, "MAX_ACTIVITY_PER_WRITE", 2)
    services = make(idle_timeout_minutes=30, close_after_hours=24)
    writes = []
    add_activity = services.store.add_activity
    monkeypatch.setattr(services.store, "add_activity",
                        lambda lines, now: writes.append(len(lines)) or add_activity(lines, now))
    ids = [say(services, "hi", user=f"sweep-{i}").conversation.id for i in range(5)]
    clock.advance(hours=25)
    assert services.sweeper.sweep()["closed"] == 5
    assert writes == [2, 2, 1]
    for cid in ids:
        assert [a.kind for a in services.tracker.activity(cid, 10)] == ["closed"]


def test_retry_button_sends_a_failed_message_again(make):
    services = make()
    services.sender_for_test.failures = [SendError("(#100) bad parameter", retryable=False, code="100")]
    result = say(services, "What are your opening hours?")
    services.jobs.run_until_idle()
    bot = [m for m in services.tracker.history(result.conversation.id, 10) if m.sender_type == "bot"][0]
    assert services.tracker.get_message(bot.id).delivery_status == "failed"
    assert services.outbox.requeue(bot.id).delivery_status == "pending"
    services.jobs.run_until_idle()
    assert services.tracker.get_message(bot.id).delivery_status == "sent"
    from services.errors import Conflict

    with pytest.raises(Conflict):
        services.outbox.requeue(bot.id)


def _seen_histories(responder):
    """Wrap a responder so each history it is given is kept."""
    seen = []
    original = responder.reply

    def reply(conversation, history):
        seen.append([m.id for m in history])
        return original(conversation, history)

    responder.reply = reply
    return seen


def test_a_prompt_turn_reads_the_store_once_and_gets_the_same_history(settings, store, clock):
    counting = CountingStore(store)
    responder = ScriptedResponder()
    seen = _seen_histories(responder)
    services = build_services(settings.model_copy(update={"max_conversation_length": 10}),
                              store=counting, clock=clock, responder=responder)
    services.senders["webchat"] = RecordingSender()
    for n in range(14):  # a long conversation, every message answered
        say(services, f"question {n}", cid=f"long-{n}")
        services.jobs.run_until_idle()
    last = say(services, "one more", cid="long-last")
    counting.calls.clear()
    assert services.jobs.run_until_idle() == 1
    # The job came with its message and conversation, the reply came back with its
    # conversation (for the conversation.updated event) and its send job claimed, and the
    # turn read the messages once.
    assert counting.calls.get("get_message", 0) == 0
    assert counting.calls.get("get_conversation", 0) == 0
    assert counting.calls.get("list_messages") == 1
    # Each job ended in the write that completed it: the reply, then the message sent; the
    # send needed no claim and no attempt marker of its own (one claim: the turn's, plus
    # the one that found nothing left).
    assert counting.calls.get("finish_job", 0) == 0
    assert counting.calls.get("track_outbound_with_conversation") == 1
    assert counting.calls.get("set_delivery_status") == 1
    assert counting.calls.get("claim_jobs") == 2
    assert counting.calls.get("update_message_metadata", 0) == 0
    assert seen[-1] == [m.id for m in services.tracker.history(
        last.conversation.id, 10, before=last.message.id + 1)]


@pytest.mark.parametrize("newer", [3, 25])
def test_a_late_turn_finds_its_reply_among_newer_messages(make, newer):
    # The reply sits right after the message: near (in the first read) or far behind
    # many newer messages (the turn reads both sides then).
    services = make(responder=ScriptedResponder())
    first = say(services, "first", cid="late-first")
    services.jobs.run_until_idle()
    for n in range(newer):
        say(services, f"later {n}", cid=f"late-{newer}-{n}")
    services.bot.respond(services.store.get_conversation(first.conversation.id), first.message)
    replies = [m for m in services.tracker.history(first.conversation.id, 200)
               if m.metadata.get("in_reply_to") == first.message.id]
    assert len(replies) == 1


@pytest.mark.parametrize("newer", [3, 25])
def test_a_late_unanswered_turn_answers_with_the_history_up_to_its_message(make, newer):
    responder = ScriptedResponder()
    seen = _seen_histories(responder)
    services = make(responder=responder, max_conversation_length=5)
    olds = [say(services, f"old {n}", cid=f"unans-{newer}-old-{n}") for n in range(8)]
    target = olds[-1]
    for n in range(newer):
        say(services, f"new {n}", cid=f"unans-{newer}-new-{n}")
    services.bot.respond(services.store.get_conversation(target.conversation.id), target.message)
    assert seen == [[r.message.id for r in olds[-5:]]]
    replies = [m for m in services.tracker.history(target.conversation.id, 200)
               if m.metadata.get("in_reply_to") == target.message.id]
    assert len(replies) == 1
