"""The Supabase store costs exactly one HTTP request per method call (counted on its client)."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest

from services.errors import StoreUnavailable
from services.models import ConversationCursor, ConversationFilter, NewActivity, NewSavedReply
from services.store.supabase import SupabaseStore
from tests.contract.helpers import inbound, outbound

pytestmark = pytest.mark.supabase


class RequestLog:
    """Every request the store sends, as (method, path): its function calls (urllib3) and
    its table reads and writes (supabase-py's httpx client)."""

    def __init__(self, store: SupabaseStore) -> None:
        self.requests: list[tuple[str, str]] = []
        store.http.event_hooks = {"request": [self._record], "response": []}
        store.rpc_client.observers.append(
            lambda method, path, _headers: self.requests.append((method, path)))

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
    assert len(stats.messages_per_day) == 30 and stats.messages_per_day[-1].messages == 3
    assert log.take() == [("POST", "/rest/v1/rpc/stats")]


@pytest.mark.parametrize("sort", ["last_activity", "priority", "waiting"])
def test_each_list_page_is_one_request(sb, log, clock, sort):
    for i in range(5):
        r = sb.track_inbound(inbound(f"user-{i}"), clock.advance(seconds=1))
        if i % 2:
            sb.mark_needs_human(r.message.id, "x", 3, clock())
    log.take()
    filters = ConversationFilter(sort=sort)
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
        "list_messages_in": lambda: sb.list_messages_in([conv_id], now, now + timedelta(days=1),
                                                        10),
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


def test_every_pipeline_method_is_one_request(sb, log, clock):
    now = clock()
    tracked = sb.track_inbound(inbound("dee", platform="messenger", ext="mid-dee"), now)
    conv_id, msg_id = tracked.conversation.id, tracked.message.id
    user = sb.create_user("agent@example.com", "agent", "hash", now)
    sb.mark_needs_human(msg_id, "asked", 2, now)
    out = sb.track_outbound(outbound(conv_id, "hi"), now)
    sb.set_delivery_status(out.id, "sent", now, external_id="mid-out")
    failed = sb.track_outbound(outbound(conv_id, "lost", delivery_status="failed"), now)
    later = now + timedelta(hours=1)
    saved = []
    log.take()

    notes: list = []
    calls = {
        "track_outbound (agent: replies, send job)": lambda: sb.track_outbound(
            outbound(conv_id, "agent", sender_type="agent", sender_id="7"), now),
        "track_outbound_with_conversation": lambda: sb.track_outbound_with_conversation(
            outbound(conv_id, "bot reply", sender_type="bot", delivery_status="sent"), now),
        "track_outbound_with_conversation (ending a job)": lambda:
            sb.track_outbound_with_conversation(
                outbound(conv_id, "bot reply 2", delivery_status="sent"), now, finish_job=1),
        "track_outbound_with_conversation (claiming its send)": lambda:
            sb.track_outbound_with_conversation(
                outbound(conv_id, "bot reply 3"), now, finish_job=1, claim_send=60,
                attempt_mark={"send_attempt_at": now.isoformat()}),
        "set_delivery_status (ending a job)": lambda: sb.set_delivery_status(
            out.id, "sent", now, finish_job=1),
        "track_inbound_many": lambda: sb.track_inbound_many(
            [(inbound("dee", platform="messenger", ext=f"mid-many-{n}"), now)
             for n in range(3)]),
        "set_handling": lambda: sb.set_handling(conv_id, "human", user.id, now),
        "assign": lambda: sb.assign(conv_id, user.id, now),
        "set_profile": lambda: sb.set_profile(conv_id, "Dee", {"locale": "en_GB"}, now),
        "mark_delivered_until": lambda: sb.mark_delivered_until("messenger", "dee", now,
                                                                "read", now),
        "find_message_by_external_id": lambda: sb.find_message_by_external_id("messenger",
                                                                              "mid-out"),
        "update_message_metadata": lambda: sb.update_message_metadata(out.id, {"k": 1}, now),
        "enqueue_job": lambda: sb.enqueue_job("respond", out.id, now),
        "claim_jobs": lambda: sb.claim_jobs(now, 10, 30, kinds=["respond", "send"]),
        "finish_job": lambda: sb.finish_job(1, now),
        "retry_job": lambda: sb.retry_job(2, later, "timeout", now),
        "fail_job": lambda: sb.fail_job(3, "gone", now),
        "count_jobs": lambda: sb.count_jobs("queued"),
        "claim_handoff_timeouts": lambda: sb.claim_handoff_timeouts(later, later),
        "raise_waiting_priority": lambda: sb.raise_waiting_priority(later, later),
        "requeue_send (creates the job)": lambda: sb.requeue_send(failed.id, now),
        "sweep_idle": lambda: sb.sweep_idle(later, later),
        "sweep_closed": lambda: sb.sweep_closed(later, later),
        "add_activity (two lines)": lambda: sb.add_activity(
            [NewActivity(conversation_id=conv_id, kind="escalated", detail={"reason": "x"}),
             NewActivity(conversation_id=conv_id, kind="taken_over", actor_id=user.id,
                         actor=user.email)], now),
        "list_activity": lambda: sb.list_activity(conv_id, 10, before=99),
        "add_activity (a note)": lambda: notes.extend(sb.add_activity(
            [NewActivity(conversation_id=conv_id, kind="note", actor_id=user.id,
                         actor=user.email, detail={"text": "n"})], now)),
        "get_activity": lambda: sb.get_activity(notes[0].id),
        "rewrite_note": lambda: sb.rewrite_note(notes[0].id, {"text": "m"}),
        "list_activity_in": lambda: sb.list_activity_in([conv_id, 5], now, later, 10,
                                                        after=(conv_id, 1)),
        "team_stats": lambda: sb.team_stats(now, later),
        "create_saved_reply": lambda: saved.append(sb.create_saved_reply(
            NewSavedReply(title="Hours", body="9 to 5"), user.id, now)),
        "list_saved_replies": lambda: sb.list_saved_replies(),
        "update_saved_reply": lambda: sb.update_saved_reply(
            saved[0].id, NewSavedReply(title="Hours", body="9-5"), now),
        "delete_saved_reply": lambda: sb.delete_saved_reply(saved[0].id),
        "mark_read": lambda: sb.mark_read(user.id, conv_id, 2, now),
        "read_marks": lambda: sb.read_marks(user.id, [conv_id, 5]),
        "mark_unread": lambda: sb.mark_unread(user.id, conv_id, now),
        "mark_all_read": lambda: sb.mark_all_read(user.id, now),
    }
    for name, call in calls.items():
        call()
        assert len(log.take()) == 1, name
    # respond (dee's message), send (hi), send (agent), send ("bot reply 3", claimed in
    # its write), respond, send (requeued "lost"), and a respond for each of the three
    # messages tracked in one batch
    assert sb.count_jobs() == 9


def test_requests_carry_the_service_role_key(supabase_stack, sb, clock):
    calls: list[dict[str, str]] = []
    sb.rpc_client.observers.append(lambda _method, _path, headers: calls.append(headers))
    sb.ping()
    (headers,) = calls
    assert headers["apikey"] == supabase_stack.service_role_key
    assert headers["Authorization"] == f"Bearer {supabase_stack.service_role_key}"

    reads: list[httpx.Request] = []
    sb.http.event_hooks = {"request": [reads.append], "response": []}
    conversation = sb.track_inbound(inbound("dana"), clock()).conversation
    assert sb.get_conversation(conversation.id).id == conversation.id  # a table read
    (request,) = reads
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
        jobs = anon.get("/jobs")
        assert jobs.status_code in (401, 403) or jobs.json() == []
        for function, args in (("claim_jobs", {"p_now": clock().isoformat(), "p_limit": 10,
                                                "p_locked_until": "2100-01-01T00:00:00Z"}),
                               ("requeue_send", {"p_message_id": 1,
                                                 "p_now": clock().isoformat()}),
                               ("raise_waiting_priority", {
                                   "p_waiting_before": "2100-01-01T00:00:00Z",
                                   "p_now": clock().isoformat()}),
                               ("sweep_closed", {"p_close_before": "2100-01-01T00:00:00Z",
                                                 "p_now": clock().isoformat()})):
            assert anon.post(f"/rpc/{function}", json=args).status_code in (401, 403, 404)
    assert sb.count_jobs("running") == 0  # nothing was claimed
    assert sb.get_conversation(1).status == "active"  # nothing was closed


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


def test_anon_and_authenticated_hold_no_privilege_in_public(supabase_stack):
    """Every table has RLS on, and no table, sequence or function of schema public is open to
    anon or authenticated (Supabase's default privileges would grant them all of it)."""
    leaks = supabase_stack.psql("""
        select coalesce(string_agg(what, ', ' order by what), '') from (
            select format('table %s without RLS', c.relname) as what
              from pg_class c where c.relnamespace = 'public'::regnamespace
               and c.relkind = 'r' and not c.relrowsecurity
            union all
            select format('%s on table %s', r.rolname, c.relname)
              from pg_class c cross join pg_roles r
             where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'm')
               and r.rolname in ('anon', 'authenticated')
               and has_table_privilege(r.oid, c.oid,
                                       'select, insert, update, delete, truncate, references')
            union all
            select format('%s on sequence %s', r.rolname, c.relname)
              from pg_class c cross join pg_roles r
             where c.relnamespace = 'public'::regnamespace and c.relkind = 'S'
               and r.rolname in ('anon', 'authenticated')
               and has_sequence_privilege(r.oid, c.oid, 'usage, select, update')
            union all
            select format('%s on function %s', r.rolname, p.oid::regprocedure)
              from pg_proc p cross join pg_roles r
             where p.pronamespace = 'public'::regnamespace
               and r.rolname in ('anon', 'authenticated')
               and has_function_privilege(r.oid, p.oid, 'execute')
        ) as t
    """).strip()
    assert leaks == ""
    tables = supabase_stack.psql(
        "select string_agg(relname, ',' order by relname) from pg_class"
        " where relnamespace = 'public'::regnamespace and relkind = 'r'").strip()
    assert "jobs" in tables.split(",")
