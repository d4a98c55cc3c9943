"""Contract: team stats, what each account did in a period [start, end)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import InvalidInput
from services.models import NewActivity
from services.store.base import MAX_PERIOD_DAYS
from tests.contract.helpers import inbound, outbound


@pytest.fixture
def team(store, clock):
    """ann (agent), bob (admin), cid (agent who does nothing), dee (agent, disabled later)."""
    return {name: store.create_user(f"{name}@example.com", role, "hash", clock())
            for name, role in (("ann", "agent"), ("bob", "admin"), ("cid", "agent"),
                               ("dee", "agent"))}


def _line(conversation_id, kind, actor=None, **detail):
    return NewActivity(conversation_id=conversation_id, kind=kind,
                       actor_id=actor.id if actor else None,
                       actor=actor.email if actor else None, detail=detail)


def _conversation(store, clock, user):
    tracked = store.track_inbound(inbound(user), clock())
    return tracked.conversation.id, tracked.message.id


def _escalate(store, message_id, at):
    store.mark_needs_human(message_id, "asked for a person", 2, at)


def _reply(store, conversation_id, account, at):
    return store.track_outbound(outbound(conversation_id, "on it", sender_type="agent",
                                         sender_id=account.email), at)


def _first_response(store, clock, user, account, seconds):
    """A conversation escalated now and first answered by ``account`` ``seconds`` later."""
    conversation_id, message_id = _conversation(store, clock, user)
    _escalate(store, message_id, clock())
    _reply(store, conversation_id, account, clock() + timedelta(seconds=seconds))
    return conversation_id


def _by_email(rows):
    return {row.email: row for row in rows}


def test_each_figure_is_counted_for_the_account_that_did_it(store, clock, team):
    ann, bob = team["ann"], team["bob"]
    start = clock()
    a, _ = _conversation(store, clock, "team-a")
    b, _ = _conversation(store, clock, "team-b")
    c, _ = _conversation(store, clock, "team-c")
    at = clock.advance(minutes=1)
    _reply(store, a, ann, at)
    _reply(store, a, ann, at)
    _reply(store, b, ann, at)
    _reply(store, a, bob, at)  # after ann's: a reply of bob's, not his first response
    store.add_activity([
        _line(a, "taken_over", ann), _line(a, "handed_back", ann),
        _line(a, "taken_over", ann),  # a again: picked up once
        _line(a, "assigned", bob, to_id=ann.id, to=ann.email),  # ann's pick-up, not bob's
        _line(b, "taken_over", bob), _line(c, "assigned", bob, to_id=bob.id, to=bob.email),
        _line(b, "unassigned", bob, from_id=bob.id),
        _line(b, "closed", ann), _line(c, "closed", ann), _line(c, "reopened", ann),
        _line(a, "note", ann, text="likes tea"), _line(a, "note", bob, text="noted"),
        _line(c, "escalated"), _line(c, "closed"),  # the bot's and a sweep's: nobody's
    ], at)
    store.assign(c, ann.id, at)
    store.assign(b, ann.id, at)
    store.set_status(b, "closed", at)  # closed: no longer open, still assigned

    rows = store.team_stats(start, clock.advance(minutes=1))
    assert [r.email for r in rows] == ["ann@example.com", "bob@example.com"]
    got = _by_email(rows)
    assert got["ann@example.com"].model_dump() == {
        "user_id": ann.id, "email": "ann@example.com", "role": "agent", "disabled": False,
        "replies": 3, "conversations_replied": 2, "picked_up": 1, "handed_back": 1,
        "closed": 2, "notes": 1, "first_responses": 2,
        "median_first_response_seconds": None, "avg_first_response_seconds": None,
        "open_assigned": 1,
    }
    bob_row = got["bob@example.com"]
    assert (bob_row.role, bob_row.replies, bob_row.conversations_replied, bob_row.picked_up,
            bob_row.handed_back, bob_row.closed, bob_row.notes, bob_row.first_responses,
            bob_row.open_assigned) == ("admin", 1, 1, 2, 0, 0, 1, 0, 0)


def test_first_response_times_run_from_the_escalation_with_their_median(store, clock, team):
    ann, bob = team["ann"], team["bob"]
    start = clock()
    for n, seconds in enumerate((300, 60, 900, 120)):
        _first_response(store, clock, f"fr-ann-{n}", ann, seconds)
    _first_response(store, clock, "fr-bob-1", bob, 600)
    _first_response(store, clock, "fr-bob-2", bob, 30)
    _first_response(store, clock, "fr-bob-3", bob, 45.5)
    # Answered without an escalation: a first response with no time to count.
    plain, _ = _conversation(store, clock, "fr-bob-plain")
    _reply(store, plain, bob, clock())

    got = _by_email(store.team_stats(start, clock() + timedelta(hours=1)))
    ann_row, bob_row = got["ann@example.com"], got["bob@example.com"]
    assert ann_row.first_responses == 4
    assert ann_row.median_first_response_seconds == pytest.approx(210)  # (120 + 300) / 2
    assert ann_row.avg_first_response_seconds == pytest.approx(345)
    assert bob_row.first_responses == 4
    assert bob_row.median_first_response_seconds == pytest.approx(45.5)
    assert bob_row.avg_first_response_seconds == pytest.approx((600 + 30 + 45.5) / 3)


def test_nothing_outside_the_period_is_counted(store, clock, team):
    ann = team["ann"]
    start, end = clock() + timedelta(hours=1), clock() + timedelta(hours=2)
    before, _ = _conversation(store, clock, "period-before")
    inside, message_id = _conversation(store, clock, "period-inside")
    # Just before the period: a reply and a first response, a line.
    _reply(store, before, ann, start - timedelta(microseconds=1))
    store.add_activity([_line(before, "taken_over", ann)], start - timedelta(microseconds=1))
    # At its start: counted. Escalated before it, first answered in it: counted with the
    # whole wait. A later reply in ``before`` is a reply, not a first response.
    _escalate(store, message_id, start - timedelta(minutes=30))
    _reply(store, inside, ann, start)
    _reply(store, before, ann, start + timedelta(minutes=1))
    store.add_activity([_line(inside, "note", ann, text="in")], start)
    # At its end: not counted.
    _reply(store, inside, ann, end)
    store.add_activity([_line(inside, "closed", ann)], end)

    (row,) = store.team_stats(start, end)
    assert (row.email, row.replies, row.conversations_replied, row.picked_up, row.notes,
            row.closed, row.first_responses) == ("ann@example.com", 2, 2, 0, 1, 0, 1)
    assert row.median_first_response_seconds == pytest.approx(1800)
    assert row.avg_first_response_seconds == pytest.approx(1800)
    # The hour before holds the rest, and nothing of the period.
    (earlier,) = store.team_stats(start - timedelta(hours=1), start)
    assert (earlier.replies, earlier.picked_up, earlier.notes, earlier.first_responses) == (
        1, 1, 0, 1)
    assert earlier.median_first_response_seconds is None  # never escalated
    assert store.team_stats(end + timedelta(microseconds=1), end + timedelta(hours=1)) == []

    # A note deleted since no longer counts (it was mostly written in error); an edited one
    # still does.
    (second,) = store.add_activity([_line(inside, "note", ann, text="two")], start)
    assert store.team_stats(start, end)[0].notes == 2
    store.rewrite_note(second.id, {"text": "edited", "edited_at": end.isoformat()})
    assert store.team_stats(start, end)[0].notes == 2
    store.rewrite_note(second.id, {"deleted_at": end.isoformat(), "deleted_by_id": ann.id,
                                   "deleted_by": ann.email})
    assert store.team_stats(start, end)[0].notes == 1


def test_open_assigned_conversations_list_an_account_that_did_nothing_else(store, clock, team):
    cid = team["cid"]
    a, _ = _conversation(store, clock, "open-a")
    b, _ = _conversation(store, clock, "open-b")
    store.assign(a, cid.id, clock())
    store.set_handling(b, "human", cid.id, clock())
    later = clock() + timedelta(days=3)  # assigned before the period: counted, it is now
    (row,) = store.team_stats(later, later + timedelta(days=1))
    assert (row.email, row.open_assigned, row.replies, row.picked_up) == (
        "cid@example.com", 2, 0, 0)
    store.set_status(a, "closed", clock())
    assert store.team_stats(later, later + timedelta(days=1))[0].open_assigned == 1


def test_accounts_that_did_nothing_are_absent_and_disabled_ones_listed(store, clock, team):
    dee = team["dee"]
    start = clock()
    assert store.team_stats(start, start + timedelta(days=1)) == []
    conversation, _ = _conversation(store, clock, "gone")
    _reply(store, conversation, dee, clock())
    store.set_user_disabled(dee.id, True)
    # A reply sent as an address no account has now is nobody's.
    store.track_outbound(outbound(conversation, "from the page inbox", sender_type="agent",
                                  sender_id="page-inbox@example.com"), clock())

    (row,) = store.team_stats(start, start + timedelta(days=1))
    assert (row.email, row.disabled, row.replies, row.first_responses) == (
        "dee@example.com", True, 1, 1)


@pytest.mark.parametrize("start_offset,end_offset,message", [
    (timedelta(0), timedelta(0), "start must be before end"),
    (timedelta(hours=1), timedelta(0), "start must be before end"),
    (timedelta(0), timedelta(days=MAX_PERIOD_DAYS, microseconds=1), "at most 366 days"),
])
def test_a_bad_period_is_refused(store, clock, start_offset, end_offset, message):
    with pytest.raises(InvalidInput, match=message):
        store.team_stats(clock() + start_offset, clock() + end_offset)


def test_the_longest_period_is_taken(store, clock, team):
    ann = team["ann"]
    conversation, _ = _conversation(store, clock, "longest")
    _reply(store, conversation, ann, clock())
    (row,) = store.team_stats(clock(), clock() + timedelta(days=MAX_PERIOD_DAYS))
    assert row.replies == 1
