"""A conversation's activity trail through the admin API, over both stores: every action of
the panel that changes who answers, who has it or its state writes one line, with who did
it; an action that changes nothing writes none; each line is published with its change."""

from __future__ import annotations

import json

import pytest

from services.models import InboundMessage


def track(services, user="visitor-1", content="hello"):
    return services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content=content,
        external_id=f"{user}-{content}", respond=False,
    ))


def trail(client, headers, conversation_id, **query):
    response = client.get(f"/admin/conversations/{conversation_id}/activity",
                          query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == len(body["activity"])
    return body["activity"]


def summary(lines):
    return [(a["kind"], a["actor"], a["detail"]) for a in lines]


def test_every_action_of_an_agents_session_is_a_line_with_who_did_it(client, services,
                                                                     make_token):
    ann = make_token("ann@example.com")
    bob = make_token("bob@example.com")
    ann_id = services.store.get_user_by_email("ann@example.com").id
    bob_id = services.store.get_user_by_email("bob@example.com").id
    conversation = track(services).conversation
    cid = conversation.id
    base = f"/admin/conversations/{cid}"

    # The bot hands it over (what an escalation does), nobody assigned.
    services.tracker.set_handling(cid, "human", reason="asked for a person")
    # Ann answers first: it becomes hers.
    assert client.post(base + "/messages", json={"content": "Ann here"},
                       headers=ann).status_code == 201
    # She gives it to Bob, who gives it back to nobody, then takes it.
    assert client.post(base + "/assign", json={"user_id": bob_id}, headers=ann).status_code == 200
    assert client.post(base + "/assign", json={"user_id": None}, headers=bob).status_code == 200
    assert client.post(base + "/take-over", headers=bob).status_code == 200
    # Bob hands it back to the bot; Ann takes it over; Ann closes it and reopens it.
    assert client.post(base + "/hand-back", headers=bob).status_code == 200
    assert client.post(base + "/take-over", headers=ann).status_code == 200
    assert client.post(base + "/close", headers=ann).status_code == 200
    assert client.post(base + "/reopen", headers=ann).status_code == 200

    lines = trail(client, ann, cid)
    assert summary(lines) == [
        ("escalated", None, {"reason": "asked for a person"}),
        ("assigned", "ann@example.com", {"to_id": ann_id, "to": "ann@example.com"}),
        ("assigned", "ann@example.com", {"to_id": bob_id, "to": "bob@example.com"}),
        ("unassigned", "bob@example.com", {"from_id": bob_id}),
        ("assigned", "bob@example.com", {"to_id": bob_id, "to": "bob@example.com"}),
        ("handed_back", "bob@example.com", {}),
        ("taken_over", "ann@example.com", {}),
        ("closed", "ann@example.com", {}),
        ("reopened", "ann@example.com", {}),
    ]
    assert [a["actor_id"] for a in lines] == [None, ann_id, ann_id, bob_id, bob_id, bob_id,
                                              ann_id, ann_id, ann_id]
    assert all(a["conversation_id"] == cid for a in lines)
    assert [a["id"] for a in lines] == sorted(a["id"] for a in lines)

    # Paging back: the newest first, then the ones before.
    newest = trail(client, ann, cid, limit=3)
    assert [a["kind"] for a in newest] == ["taken_over", "closed", "reopened"]
    older = trail(client, ann, cid, limit=3, before=newest[0]["id"])
    assert [a["kind"] for a in older] == ["unassigned", "assigned", "handed_back"]


def test_an_action_that_changes_nothing_writes_no_line(client, services, make_token):
    ann = make_token("ann@example.com")
    ann_id = services.store.get_user_by_email("ann@example.com").id
    cid = track(services).conversation.id
    base = f"/admin/conversations/{cid}"

    assert client.post(base + "/hand-back", headers=ann).get_json()["changed"] is False
    client.post(base + "/take-over", headers=ann)
    assert client.post(base + "/take-over", headers=ann).get_json()["changed"] is False
    client.post(base + "/assign", json={"user_id": ann_id}, headers=ann)  # already hers
    client.post(base + "/messages", json={"content": "hi"}, headers=ann)  # already hers
    client.post(base + "/close", headers=ann)
    client.post(base + "/close", headers=ann)
    client.post(base + "/reopen", headers=ann)
    client.post(base + "/reopen", headers=ann)
    assert [a["kind"] for a in trail(client, ann, cid)] == ["taken_over", "closed", "reopened"]


def test_a_flag_set_by_an_agent_is_a_line(client, services, make_token):
    ann = make_token("ann@example.com")
    result = track(services, content="my parcel is broken")
    response = client.post(f"/admin/messages/{result.message.id}/mark-human",
                           json={"reason": "wants a refund", "priority": 2}, headers=ann)
    assert response.status_code == 200
    assert summary(trail(client, ann, result.conversation.id)) == [
        ("escalated", "ann@example.com",
         {"reason": "wants a refund", "message_id": result.message.id, "priority": 2})]


def test_each_line_is_published_with_its_change(client, services, make_token, captured_events):
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    captured_events.clear()
    client.post(f"/admin/conversations/{cid}/take-over", headers=ann)
    (event,) = [e for e in captured_events if e.name == "conversation.updated"]
    assert event.data["conversation"]["handled_by"] == "human"
    (line,) = event.data["activity"]
    assert (line["kind"], line["actor"]) == ("taken_over", "ann@example.com")
    assert line == trail(client, ann, cid)[0]

    captured_events.clear()
    client.post(f"/admin/conversations/{cid}/take-over", headers=ann)  # nothing changes
    assert all("activity" not in e.data for e in captured_events)


def test_a_visitor_who_signs_in_is_a_line_of_each_conversation_that_moved(
        client, services, make_token, captured_events):
    ann = make_token("ann@example.com")
    first = track(services, "anon-1", "an old question").conversation
    services.tracker.close(first.id)
    second = track(services, "anon-1", "a new one").conversation
    track(services, "someone-else")
    captured_events.clear()

    moved = services.tracker.move_person("webchat", "anon-1", "customer-7", "Ada",
                                         {"verified": True})
    assert sorted(c.id for c in moved) == sorted([first.id, second.id])
    for cid in (first.id, second.id):
        (line,) = [a for a in trail(client, ann, cid) if a["kind"] == "signed_in"]
        assert (line["actor"], line["detail"]) == (None, {"name": "Ada"})
        (event,) = [e for e in captured_events if e.name == "conversation.updated"
                    and e.data["conversation"]["id"] == cid]
        assert event.data["activity"] == [line]

    captured_events.clear()  # nothing left to move: no line, no store write of one
    assert services.tracker.move_person("webchat", "anon-1", "customer-7", None, {}) == []
    assert captured_events == []
    unnamed = track(services, "anon-2").conversation
    services.tracker.move_person("webchat", "anon-2", "customer-8", None, {})
    assert summary(trail(client, ann, unnamed.id))[-1] == ("signed_in", None, {})


def test_the_trail_of_an_unknown_conversation_is_404_and_needs_a_sign_in(client, services,
                                                                        make_token):
    ann = make_token("ann@example.com")
    assert client.get("/admin/conversations/987654/activity", headers=ann).status_code == 404
    cid = track(services).conversation.id
    assert client.get(f"/admin/conversations/{cid}/activity").status_code == 401
    assert trail(client, ann, cid) == []


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": "x"}, {"before": 0},
                                   {"before": 2**63}])
def test_a_bad_query_is_400(client, services, make_token, query):
    cid = track(services).conversation.id
    response = client.get(f"/admin/conversations/{cid}/activity", query_string=query,
                          headers=make_token())
    assert response.status_code == 400
    assert response.get_json()["success"] is False


def test_a_trail_that_cannot_be_written_leaves_the_change_standing(client, services,
                                                                   make_token, monkeypatch,
                                                                   caplog):
    """The trail is written after the change: a store that fails on that second write
    leaves the conversation taken over (the agent's action happened) and logs the line."""
    from services.errors import StoreUnavailable

    ann = make_token("ann@example.com")
    cid = track(services).conversation.id

    def down(lines, now):
        raise StoreUnavailable("test: the store went away")

    monkeypatch.setattr(services.store, "add_activity", down)
    response = client.post(f"/admin/conversations/{cid}/take-over", headers=ann)
    assert response.status_code == 200 and response.get_json()["changed"] is True
    assert services.tracker.get(cid).handled_by == "human"
    assert "activity trail not written" in caplog.text and "taken_over" in caplog.text
    monkeypatch.undo()
    assert trail(client, ann, cid) == []


# -- notes for the team ---------------------------------------------------------------------

def test_a_note_is_a_line_of_the_trail_published_and_never_sent(client, services, make_token,
                                                                captured_events):
    ann = make_token("ann@example.com")
    ann_id = services.store.get_user_by_email("ann@example.com").id
    tracked = track(services)
    conversation = tracked.conversation
    captured_events.clear()
    text = "Refund already approved <b>by</b> Dora 😀 — waiting on the carrier"
    response = client.post(f"/admin/conversations/{conversation.id}/notes",
                           json={"text": f"  {text}\n"}, headers=ann)
    assert response.status_code == 201
    note = response.get_json()["activity"]
    assert (note["kind"], note["actor_id"], note["actor"], note["detail"]) == (
        "note", ann_id, "ann@example.com", {"text": text})
    assert trail(client, ann, conversation.id) == [note]
    (event,) = captured_events
    assert (event.name, event.data["activity"]) == ("conversation.updated", [note])

    # The person never sees it: no message, no job to send one, the conversation unchanged.
    assert [m.id for m in services.tracker.history(conversation.id, 10)] == [tracked.message.id]
    assert services.store.count_jobs() == 0
    after = services.tracker.get(conversation.id)
    assert (after.message_count, after.updated_at) == (1, conversation.updated_at)


def test_a_closed_conversation_takes_notes(client, services, make_token):
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    client.post(f"/admin/conversations/{cid}/close", headers=ann)
    response = client.post(f"/admin/conversations/{cid}/notes", json={"text": "spam"},
                           headers=ann)
    assert response.status_code == 201
    assert [a["kind"] for a in trail(client, ann, cid)] == ["closed", "note"]


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": " \n\t "}, {"text": "x" * 2001},
                                  {"text": 5}, []])
def test_a_bad_note_is_400_and_stores_nothing(client, services, make_token, body):
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    response = client.post(f"/admin/conversations/{cid}/notes", json=body, headers=ann)
    assert response.status_code == 400
    assert response.get_json()["success"] is False
    assert trail(client, ann, cid) == []


def test_a_note_needs_a_sign_in_and_a_known_conversation(client, services, make_token):
    cid = track(services).conversation.id
    assert client.post(f"/admin/conversations/{cid}/notes",
                       json={"text": "hi"}).status_code == 401
    assert client.post("/admin/conversations/987654/notes", json={"text": "hi"},
                       headers=make_token()).status_code == 404


def test_a_note_of_2000_characters_is_kept_whole(client, services, make_token):
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    text = ("é" * 1999) + "."
    assert client.post(f"/admin/conversations/{cid}/notes", json={"text": text},
                       headers=ann).status_code == 201
    assert trail(client, ann, cid)[0]["detail"]["text"] == text


def test_a_note_that_cannot_be_stored_is_an_error_not_lost_silently(client, services,
                                                                   make_token, monkeypatch):
    """A change's line may be logged instead of stored (the change stands); a note is the
    action itself: the agent is told it was not saved (503) and can send it again."""
    from services.errors import StoreUnavailable

    ann = make_token("ann@example.com")
    cid = track(services).conversation.id

    def down(lines, now):
        raise StoreUnavailable("test: the store went away")

    monkeypatch.setattr(services.store, "add_activity", down)
    response = client.post(f"/admin/conversations/{cid}/notes", json={"text": "keep me"},
                           headers=ann)
    assert response.status_code == 503 and response.get_json()["success"] is False


# -- the JSON export carries the trail ------------------------------------------------------

def test_the_json_export_has_each_conversations_trail_in_the_range(client, services,
                                                                   make_token, clock,
                                                                   monkeypatch):
    from admin_app import export

    monkeypatch.setattr(export, "CONVERSATION_PAGE", 2)  # several pages of conversations,
    monkeypatch.setattr(export, "MESSAGE_PAGE", 2)  # and of lines in each
    ann = make_token("ann@example.com")
    calls = {"activity_in": 0}
    activity_in = services.tracker.activity_in

    def counted(*args, **kwargs):
        calls["activity_in"] += 1
        return activity_in(*args, **kwargs)

    monkeypatch.setattr(services.tracker, "activity_in", counted)
    clock.advance(days=-1)
    old = track(services, user="old", content="yesterday").conversation
    client.post(f"/admin/conversations/{old.id}/notes", json={"text": "before"}, headers=ann)
    clock.advance(days=1)
    day = clock().date().isoformat()
    ids = []
    for i in range(3):
        clock.advance(seconds=1)
        cid = track(services, user=f"x{i}", content="hi").conversation.id
        ids.append(cid)
        for n in range(i + 1):
            client.post(f"/admin/conversations/{cid}/notes", json={"text": f"x{i}-{n}"},
                        headers=ann)
    client.post(f"/admin/conversations/{old.id}/notes", json={"text": "today"}, headers=ann)
    track(services, user="old", content="today too")
    calls["activity_in"] = 0

    body = json.loads(client.get(f"/admin/export?format=json&from={day}&to={day}",
                                 headers=ann).get_data())
    by_user = {c["external_user_id"]: c for c in body["conversations"]}
    for i in range(3):
        lines = by_user[f"x{i}"]["activity"]
        assert [a["detail"]["text"] for a in lines] == [f"x{i}-{n}" for n in range(i + 1)]
        assert all(a["kind"] == "note" and a["actor"] == "ann@example.com" for a in lines)
    # Yesterday's note is out of the range; today's is in.
    assert [a["detail"]["text"] for a in by_user["old"]["activity"]] == ["today"]
    # Reads per page of conversations, not per conversation: the first page (old, x2) has
    # 4 lines, read 2 + 2 + 0; the second (x1, x0) 3, read 2 + 1.
    assert calls["activity_in"] == 5
    # The CSV export (a row per message) reads no trail.
    calls["activity_in"] = 0
    client.get(f"/admin/export?format=csv&from={day}&to={day}", headers=ann).get_data()
    assert calls["activity_in"] == 0


def test_a_reply_reads_the_conversation_once(client, services, make_token, monkeypatch):
    """The reply reads the conversation to check it is open; telling what its take-over
    changed for the trail reuses that read instead of making another."""
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    services.tracker.set_handling(cid, "human", reason="asked")  # nobody assigned
    reads = []
    get_conversation = services.store.get_conversation
    monkeypatch.setattr(services.store, "get_conversation",
                        lambda i: reads.append(i) or get_conversation(i))
    assert client.post(f"/admin/conversations/{cid}/messages", json={"content": "hi"},
                       headers=ann).status_code == 201
    assert reads == [cid]
    assert [a["kind"] for a in trail(client, ann, cid)] == ["escalated", "assigned"]


# -- editing and deleting notes ----------------------------------------------------------------

def _note(client, headers, cid, text):
    response = client.post(f"/admin/conversations/{cid}/notes", json={"text": text},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["activity"]


def test_its_author_edits_a_note_and_others_cannot(client, services, make_token,
                                                   captured_events):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    boss = make_token("boss@example.com", role="admin")
    cid = track(services).conversation.id
    note = _note(client, ann, cid, "refund aproved")
    captured_events.clear()

    services.clock.advance(minutes=3)
    response = client.put(f"/admin/notes/{note['id']}", json={"text": " refund approved \n"},
                          headers=ann)
    assert response.status_code == 200, response.get_json()
    edited = response.get_json()["activity"]
    assert (edited["id"], edited["actor"], edited["created_at"]) == (
        note["id"], "ann@example.com", note["created_at"])
    assert edited["detail"]["text"] == "refund approved"
    assert edited["detail"]["edited_at"] == services.clock().isoformat()
    assert trail(client, bob, cid) == [edited]
    (event,) = captured_events  # published like a new line: open pages replace it
    assert (event.name, event.data["activity"]) == ("conversation.updated", [edited])

    for someone in (bob, boss):  # nobody else edits it, admins neither
        refused = client.put(f"/admin/notes/{note['id']}", json={"text": "mine now"},
                             headers=someone)
        assert refused.status_code == 403
        assert refused.get_json() == {"success": False,
                                      "error": "only its author can edit a note"}
    assert trail(client, ann, cid) == [edited]


def test_a_note_is_deleted_by_its_author_or_an_admin(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    boss = make_token("boss@example.com", role="admin")
    boss_id = services.store.get_user_by_email("boss@example.com").id
    cid = track(services).conversation.id
    own, other = _note(client, ann, cid, "mine"), _note(client, ann, cid, "card 4242 4242")

    refused = client.delete(f"/admin/notes/{other['id']}", headers=bob)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "only its author or an admin can delete a note"
    response = client.delete(f"/admin/notes/{own['id']}", headers=ann)
    assert response.status_code == 200
    assert response.get_json()["activity"]["detail"]["deleted_by"] == "ann@example.com"
    removed = client.delete(f"/admin/notes/{other['id']}", headers=boss).get_json()["activity"]
    assert removed["detail"] == {"deleted_at": services.clock().isoformat(),
                                 "deleted_by_id": boss_id, "deleted_by": "boss@example.com"}
    # The lines stay in the trail, without their text.
    lines = trail(client, bob, cid)
    assert [a["id"] for a in lines] == [own["id"], other["id"]]
    assert "4242" not in json.dumps(lines)
    # Deleting again answers the same line; editing a deleted note is a conflict.
    again = client.delete(f"/admin/notes/{other['id']}", headers=boss)
    assert again.status_code == 200 and again.get_json()["activity"] == removed
    late = client.put(f"/admin/notes/{own['id']}", json={"text": "back"}, headers=ann)
    assert late.status_code == 409


def test_notes_to_edit_must_exist_and_be_notes(client, services, make_token):
    ann = make_token("ann@example.com")
    cid = track(services).conversation.id
    client.post(f"/admin/conversations/{cid}/take-over", headers=ann)
    (line,) = trail(client, ann, cid)
    note = _note(client, ann, cid, "keep")
    for path in (f"/admin/notes/{line['id']}", "/admin/notes/987654"):
        assert client.put(path, json={"text": "x"}, headers=ann).status_code == 404
        assert client.delete(path, headers=ann).status_code == 404
    for body, error in (({"text": "  "}, "invalid text: Value error, the note is empty"),
                        ({"text": "x" * 2001},
                         "invalid text: String should have at most 2000 characters"),
                        ({}, "invalid text: Field required")):
        response = client.put(f"/admin/notes/{note['id']}", json=body, headers=ann)
        assert (response.status_code, response.get_json()["error"]) == (400, error)
    assert client.put(f"/admin/notes/{note['id']}", json={"text": "x"}).status_code == 401
    assert trail(client, ann, cid)[-1] == note
