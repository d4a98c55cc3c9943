"""Contract: auto-assignment on both stores -- which accounts take new conversations, and
the waiting conversations handed to the least loaded of them, each once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from services.errors import InvalidInput, NotFound
from services.models import MAX_TOUCH_USERS
from tests.contract.helpers import MISSING_ID, in_parallel, inbound


def _waiting(store, clock, user: str):
    tracked = store.track_inbound(inbound(user, "a person please"), clock.advance(seconds=1))
    return store.mark_needs_human(tracked.message.id, "asked", 3, clock())[1]


def _team(store, clock, *emails: str, available: bool = True):
    users = [store.create_user(e, "agent", "hash", clock()) for e in emails]
    return [store.set_user_available(u.id, available) for u in users]


def test_availability_is_kept_on_the_account(store, clock):
    ann = store.create_user("ann@example.com", "agent", "hash", clock())
    assert (ann.available, ann.last_assigned_at) == (False, None)
    assert store.set_user_available(ann.id, True).available is True
    assert store.get_user(ann.id).available is True
    assert [u.available for u in store.list_users()] == [True]
    assert store.set_user_available(ann.id, False).available is False
    with pytest.raises(NotFound):
        store.set_user_available(MISSING_ID, True)


def test_waiting_conversations_go_to_the_least_loaded_account_in_turn(store, clock):
    ann, bob = _team(store, clock, "ann@example.com", "bob@example.com")
    _team(store, clock, "cat@example.com", available=False)
    dan, = _team(store, clock, "dan@example.com")
    store.set_user_disabled(dan.id, True)  # disabled: never given one, available or not
    first = [_waiting(store, clock, f"u{i}") for i in range(3)]

    given = store.auto_assign(None, 10, 0, clock())
    # Longest waiting first; equal loads: never given one first, then the lowest id.
    assert [(c.id, u.email) for c, u in given] == [
        (first[0].id, "ann@example.com"), (first[1].id, "bob@example.com"),
        (first[2].id, "ann@example.com")]
    assert all(c.assigned_to == u.id and c.updated_at == clock() for c, u in given)
    assert store.get_user(ann.id).last_assigned_at == clock()
    assert store.auto_assign(None, 10, 0, clock()) == []  # nothing waits unassigned now

    # Bob has one open, Ann two: Bob next; then equal, and Ann was given one longest ago.
    later = [_waiting(store, clock, f"v{i}") for i in range(2)]
    given = store.auto_assign(None, 1, 0, clock())
    assert [(c.id, u.email) for c, u in given] == [(later[0].id, "bob@example.com")]
    clock.advance(seconds=5)
    store.set_status(first[0].id, "closed", clock())  # a closed one is no load: Ann has 1
    given = store.auto_assign(None, 1, 0, clock())
    assert [(c.id, u.email) for c, u in given] == [(later[1].id, "ann@example.com")]
    # Nothing ever went to the unavailable or the disabled account.
    loads = Counter(store.get_conversation(c.id).assigned_to for c in [*first, *later])
    assert set(loads) == {ann.id, bob.id}


def test_only_waiting_unassigned_open_conversations_are_given(store, clock):
    ann, = _team(store, clock, "ann@example.com")
    quiet = store.track_inbound(inbound("quiet", "hello"), clock()).conversation
    taken = _waiting(store, clock, "taken")
    store.assign(taken.id, ann.id, clock())
    closed = _waiting(store, clock, "closed")
    store.set_status(closed.id, "closed", clock())
    waiting = _waiting(store, clock, "waits")
    given = store.auto_assign(None, 10, 0, clock())
    assert [c.id for c, _ in given] == [waiting.id]
    assert store.get_conversation(quiet.id).assigned_to is None
    assert store.get_conversation(closed.id).assigned_to is None


def test_only_the_conversations_named_and_never_past_the_limit_of_open_ones(store, clock):
    _team(store, clock, "ann@example.com", "bob@example.com")
    waiting = [_waiting(store, clock, f"u{i}") for i in range(4)]
    given = store.auto_assign([waiting[2].id, MISSING_ID], 10, 0, clock())
    assert [c.id for c, _ in given] == [waiting[2].id]
    assert store.auto_assign([], 10, 0, clock()) == []
    # At most one open conversation each: Ann has hers, so Bob takes one and one waits.
    given = store.auto_assign(None, 10, 1, clock())
    assert [(c.id, u.email) for c, u in given] == [(waiting[0].id, "bob@example.com")]
    assert store.get_conversation(waiting[1].id).assigned_to is None
    assert store.get_conversation(waiting[3].id).assigned_to is None


def test_accounts_are_marked_seen_and_never_moved_back(store, clock):
    ann, bob = _team(store, clock, "ann@example.com", "bob@example.com")
    assert (ann.last_seen_at, bob.last_seen_at) == (None, None)
    seen = clock()
    store.touch_users([ann.id, ann.id, MISSING_ID], seen)  # a repeat and an unknown id
    assert store.get_user(ann.id).last_seen_at == seen
    assert store.get_user(bob.id).last_seen_at is None
    store.touch_users([ann.id], seen - timedelta(seconds=30))  # a late, older touch
    assert store.get_user(ann.id).last_seen_at == seen
    store.touch_users([], seen)  # nothing to do
    later = clock.advance(seconds=30)
    store.touch_users([ann.id, bob.id], later)
    assert [u.last_seen_at for u in store.list_users()] == [later, later]
    with pytest.raises(InvalidInput):
        store.touch_users(range(1, MAX_TOUCH_USERS + 2), later)
    assert store.get_user(ann.id).last_seen_at == later


def test_an_account_gone_offline_is_claimed_once_until_seen_again(store, clock):
    ann, bob, cat = _team(store, clock, "ann@example.com", "bob@example.com",
                          "cat@example.com")
    store.touch_users([ann.id, bob.id], clock())
    cut = clock.advance(seconds=90)
    store.touch_users([bob.id], cut)  # seen exactly at the cut: still online
    # Ann went offline; Bob is online; Cat was never seen, so never online either.
    claimed = store.claim_offline(cut, clock())
    assert [(u.id, u.email, u.last_seen_at) for u in claimed] == [
        (ann.id, "ann@example.com", cut - timedelta(seconds=90))]
    assert store.claim_offline(cut, clock()) == []  # once
    later = clock.advance(seconds=90)
    assert [u.id for u in store.claim_offline(later, later)] == [bob.id]
    # Ann comes back and goes again: claimed again, and only then.
    store.touch_users([ann.id], clock.advance(seconds=1))
    assert store.claim_offline(later, clock()) == []
    gone = clock.advance(seconds=90)
    assert [u.id for u in store.claim_offline(gone, gone)] == [ann.id]
    assert store.claim_offline(clock.advance(seconds=90), clock()) == []
    assert store.get_user(cat.id).last_seen_at is None


def test_processes_claiming_at_once_claim_each_account_once(store, clock):
    team = _team(store, clock, *(f"u{i}@example.com" for i in range(20)))
    store.touch_users([u.id for u in team], clock())
    cut = clock.advance(seconds=90)
    claims = in_parallel(4, lambda _: store.claim_offline(cut, cut))
    assert Counter(u.id for claim in claims for u in claim) == Counter(u.id for u in team)


def test_only_accounts_seen_since_are_given_conversations_when_asked(store, clock):
    ann, bob, cat = _team(store, clock, "ann@example.com", "bob@example.com",
                          "cat@example.com")
    store.touch_users([ann.id], clock())
    cut = clock.advance(seconds=60)
    store.touch_users([bob.id], cut)  # seen exactly at the cut: online
    waiting = [_waiting(store, clock, f"u{i}") for i in range(3)]
    given = store.auto_assign(None, 10, 0, clock(), online_since=cut)
    # Ann was seen before the cut and Cat never: Bob takes all three.
    assert [(c.id, u.email) for c, u in given] == [(w.id, "bob@example.com") for w in waiting]
    store.touch_users([ann.id, cat.id], clock())
    more = _waiting(store, clock, "v1")
    given = store.auto_assign(None, 10, 0, clock(), online_since=cut)
    assert [(c.id, u.email) for c, u in given] == [(more.id, "ann@example.com")]
    # Without online_since, seen or not makes no difference.
    last = _waiting(store, clock, "v2")
    given = store.auto_assign(None, 10, 0, clock())
    assert [(c.id, u.email) for c, u in given] == [(last.id, "cat@example.com")]


def test_nobody_online_assigns_nothing(store, clock):
    ann, = _team(store, clock, "ann@example.com")
    store.touch_users([ann.id], clock())
    waiting = _waiting(store, clock, "u1")
    assert store.auto_assign(None, 10, 0, clock(), online_since=clock() + timedelta(1)) == []
    assert store.get_conversation(waiting.id).assigned_to is None


def test_nobody_available_assigns_nothing(store, clock):
    _team(store, clock, "ann@example.com", available=False)
    waiting = _waiting(store, clock, "u1")
    assert store.auto_assign(None, 10, 0, clock()) == []
    assert store.get_conversation(waiting.id).assigned_to is None


@pytest.mark.parametrize("limit, max_open", [(0, 0), (201, 0), (1, -1)])
def test_bad_arguments_are_refused(store, clock, limit, max_open):
    _team(store, clock, "ann@example.com")
    waiting = _waiting(store, clock, "u1")
    with pytest.raises(InvalidInput):
        store.auto_assign(None, limit, max_open, clock())
    assert store.get_conversation(waiting.id).assigned_to is None


def test_processes_assigning_at_once_give_each_conversation_once_and_balance(store, clock):
    ann, bob = _team(store, clock, "ann@example.com", "bob@example.com")
    waiting = [_waiting(store, clock, f"u{i}") for i in range(8)]
    results = in_parallel(4, lambda _: store.auto_assign(None, 3, 0, clock()))
    given = [c.id for r in results for c, _ in r]
    assert sorted(given) == [c.id for c in waiting]  # each once
    loads = Counter(store.get_conversation(c.id).assigned_to for c in waiting)
    assert loads == {ann.id: 4, bob.id: 4}
