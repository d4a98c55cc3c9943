"""What each account has read, through the admin API over both stores: the inbox's list
carries the caller's own marks, a mark moves forward only, and bad input is a clear 400
that stores nothing."""

from __future__ import annotations

import pytest

from services.models import InboundMessage, OutboundMessage


def _conversation(services, user: str, messages: int) -> int:
    tracker = services.tracker
    first = tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content="hello",
        external_id=f"{user}:0", respond=False)).conversation
    for n in range(1, messages):
        tracker.track_outbound(OutboundMessage(conversation_id=first.id, sender_type="bot",
                                               content=f"answer {n}"))
    return first.id


def _marks(client, headers) -> dict[int, int]:
    response = client.get("/admin/conversations", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {m["conversation_id"]: m["message_count"] for m in response.get_json()["read"]}


def test_each_account_has_its_own_marks(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    first, second = _conversation(services, "u1", 3), _conversation(services, "u2", 2)
    published = []
    services.events.subscribe(lambda e: published.append(e)
                              if e.name == "conversation.read" else None)
    assert _marks(client, ann) == {}

    response = client.put(f"/admin/conversations/{first}/read", json={"message_count": 2},
                          headers=ann)
    assert response.status_code == 200, response.get_json()
    read = response.get_json()["read"]
    assert (read["conversation_id"], read["message_count"]) == (first, 2)
    assert read["user_id"] == services.store.get_user_by_email("ann@example.com").id
    assert [e.data["read"]["message_count"] for e in published] == [2]
    assert _marks(client, ann) == {first: 2}
    assert _marks(client, bob) == {}

    # An older page's count keeps the mark (and says nothing); a count past the
    # conversation's own is its own.
    services.clock.advance(seconds=5)
    kept = client.put(f"/admin/conversations/{first}/read", json={"message_count": 1},
                      headers=ann)
    assert kept.get_json()["read"] == read and len(published) == 1
    services.clock.advance(seconds=5)
    capped = client.put(f"/admin/conversations/{first}/read", json={"message_count": 50},
                        headers=ann)
    assert capped.get_json()["read"]["message_count"] == 3
    assert client.put(f"/admin/conversations/{second}/read", json={"message_count": 2},
                      headers=bob).status_code == 200
    assert _marks(client, ann) == {first: 3}
    assert _marks(client, bob) == {second: 2}


@pytest.mark.parametrize("body, error", [
    (None, "invalid message_count: Field required"),
    ({}, "invalid message_count: Field required"),
    ({"message_count": -1}, "invalid message_count: Input should be greater than or equal to 0"),
    ({"message_count": "2"}, "invalid message_count: Input should be a valid integer"),
    ({"message_count": True}, "invalid message_count: Input should be a valid integer"),
    ({"message_count": 2**31}, "invalid message_count: Input should be less than or equal to"
                               " 2147483647"),
    ([2], "the body must be a JSON object"),
])
def test_bad_input_is_a_clear_400_and_stores_nothing(client, services, make_token, body, error):
    ann = make_token("ann@example.com")
    first = _conversation(services, "u1", 2)
    response = client.put(f"/admin/conversations/{first}/read", json=body, headers=ann)
    assert response.status_code == 400
    assert response.get_json() == {"success": False, "error": error}
    assert _marks(client, ann) == {}


def test_unknown_conversation_and_anonymous(client, services, make_token):
    ann = make_token("ann@example.com")
    assert client.put("/admin/conversations/987654321/read", json={"message_count": 1},
                      headers=ann).status_code == 404
    first = _conversation(services, "u1", 2)
    assert client.put(f"/admin/conversations/{first}/read",
                      json={"message_count": 1}).status_code == 401
    assert _marks(client, ann) == {}


def test_marks_of_named_conversations(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    first, second = _conversation(services, "u1", 3), _conversation(services, "u2", 2)
    for cid, count in ((first, 3), (second, 1)):
        assert client.put(f"/admin/conversations/{cid}/read", json={"message_count": count},
                          headers=ann).status_code == 200

    def marks(query, headers=ann):
        response = client.get(f"/admin/read-marks?{query}", headers=headers)
        return response.status_code, response.get_json()

    status, body = marks(f"ids={second},{first},{second},987654321")
    assert status == 200
    assert sorted((m["conversation_id"], m["message_count"]) for m in body["read"]) == sorted(
        [(first, 3), (second, 1)])
    assert marks(f"ids={first}", bob) == (200, {"success": True, "read": []})
    assert marks(f"ids={first}", {})[0] == 401
    for bad in ("", "ids=", "ids=0", "ids=1,,2", "ids=a", "ids=-3", "ids=1,2,",
                f"ids={2**63}", "ids=" + ",".join(str(n) for n in range(1, 102))):
        status, body = marks(bad)
        assert status == 400 and body["success"] is False and body["error"], bad
    assert marks(f"ids={2**63}")[1]["error"] == f"conversation ids are at most {2**63 - 1}"
    assert marks("ids=" + ",".join(str(n) for n in range(1, 102)))[1]["error"] == (
        "at most 100 conversation ids")


def test_the_list_answers_when_the_marks_cannot_be_read(client, services, make_token,
                                                        monkeypatch):
    """A Supabase database without the read marks' migration: the inbox still lists."""
    from services.errors import StoreUnavailable

    ann = make_token("ann@example.com")
    first = _conversation(services, "u1", 2)

    def missing(*args):
        raise StoreUnavailable("supabase: Could not find the function public.read_marks")

    monkeypatch.setattr(services.store, "read_marks", missing)
    response = client.get("/admin/conversations", headers=ann)
    assert response.status_code == 200
    body = response.get_json()
    assert [c["id"] for c in body["conversations"]] == [first] and body["read"] is None


def test_the_inbox_lists_what_the_caller_has_not_read(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    first, second = _conversation(services, "u1", 3), _conversation(services, "u2", 2)
    assert client.put(f"/admin/conversations/{first}/read", json={"message_count": 3},
                      headers=ann).status_code == 200

    def listed(query, headers):
        response = client.get(f"/admin/conversations?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()["conversations"]]

    assert listed("unread=true", ann) == [second]
    assert listed("unread=true", bob) == [second, first]
    assert listed("unread=false", ann) == listed("", ann) == [second, first]
    # Whose marks is the caller's own: another account's id in the query is ignored.
    bob_id = services.store.get_user_by_email("bob@example.com").id
    assert listed(f"unread=true&unread_by={bob_id}", ann) == [second]
    assert listed(f"unread_by={bob_id}", ann) == [second, first]
    response = client.get("/admin/conversations?unread=maybe", headers=ann)
    assert response.status_code == 400


def test_mark_unread_moves_the_callers_mark_back(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    first = _conversation(services, "u1", 3)
    for headers in (ann, bob):
        client.put(f"/admin/conversations/{first}/read", json={"message_count": 3},
                   headers=headers)
    published = []
    services.events.subscribe(lambda e: published.append(e)
                              if e.name == "conversation.read" else None)
    response = client.delete(f"/admin/conversations/{first}/read", headers=ann)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["read"]["message_count"] == 2
    assert [e.data["read"]["message_count"] for e in published] == [2]
    assert _marks(client, ann) == {first: 2} and _marks(client, bob) == {first: 3}
    assert client.delete("/admin/conversations/987654321/read", headers=ann).status_code == 404
    assert client.delete(f"/admin/conversations/{first}/read").status_code == 401


def test_mark_all_read_is_the_callers_own(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    first, second = _conversation(services, "u1", 3), _conversation(services, "u2", 2)
    published = []
    services.events.subscribe(lambda e: published.append(e)
                              if e.name == "conversations.read" else None)
    response = client.post("/admin/read-marks/all", headers=ann)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "moved": 2}
    ann_id = services.store.get_user_by_email("ann@example.com").id
    assert [e.data for e in published] == [{"user_id": ann_id, "moved": 2}]
    assert _marks(client, ann) == {first: 3, second: 2} and _marks(client, bob) == {}
    assert client.post("/admin/read-marks/all").status_code == 401
