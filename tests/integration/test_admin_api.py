"""The admin JSON API over both real stores: shapes, auth, errors."""

import pytest

from services.models import InboundMessage


def seed(services, n=3, platform="messenger"):
    results = []
    for i in range(n):
        results.append(
            services.tracker.track_inbound(
                InboundMessage(
                    platform=platform,
                    external_user_id=f"user-{platform}-{i}",
                    external_id=f"mid-{platform}-{i}",
                    content=f"message {i}",
                    display_name=f"Person {i}",
                )
            )
        )
    return results


ENDPOINTS = [
    ("get", "/admin/conversations"),
    ("get", "/admin/conversations/1"),
    ("get", "/admin/conversations/1/messages"),
    ("post", "/admin/conversations/1/close"),
    ("post", "/admin/conversations/1/reopen"),
    ("post", "/admin/messages/1/mark-human"),
    ("post", "/admin/messages/1/mark-replied"),
    ("get", "/admin/stats"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_refuses_anonymous_and_bad_tokens(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "authentication required"}
    bad = getattr(client, method)(path, headers={"Authorization": "Bearer sbt_nope"})
    assert bad.status_code == 401


def test_revoked_token_is_refused(client, services, make_token):
    headers = make_token()
    assert client.get("/admin/stats", headers=headers).status_code == 200
    token = services.store.list_api_tokens()[0]
    services.store.revoke_api_token(token.id, services.clock())
    assert client.get("/admin/stats", headers=headers).status_code == 401


def test_list_shape_and_filters(client, services, make_token):
    headers = make_token()
    seed(services, 3, "messenger")
    seed(services, 2, "webchat")
    body = client.get("/admin/conversations?limit=100", headers=headers).get_json()
    assert body["success"] is True and body["count"] == 5 == len(body["conversations"])
    first = body["conversations"][0]
    for key in ("id", "platform", "external_user_id", "display_name", "status", "handled_by",
                "needs_human", "priority", "message_count", "last_message_at", "created_at"):
        assert key in first
    only_web = client.get("/admin/conversations?platform=webchat", headers=headers).get_json()
    assert {c["platform"] for c in only_web["conversations"]} == {"webchat"}
    assert only_web["count"] == 2
    found = client.get("/admin/conversations?q=person 1", headers=headers).get_json()
    assert found["count"] == 2  # "Person 1" on each platform


def test_cursor_pagination_over_http(client, services, make_token):
    headers = make_token()
    seed(services, 5)
    seen, cursor = [], None
    while True:
        url = "/admin/conversations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        seen += [c["id"] for c in body["conversations"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 == len(set(seen))


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=abc", "status=open", "platform=sms", "needs_human=maybe",
     "cursor=garbage", "sort=random", "assigned_to=x"],
)
def test_bad_parameters_are_400(client, make_token, query):
    response = client.get(f"/admin/conversations?{query}", headers=make_token())
    assert response.status_code == 400
    body = response.get_json()
    assert body["success"] is False and body["error"]


def test_conversation_detail_and_messages(client, services, make_token):
    headers = make_token()
    result = seed(services, 1)[0]
    cid = result.conversation.id
    body = client.get(f"/admin/conversations/{cid}", headers=headers).get_json()
    assert body["success"] is True
    assert body["conversation"]["id"] == cid
    assert [m["content"] for m in body["messages"]] == ["message 0"]
    msgs = client.get(f"/admin/conversations/{cid}/messages?limit=50", headers=headers).get_json()
    assert msgs["success"] is True and msgs["messages"][0]["id"] == result.message.id


def test_unknown_ids_are_404(client, make_token):
    headers = make_token()
    for method, path in ENDPOINTS:
        if path == "/admin/conversations" or path == "/admin/stats":
            continue
        response = getattr(client, method)(path.replace("/1", "/424242"), headers=headers)
        assert response.status_code == 404, path
        assert response.get_json()["success"] is False


def test_unknown_admin_route_is_json_404(client, make_token):
    response = client.get("/admin/nothing-here", headers=make_token())
    assert response.status_code == 404
    assert response.get_json()["success"] is False


def test_flag_reply_close_round_trip(client, services, make_token):
    headers = make_token("ann@example.com")
    result = seed(services, 1)[0]
    mid, cid = result.message.id, result.conversation.id

    flagged = client.post(f"/admin/messages/{mid}/mark-human", json={"reason": "angry", "priority": 1},
                          headers=headers).get_json()
    assert flagged["message"]["requires_human"] is True
    assert flagged["message"]["human_reason"] == "angry"
    assert flagged["conversation"]["needs_human"] is True
    assert flagged["conversation"]["priority"] == 1

    stats = client.get("/admin/stats", headers=headers).get_json()["stats"]
    assert stats["messages_requiring_human"] == 1

    replied = client.post(f"/admin/messages/{mid}/mark-replied", headers=headers).get_json()
    assert replied["message"]["human_replied"] is True
    assert replied["message"]["replied_by"] == "ann@example.com"
    assert replied["conversation"]["needs_human"] is False

    closed = client.post(f"/admin/conversations/{cid}/close", headers=headers).get_json()
    assert closed["conversation"]["status"] == "closed"
    reopened = client.post(f"/admin/conversations/{cid}/reopen", headers=headers).get_json()
    assert reopened["conversation"]["status"] == "active"


def test_mark_human_rejects_bad_bodies(client, services, make_token):
    headers = make_token()
    mid = seed(services, 1)[0].message.id
    bad_priority = client.post(f"/admin/messages/{mid}/mark-human", json={"priority": 9}, headers=headers)
    assert bad_priority.status_code == 400
    not_object = client.post(f"/admin/messages/{mid}/mark-human", json=[1, 2], headers=headers)
    assert not_object.status_code == 400
    assert services.store.get_message(mid).requires_human is False


def test_reopen_conflict_is_409(client, services, make_token):
    headers = make_token()
    first = seed(services, 1)[0]
    client.post(f"/admin/conversations/{first.conversation.id}/close", headers=headers)
    # the same person writes again: a new open conversation
    services.tracker.track_inbound(
        InboundMessage(platform="messenger", external_user_id="user-messenger-0",
                       external_id="mid-again", content="back")
    )
    response = client.post(f"/admin/conversations/{first.conversation.id}/reopen", headers=headers)
    assert response.status_code == 409


def test_stats_shape(client, services, make_token):
    headers = make_token()
    seed(services, 2, "messenger")
    seed(services, 1, "webchat")
    body = client.get("/admin/stats", headers=headers).get_json()
    assert body["success"] is True
    stats = body["stats"]
    assert stats["total_conversations"] == 3
    assert stats["active_conversations"] == 3
    assert stats["total_messages"] == 3
    assert stats["messages_requiring_human"] == 0
    assert stats["by_platform"]["messenger"]["conversations"] == 2
    assert stats["by_platform"]["webchat"]["messages"] == 1
    assert len(stats["messages_per_hour"]) == 24
    assert stats["avg_messages_per_conversation"] == 1.0
    assert "timestamp" in stats and "escalation_rate" in stats
    assert "avg_first_human_response_seconds" in stats


def test_health_and_ready(client, services):
    assert client.get("/healthz").get_json() == {
        "status": "ok", "store": services.store.kind, "store_available": True, "spooled": 0}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_unknown_query_parameters_are_ignored_not_applied(client, services, make_token):
    headers = make_token()
    seed(services, 2)
    body = client.get("/admin/conversations?_=1700000000&foo=bar", headers=headers).get_json()
    assert body["success"] is True and body["count"] == 2


# Found by schemathesis (tests/reliability/test_admin_api_schema.py): an id past the 64-bit
# range was a 500 (SQLite cannot bind it; PostgreSQL refuses it). It names nothing: 404.
HUGE = 2**63  # one past the largest id a store holds


@pytest.mark.parametrize("method,path", [(m, p.replace("/1", f"/{HUGE}")) for m, p in ENDPOINTS
                                         if "/1" in p])
def test_ids_past_the_64_bit_range_are_404_not_500(client, make_token, method, path):
    response = getattr(client, method)(path, headers=make_token())
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.get_json()["success"] is False


@pytest.mark.parametrize("query", [f"before={HUGE}", f"after={HUGE}"])
def test_history_bounds_past_the_64_bit_range_are_400(client, services, make_token, query):
    cid = seed(services, 1)[0].conversation.id
    response = client.get(f"/admin/conversations/{cid}/messages?{query}", headers=make_token())
    assert response.status_code == 400 and response.get_json()["success"] is False


def test_assigned_to_past_the_64_bit_range_is_400(client, make_token):
    response = client.get(f"/admin/conversations?assigned_to={HUGE}", headers=make_token())
    assert response.status_code == 400 and "assigned_to" in response.get_json()["error"]


def _forged_cursor(**fields) -> str:
    import base64
    import json

    raw = json.dumps({"sort": "last_activity", "last_message_at": "2026-01-01T00:00:00Z",
                      "priority": 1, "id": 1, **fields}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A forged cursor carrying an id past the 64-bit range reached the store: 500 on SQLite.
@pytest.mark.parametrize("fields", [{"id": HUGE}, {"id": 0}, {"priority": 2**70}, {"priority": 0}])
def test_forged_cursor_out_of_range_is_400(client, services, make_token, fields):
    seed(services, 2)
    response = client.get(f"/admin/conversations?cursor={_forged_cursor(**fields)}",
                          headers=make_token())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid cursor"


def test_anonymous_call_with_an_out_of_range_id_is_still_401(client):
    assert client.get(f"/admin/conversations/{HUGE}").status_code == 401
