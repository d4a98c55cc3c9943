"""Admin panel benchmark at 100,000 conversations and 1,000,000 messages, for each store.

    .venv/bin/python bench/admin.py [--conversations 100000] [--stores sqlite,supabase]
                                    [--runs 50] [--webhooks 200] [--admins 20]

Each store is bulk-loaded by SQL (as bench/store.py does: 10 messages per conversation),
then the admin JSON API is timed in process through Flask's test client with an API token:
the inbox (first page, the next page by cursor, the "needs human" filter), a conversation
page (its HTML shell and the JSON it loads), search, and stats. Finally gunicorn serves the
same data with ``--admins`` signed-in python-socketio clients on ``/admin``, and signed
Messenger webhooks are posted one after another: the figure is the time from sending a
webhook to each admin's socket receiving its event. First of all, webhooks go to a gunicorn
process alone, then while an admin's searches run back to back, then while an admin exports
the last ``EXPORT_DAYS`` days (``webhooks_during_admin_work``): what each costs the rest of the process.
Everything runs on loopback.

A team of ``TEAM`` agents answers the flagged conversations (one in ten): each is escalated at
its flagged message and answered by one of them two minutes later (the bot's next message
becomes the agent's), taken over, noted and, if closed, closed by them (``load_team``), so
team stats (``GET /admin/stats/team``, 7 and 30 days) read a month of a team's work.
``--only team_stats`` times those two alone (no webhook rounds, no sockets).

``--only auto_assign`` times the hand-out of one waiting conversation with the team's 20
agents available, each with the open conversations it answered (``auto_assign`` alone).

``--only unanswered`` times Stats' questions the bot could not answer (one walk of
``UNANSWERED_WALK`` messages that finds none: the worst case).

Last, deletion: an admin deleting one conversation through the API, and one retention batch
(``RETENTION_BATCH`` closed conversations of 10 messages) in the store (``--only delete``
and ``--only retention`` time each alone).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.store import NOW, PER_CONVERSATION, bulk_postgres, bulk_sqlite  # noqa: E402

PASSWORD = "benchmark password"
EXPORT_DAYS = 3
# What the search cases look for. Both stores read trigram indexes to find rare text; a
# text too short for them reads every message, the largest read the admin panel makes.
SEARCHES = {
    "name": "Person 42424",  # one conversation's display name
    "text": "refunds zz-none",  # no message: the indexes say so at once
    "common": "orders and",  # in every message: the first conversations walked have it
    "short": "zq",  # two letters, in no message: no trigram, so every message is read
}
APP_SECRET = "bench-app-secret"
TEAM = 20  # agent accounts answering the flagged conversations
READER = "reader@bench.example"  # has read every conversation (the Unread filter's worst)
# Tags on the loaded conversations: a common one on every third, one on every fiftieth and
# a rare one on every thousandth (see load_team).
_TAGGED_SQLITE = """
INSERT INTO conversation_tags (tag, conversation_id)
SELECT 'billing', id FROM conversations WHERE id % 3 = 0
UNION ALL SELECT 'refund', id FROM conversations WHERE id % 50 = 0
UNION ALL SELECT 'vip', id FROM conversations WHERE id % 1000 = 0
"""
_TAGS_SQLITE = """
UPDATE conversations SET tags = (SELECT json_group_array(tag) FROM (
    SELECT tag FROM conversation_tags AS t WHERE t.conversation_id = conversations.id
     ORDER BY tag))
 WHERE id % 3 = 0 OR id % 50 = 0
"""
_TAGS_POSTGRES = """
update conversations set tags = array(
    select t from unnest(array[case when id % 3 = 0 then 'billing' end,
                               case when id % 50 = 0 then 'refund' end,
                               case when id % 1000 = 0 then 'vip' end]) as t
     where t is not null order by t collate "C")
 where id % 3 = 0 or id % 50 = 0
"""
# Ratings: every other closed conversation (an eighth of them all: the loaded closed ones
# have ids 1, 5, 9, ...), rated at its last message (scores 1 to 5 in turn), one in five
# with a comment (see load_team).
_RATINGS = """
UPDATE conversations SET rating = id / 8 % 5 + 1, rated_at = last_message_at,
       rating_comment = CASE WHEN id % 5 = 1 THEN 'bench comment ' || id END
 WHERE status = 'closed' AND id % 8 = 1
"""
# The flagged conversations' answers, takings over, notes and closings, by their agent (the
# one of the TEAM that conversation id / 10 picks), at the answer's time (see load_team).
_TEAM_LINES_SQLITE = """
INSERT INTO activity (conversation_id, kind, actor_id, actor, detail, created_at)
SELECT c.id, k.kind, u.id, u.email, k.detail, c.first_human_reply_at
  FROM conversations AS c JOIN admin_users AS u ON u.id = c.assigned_to
 CROSS JOIN (SELECT 'taken_over' AS kind, '{}' AS detail
             UNION ALL SELECT 'note', '{"text": "bench note"}' UNION ALL SELECT 'closed', '{}') AS k
 WHERE c.first_human_reply_at IS NOT NULL AND (k.kind <> 'closed' OR c.status = 'closed')
"""


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))]  # noqa: E731
    return round(statistics.median(ordered), 2), round(at(0.95), 2), round(at(0.99), 2)


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm up (connections, caches)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    p50, p95, _ = percentiles(samples)
    return p50, p95


def _store(kind: str, workdir: Path):
    """The store, a bulk loader, the settings overrides and the stack (Supabase) to stop."""
    if kind == "sqlite":
        from services.store.sqlite import SqliteStore

        path = workdir / "bench.db"
        return SqliteStore(path), (lambda n: bulk_sqlite(path, n)), {"DATABASE_PATH": str(path)}, None
    from scripts import local_supabase
    from services.store.supabase import SupabaseStore

    stack = local_supabase.start(state_dir=REPO / ".local" / "supabase-bench-admin", repo=REPO)
    stack.reset()
    store = SupabaseStore(url=stack.url, service_role_key=stack.service_role_key)
    env = {"SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key}
    return store, (lambda n: bulk_postgres(stack, n)), env, stack


def _agent(conversation_id: str) -> str:
    """SQL for the e-mail of the agent who answers a flagged conversation."""
    return f"'agent' || (({conversation_id} / 10) % {TEAM}) || '@bench.example'"


def load_team(kind: str, store, target) -> None:
    """The team's work on the loaded conversations (see the module's docstring); ``target``
    is the SQLite file or the Supabase stack."""
    for n in range(TEAM):
        store.create_user(f"agent{n}@bench.example", "agent", "bench", NOW)
    # An account that has read every conversation: its Unread filter walks them all to
    # find none (the filter's slowest case).
    reader = store.create_user(READER, "agent", "bench", NOW).id
    stamp = NOW.isoformat(timespec="microseconds")
    read_all = ("INSERT INTO conversation_reads (user_id, conversation_id, message_count,"
                f" read_at) SELECT {reader}, id, message_count, '{stamp}' FROM conversations")
    if kind == "sqlite":
        import sqlite3

        from services.store.sqlite_db import register_functions

        db = sqlite3.connect(target)
        register_functions(db)
        with db:  # bulk_sqlite inserts a conversation's messages with consecutive ids
            db.execute("UPDATE messages SET sender_type = 'agent', sender_id = "
                       + _agent("conversation_id")
                       + " WHERE id IN (SELECT id + 2 FROM messages WHERE requires_human = 1)")
            db.execute(
                "UPDATE conversations SET escalated_at = f.created_at,"
                " first_human_reply_at = a.created_at, handled_by = 'human',"
                " assigned_to = (SELECT id FROM admin_users WHERE email = a.sender_id)"
                " FROM messages AS f JOIN messages AS a ON a.id = f.id + 2"
                " WHERE f.requires_human = 1 AND conversations.id = f.conversation_id")
            db.execute(_TEAM_LINES_SQLITE)
            db.execute(read_all)
            db.execute(_TAGGED_SQLITE)
            db.execute(_TAGS_SQLITE)
            db.execute(_RATINGS)
        db.close()
        return
    target.psql(f"""
        with answered as (
          update messages m set sender_type = 'agent', sender_id = {_agent("m.conversation_id")}
            from messages f
           where f.requires_human and m.conversation_id = f.conversation_id
             and m.created_at = f.created_at + interval '2 minutes'
          returning m.conversation_id, m.created_at, m.sender_id, f.created_at as escalated_at
        ), handled as (
          update conversations c set escalated_at = a.escalated_at,
                 first_human_reply_at = a.created_at, handled_by = 'human', assigned_to = u.id
            from answered a join admin_users u on u.email = a.sender_id
           where c.id = a.conversation_id
          returning c.id, c.status, c.first_human_reply_at, u.id as user_id, u.email
        )
        insert into activity (conversation_id, kind, actor_id, actor, detail, created_at)
        select h.id, k.kind, h.user_id, h.email, k.detail::jsonb, h.first_human_reply_at
          from handled h
         cross join (values ('taken_over', '{{}}'), ('note', '{{"text": "bench note"}}'),
                            ('closed', '{{}}')) as k(kind, detail)
         where k.kind <> 'closed' or h.status = 'closed';
        {read_all};
        {_TAGS_POSTGRES};
        {_RATINGS};
        analyze messages; analyze conversations; analyze activity; analyze conversation_reads;
    """)


def api_latencies(store, env: dict, workdir: Path, runs: int, only: str = "") -> dict:
    from admin_app import create_app
    from admin_app.security import hash_api_token, hash_password, new_api_token
    from services.runtime import build_services
    from services.settings import Settings

    settings = Settings(_env_file=None, secret_key="bench", secret_key_file=workdir / "secret",
                        run_worker_in_app=False, **{k.lower(): v for k, v in env.items()})
    services = build_services(settings, store=store)
    app = create_app(settings, services)
    user = store.get_user_by_email("bench@example.com") or store.create_user(
        "bench@example.com", "admin", hash_password(PASSWORD), services.clock())
    token = new_api_token()
    store.create_api_token(user.id, "bench", hash_api_token(token), services.clock())
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    reader_token = new_api_token()
    store.create_api_token(store.get_user_by_email(READER).id, "bench",
                           hash_api_token(reader_token), services.clock())

    def get(path: str, headers: dict = headers) -> dict:
        response = api.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.data[:200])
        return response.get_json()

    first = get("/admin/conversations?limit=50")
    cursor = first["next_cursor"]
    conversation_id = first["conversations"][len(first["conversations"]) // 2]["id"]
    # The account has read every other conversation of the first two pages, so each inbox
    # page's read marks (one more store call) find some.
    for listed in (first, get(f"/admin/conversations?limit=50&cursor={cursor}")):
        for c in listed["conversations"][::2]:
            store.mark_read(user.id, c["id"], c["message_count"], services.clock())
    browser = app.test_client()
    from tests.support.admin import login

    assert login(browser, "bench@example.com", PASSWORD).status_code == 302

    def page() -> None:
        assert browser.get(f"/conversations/{conversation_id}").status_code == 200
        get(f"/admin/conversations/{conversation_id}?limit=50")

    def mark_read() -> None:
        """What a conversation page sends as it shows messages (the mark stays where it is
        after the first run: a write that changes nothing)."""
        response = api.put(f"/admin/conversations/{conversation_id}/read",
                           json={"message_count": 10}, headers=headers)
        assert response.status_code == 200, response.data[:200]

    def tag() -> None:
        """A tag put on and taken off a conversation: two writes, each published."""
        for response in (api.post(f"/admin/conversations/{conversation_id}/tags",
                                  json={"tag": "bench"}, headers=headers),
                         api.delete(f"/admin/conversations/{conversation_id}/tags/bench",
                                    headers=headers)):
            assert response.status_code == 200, response.data[:200]

    def rated(path: str) -> None:
        assert get(path)["satisfaction"]["rated"] > 0, "no ratings were loaded"

    # Deletion, last (it takes rows away): an admin's deletion of one conversation (10
    # messages) through the API, and one retention batch (the sweep's RETENTION_BATCH closed
    # conversations of 10 messages) in the store: how long a sweep holds the writes.
    from services.lifecycle import RETENTION_BATCH
    from services.models import ConversationFilter

    doomed = iter(c.id for c in store.list_conversations(
        ConversationFilter(status="active"), limit=runs + 1).conversations)

    def delete_one() -> None:
        response = api.delete(f"/admin/conversations/{next(doomed)}", headers=headers)
        assert response.status_code == 200, response.data[:200]

    def retention_batch() -> None:
        deleted = store.delete_closed_before(NOW - timedelta(days=7), RETENTION_BATCH)
        assert len(deleted) == RETENTION_BATCH, f"only {len(deleted)} left to delete"

    # Auto-assignment: the 20 agents available (each already has the open conversations it
    # answered, about 375), and one waiting conversation handed out at a time, as at a
    # handover: the store counts every available account's open conversations to pick one.
    # They have a page open (AUTO_ASSIGN_ONLINE_ONLY, the default): seen just now.
    team = [store.get_user_by_email(f"agent{n}@bench.example").id for n in range(TEAM)]
    for user_id in team:
        store.set_user_available(user_id, True)
    store.touch_users(team, NOW)
    unassigned = iter([c.id for c in store.list_conversations(
        ConversationFilter(status="active", unassigned=True), limit=runs + 1).conversations])

    def hand_out_one() -> None:
        conversation_id = next(unassigned)
        (message,) = store.list_messages(conversation_id, 1)
        store.mark_needs_human(message.id, "bench", 3, NOW)
        started = time.perf_counter()
        given = store.auto_assign([conversation_id], 1, 0, NOW,
                                  online_since=NOW - timedelta(seconds=90))
        handed_out.append((time.perf_counter() - started) * 1000)
        assert len(given) == 1, "nobody took it"

    handed_out: list[float] = []

    results = {}
    cases = {
        "inbox_first_page": lambda: get("/admin/conversations?limit=50"),
        "inbox_next_page": lambda: get(f"/admin/conversations?limit=50&cursor={cursor}"),
        "inbox_needs_human": lambda: get("/admin/conversations?limit=50&needs_human=true"),
        "inbox_by_priority": lambda: get("/admin/conversations?limit=50&sort=priority"),
        # Unread by the account, which has read every other conversation of the first pages.
        "inbox_unread": lambda: get("/admin/conversations?limit=50&unread=true"),
        "inbox_unread_all_read": lambda: get(
            "/admin/conversations?limit=50&unread=true",
            headers={"Authorization": f"Bearer {reader_token}"}),
        # Tagged conversations: every third (billing), every thousandth (vip).
        "inbox_tag_common": lambda: get("/admin/conversations?limit=50&tag=billing"),
        "inbox_tag_rare": lambda: get("/admin/conversations?limit=50&tag=vip"),
        "tags_in_use": lambda: get("/admin/tags"),
        "tag_and_untag": tag,
        "conversation_page": page,
        "mark_read": mark_read,
        **{f"search_{kind}": (lambda q=quote(text): get(f"/admin/conversations?limit=50&q={q}"))
           for kind, text in SEARCHES.items()},
        "stats": lambda: get("/admin/stats"),
        "team_stats_7d": lambda: get("/admin/stats/team"),
        "team_stats_30d": lambda: get("/admin/stats/team?start="
                                      + quote((NOW - timedelta(days=30)).isoformat())),
        # Every other closed conversation is rated (load_team).
        "satisfaction_7d": lambda: rated("/admin/stats/satisfaction"),
        "satisfaction_30d": lambda: rated("/admin/stats/satisfaction?start="
                                          + quote((NOW - timedelta(days=30)).isoformat())),
        # Stats' questions the bot could not answer: the bulk's bot messages have no
        # confidence, so each read is the worst case, a whole walk that finds none.
        "unanswered_walk": lambda: get("/admin/unanswered"),
        "auto_assign_one": hand_out_one,  # figures: the auto_assign call alone (below)
        "delete_conversation": delete_one,
        "retention_batch": retention_batch,
    }
    for name, fn in cases.items():
        if not name.startswith(only):
            continue
        p50, p95 = timed(fn, runs)
        if name == "auto_assign_one":  # not the flag set before it
            p50, p95, _ = percentiles(handed_out[1:])  # the warm-up's left out
        results[f"{name}_p50_ms"], results[f"{name}_p95_ms"] = p50, p95
    services.close()
    return results


def socket_latency(env: dict, workdir: Path, webhooks: int, admins: int) -> dict:
    """Webhook sent → event on each of ``admins`` sockets, over a live gunicorn."""
    import requests
    import socketio

    from scripts.simulate import MessengerUser, Server
    from tests.support.admin import login_requests
    from tests.support.live_server import LiveServer

    live = LiveServer({
        **env, "HOME": str(workdir), "SECRET_KEY_FILE": str(workdir / "secret"),
        "FACEBOOK_APP_SECRET": APP_SECRET, "RESPONDER": "off", "LOG_LEVEL": "WARNING",
        "LOGIN_RATE_LIMIT": "1000 per minute",  # every admin signs in from this address
        # The loaded history spans 30 days: keep the lifecycle sweep from closing it all at
        # start (75,000 conversation.updated events at once is another benchmark).
        "IDLE_TIMEOUT_MINUTES": "100000000", "CLOSE_AFTER_HOURS": "10000000",
    }, log_path=workdir / "server.log").start(timeout=60)
    received: queue.Queue = queue.Queue()
    clients = []
    try:
        for n in range(admins):
            http = requests.Session()
            login_requests(http, live.url, "bench@example.com", PASSWORD)
            cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
            sio = socketio.Client(reconnection=False)

            def on_event(data, n=n):
                content = data["conversation"].get("last_message_preview") or ""
                received.put((n, content, time.perf_counter()))

            sio.on("conversation.created", on_event, namespace="/admin")
            sio.on("conversation.updated", on_event, namespace="/admin")
            sio.connect(live.url, namespaces=["/admin"], transports=["websocket"],
                        headers={"Cookie": cookie}, wait_timeout=10)
            clients.append(sio)
        server = Server(live.url, APP_SECRET)
        samples: list[float] = []
        for i in range(webhooks):
            marker = f"bench webhook {i}"
            user = MessengerUser(server, f"bench-psid-{i % 50}")
            sent = time.perf_counter()
            user.say(marker)
            seen: set[int] = set()
            deadline = time.monotonic() + 10
            while len(seen) < admins and time.monotonic() < deadline:
                try:
                    n, content, at = received.get(timeout=0.5)
                except queue.Empty:
                    continue
                if content == marker and n not in seen:
                    seen.add(n)
                    samples.append((at - sent) * 1000)
        p50, _, p99 = percentiles(samples)
        return {"webhook_to_socket_p50_ms": p50, "webhook_to_socket_p99_ms": p99,
                "webhook_to_socket_events": len(samples), "admins_connected": admins}
    finally:
        for sio in clients:
            sio.disconnect()
        live.stop()


def webhooks_during_admin_work(store, env: dict, workdir: Path, seconds: float = 5.0,
                               rate: float = 20.0) -> dict:
    """Webhooks' time to 200 from one gunicorn process: alone, while an admin searches, and
    while an admin exports.

    Such a search reads every message (the largest read the admin panel makes); an export reads
    and streams every message (the longest request it serves). Webhooks go out one at a
    time at ``rate`` per second: for ``seconds`` with nothing else running, for ``seconds``
    while another client runs the same search back to back through the JSON API (a text too
    short for the trigram indexes that no message contains, so each search reads
    everything), and for as long as one export takes
    (CSV, read to the end by another client). What each costs the rest of the process shows
    as the difference from the first round."""
    import requests

    from admin_app.security import hash_api_token, hash_password, new_api_token
    from channels.messenger.signature import sign
    from tests.support.live_server import LiveServer
    from tests.support.webhook_load import webhook_body

    user = store.get_user_by_email("bench@example.com") or store.create_user(
        "bench@example.com", "admin", hash_password(PASSWORD), NOW)
    token = new_api_token()
    store.create_api_token(user.id, "bench-admin-work", hash_api_token(token), NOW)
    live = LiveServer({
        **env, "HOME": str(workdir), "SECRET_KEY_FILE": str(workdir / "secret"),
        "FACEBOOK_APP_SECRET": APP_SECRET, "RESPONDER": "off", "LOG_LEVEL": "WARNING",
        "RUN_WORKER_IN_APP": "false",
        "IDLE_TIMEOUT_MINUTES": "100000000", "CLOSE_AFTER_HOURS": "10000000",
    }, log_path=workdir / "server-admin-work.log").start(timeout=60)
    headers = {"Authorization": f"Bearer {token}"}

    def webhooks(tag: str, going_on) -> list[float]:
        """Webhooks at ``rate`` while ``going_on()``; their times to 200, ms."""
        http, times = requests.Session(), []
        due, i = time.perf_counter(), 0
        while going_on():
            body = webhook_body(f"admin-work-psid-{i % 50}", f"m_work_{tag}_{i}_{time.time_ns()}",
                                "is my order on its way?")
            time.sleep(max(0.0, due - time.perf_counter()))
            started = time.perf_counter()
            answer = http.post(live.url + "/webhook", data=body, timeout=120, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)})
            assert answer.status_code == 200, answer.text[:200]
            times.append((time.perf_counter() - started) * 1000)
            due, i = due + 1 / rate, i + 1
        return times

    def for_seconds():
        until = time.perf_counter() + seconds
        return lambda: time.perf_counter() < until

    def beside(work, tag: str, timed: bool) -> list[float]:
        """Webhooks while ``work(stop)`` runs in another thread: for ``seconds`` (``timed``)
        or until the work ends."""
        stop = threading.Event()
        worker = threading.Thread(target=work, args=(stop,), daemon=True)
        worker.start()
        time.sleep(0.5 if timed else 0.05)  # the searches under way; the export just begun
        times = webhooks(tag, for_seconds() if timed else worker.is_alive)
        stop.set()
        worker.join(timeout=600)
        return times

    searches: list[float] = []
    export: dict = {}

    def search(stop: threading.Event) -> None:
        http = requests.Session()
        while not stop.is_set():
            started = time.perf_counter()
            answer = http.get(live.url + "/admin/conversations?limit=50&q="
                              + quote(SEARCHES["short"]), headers=headers, timeout=120)
            assert answer.status_code == 200, answer.text[:200]
            searches.append((time.perf_counter() - started) * 1000)

    def export_recent(stop: threading.Event) -> None:
        started, size = time.perf_counter(), 0
        since = (NOW - timedelta(days=EXPORT_DAYS)).isoformat()
        with requests.get(live.url + "/admin/export", params={"from": since},
                          headers=headers, stream=True, timeout=600) as answer:
            assert answer.status_code == 200, answer.text[:200]
            for chunk in answer.iter_content(1 << 16):
                size += len(chunk)
        export.update(s=round(time.perf_counter() - started, 1), mb=round(size / 1e6, 1))

    try:
        rounds = {"alone": webhooks("alone", for_seconds()),
                  "during_search": beside(search, "search", timed=True),
                  "during_export": beside(export_recent, "export", timed=False)}
    finally:
        live.stop()
    row = {"searches_during": len(searches),
           "search_p50_ms": percentiles(searches)[0] if searches else None,
           "export_s": export.get("s"), "export_mb": export.get("mb")}
    for name, times in rounds.items():
        p50, _, p99 = percentiles(times) if times else (None, None, None)
        row.update({f"webhook_{name}_p50_ms": p50, f"webhook_{name}_p99_ms": p99,
                    f"webhook_{name}_max_ms": round(max(times), 2) if times else None,
                    f"webhook_{name}_count": len(times)})
    return row


def bench(kind: str, conversations: int, runs: int, webhooks: int, admins: int,
          only: str = "") -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-admin-{kind}-"))
    store, load, env, stack = _store(kind, workdir)
    try:
        started = time.perf_counter()
        load(conversations)
        load_team(kind, store, workdir / "bench.db" if stack is None else stack)
        load_s = time.perf_counter() - started
        stats = store.stats(NOW)
        row = {"store": kind, "conversations": stats.total_conversations,
               "messages": stats.total_messages, "bulk_load_s": round(load_s, 1)}
        if not only:  # first: api_latencies closes the store when it is done
            row.update(webhooks_during_admin_work(store, env, workdir))
        row.update(api_latencies(store, env, workdir, runs, only))
        if webhooks and admins and not only:
            row.update(socket_latency(env, workdir, webhooks, admins))
        return row
    finally:
        store.close()
        if stack is not None:
            from scripts import local_supabase

            local_supabase.stop(state_dir=stack.state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000,
                        help=f"conversations to load ({PER_CONVERSATION} messages each)")
    parser.add_argument("--stores", default="sqlite,supabase")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--admins", type=int, default=20)
    parser.add_argument("--only", default="",
                        help="time only the API cases whose names start with this (e.g. "
                             "team_stats): no webhook rounds, no sockets")
    args = parser.parse_args()
    rows = [bench(kind, args.conversations, args.runs, args.webhooks, args.admins, args.only)
            for kind in args.stores.split(",")]
    for key in rows[0]:
        print(f"{key:>32} | " + " | ".join(f"{row.get(key)!s:>12}" for row in rows))
    out = REPO / "bench" / "results" / (f"admin-{args.only}.json" if args.only else "admin.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"at": NOW.isoformat(), "results": rows}, indent=2))
    print(f"saved {out.relative_to(REPO)}")


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # socket client threads ending at shutdown
    main()
