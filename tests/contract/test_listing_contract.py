"""Contract: conversation lists (filters, search, sorts, keyset pages) and message history."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from services.errors import InvalidInput
from services.models import ConversationCursor, ConversationFilter
from services.store.sqlite_db import ts
from tests.contract.helpers import inbound, outbound

_NEVER = datetime.min.replace(tzinfo=timezone.utc)  # stands in for a null in sort keys


def _ids(page):
    return [c.id for c in page.conversations]


def _all_pages(store, filters, limit):
    """Every row of every page, following next_cursor to the end."""
    seen, cursor = [], None
    for _ in range(1000):  # a cursor that does not move on must fail, not hang
        page = store.list_conversations(filters, limit=limit, cursor=cursor)
        seen.extend(page.conversations)
        if page.next_cursor is None:
            return seen
        assert len(page.conversations) == limit
        cursor = ConversationCursor.decode(page.next_cursor)
    raise AssertionError("pagination did not end")


@pytest.fixture
def inbox(store, clock):
    """Five conversations in known states; returns them by name (oldest activity first)."""
    t = clock
    made = {}
    made["web_active"] = store.track_inbound(
        inbound("w1", "where is my order", platform="webchat", display_name="Ana Lima"),
        t()).conversation
    made["fb_flagged"] = store.track_inbound(
        inbound("f1", "I want a person", platform="messenger", display_name="Ben Ode"),
        t.advance(minutes=1)).conversation
    made["web_idle"] = store.track_inbound(
        inbound("w2", "thanks bye", platform="webchat"), t.advance(minutes=1)).conversation
    made["fb_closed"] = store.track_inbound(
        inbound("f2", "refund please", platform="messenger", display_name="Cy Dunn"),
        t.advance(minutes=1)).conversation
    made["web_flagged"] = store.track_inbound(
        inbound("w3", "this is broken", platform="webchat", display_name="Di Eng"),
        t.advance(minutes=1)).conversation

    first_msg = store.list_messages(made["fb_flagged"].id, limit=1)[0]
    store.mark_needs_human(first_msg.id, "asked for a human", 2, t.advance(minutes=1))
    web_msg = store.list_messages(made["web_flagged"].id, limit=1)[0]
    store.mark_needs_human(web_msg.id, "frustrated", 4, t.advance(minutes=1))
    store.set_status(made["web_idle"].id, "idle", t.advance(minutes=1))
    store.set_status(made["fb_closed"].id, "closed", t.advance(minutes=1))
    return {name: store.get_conversation(c.id) for name, c in made.items()}


def _listed(store, **filters):
    return set(_ids(store.list_conversations(ConversationFilter(**filters), limit=100)))


def test_each_filter_alone(store, inbox):
    ids = {name: c.id for name, c in inbox.items()}
    assert _listed(store) == set(ids.values())
    assert _listed(store, status="active") == {
        ids["web_active"], ids["fb_flagged"], ids["web_flagged"]}
    assert _listed(store, status="idle") == {ids["web_idle"]}
    assert _listed(store, status="closed") == {ids["fb_closed"]}
    assert _listed(store, platform="messenger") == {ids["fb_flagged"], ids["fb_closed"]}
    assert _listed(store, platform="webchat") == {
        ids["web_active"], ids["web_idle"], ids["web_flagged"]}
    assert _listed(store, needs_human=True) == {ids["fb_flagged"], ids["web_flagged"]}
    assert _listed(store, needs_human=False) == {
        ids["web_active"], ids["web_idle"], ids["fb_closed"]}
    # Nothing in the protocol hands a conversation to a human or assigns it yet:
    # every conversation is bot-handled and unassigned.
    assert _listed(store, handled_by="bot") == set(ids.values())
    assert _listed(store, handled_by="human") == set()
    assert _listed(store, unassigned=True) == set(ids.values())
    assert _listed(store, unassigned=False) == set()
    assert _listed(store, assigned_to=1) == set()


def test_filters_combine_with_and(store, inbox):
    ids = {name: c.id for name, c in inbox.items()}
    assert _listed(store, platform="webchat", needs_human=True) == {ids["web_flagged"]}
    assert _listed(store, platform="messenger", status="active") == {ids["fb_flagged"]}
    assert _listed(store, platform="messenger", status="idle") == set()
    assert _listed(store, status="active", needs_human=False, handled_by="bot") == {
        ids["web_active"]}
    assert _listed(store, platform="webchat", search="broken") == {ids["web_flagged"]}
    assert _listed(store, platform="messenger", search="broken") == set()


def test_last_activity_sort_is_newest_first(store, inbox, clock):
    # The newest message wins, not the newest status change.
    store.track_outbound(outbound(inbox["web_active"].id, "on its way"), clock.advance(minutes=1))
    page = store.list_conversations(ConversationFilter(sort="last_activity"), limit=100)
    ids = {name: c.id for name, c in inbox.items()}
    assert _ids(page) == [ids["web_active"], ids["web_flagged"], ids["fb_closed"],
                          ids["web_idle"], ids["fb_flagged"]]
    assert page.next_cursor is None


def test_priority_sort_puts_urgent_first_then_recent(store, inbox):
    page = store.list_conversations(ConversationFilter(sort="priority"), limit=100)
    ids = {name: c.id for name, c in inbox.items()}
    assert [c.priority for c in page.conversations] == [2, 4, 5, 5, 5]
    assert _ids(page) == [ids["fb_flagged"], ids["web_flagged"], ids["fb_closed"],
                          ids["web_idle"], ids["web_active"]]


def test_activity_order_compares_instants_not_local_times(store, clock):
    utc_noon = clock()  # 12:00Z
    earlier_local_later = (clock() - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=2)))
    a = store.track_inbound(inbound("tz-a"), utc_noon).conversation  # 12:00Z
    b = store.track_inbound(inbound("tz-b"), earlier_local_later).conversation  # 13:30+02 = 11:30Z
    c = store.track_inbound(inbound("tz-c"), clock() - timedelta(minutes=45)).conversation
    page = store.list_conversations(ConversationFilter(), limit=10)
    assert _ids(page) == [a.id, b.id, c.id]
    rows = _all_pages(store, ConversationFilter(), limit=1)
    assert [r.id for r in rows] == [a.id, b.id, c.id]


# -- search -----------------------------------------------------------------------------------

def test_search_matches_display_name_or_any_message_case_insensitively(store, inbox, clock):
    ids = {name: c.id for name, c in inbox.items()}
    store.track_inbound(inbound("w1", "second message about Parcels"), clock.advance(minutes=1))
    assert _listed(store, search="ana lima") == {ids["web_active"]}  # display name
    assert _listed(store, search="LIMA") == {ids["web_active"]}
    assert _listed(store, search="WHERE IS MY") == {ids["web_active"]}  # an older message
    assert _listed(store, search="pArCeL") == {ids["web_active"]}  # the newest message
    assert _listed(store, search="refund") == {ids["fb_closed"]}
    assert _listed(store, search="e") == set(ids.values())
    assert _listed(store, search="no such words anywhere") == set()


# Texts chosen so that any wildcard or query-syntax reading of a hostile search string
# matches rows a literal substring match must not.
SEARCH_TEXTS = [
    "I paid 100% upfront",
    "100 percent sure",
    "file_name.txt",
    "fileXname",
    "a*b star",
    "aXYb no star",
    "it's fine",
    'say "hi" please',
    "one, two",
    "call f() now",
    "or=(id.gt.0) literally",
    "back\\slash",
    "plain words only",
]

HOSTILE = ["%", "0%", "_", "e_n", "*", "a*b", "'", '"', ",", "()", "or=(id.gt.0)", "\\",
           "\\s", "%'", "') or ('1'='1", "x'; DROP TABLE messages; --", "(", ")", ".", ":",
           "*)", "id.gt.0"]


@pytest.mark.parametrize("text", HOSTILE)
def test_search_text_is_a_literal_substring(store, clock, text):
    by_text = {}
    for i, content in enumerate(SEARCH_TEXTS):
        conv = store.track_inbound(inbound(f"s{i}", content), clock.advance(seconds=1))
        by_text[content] = conv.conversation.id
    expected = {cid for content, cid in by_text.items() if text.lower() in content.lower()}

    page = store.list_conversations(ConversationFilter(search=text), limit=100)
    assert set(_ids(page)) == expected
    # The store still works and still has every row afterwards.
    assert len(store.list_conversations(ConversationFilter(), limit=100).conversations) == len(
        SEARCH_TEXTS)


def test_search_found_by_the_fuzz_tests(store, clock):
    """tests/reliability/test_hostile_search.py found these: SQLite's lower() made "ΑΣ" (a
    final sigma) miss "ΑΣΑ"; a NUL in the search text or person id failed the Supabase query
    (jsonb refuses it) and matched nothing on SQLite, though stored text has its NULs
    dropped; a lone surrogate was refused; an assigned_to past 64 bits crashed SQLite."""
    greek = store.track_inbound(inbound("g1", "ΑΣΑ λέξη"), clock()).conversation.id
    nul = store.track_inbound(inbound("n1", "a\x00bc"), clock.advance(seconds=1)).conversation.id
    odd = store.track_inbound(inbound("o1", "x\ud800y"), clock.advance(seconds=1)).conversation.id
    assert _listed(store, search="ΑΣ") == {greek}
    assert _listed(store, search="ασ") == {greek}
    assert _listed(store, search="ab\x00c") == {nul}
    assert _listed(store, search="x\udc00y") == {odd}  # stored, and searched, as U+FFFD
    assert _listed(store, platform="webchat", external_user_id="n1\x00") == {nul}
    with pytest.raises(ValueError):
        ConversationFilter(assigned_to=2**63)


def test_search_does_not_match_across_messages_or_other_conversations(store, clock):
    a = store.track_inbound(inbound("x1", "hello wor"), clock()).conversation
    store.track_inbound(inbound("x1", "ld again"), clock.advance(seconds=1))
    b = store.track_inbound(inbound("x2", "goodbye world"), clock.advance(seconds=1)).conversation
    assert _listed(store, search="world") == {b.id}
    assert a.id not in _listed(store, search="wor ld")


# -- keyset pagination --------------------------------------------------------------------------

def test_pages_cover_every_row_once_with_equal_times(store, clock):
    now = clock()
    made = [store.track_inbound(inbound(f"tie{i}"), now).conversation.id for i in range(7)]
    for sort in ("last_activity", "priority"):
        rows = _all_pages(store, ConversationFilter(sort=sort), limit=2)
        assert [c.id for c in rows] == sorted(made, reverse=True)


def test_pages_follow_microsecond_order(store, clock):
    made = []
    for i in range(6):
        made.append(store.track_inbound(inbound(f"us{i}"), clock.advance(microseconds=1)))
    rows = _all_pages(store, ConversationFilter(), limit=4)
    assert [c.id for c in rows] == [r.conversation.id for r in reversed(made)]


def test_priority_pages_are_in_priority_then_activity_order(store, clock):
    convs = []
    priorities = [5, 3, 1, 3, 5, 2, 1, 4, 3]
    same_time = clock()
    for i, prio in enumerate(priorities):
        # Two pairs share a timestamp to exercise the id tie-break inside a priority.
        at = same_time if i in (1, 3) else clock.advance(seconds=1)
        r = store.track_inbound(inbound(f"p{i}"), at)
        if prio < 5:
            store.mark_needs_human(r.message.id, "x", prio, at)
        convs.append(store.get_conversation(r.conversation.id))
    expected = sorted(convs, key=lambda c: (c.priority, -c.last_message_at.timestamp(), -c.id))

    rows = _all_pages(store, ConversationFilter(sort="priority"), limit=2)
    assert [c.id for c in rows] == [c.id for c in expected]
    flagged = _all_pages(store, ConversationFilter(sort="priority", needs_human=True), limit=3)
    assert [c.id for c in flagged] == [c.id for c in expected if c.priority < 5]


def _assert_strictly_descending(rows, key):
    keys = [key(c) for c in rows]
    assert all(a > b for a, b in zip(keys, keys[1:])), keys


@pytest.mark.parametrize("sort", ["last_activity", "priority"])
def test_paging_while_conversations_move(store, clock, sort):
    """Rows that move while a client pages may be missed, but never repeat; rows that do not
    move are each seen exactly once, in order. (New rows may show up in priority order,
    where a new priority-5 conversation can sort after the cursor.)"""
    existing = []
    for i in range(13):
        r = store.track_inbound(inbound(f"m{i}", f"start {i}"), clock.advance(seconds=1))
        existing.append(r)
        if sort == "priority" and i % 3 == 0:
            store.mark_needs_human(r.message.id, "x", 3, clock())
    all_ids = {r.conversation.id for r in existing}
    oldest_first = [r.conversation for r in existing]
    moved: set[int] = set()
    newcomers: set[int] = set()

    filters = ConversationFilter(sort=sort)
    seen, cursor, pages = [], None, 0
    while True:
        page = store.list_conversations(filters, limit=3, cursor=cursor)
        seen.extend(page.conversations)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = ConversationCursor.decode(page.next_cursor)
        seen_ids = {c.id for c in seen}
        # Between pages: one row already seen and one not yet seen get a new message
        # (jumping to the top of last_activity); in priority order the unseen one is
        # also escalated, jumping ahead of the cursor. And a new person writes in.
        unseen = [c for c in oldest_first if c.id not in seen_ids and c.id not in moved]
        if unseen:
            target = unseen[0]
            r = store.track_inbound(inbound(target.external_user_id, "moved"),
                                    clock.advance(seconds=1))
            if sort == "priority":
                store.mark_needs_human(r.message.id, "x", 1, clock())
            moved.add(target.id)
        already = [c for c in seen if c.id not in moved]
        if already:
            store.track_inbound(inbound(already[0].external_user_id, "moved too"),
                                clock.advance(seconds=1))
            if sort == "priority":
                store.mark_needs_human(
                    store.list_messages(already[0].id, limit=1)[0].id, "x", 1, clock())
            moved.add(already[0].id)
        newcomers.add(store.track_inbound(inbound(f"newcomer{pages}", "hi"),
                                          clock.advance(seconds=1)).conversation.id)

    seen_ids = [c.id for c in seen]
    assert len(seen_ids) == len(set(seen_ids)), "a conversation was listed twice"
    assert set(seen_ids) <= all_ids | newcomers
    if sort == "last_activity":  # newcomers are newer than any cursor, so never listed
        assert not set(seen_ids) & newcomers
    assert all_ids - moved <= set(seen_ids), "an unmoved conversation was skipped"
    assert moved - set(seen_ids), "the test should have moved some rows past the cursor"
    if sort == "last_activity":
        _assert_strictly_descending(seen, lambda c: (c.last_message_at, c.id))
    else:
        _assert_strictly_descending(seen, lambda c: (-c.priority, c.last_message_at, c.id))


def test_cursor_for_another_sort_is_invalid(store, clock):
    for i in range(3):
        store.track_inbound(inbound(f"c{i}"), clock.advance(seconds=1))
    page = store.list_conversations(ConversationFilter(sort="last_activity"), limit=1)
    cursor = ConversationCursor.decode(page.next_cursor)
    with pytest.raises(InvalidInput):
        store.list_conversations(ConversationFilter(sort="priority"), limit=1, cursor=cursor)


def test_last_page_has_no_cursor(store, clock):
    for i in range(4):
        store.track_inbound(inbound(f"l{i}"), clock.advance(seconds=1))
    first = store.list_conversations(ConversationFilter(), limit=2)
    assert first.next_cursor is not None
    second = store.list_conversations(
        ConversationFilter(), limit=2, cursor=ConversationCursor.decode(first.next_cursor))
    assert len(second.conversations) == 2
    exact = store.list_conversations(ConversationFilter(), limit=4)
    assert len(exact.conversations) == 4
    assert exact.next_cursor is None


# -- the "waiting" sort ---------------------------------------------------------------------------

def _waiting_key(c):
    """The "waiting" order as a Python sort key (see base.py)."""
    return (not c.needs_human, c.waiting_since is None, c.waiting_since or _NEVER,
            -c.last_message_at.timestamp(), -c.id)


@pytest.fixture
def waiting_inbox(store, clock):
    """Conversations in every position of the waiting order, with ties on each key: four
    waiting for a human (two since the same instant, one of those with newer activity) and
    four not (two with the same last activity). Returns them fresh from the store."""
    t0 = clock()
    convs = {}
    for name in ("calm_old", "wait_long", "wait_tie_a", "wait_tie_b", "calm_tie_a",
                 "calm_tie_b", "wait_short", "calm_new"):
        at = t0 if name.startswith("calm_tie") else clock.advance(seconds=10)
        convs[name] = store.track_inbound(inbound(name, "hi"), at)
    t_tie = clock.advance(minutes=1)
    store.mark_needs_human(convs["wait_long"].message.id, "x", 4, clock.advance(seconds=-30))
    for name in ("wait_tie_a", "wait_tie_b"):
        store.mark_needs_human(convs[name].message.id, "x", 5, t_tie)
    # Newer activity breaks the tie of the two waiting since t_tie (a: first), but does not
    # move a waiting conversation ahead of one waiting longer.
    store.track_inbound(inbound("wait_tie_a", "still there?"), clock.advance(minutes=1))
    store.track_inbound(inbound("wait_short", "anyone?"), clock.advance(minutes=1))
    store.mark_needs_human(convs["wait_short"].message.id, "x", 1, clock.advance(minutes=1))
    store.track_inbound(inbound("calm_new", "thanks"), clock.advance(minutes=1))
    return {name: store.get_conversation(r.conversation.id) for name, r in convs.items()}


def test_waiting_sort_puts_longest_waiting_first_then_recent(store, waiting_inbox):
    ids = {name: c.id for name, c in waiting_inbox.items()}
    page = store.list_conversations(ConversationFilter(sort="waiting"), limit=100)
    assert _ids(page) == [ids["wait_long"], ids["wait_tie_a"], ids["wait_tie_b"],
                          ids["wait_short"], ids["calm_new"], ids["calm_old"],
                          ids["calm_tie_b"], ids["calm_tie_a"]]
    assert _ids(page) == [c.id for c in sorted(waiting_inbox.values(), key=_waiting_key)]
    assert page.next_cursor is None
    # Filters apply as with the other orders.
    flagged = store.list_conversations(ConversationFilter(sort="waiting", needs_human=True), 100)
    assert _ids(flagged) == _ids(page)[:4]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_waiting_pages_cover_every_row_once_in_order(store, waiting_inbox, limit):
    expected = [c.id for c in sorted(waiting_inbox.values(), key=_waiting_key)]
    rows = _all_pages(store, ConversationFilter(sort="waiting"), limit=limit)
    assert [c.id for c in rows] == expected
    calm = _all_pages(store, ConversationFilter(sort="waiting", needs_human=False), limit=limit)
    assert [c.id for c in calm] == expected[4:]


def test_waiting_pages_with_equal_times_follow_ids(store, clock):
    now = clock()
    made = [store.track_inbound(inbound(f"wtie{i}"), now) for i in range(7)]
    for r in made[::2]:  # four wait, all since the same instant
        store.mark_needs_human(r.message.id, "x", 3, now)
    waiting = [r.conversation.id for r in made[::2]]
    calm = [r.conversation.id for r in made[1::2]]
    rows = _all_pages(store, ConversationFilter(sort="waiting"), limit=2)
    assert [c.id for c in rows] == sorted(waiting, reverse=True) + sorted(calm, reverse=True)


def test_waiting_cursor_keeps_the_sort_keys_and_old_cursors_decode(store, waiting_inbox):
    first = store.list_conversations(ConversationFilter(sort="waiting"), limit=1)
    cursor = ConversationCursor.decode(first.next_cursor)
    wait_long = waiting_inbox["wait_long"]
    assert (cursor.sort, cursor.id, cursor.needs_human, cursor.waiting_since) == (
        "waiting", wait_long.id, True, wait_long.waiting_since)
    with pytest.raises(InvalidInput):  # a waiting cursor belongs to the waiting order only
        store.list_conversations(ConversationFilter(sort="last_activity"), 1, cursor)
    with pytest.raises(ValueError):  # a waiting cursor without its keys is malformed
        ConversationCursor.decode(_token({"sort": "waiting", "priority": 5, "id": 1,
                                          "last_message_at": "2026-11-25T12:00:00Z"}))
    # A cursor issued before the waiting sort existed (no needs_human/waiting_since) still
    # decodes and pages as before.
    old = _token({"sort": "last_activity",
                  "last_message_at": wait_long.last_message_at.isoformat(),
                  "priority": wait_long.priority, "id": wait_long.id})
    page = store.list_conversations(ConversationFilter(), limit=100,
                                    cursor=ConversationCursor.decode(old))
    everything = store.list_conversations(ConversationFilter(), limit=100)
    position = _ids(everything).index(wait_long.id)
    assert _ids(page) == _ids(everything)[position + 1:]


def _token(data: dict) -> str:
    """A cursor string as a client might hold it (base64url of the JSON, unpadded)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _force_wait_columns(store, conversation_id, needs_human, waiting_since):
    """Write needs_human/waiting_since directly, bypassing the store's rules, for states its
    methods never produce (they set and clear the two together), e.g. rows edited by hand."""
    if store.kind == "sqlite":
        with store.db.transaction() as db:
            db.execute("UPDATE conversations SET needs_human = ?, waiting_since = ? WHERE id = ?",
                       (int(needs_human), waiting_since and ts(waiting_since), conversation_id))
    else:
        store._update("conversations", conversation_id, {
            "needs_human": needs_human,
            "waiting_since": waiting_since and waiting_since.isoformat()})


def test_waiting_order_puts_unset_waiting_since_last_in_each_group(store, clock):
    t0 = clock()
    made = [store.track_inbound(inbound(f"odd{i}"), clock.advance(seconds=1)).conversation
            for i in range(8)]
    # needs_human with and without waiting_since, and the same without needs_human.
    states = [(True, t0), (True, None), (True, t0 - timedelta(hours=1)), (True, None),
              (False, t0), (False, None), (False, t0 - timedelta(hours=1)), (False, None)]
    for conv, (needs, since) in zip(made, states):
        _force_wait_columns(store, conv.id, needs, since)
    current = [store.get_conversation(c.id) for c in made]
    expected = [c.id for c in sorted(current, key=_waiting_key)]
    assert expected == [made[i].id for i in (2, 0, 3, 1, 6, 4, 7, 5)]
    for limit in (1, 2, 3):
        rows = _all_pages(store, ConversationFilter(sort="waiting"), limit=limit)
        assert [c.id for c in rows] == expected


def test_paging_in_waiting_order_while_conversations_move(store, clock):
    """Rows may move while a client pages (new messages, new escalations: both only ever move
    a row ahead in this order); they may be missed but never repeat, and rows that do not move
    are each seen exactly once, in order."""
    existing = []
    for i in range(14):
        r = store.track_inbound(inbound(f"wm{i}", f"start {i}"), clock.advance(seconds=1))
        existing.append(r)
        if i % 4 == 0:
            store.mark_needs_human(r.message.id, "x", 3, clock())
    all_ids = {r.conversation.id for r in existing}
    moved: set[int] = set()
    newcomers: set[int] = set()

    seen, cursor, pages = [], None, 0
    while True:
        page = store.list_conversations(ConversationFilter(sort="waiting"), limit=2,
                                        cursor=cursor)
        seen.extend(page.conversations)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = ConversationCursor.decode(page.next_cursor)
        seen_ids = {c.id for c in seen}
        current = [store.get_conversation(r.conversation.id) for r in existing]
        # An unseen calm row gets a message and (every other time) is escalated; a seen row
        # gets a message; and a new person writes in.
        unseen = [c for c in current if c.id not in seen_ids and c.id not in moved
                  and not c.needs_human]
        if unseen:
            target = unseen[-1]
            r = store.track_inbound(inbound(target.external_user_id, "moved"),
                                    clock.advance(seconds=1))
            if pages % 2:
                store.mark_needs_human(r.message.id, "x", 2, clock())
            moved.add(target.id)
        already = [c for c in current if c.id in seen_ids and c.id not in moved]
        if already:
            store.track_inbound(inbound(already[0].external_user_id, "moved too"),
                                clock.advance(seconds=1))
            moved.add(already[0].id)
        newcomers.add(store.track_inbound(inbound(f"wnew{pages}", "hi"),
                                          clock.advance(seconds=1)).conversation.id)

    seen_ids = [c.id for c in seen]
    assert len(seen_ids) == len(set(seen_ids)), "a conversation was listed twice"
    assert set(seen_ids) <= all_ids | newcomers
    assert all_ids - moved <= set(seen_ids), "an unmoved conversation was skipped"
    assert moved - set(seen_ids), "the test should have moved some rows past the cursor"
    keys = [_waiting_key(c) for c in seen]
    assert all(a < b for a, b in zip(keys, keys[1:])), keys


# -- message history ----------------------------------------------------------------------------

@pytest.fixture
def history(store, clock):
    """A conversation with 6 messages in both directions, plus a neighbour's message."""
    conv = store.track_inbound(inbound("h", "m0"), clock()).conversation
    ids = [store.list_messages(conv.id, limit=1)[0].id]
    for i in range(1, 6):
        at = clock.advance(seconds=1)
        if i % 2:
            ids.append(store.track_outbound(outbound(conv.id, f"m{i}"), at).id)
        else:
            ids.append(store.track_inbound(inbound("h", f"m{i}"), at).message.id)
        store.track_inbound(inbound("other", f"noise {i}"), at)
    return conv.id, ids


def test_history_is_in_id_order_newest_page_by_default(store, history):
    conv_id, ids = history
    assert ids == sorted(ids)
    everything = store.list_messages(conv_id, limit=50)
    assert [m.id for m in everything] == ids
    assert [m.content for m in everything] == [f"m{i}" for i in range(6)]
    assert [m.id for m in store.list_messages(conv_id, limit=3)] == ids[3:]


def test_history_before_and_after_are_exclusive(store, history):
    conv_id, ids = history
    assert [m.id for m in store.list_messages(conv_id, limit=2, before=ids[3])] == ids[1:3]
    assert [m.id for m in store.list_messages(conv_id, limit=10, before=ids[3])] == ids[:3]
    assert [m.id for m in store.list_messages(conv_id, limit=2, after=ids[1])] == ids[2:4]
    assert [m.id for m in store.list_messages(conv_id, limit=10, after=ids[1])] == ids[2:]
    assert store.list_messages(conv_id, limit=10, after=ids[-1]) == []
    assert store.list_messages(conv_id, limit=10, before=ids[0]) == []
    between = store.list_messages(conv_id, limit=10, after=ids[0], before=ids[4])
    assert [m.id for m in between] == ids[1:4]
    newest_between = store.list_messages(conv_id, limit=2, after=ids[0], before=ids[4])
    assert [m.id for m in newest_between] == ids[2:4]


# -- the messages of many conversations (an export's read) ----------------------------------

@pytest.fixture
def spread(store, clock):
    """Three conversations whose messages interleave in time (and so in id): ``a`` has 4, ``b``
    3, ``c`` 5; ``quiet`` has one, a minute before all the others. Returns the conversations'
    ids by name, every message by conversation id (id order) and the first message's time."""
    quiet = store.track_inbound(inbound("quiet", "early"), clock.advance(minutes=-1))
    first = clock.advance(minutes=1)
    convs, messages = {}, {}
    plan = ["a", "b", "c", "c", "a", "b", "c", "a", "c", "b", "a", "c"]
    for i, name in enumerate(plan):
        at = first + timedelta(seconds=i)
        if name in convs and i % 3 == 0:
            message = store.track_outbound(outbound(convs[name], f"{name}{i}"), at)
        else:
            message = store.track_inbound(inbound(name, f"{name}{i}"), at).message
        convs[name] = message.conversation_id
        messages.setdefault(message.conversation_id, []).append(message)
    convs["quiet"] = quiet.conversation.id
    messages[quiet.conversation.id] = [quiet.message]
    return convs, messages, first


def _in_order(store, ids, start, end, limit):
    """Every message of ``ids`` in [start, end) by following ``after`` from page to page."""
    seen, after = [], None
    for _ in range(1000):  # an ``after`` that does not move on must fail, not hang
        page = store.list_messages_in(ids, start, end, limit, after=after)
        assert len(page) <= limit
        seen.extend(page)
        if len(page) < limit:
            return seen
        after = (page[-1].conversation_id, page[-1].id)
    raise AssertionError("paging did not end")


def test_messages_in_come_conversation_by_conversation_in_the_order_given(store, spread):
    convs, messages, first = spread
    ids = [convs["c"], convs["a"], convs["b"]]
    got = store.list_messages_in(ids, first, first + timedelta(hours=1), 100)
    assert [m.id for m in got] == [m.id for cid in ids for m in messages[cid]]
    assert [m.content for m in got[:5]] == ["c2", "c3", "c6", "c8", "c11"]
    assert {m.sender_type for m in got} == {"user", "bot"}
    assert got[0].model_dump() == messages[convs["c"]][0].model_dump()  # whole rows
    # Only the conversations asked for: "quiet" and the others are left out.
    assert [m.id for m in store.list_messages_in([convs["b"]], first,
                                                 first + timedelta(hours=1), 100)] == [
        m.id for m in messages[convs["b"]]]
    assert store.list_messages_in([], first, first + timedelta(hours=1), 100) == []


def test_messages_in_keep_to_the_range_start_included_end_excluded(store, spread):
    convs, messages, first = spread
    ids = [convs["quiet"], convs["a"], convs["b"], convs["c"]]
    # Seconds 3 to 7 of the plan: c3, a4, b5, c6, a7; second 8 (c8) is excluded.
    got = store.list_messages_in(ids, first + timedelta(seconds=3), first + timedelta(seconds=8),
                                 100)
    assert [m.content for m in got] == ["a4", "a7", "b5", "c3", "c6"]
    just_after = first + timedelta(seconds=3, microseconds=1)
    got = store.list_messages_in(ids, just_after, first + timedelta(seconds=7, microseconds=1),
                                 100)
    assert [m.content for m in got] == ["a4", "a7", "b5", "c6"]
    assert store.list_messages_in(ids, first - timedelta(hours=1),
                                  first - timedelta(seconds=30), 100)[0].content == "early"
    assert store.list_messages_in(ids, first + timedelta(hours=1),
                                  first + timedelta(hours=2), 100) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 12, 13])
def test_messages_in_pages_list_each_message_once_in_order(store, spread, limit):
    convs, messages, first = spread
    ids = [convs["b"], convs["quiet"], convs["c"], convs["a"]]
    everything = store.list_messages_in(ids, first - timedelta(hours=1),
                                        first + timedelta(hours=1), 100)
    assert len(everything) == 13
    paged = _in_order(store, ids, first - timedelta(hours=1), first + timedelta(hours=1), limit)
    assert [m.id for m in paged] == [m.id for m in everything]
    # A page may end on a conversation's last message: the next one starts the next conversation.
    after_b = (convs["b"], messages[convs["b"]][-1].id)
    assert store.list_messages_in(ids, first - timedelta(hours=1), first + timedelta(hours=1),
                                  1, after=after_b)[0].content == "early"


def test_messages_in_refuse_what_they_cannot_answer(store, spread):
    convs, messages, first = spread
    start, end = first, first + timedelta(hours=1)
    with pytest.raises(InvalidInput, match="limit"):
        store.list_messages_in([convs["a"]], start, end, 0)
    with pytest.raises(InvalidInput, match="distinct"):
        store.list_messages_in([convs["a"], convs["b"], convs["a"]], start, end, 10)
    with pytest.raises(InvalidInput, match="not in the list"):
        store.list_messages_in([convs["a"]], start, end, 10,
                               after=(convs["b"], messages[convs["b"]][0].id))
    with pytest.raises(InvalidInput, match="1000"):
        store.list_messages_in(list(range(1, 1002)), start, end, 10)
    # 1,000 ids (most of them no conversation at all) are one read.
    many = [convs["a"], *range(10_000_000, 10_000_999)]
    assert len(store.list_messages_in(many, start, end, 10)) == 4
