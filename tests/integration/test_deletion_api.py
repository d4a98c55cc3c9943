"""Deleting conversations through the admin API, on each store: an admin deletes one
conversation or every conversation of a person, agents cannot, bad requests change
nothing, every deletion is published and logged (who, which ids, never what was said),
and the retention sweep deletes what has been closed and untouched for too long."""

from __future__ import annotations

import logging

from services.models import InboundMessage, OutboundMessage
from services.runtime import build_services


def _message(services, user: str, text: str, ext: str | None = None):
    return services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content=text,
        external_id=ext or f"{user}:{text}", respond=False))


def _totals(client, headers) -> tuple[int, int]:
    answer = client.get("/admin/stats", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    stats = answer.get_json()["stats"]
    return stats["total_conversations"], stats["total_messages"]


def test_an_admin_deletes_a_conversation_and_nothing_else(client, services, make_token,
                                                          captured_events, caplog):
    admin = make_token("boss@example.com", "admin")
    agent = make_token("ann@example.com", "agent")
    kept = _message(services, "u1", "keep me").conversation.id
    assert _totals(client, admin) == (1, 1)
    doomed = _message(services, "u2", "my card number is 4111").conversation
    services.tracker.track_outbound(OutboundMessage(
        conversation_id=doomed.id, sender_type="bot", content="noted"))
    client.post(f"/admin/conversations/{doomed.id}/notes", json={"text": "VIP"},
                headers=admin)
    assert _totals(client, admin) == (2, 3)

    # Agents cannot; nobody without a token; a bad query; an unknown id.
    assert client.delete(f"/admin/conversations/{doomed.id}", headers=agent).status_code == 403
    assert client.delete(f"/admin/conversations/{doomed.id}").status_code == 401
    bad = client.delete(f"/admin/conversations/{doomed.id}?person=perhaps", headers=admin)
    assert bad.status_code == 400 and "person" in bad.get_data(as_text=True)
    assert client.delete("/admin/conversations/987654321", headers=admin).status_code == 404
    assert client.get(f"/admin/conversations/{doomed.id}", headers=admin).status_code == 200
    assert not [e for e in captured_events if e.name == "conversation.deleted"]

    with caplog.at_level(logging.INFO, logger="services.tracking"):
        answer = client.delete(f"/admin/conversations/{doomed.id}", headers=admin)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"success": True, "deleted": [doomed.id], "count": 1}
    assert client.get(f"/admin/conversations/{doomed.id}", headers=admin).status_code == 404
    assert client.get(f"/admin/conversations/{doomed.id}/activity",
                      headers=admin).status_code == 404
    listed = client.get("/admin/conversations", headers=admin).get_json()["conversations"]
    assert [c["id"] for c in listed] == [kept]
    found = client.get("/admin/conversations?search=4111", headers=admin).get_json()
    assert found["conversations"] == []
    assert _totals(client, admin) == (1, 1)  # it counted (2, 3) before

    (event,) = [e for e in captured_events if e.name == "conversation.deleted"]
    assert event.conversation_id == doomed.id
    assert event.data == {"conversation": {"id": doomed.id, "platform": "webchat",
                                           "external_user_id": "u2"}}
    (record,) = [r for r in caplog.records if "deleted" in r.getMessage()]
    assert "boss@example.com" in record.getMessage() and str(doomed.id) in record.getMessage()
    assert "4111" not in record.getMessage()

    # Deleting again: it is gone.
    assert client.delete(f"/admin/conversations/{doomed.id}", headers=admin).status_code == 404


def test_an_erasure_deletes_every_conversation_of_the_person(client, services, make_token):
    admin = make_token("boss@example.com", "admin")
    first = _message(services, "u1", "first").conversation.id
    services.tracker.set_status(first, "closed")
    second = _message(services, "u1", "second").conversation.id
    assert second != first
    services.tracker.set_status(second, "closed")
    third = _message(services, "u1", "third").conversation.id
    other = _message(services, "u2", "someone else").conversation.id

    answer = client.delete(f"/admin/conversations/{second}?person=true", headers=admin)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["deleted"] == sorted([first, second, third])
    assert answer.get_json()["count"] == 3
    person = client.get("/admin/conversations?platform=webchat&external_user_id=u1",
                        headers=admin).get_json()["conversations"]
    assert person == []
    assert client.get(f"/admin/conversations/{other}", headers=admin).status_code == 200
    # The person writes again: a new conversation, nothing of the old ones in it.
    again = _message(services, "u1", "hello again")
    assert again.conversation_created and again.conversation.message_count == 1


def test_retention_deletes_what_was_closed_and_untouched_too_long(settings, store, clock,
                                                                  captured_events):
    services = build_services(settings.model_copy(update={"retention_days": 30}),
                              store=store, clock=clock)
    events = []
    services.events.subscribe(events.append)
    old = _message(services, "old", "long ago").conversation.id
    services.tracker.set_status(old, "closed")
    open_ = _message(services, "open", "still talking").conversation.id
    clock.advance(days=20)
    recent = _message(services, "recent", "lately").conversation.id
    services.tracker.set_status(recent, "closed")

    clock.advance(days=11)  # old: closed 31 days ago; recent: 11 days ago
    result = services.sweeper.sweep()
    assert result["deleted"] == 1
    assert services.store.get_conversation(old) is None
    assert services.store.get_conversation(recent) is not None
    # The open one was closed by this sweep (quiet for 31 days), and is kept: it changed now.
    assert services.store.get_conversation(open_).status == "closed"
    assert [e.conversation_id for e in events if e.name == "conversation.deleted"] == [old]

    assert services.sweeper.sweep()["deleted"] == 0
    clock.advance(days=31)
    assert services.sweeper.sweep()["deleted"] == 2
    assert services.store.get_conversation(open_) is None


def test_without_retention_nothing_is_deleted(services, clock):
    old = _message(services, "old", "long ago").conversation.id
    services.tracker.set_status(old, "closed")
    clock.advance(days=3650)
    assert services.sweeper.sweep()["deleted"] == 0
    assert services.store.get_conversation(old) is not None


def test_a_bot_turn_whose_conversation_was_deleted_meanwhile_ends(services, clock, caplog):
    """The bot's job was claimed, then an admin deleted its conversation: the turn fails
    once, the job is gone with its conversation, and the worker goes on."""
    tracked = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u1", content="What are your opening hours?",
        external_id="u1:1", respond=True))
    (job,) = services.store.claim_jobs(clock(), 10, 60)
    services.store.delete_conversations([tracked.conversation.id])
    with caplog.at_level(logging.INFO, logger="services.worker"):
        services.jobs._run_in_order([job])
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "services.worker"] == [
        ("INFO", f"job {job.id} (respond) dropped: conversation "
                 f"{tracked.conversation.id} was deleted")]
    assert services.store.count_jobs() == 0
    assert services.jobs.run_until_idle() == 0
    nobody = _message(services, "u2", "hi")  # the store goes on taking messages
    assert nobody.created
