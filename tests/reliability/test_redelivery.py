"""Redelivery: Facebook delivers webhooks at least once and in no particular order. The same
batches -- messages, postbacks, echoes of our replies and of the Page inbox, delivery and
read receipts, reactions and their removal -- are delivered 10 times each, shuffled and
concurrently. Each message is stored once, each bot reply is sent once, and the end state
is the one a control app reaches from a single in-order delivery of the same batches.

The app under test runs on each store; the control app on SQLite, with its own stand-in.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import pytest

from tests.support.graph_stub import start_graph_stub
from tests.support.messenger_live import APP_ID, PAGE_ID, MessengerApp, start_app

pytestmark = pytest.mark.timeout(240)

PEOPLE = [f"psid-r-{i}" for i in range(12)]
QUESTIONS = ("what are your opening hours?", "how do I return an item")
ROUNDS = 10
INBOX_APP_ID = 263902037430900  # the Page inbox: a person typed it, not our app
BASE_MS = int(time.time() * 1000) - 60_000  # event times shared by both apps


@pytest.fixture
def graphs():
    """Two stand-ins: one for the app under test, one for the control app."""
    started = [start_graph_stub(), start_graph_stub()]
    yield [stub for stub, _, _ in started]
    for stub, server, _ in started:
        stub.stop_echoes()
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def apps(request, tmp_path, graphs):
    tested = start_app(request, tmp_path / "tested", graphs[0], request.param)
    control = start_app(request, tmp_path / "control", graphs[1], "sqlite")
    yield tested, control
    tested.server.stop()
    control.server.stop()


def _event(psid: str, at_ms: int, **fields) -> dict:
    return {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": at_ms, **fields}


def _page_event(psid: str, at_ms: int, message: dict) -> dict:
    return {"sender": {"id": PAGE_ID}, "recipient": {"id": psid}, "timestamp": at_ms,
            "message": {"is_echo": True, **message}}


def _batches(events: list[dict], size: int = 3) -> list[bytes]:
    """Page webhooks of up to ``size`` events each, in time order (as Facebook batches)."""
    events = sorted(events, key=lambda e: e["timestamp"])
    return [json.dumps({"object": "page", "entry": [{
        "id": PAGE_ID, "time": BASE_MS, "messaging": events[i:i + size]}]}).encode()
        for i in range(0, len(events), size)]


def people_write() -> list[bytes]:
    """Phase A: what people send (two questions each, a postback from every other one)."""
    events = []
    for i, psid in enumerate(PEOPLE):
        t = BASE_MS + i * 1000
        for n, text in enumerate(QUESTIONS, start=1):
            events.append(_event(psid, t + n, message={"mid": f"mid.r.{i}.{n}", "text": text}))
        if i % 2 == 0:
            events.append(_event(psid, t + 5, postback={
                "mid": f"mid.r.{i}.pb", "title": "Hello", "payload": "GET_STARTED"}))
    return _batches(events)


def people_react(app: MessengerApp) -> list[bytes]:
    """Phase B, once the replies are out: echoes of our replies (again) and of the Page
    inbox, receipts, reactions (react then change it, react then take it back)."""
    replies = {}  # user mid -> the Facebook mid of our reply to it
    for conversation in app.conversations():
        messages = {m["id"]: m for m in conversation["messages"]}
        for m in messages.values():
            if m["sender_type"] == "bot":
                replies[messages[m["metadata"]["in_reply_to"]]["external_id"]] = m["external_id"]
    now_ms = int(time.time() * 1000)
    events = []
    for i, psid in enumerate(PEOPLE):
        t = BASE_MS + 100_000 + i * 1000
        for d in app.graph.delivered.get(psid, []):  # Facebook's echoes of our sends, again
            events.append(_page_event(psid, t, {"app_id": int(APP_ID), "mid": d.mid,
                                                "metadata": d.metadata, "text": d.text}))
        if i % 5 == 0:
            events.append(_page_event(psid, t + 1, {
                "app_id": INBOX_APP_ID, "mid": f"mid.r.{i}.inbox",
                "text": "Sam from the shop here."}))
        if i % 3 in (0, 1):
            events.append(_event(psid, t + 2, delivery={"watermark": now_ms}))
        if i % 3 == 0:
            events.append(_event(psid, t + 3, read={"watermark": now_ms}))
        first, answer = f"mid.r.{i}.1", replies[f"mid.r.{i}.1"]
        if i % 4 == 0:
            events.append(_event(psid, t + 10, reaction={"mid": first, "action": "react",
                                                         "reaction": "like", "emoji": "👍"}))
            events.append(_event(psid, t + 20, reaction={"mid": first, "action": "react",
                                                         "reaction": "love", "emoji": "❤️"}))
        elif i % 4 == 1:
            events.append(_event(psid, t + 10, reaction={"mid": answer, "action": "react",
                                                         "reaction": "wow", "emoji": "😮"}))
            events.append(_event(psid, t + 20, reaction={"mid": answer, "action": "unreact",
                                                         "reaction": "wow"}))
        elif i % 4 == 2:
            events.append(_event(psid, t + 10, reaction={"mid": answer, "action": "react",
                                                         "reaction": "angry", "emoji": "😠"}))
    return _batches(events)


def end_state(app: MessengerApp) -> dict:
    """What agents see, without the ids and times that differ between two apps: per person,
    the message count and each message's identity, text, delivery state and reaction."""
    state = {}
    for conversation in app.conversations():
        messages = {m["id"]: m for m in conversation["messages"]}
        rows = []
        for m in messages.values():
            if m["sender_type"] in ("user", "agent"):
                ident = m["external_id"]
            else:
                ident = "reply to " + messages[m["metadata"]["in_reply_to"]]["external_id"]
            reaction = m["metadata"].get("reaction")
            rows.append((m["sender_type"], ident, m["content"], m["delivery_status"],
                         json.dumps(reaction, sort_keys=True),
                         m["metadata"].get("reaction_removed_at")))
        c = conversation["conversation"]
        state[c["external_user_id"]] = (c["message_count"], sorted(rows))
    return state


def deliver_shuffled(app: MessengerApp, batches: list[bytes], seed: int) -> int:
    """Every batch ``ROUNDS`` times, shuffled, from 8 threads; returns how many were sent."""
    copies = batches * ROUNDS
    random.Random(seed).shuffle(copies)
    load = app.post(copies, concurrency=8)
    assert Counter(r.status for r in load.results) == {200: len(copies)}
    return len(copies)


def test_ten_shuffled_concurrent_redeliveries_end_like_one_in_order(apps, ledger):
    tested, control = apps
    writes = people_write()

    # Control: each batch once, in order, one at a time.
    assert all(r.status == 200 for r in control.post(writes, concurrency=1).results)
    control.wait_settled(timeout=90)
    control_reacts = people_react(control)
    assert all(r.status == 200 for r in control.post(control_reacts, concurrency=1).results)
    control.wait_settled(timeout=90)

    # Under test: phase A ten times over, shuffled; then A and B together, ten times over.
    sent = deliver_shuffled(tested, writes, seed=8)
    tested.wait_settled(timeout=120)
    reacts = people_react(tested)
    sent += deliver_shuffled(tested, writes + reacts, seed=88)
    tested.wait_settled(timeout=120)
    redundant = sent - len(writes) - len(reacts)
    ledger.payloads(sent)
    ledger.fault(redundant)

    # Each message stored once; each bot reply stored once and sent once.
    questions = {f"mid.r.{i}.{n}" for i in range(len(PEOPLE)) for n in (1, 2)}
    postbacks = {f"mid.r.{i}.pb" for i in range(0, len(PEOPLE), 2)}
    tracked = tested.tracked("mid.r.%")
    assert set(tracked) == questions | postbacks
    stored_twice = sum(n - 1 for n in tracked.values())
    replies = tested.replies("mid.r.%")
    assert all(len(r) == 1 and r[0][1] in ("sent", "delivered", "read")
               for r in replies.values()), replies
    sent_twice = tested.graph.duplicates()
    per_person = Counter(d.recipient for ds in tested.graph.delivered.values() for d in ds)
    assert per_person == Counter({p: 3 if i % 2 == 0 else 2 for i, p in enumerate(PEOPLE)})
    ledger.duplicates(stored_twice + sent_twice)
    assert stored_twice == 0 and sent_twice == 0

    # The end state is the in-order one: receipts, reactions, inbox echoes and all.
    got, expected = end_state(tested), end_state(control)
    assert got.keys() == expected.keys()
    for psid in expected:
        assert got[psid] == expected[psid], psid
    # ...and that state is the right one, not merely the same one.
    rows = {row[1]: row for row in expected["psid-r-0"][1]}
    assert json.loads(rows["mid.r.0.1"][4])["reaction"] == "love"
    assert rows["reply to mid.r.0.1"][3] == "read" and "mid.r.0.inbox" in rows
    rows = {row[1]: row for row in expected["psid-r-1"][1]}
    assert rows["reply to mid.r.1.1"][3] == "delivered"
    assert rows["reply to mid.r.1.1"][4] == "null" and rows["reply to mid.r.1.1"][5]
    rows = {row[1]: row for row in expected["psid-r-2"][1]}
    assert rows["reply to mid.r.2.1"][3] == "sent"
    assert json.loads(rows["reply to mid.r.2.1"][4])["reaction"] == "angry"
    ledger.survived(redundant)
    print(f"\n{sent} webhook deliveries ({redundant} redundant, shuffled, 8 at a time) of "
          f"{len(writes) + len(reacts)} batches; stored twice {stored_twice}, sent twice "
          f"{sent_twice}")
