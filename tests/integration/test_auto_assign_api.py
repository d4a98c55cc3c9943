"""Auto-assignment through the services and the admin API, on each store: accounts say
whether they take new conversations, a conversation handed to humans goes at once to the
least loaded available account (after the handover's own trail line), what waited while
nobody was available goes as soon as someone is, and the sweep hands out what waited past
everyone's limit."""

from __future__ import annotations

import pytest

from admin_app import create_app
from admin_app.security import hash_api_token, hash_password, new_api_token
from services.models import InboundMessage
from services.runtime import build_services


@pytest.fixture
def team(settings, store, clock):
    """An app with AUTO_ASSIGN on (at most 2 open conversations each, online or not: these
    accounts work through the API; test_online_live.py opens pages) and three accounts."""
    on = settings.model_copy(update={"auto_assign": True, "auto_assign_max_open": 2,
                                     "auto_assign_online_only": False})
    services = build_services(on, store=store, clock=clock)
    app = create_app(on, services)
    app.config["TESTING"] = True
    headers = {}
    for email, role in (("ann@example.com", "agent"), ("bob@example.com", "agent"),
                        ("boss@example.com", "admin")):
        user = store.create_user(email, role, hash_password("correct horse battery"), clock())
        token = new_api_token()
        store.create_api_token(user.id, "test", hash_api_token(token), clock())
        headers[email.split("@")[0]] = ({"Authorization": f"Bearer {token}"}, user.id)
    events = []
    services.events.subscribe(events.append)
    return services, app.test_client(), headers, events


def _asks_for_a_person(services, user: str):
    """A person asks for a human: the bot's turn hands the conversation over."""
    tracked = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content="I want to talk to a human please",
        external_id=f"{user}:ask", respond=True))
    services.jobs.run_until_idle()
    return services.store.get_conversation(tracked.conversation.id)


def _available(client, headers, user_id: int, available: bool = True):
    return client.put(f"/admin/users/{user_id}/availability", json={"available": available},
                      headers=headers)


def test_accounts_set_their_availability_and_admins_anyone(team):
    services, client, accounts, events = team
    (ann, ann_id), (bob, bob_id), (boss, _) = (accounts[k] for k in ("ann", "bob", "boss"))
    answer = _available(client, ann, ann_id)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["user"]["available"] is True
    assert _available(client, ann, bob_id).status_code == 403  # an agent, for another
    assert services.store.get_user(bob_id).available is False
    assert _available(client, boss, bob_id).get_json()["user"]["available"] is True
    assert _available(client, boss, 987654321).status_code == 404
    bad = client.put(f"/admin/users/{ann_id}/availability", json={"available": "yes"},
                     headers=ann)
    assert bad.status_code == 400 and services.store.get_user(ann_id).available is True
    assert client.put(f"/admin/users/{ann_id}/availability",
                      json={"available": False}).status_code == 401
    listed = client.get("/admin/users", headers=ann).get_json()["users"]
    assert {u["email"]: u["available"] for u in listed} == {
        "ann@example.com": True, "bob@example.com": True, "boss@example.com": False}
    assert [(e.data["user_id"], e.data["available"]) for e in events
            if e.name == "account.available"] == [(ann_id, True), (bob_id, True)]


def test_a_handover_goes_to_the_least_loaded_available_account(team):
    services, client, accounts, events = team
    (ann, ann_id), (bob, bob_id) = accounts["ann"], accounts["bob"]
    _available(client, ann, ann_id)
    _available(client, bob, bob_id)

    first = _asks_for_a_person(services, "u1")
    second = _asks_for_a_person(services, "u2")
    assert (first.handled_by, first.assigned_to) == ("human", ann_id)
    assert second.assigned_to == bob_id
    trail = client.get(f"/admin/conversations/{first.id}/activity", headers=ann).get_json()
    assert [(a["kind"], a["actor"], a["detail"].get("to"), a["detail"].get("auto"))
            for a in trail["activity"]] == [
        ("escalated", None, None, None), ("assigned", None, "ann@example.com", True)]
    # The assignment reached the pages with its line.
    published = [e for e in events if e.name == "conversation.updated"
                 and e.data["conversation"]["id"] == first.id
                 and any(a["kind"] == "assigned" for a in e.data.get("activity", []))]
    assert len(published) == 1
    assert published[0].data["conversation"]["assigned_to"] == ann_id
    assert published[0].data["activity"][0]["detail"] == {
        "to_id": ann_id, "to": "ann@example.com", "auto": True}

    # An agent's flag on another conversation is handed out too.
    quiet = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u3", content="hello", external_id="u3:1"))
    answer = client.post(f"/admin/messages/{quiet.message.id}/mark-human",
                         json={"reason": "angry"}, headers=ann)
    assert answer.status_code == 200, answer.get_json()
    assert services.store.get_conversation(quiet.conversation.id).assigned_to == ann_id


def test_conversations_wait_for_someone_available_then_go_at_once(team):
    services, client, accounts, _ = team
    ann, ann_id = accounts["ann"]
    waiting = [_asks_for_a_person(services, f"u{i}") for i in range(3)]
    assert [c.assigned_to for c in waiting] == [None, None, None]  # nobody available

    _available(client, ann, ann_id)  # Ann comes in: the two longest waiting are hers
    assigned = [services.store.get_conversation(c.id).assigned_to for c in waiting]
    assert assigned == [ann_id, ann_id, None]  # at most 2 open each
    assert services.sweeper.sweep()["assigned"] == 0  # still full

    # Ann closes one: the sweep hands her the one that waited.
    assert client.post(f"/admin/conversations/{waiting[0].id}/close",
                       headers=ann).status_code == 200
    assert services.sweeper.sweep()["assigned"] == 1
    assert services.store.get_conversation(waiting[2].id).assigned_to == ann_id


def test_without_auto_assign_nobody_is_assigned(services, store, clock):
    ann = store.create_user("ann@example.com", "agent", "hash", clock())
    services.tracker.set_available(ann.id, True)
    conversation = _asks_for_a_person(services, "u1")
    assert (conversation.handled_by, conversation.assigned_to) == ("human", None)
    assert services.sweeper.sweep()["assigned"] == 0
    assert services.store.get_conversation(conversation.id).assigned_to is None


def test_an_admin_gives_an_accounts_conversations_back_to_the_team(team):
    services, client, accounts, events = team
    (ann, ann_id), (bob, bob_id), (boss, _) = (accounts[k] for k in ("ann", "bob", "boss"))
    _available(client, ann, ann_id)
    _available(client, bob, bob_id)
    first = _asks_for_a_person(services, "u1")  # Ann's
    second = _asks_for_a_person(services, "u2")  # Bob's
    third = _asks_for_a_person(services, "u3")  # Ann's (she has the longest without one)
    assert [c.assigned_to for c in (first, second, third)] == [ann_id, bob_id, ann_id]
    quiet = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u4", content="hello", external_id="u4:1"))
    taken = client.post(f"/admin/conversations/{quiet.conversation.id}/take-over", headers=ann)
    assert taken.status_code == 200, taken.get_json()  # Ann answers it: nobody waits there
    closed = _asks_for_a_person(services, "u5")
    client.post(f"/admin/conversations/{closed.id}/assign", json={"user_id": ann_id},
                headers=boss)
    client.post(f"/admin/conversations/{closed.id}/close", headers=boss)  # closed: stays

    # Only admins, and only a real account.
    assert client.post(f"/admin/users/{ann_id}/release", headers=ann).status_code == 403
    assert client.post(f"/admin/users/{bob_id}/release", headers=ann).status_code == 403
    assert client.post("/admin/users/987654321/release", headers=boss).status_code == 404
    assert services.store.get_conversation(first.id).assigned_to == ann_id

    events.clear()
    answer = client.post(f"/admin/users/{ann_id}/release", headers=boss)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["released"] == sorted([first.id, third.id, quiet.conversation.id])
    assert (body["count"], body["handed_out"]) == (3, 1)
    # Ann is Away now; Bob (at most 2 open) takes the longest waiting; the other waits; the
    # one Ann was answering is nobody's and waits for nobody; the closed one stays hers.
    assert services.store.get_user(ann_id).available is False
    assert ("account.available", {"user_id": ann_id, "available": False}) in [
        (e.name, e.data) for e in events]
    now = {c: services.store.get_conversation(c).assigned_to
           for c in (first.id, second.id, third.id, quiet.conversation.id, closed.id)}
    assert now == {first.id: bob_id, second.id: bob_id, third.id: None,
                   quiet.conversation.id: None, closed.id: ann_id}
    trail = client.get(f"/admin/conversations/{first.id}/activity", headers=boss).get_json()
    assert [(a["kind"], a["actor"], a["detail"].get("to"), a["detail"].get("auto"))
            for a in trail["activity"]][-2:] == [
        ("unassigned", "boss@example.com", None, None),
        ("assigned", None, "bob@example.com", True)]
    # Every page heard each change.
    updated = {e.data["conversation"]["id"] for e in events if e.name == "conversation.updated"}
    assert {first.id, third.id, quiet.conversation.id} <= updated

    again = client.post(f"/admin/users/{ann_id}/release", headers=boss).get_json()
    assert (again["released"], again["count"], again["handed_out"]) == ([], 0, 0)


def test_without_auto_assign_giving_back_only_unassigns(services, store, clock):
    ann = store.create_user("ann@example.com", "agent", "hash", clock())
    boss = store.create_user("boss@example.com", "admin", "hash", clock())
    services.tracker.set_available(ann.id, True)
    waiting = _asks_for_a_person(services, "u1")
    services.tracker.assign(waiting.id, ann.id, boss)
    released, handed = services.tracker.release(ann.id, boss)
    assert ([c.id for c in released], handed) == ([waiting.id], 0)
    assert released[0].assigned_to is None and released[0].needs_human is True
    assert store.get_user(ann.id).available is True  # nothing is handed out: left as it was
