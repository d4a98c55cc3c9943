"""``POST /admin/conversations/bulk`` over both stores: one action on the inbox's selection,
each conversation changed as its own route would change it (events, trail lines), the
ones that cannot be listed with why, and bad input a clear 400 that changes nothing."""

from __future__ import annotations

import pytest

from services.models import InboundMessage, OutboundMessage


def _conversation(services, user: str, messages: int = 1, first_id: str = "0") -> int:
    tracker = services.tracker
    first = tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content="hello",
        external_id=f"{user}:{first_id}", respond=False)).conversation
    for n in range(1, messages):
        tracker.track_outbound(OutboundMessage(conversation_id=first.id, sender_type="bot",
                                               content=f"answer {n}"))
    return first.id


def _bulk(client, headers, **body):
    return client.post("/admin/conversations/bulk", json=body, headers=headers)


def _trail(services, conversation_id: int) -> list[tuple[str, str | None]]:
    return [(line.kind, line.actor) for line in services.tracker.activity(conversation_id, 50)]


def test_close_then_reopen_a_selection(client, services, make_token):
    ann = make_token("ann@example.com")
    a, b, c = (_conversation(services, f"u{n}") for n in range(3))
    services.tracker.close(c)  # closed already: done, with no second closing
    updated = []
    services.events.subscribe(lambda e: updated.append(e.conversation_id)
                              if e.name == "conversation.updated" else None)

    closed = _bulk(client, ann, ids=[a, b, c, a], action="close")
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json() == {"success": True, "done": [a, b, c], "failed": []}
    assert [services.store.get_conversation(i).status for i in (a, b, c)] == ["closed"] * 3
    assert updated == [a, b]  # each changed one published once; c untouched
    assert _trail(services, a) == [("closed", "ann@example.com")]
    assert _trail(services, c) == []

    # A person's new message opens a new conversation: their closed one cannot reopen.
    newer = _conversation(services, "u0", first_id="again")
    assert newer != a
    reopened = _bulk(client, ann, ids=[a, b, 999_999], action="reopen").get_json()
    assert reopened["done"] == [b]
    assert [f["id"] for f in reopened["failed"]] == [a, 999_999]
    assert all(f["error"] for f in reopened["failed"])
    assert services.store.get_conversation(b).status == "active"
    assert services.store.get_conversation(a).status == "closed"
    assert services.store.get_conversation(newer).status == "active"


def test_assign_to_an_account_then_to_nobody(client, services, make_token):
    ann = make_token("ann@example.com")
    make_token("bob@example.com")
    bob = services.store.get_user_by_email("bob@example.com")
    a, b = _conversation(services, "u1"), _conversation(services, "u2")

    given = _bulk(client, ann, ids=[a, b], action="assign", user_id=bob.id).get_json()
    assert given["done"] == [a, b]
    assert [services.store.get_conversation(i).assigned_to for i in (a, b)] == [bob.id] * 2
    assert _trail(services, a) == [("assigned", "ann@example.com")]

    taken_back = _bulk(client, ann, ids=[a, b], action="assign", user_id=None).get_json()
    assert taken_back["done"] == [a, b]
    assert [services.store.get_conversation(i).assigned_to for i in (a, b)] == [None, None]


def test_read_marks_each_up_to_its_count_for_the_caller_only(client, services, make_token):
    ann, bob = make_token("ann@example.com"), make_token("bob@example.com")
    a, b = _conversation(services, "u1", 3), _conversation(services, "u2", 2)
    assert _bulk(client, ann, ids=[a, b], action="read").get_json()["done"] == [a, b]
    marks = client.get("/admin/conversations", headers=ann).get_json()["read"]
    assert {m["conversation_id"]: m["message_count"] for m in marks} == {a: 3, b: 2}
    assert client.get("/admin/conversations", headers=bob).get_json()["read"] == []


def test_tag_then_untag_a_selection(client, services, make_token):
    ann = make_token("ann@example.com")
    a, b, full = (_conversation(services, f"u{n}") for n in range(3))
    services.tracker.add_tag(b, "vip")  # tagged already: done, no second line
    for n in range(20):
        services.tracker.add_tag(full, f"t{n}")  # the most a conversation takes
    tagged = _bulk(client, ann, ids=[a, b, full, 999_999], action="tag", tag="  VIP ")
    assert tagged.status_code == 200, tagged.get_json()
    answer = tagged.get_json()
    assert answer["done"] == [a, b]
    assert [f["id"] for f in answer["failed"]] == [full, 999_999]
    assert "20" in answer["failed"][0]["error"]
    assert [services.store.get_conversation(i).tags for i in (a, b)] == [["vip"], ["vip"]]
    assert "vip" not in services.store.get_conversation(full).tags
    assert _trail(services, a) == [("tagged", "ann@example.com")]
    assert [kind for kind, _ in _trail(services, b)] == ["tagged"]  # the bot's, earlier

    untagged = _bulk(client, ann, ids=[a, b], action="untag", tag="vip").get_json()
    assert untagged["done"] == [a, b] and untagged["failed"] == []
    assert [services.store.get_conversation(i).tags for i in (a, b)] == [[], []]
    assert _trail(services, a)[-1] == ("untagged", "ann@example.com")


@pytest.mark.parametrize("body, says", [
    ({"ids": [], "action": "close"}, "ids"),
    ({"ids": list(range(1, 102)), "action": "close"}, "ids"),
    ({"ids": [1], "action": "delete"}, "action"),
    ({"ids": ["1"], "action": "close"}, "ids"),
    ({"ids": [0], "action": "close"}, "ids"),
    ({"ids": [1], "action": "assign", "user_id": 999_999}, "no account"),
    ({"action": "close"}, "ids"),
    ({"ids": [1], "action": "tag"}, "needs a tag"),
    ({"ids": [1], "action": "untag", "tag": "no/slash"}, "tag"),
])
def test_bad_input_is_a_clear_400_that_changes_nothing(client, services, make_token, body, says):
    ann = make_token("ann@example.com")
    a = _conversation(services, "u1")
    response = _bulk(client, ann, **{k: (v if v != [1] else [a]) for k, v in body.items()})
    assert response.status_code == 400, response.get_json()
    assert says in response.get_json()["error"]
    conversation = services.store.get_conversation(a)
    assert (conversation.status, conversation.assigned_to, conversation.tags) == (
        "active", None, [])


def test_signed_out_is_refused(client, services):
    a = _conversation(services, "u1")
    assert client.post("/admin/conversations/bulk",
                       json={"ids": [a], "action": "close"}).status_code == 401
    assert services.store.get_conversation(a).status == "active"
