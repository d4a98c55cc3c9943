"""The Supabase store costs exactly one HTTP request per method call (counted on its client)."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest

from services.errors import StoreUnavailable
from services.models import ConversationCursor, ConversationFilter
from services.store.supabase import SupabaseStore
from tests.contract.helpers import inbound, outbound

pytestmark = pytest.mark.supabase


class RequestLog:
    """Every request the store's httpx client sends, as (method, path)."""

    def __init__(self, store: SupabaseStore) -> None:
        self.requests: list[tuple[str, str]] = []
        store.http.event_hooks = {"request": [self._record], "response": []}

    def _record(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path))

    def take(self) -> list[tuple[str, str]]:
        taken, self.requests = self.requests, []
        return taken


@pytest.fixture
def sb(supabase_stack):
    supabase_stack.reset()
    store = SupabaseStore(url=supabase_stack.url, service_role_key=supabase_stack.service_role_key)
    yield store
    store.close()


@pytest.fixture
def log(sb) -> RequestLog:
    return RequestLog(sb)


def test_track_inbound_is_one_request_whatever_happens(sb, log, clock):
    first = sb.track_inbound(inbound("alice", ext="m-1"), clock())
    assert first.conversation_created and first.created
    assert log.take() == [("POST", "/rest/v1/rpc/track_inbound")]

    second = sb.track_inbound(inbound("alice", ext="m-2"), clock.advance(seconds=1))
    assert second.created and not second.conversation_created
    assert log.take() == [("POST", "/rest/v1/rpc/track_inbound")]

    again = sb.track_inbound(inbound("alice", ext="m-2"), clock.advance(seconds=1))
    assert not again.created and again.message.id == second.message.id
    assert log.take() == [("POST", "/rest/v1/rpc/track_inbound")]


def test_stats_is_one_request(sb, log, clock):
    for user in ("a", "b", "c"):
        sb.track_inbound(inbound(user), clock())
    log.take()
    stats = sb.stats(clock())
    assert stats.total_conversations == 3 and len(stats.messages_per_hour) == 24
    assert log.take() == [("POST", "/rest/v1/rpc/stats")]


def test_each_list_page_is_one_request(sb, log, clock):
    for i in range(5):
        sb.track_inbound(inbound(f"user-{i}"), clock.advance(seconds=1))
    log.take()
    filters = ConversationFilter()
    cursor, seen = None, []
    while True:
        page = sb.list_conversations(filters, 2, cursor)
        assert log.take() == [("POST", "/rest/v1/rpc/list_conversations")]
        seen += [c.id for c in page.conversations]
        if page.next_cursor is None:
            break
        cursor = ConversationCursor.decode(page.next_cursor)
    assert len(seen) == 5 and len(set(seen)) == 5


def test_every_other_method_is_one_request(sb, log, clock):
    now = clock()
    tracked = sb.track_inbound(inbound("bob"), now)
    conv_id, msg_id = tracked.conversation.id, tracked.message.id
    log.take()

    calls = {
        "ping": lambda: sb.ping(),
        "track_outbound": lambda: sb.track_outbound(outbound(conv_id), now),
        "get_conversation": lambda: sb.get_conversation(conv_id),
        "get_message": lambda: sb.get_message(msg_id),
        "list_messages": lambda: sb.list_messages(conv_id, 10),
        "mark_needs_human": lambda: sb.mark_needs_human(msg_id, "angry", 2, now),
        "mark_human_replied": lambda: sb.mark_human_replied(msg_id, "agent@x", now),
        "set_delivery_status": lambda: sb.set_delivery_status(msg_id, "sent", now),
        "set_status": lambda: sb.set_status(conv_id, "idle", now),
        "create_user": lambda: sb.create_user("a@example.com", "admin", "hash", now),
        "get_user": lambda: sb.get_user(1),
        "get_user_by_email": lambda: sb.get_user_by_email("A@example.com"),
        "list_users": lambda: sb.list_users(),
        "set_user_password": lambda: sb.set_user_password(1, "hash2"),
        "set_user_disabled": lambda: sb.set_user_disabled(1, False),
        "create_api_token": lambda: sb.create_api_token(1, "cli", "tokhash", now),
        "authenticate_token": lambda: sb.authenticate_token("tokhash", now + timedelta(seconds=1)),
        "list_api_tokens": lambda: sb.list_api_tokens(),
        "revoke_api_token": lambda: sb.revoke_api_token(1, now),
    }
    for name, call in calls.items():
        call()
        assert len(log.take()) == 1, name


def test_requests_carry_the_service_role_key(supabase_stack, sb):
    seen: list[httpx.Request] = []
    sb.http.event_hooks = {"request": [seen.append], "response": []}
    sb.ping()
    (request,) = seen
    assert request.headers["apikey"] == supabase_stack.service_role_key
    assert request.headers["authorization"] == f"Bearer {supabase_stack.service_role_key}"


def test_anon_key_reaches_no_data_and_no_function(supabase_stack, sb, clock):
    sb.track_inbound(inbound("carol"), clock())
    headers = {"apikey": supabase_stack.anon_key,
               "Authorization": f"Bearer {supabase_stack.anon_key}"}
    with httpx.Client(base_url=supabase_stack.url + "/rest/v1", headers=headers) as anon:
        table = anon.get("/conversations")
        assert table.status_code in (401, 403) or table.json() == []
        rpc = anon.post("/rpc/stats", json={"p_now": clock().isoformat()})
        assert rpc.status_code in (401, 403, 404)


def test_unreachable_server_is_store_unavailable():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = SupabaseStore(url=f"http://127.0.0.1:{port}", service_role_key="key", timeout=2)
    try:
        with pytest.raises(StoreUnavailable):
            store.ping()
    finally:
        store.close()
