"""Contract: stats() on an empty store and on a small dataset with hand-computed numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.contract.helpers import inbound, outbound

T = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def at(hours: float = 0, minutes: float = 0, seconds: float = 0, microseconds: int = 0):
    return T + timedelta(hours=hours, minutes=minutes, seconds=seconds,
                         microseconds=microseconds)


def test_stats_of_an_empty_store(store):
    now = at(minutes=30)
    s = store.stats(now)
    assert (s.total_conversations, s.active_conversations, s.total_messages) == (0, 0, 0)
    assert (s.messages_requiring_human, s.conversations_needing_human) == (0, 0)
    assert s.escalated_conversations == 0
    assert s.escalation_rate == 0
    assert s.avg_messages_per_conversation == 0
    assert s.avg_first_human_response_seconds is None
    assert s.median_first_human_response_seconds is None
    assert (s.handed_to_human_conversations, s.handoff_rate) == (0, 0)
    assert (s.bot_resolved_conversations, s.bot_resolved_rate) == (0, 0)
    assert set(s.by_platform) == {"messenger", "webchat"}
    assert all((p.conversations, p.active_conversations, p.messages) == (0, 0, 0)
               for p in s.by_platform.values())
    assert len(s.messages_per_hour) == 24
    assert all((b.messages, b.escalations) == (0, 0) for b in s.messages_per_hour)
    assert len(s.messages_per_day) == 30
    assert all((b.messages, b.escalations) == (0, 0) for b in s.messages_per_day)
    assert s.messages_per_day[-1].day == datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert s.timestamp == now


@pytest.fixture
def dataset(store):
    """Five conversations; the numbers each test expects are worked out in the comments."""
    # A (messenger): 4 messages; escalated 11:16, agent at 11:17:30 (90 s), then replied.
    a1 = store.track_inbound(inbound("A", "hi", platform="messenger"), at(hours=-3))  # 09:00
    a = a1.conversation.id
    store.track_outbound(outbound(a, "hello"), at(hours=-3, minutes=10))
    a2 = store.track_inbound(inbound("A", "human!", platform="messenger"), at(minutes=-45))
    store.mark_needs_human(a2.message.id, "asked", 2, at(minutes=-44))
    store.track_outbound(outbound(a, "I'm here", sender_type="agent"),
                         at(minutes=-42, seconds=-30))
    store.mark_human_replied(a2.message.id, "agent", at(minutes=-42))

    # B (messenger): 1 message at 12:05, escalated, no human yet.
    b1 = store.track_inbound(inbound("B", "urgent", platform="messenger"), at(minutes=5))
    store.mark_needs_human(b1.message.id, "urgent", 1, at(minutes=6))

    # C (webchat): closed; its first message is one microsecond before the 24-hour window,
    # its second exactly on the window's first hour (yesterday 13:00).
    c1 = store.track_inbound(inbound("C", "old"), at(hours=-23, microseconds=-1))
    store.track_outbound(outbound(c1.conversation.id, "old reply"), at(hours=-23))
    store.set_status(c1.conversation.id, "closed", at(hours=-22))

    # D (webchat): idle; escalated 10:01, agent at 10:01:30 (30 s), whose message answers d1
    # (an agent's message marks the waiting ones replied and clears the conversation's flags).
    d1 = store.track_inbound(inbound("D", "broken"), at(hours=-2))
    store.mark_needs_human(d1.message.id, "bug", 3, at(hours=-2, minutes=1))
    store.track_outbound(outbound(d1.conversation.id, "looking", sender_type="agent"),
                         at(hours=-2, minutes=1, seconds=30))
    store.set_status(d1.conversation.id, "idle", at(hours=-1, minutes=-30))

    # E (webchat): an agent wrote first (08:00), escalation came later (08:30): no response time.
    e1 = store.track_inbound(inbound("E", "hey"), at(hours=-4, minutes=-1))  # 07:59
    store.track_outbound(outbound(e1.conversation.id, "hi from a human", sender_type="agent"),
                         at(hours=-4))
    store.mark_needs_human(e1.message.id, "later", 4, at(hours=-3, minutes=-30))


def test_stats_totals(store, dataset):
    s = store.stats(at(minutes=30))
    assert s.total_conversations == 5
    assert s.active_conversations == 3  # A, B, E (C closed, D idle)
    assert s.total_messages == 11  # A4 B1 C2 D2 E2
    assert s.messages_requiring_human == 2  # b1, e1 (a2, d1 answered by an agent)
    assert s.conversations_needing_human == 2  # B, E (A, D cleared by an agent, C closed)
    assert s.escalated_conversations == 4  # A, B, D, E
    assert s.escalation_rate == pytest.approx(0.8)
    assert s.avg_messages_per_conversation == pytest.approx(2.2)
    assert s.avg_first_human_response_seconds == pytest.approx(60.0, abs=1e-3)  # (90 + 30) / 2
    assert s.median_first_human_response_seconds == pytest.approx(60.0, abs=1e-3)
    assert s.handed_to_human_conversations == 4  # A, B, D, E
    assert s.handoff_rate == pytest.approx(0.8)
    assert s.bot_resolved_conversations == 1  # C, the only closed one
    assert s.bot_resolved_rate == pytest.approx(1.0)
    assert s.timestamp == at(minutes=30)


def test_stats_by_platform(store, dataset):
    s = store.stats(at(minutes=30))
    assert set(s.by_platform) == {"messenger", "webchat"}
    fb, web = s.by_platform["messenger"], s.by_platform["webchat"]
    assert (fb.conversations, fb.active_conversations, fb.messages) == (2, 2, 5)
    assert (web.conversations, web.active_conversations, web.messages) == (3, 1, 6)


def test_stats_hour_buckets(store, dataset):
    s = store.stats(at(minutes=30))
    hours = [b.hour for b in s.messages_per_hour]
    assert len(hours) == 24
    assert hours[0] == datetime(2026, 11, 24, 13, tzinfo=timezone.utc)
    assert hours[-1] == datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    assert all(b - a == timedelta(hours=1) for a, b in zip(hours, hours[1:]))
    assert all(h.utcoffset() == timedelta(0) for h in hours)

    counts = {b.hour.hour: (b.messages, b.escalations) for b in s.messages_per_hour
              if b.messages or b.escalations}
    assert counts == {
        13: (1, 0),  # C's reply, yesterday 13:00:00 exactly
        7: (1, 1),  # e1 (flagged)
        8: (1, 0),  # E's agent message
        9: (2, 0),  # a1, bot reply
        10: (2, 1),  # d1 (flagged), agent reply
        11: (2, 1),  # a2 (flagged, since replied: still counted), agent reply
        12: (1, 1),  # b1 (flagged)
    }
    assert hours.index(datetime(2026, 11, 24, 13, tzinfo=timezone.utc)) == 0
    assert sum(b.messages for b in s.messages_per_hour) == 10  # c1 is outside the window


def test_stats_window_follows_now(store, dataset):
    # An hour later with a non-UTC now: the window moves; yesterday 13:00 drops out.
    now = datetime(2026, 11, 25, 14, 59, 59, tzinfo=timezone(timedelta(hours=1)))  # 13:59:59Z
    s = store.stats(now)
    assert s.messages_per_hour[-1].hour == datetime(2026, 11, 25, 13, tzinfo=timezone.utc)
    assert s.messages_per_hour[0].hour == datetime(2026, 11, 24, 14, tzinfo=timezone.utc)
    assert sum(b.messages for b in s.messages_per_hour) == 9
    assert (s.messages_per_hour[-1].messages, s.messages_per_hour[-2].messages) == (0, 1)
    assert s.total_messages == 11  # totals do not depend on the window


def test_stats_day_buckets(store, dataset):
    s = store.stats(at(minutes=30))
    days = [b.day for b in s.messages_per_day]
    assert len(days) == 30
    assert days[0] == datetime(2026, 10, 27, tzinfo=timezone.utc)
    assert days[-1] == datetime(2026, 11, 25, tzinfo=timezone.utc)  # the day containing now
    assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:]))
    assert all(d.utcoffset() == timedelta(0) for d in days)
    counts = {b.day.day: (b.messages, b.escalations) for b in s.messages_per_day
              if b.messages or b.escalations}
    assert counts == {
        24: (2, 0),  # c1 (12:59:59.999999) and C's reply (13:00), yesterday
        25: (9, 4),  # everything else; flagged: e1, d1, a2, b1
    }


def test_stats_day_buckets_edges_and_window(store):
    """Days are UTC days: a message counts on the day of its UTC time, the window holds the
    30 days up to the one containing now (whatever now's offset), edges included."""
    def message(user, when, flag=False):
        r = store.track_inbound(inbound(user, "x"), when)
        if flag:
            store.mark_needs_human(r.message.id, "x", 3, when)

    utc = timezone.utc
    message("before", datetime(2026, 10, 26, 23, 59, 59, 999999, tzinfo=utc))  # outside
    message("first", datetime(2026, 10, 27, tzinfo=utc))  # first bucket, exactly at 00:00
    message("first", datetime(2026, 10, 27, 23, 59, 59, 999999, tzinfo=utc), flag=True)
    # 2026-11-01 00:30 at +02:00 is still 31 October in UTC.
    message("local", datetime(2026, 11, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), True)
    message("last", datetime(2026, 11, 25, tzinfo=utc))  # the last bucket
    message("last", datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=utc))
    message("after", datetime(2026, 11, 26, tzinfo=utc))  # the day after now's: outside

    # 2026-11-26 00:30 at +02:00 is 25 November 22:30 UTC: the window ends on 25 November.
    s = store.stats(datetime(2026, 11, 26, 0, 30, tzinfo=timezone(timedelta(hours=2))))
    by_day = {b.day.date().isoformat(): (b.messages, b.escalations) for b in s.messages_per_day}
    assert len(by_day) == 30
    assert min(by_day) == "2026-10-27" and max(by_day) == "2026-11-25"
    assert {d: v for d, v in by_day.items() if v != (0, 0)} == {
        "2026-10-27": (2, 1),
        "2026-10-31": (1, 1),
        "2026-11-25": (2, 0),
    }
    assert s.total_messages == 7  # totals do not depend on the window

    # A day later the window moves by one day: 27 October drops out, 26 November comes in.
    s = store.stats(datetime(2026, 11, 26, 0, 0, tzinfo=utc))
    assert (s.messages_per_day[0].day, s.messages_per_day[-1].day) == (
        datetime(2026, 10, 28, tzinfo=utc), datetime(2026, 11, 26, tzinfo=utc))
    assert s.messages_per_day[-1].messages == 1
    assert sum(b.messages for b in s.messages_per_day) == 4


def _escalate_and_answer(store, user: str, start, seconds: float) -> int:
    """A conversation escalated at ``start`` and first answered by an agent ``seconds`` later."""
    r = store.track_inbound(inbound(user, "help"), start)
    store.mark_needs_human(r.message.id, "asked", 3, start)
    store.track_outbound(outbound(r.conversation.id, "here", sender_type="agent"),
                         start + timedelta(seconds=seconds))
    return r.conversation.id


def test_stats_median_response_time_odd_and_even(store):
    # Response times 10 s, 20 s, 90.5 s: the median is the middle one, unlike the mean (40.17).
    first = _escalate_and_answer(store, "p1", at(hours=-5), 10)
    _escalate_and_answer(store, "p2", at(hours=-4), 20)
    _escalate_and_answer(store, "p3", at(hours=-3), 90.5)
    s = store.stats(at())
    assert s.median_first_human_response_seconds == pytest.approx(20.0, abs=1e-3)
    assert s.avg_first_human_response_seconds == pytest.approx(120.5 / 3, abs=1e-3)

    # A fourth, 200 s: the mean of the middle two, (20 + 90.5) / 2.
    _escalate_and_answer(store, "p4", at(hours=-2), 200)
    # Not counted: an agent who wrote before the escalation.
    early = store.track_inbound(inbound("p5"), at(hours=-1))
    store.track_outbound(outbound(early.conversation.id, "hi", sender_type="agent"),
                         at(hours=-1, seconds=1))
    store.mark_needs_human(early.message.id, "later", 3, at(hours=-1, seconds=2))
    s = store.stats(at())
    assert s.median_first_human_response_seconds == pytest.approx(55.25, abs=1e-3)
    assert s.avg_first_human_response_seconds == pytest.approx(320.5 / 4, abs=1e-3)
    assert store.get_conversation(first).first_human_reply_at == at(hours=-5, seconds=10)


def test_stats_handoff_and_bot_resolution(store):
    # Escalated and answered, later closed: handed over, not bot-resolved.
    answered = _escalate_and_answer(store, "h1", at(hours=-6), 30)
    store.set_status(answered, "closed", at(hours=-5))
    # Taken over by a human (no escalation, no agent message yet), then closed: handed over.
    taken = store.track_inbound(inbound("h2"), at(hours=-5)).conversation
    store.set_handling(taken.id, "human", None, at(hours=-5, minutes=1))
    store.set_status(taken.id, "closed", at(hours=-4))
    # An agent wrote without any escalation, still open: handed over.
    spoke = store.track_inbound(inbound("h3"), at(hours=-4)).conversation
    store.track_outbound(outbound(spoke.id, "hello", sender_type="agent"), at(hours=-4, seconds=5))
    # Escalated but nobody answered, still open: handed over.
    waiting = store.track_inbound(inbound("h4"), at(hours=-3))
    store.mark_needs_human(waiting.message.id, "x", 2, at(hours=-3, seconds=1))
    # The bot alone, closed twice over (by hand and by the sweep): bot-resolved.
    for user in ("b1", "b2"):
        conv = store.track_inbound(inbound(user), at(hours=-10)).conversation
        store.track_outbound(outbound(conv.id, "answer"), at(hours=-10, seconds=1))
    store.set_status(store.track_inbound(inbound("b1", "thanks"), at(hours=-9)).conversation.id,
                     "closed", at(hours=-8))
    assert [c.external_user_id for c in store.sweep_closed(at(hours=-8), at(hours=-7))] == ["b2"]
    # The bot alone, still open: neither.
    store.track_inbound(inbound("b3"), at(hours=-1))

    s = store.stats(at())
    assert s.total_conversations == 7
    assert s.handed_to_human_conversations == 4  # h1, h2, h3, h4
    assert s.handoff_rate == pytest.approx(4 / 7)
    assert s.bot_resolved_conversations == 2  # b1, b2
    assert s.bot_resolved_rate == pytest.approx(2 / 4)  # of the closed: h1, h2, b1, b2
    assert s.escalated_conversations == 2  # h1, h4
    assert s.median_first_human_response_seconds == pytest.approx(30.0, abs=1e-3)
